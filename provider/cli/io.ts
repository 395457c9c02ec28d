// Where the command writes. Commands take an Io and return an exit code, so tests run them
// in-process and the binary stays a two-line wrapper.

export interface Io {
  out(text: string): void;
  err(text: string): void;
  cwd: string;
  env: NodeJS.ProcessEnv;
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
  };
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
