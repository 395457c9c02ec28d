// Where the command writes. Commands take an Io and return an exit code, so tests run them
// in-process and the binary stays a two-line wrapper.
import type { ProgressEvent } from "../lifecycle";
import type { Failure } from "./failure";

export interface Io {
  out(text: string): void;
  err(text: string): void;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Told of a command's failure as data (a --json run, failure.ts); the text went to err. */
  failed?(failure: Failure): void;
  /** The stream `err` writes to, for a status line when it is a terminal (progress-display.ts). */
  terminal?: Terminal;
  /** Told of an apply's or destroy's progress as data, while a status line shows it (progress-display.ts). */
  progress?(event: ProgressEvent): void;
}

/** What a status line needs of a stream (process.stderr has it; tests pass a fake one). */
export interface Terminal {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/** Exit codes, as DESIGN.md fixes them. */
export const EXIT = {
  ok: 0,
  invalidSpec: 1,
  unplaceable: 2,
  /** Usage, file or backend error. */
  usage: 3,
} as const;

export function processIo(): Io {
  return {
    out: (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
    err: (t) => process.stderr.write(t.endsWith("\n") ? t : `${t}\n`),
    cwd: process.cwd(),
    env: process.env,
    terminal: process.stderr,
  };
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
