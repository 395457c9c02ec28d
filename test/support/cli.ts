// The command as tests run it: in-process through run(argv, io) (what the binary calls), or as the
// built binary (dist/) in processes of their own, for several runs at once or a run killed halfway.
import { execFile, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { run } from "../../provider/cli/program";
import { REPO } from "./build";

/** The built binary (`ensureBuilt` in ./build makes it). */
export const BIN = path.join(REPO, "dist/provider/cli/main.js");

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

/** The command in this process, as the binary runs it; output collected line by line. */
export async function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  let stdout = "";
  let stderr = "";
  const line = (t: string) => (t.endsWith("\n") ? t : `${t}\n`);
  const code = await run(args, {
    out: (t) => {
      stdout += line(t);
    },
    err: (t) => {
      stderr += line(t);
    },
    cwd,
    env: baseEnv(env),
  });
  return { code, stdout, stderr };
}

/** The built binary in a process of its own. */
export async function spawned(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], {
      cwd,
      env: baseEnv(env),
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** How a launched run of the binary ended. */
export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Starts the binary with exactly `env` (the real-cloud suites pass the whole environment on), and
 * returns the child, what it printed so far, and how it ended once it has.
 */
export function launch(args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const began = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => {
    out.stdout += String(d);
  });
  child.stderr.on("data", (d) => {
    out.stderr += String(d);
  });
  const done = new Promise<Ended>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, ...out, ms: Date.now() - began }));
  });
  return { child, out, done };
}

/** Starts the binary (PATH and HOME only, plus `env`) and returns the child, with what it printed so far. */
export function start(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const { child, out, done } = launch(args, cwd, baseEnv(env));
  const exited = done.then((r) => r.code);
  return { child, out, exited };
}

/** Every file under `dir` whose name ends with `.tmp`, relative to it. */
export function tempFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith(".tmp")) found.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return found.sort();
}
