// Replicas of `openstack-vcluster serve` in processes of their own (test/api/replica-server.ts,
// bundled to one CommonJS file with rolldown, which vitest already brings, so plain `node` runs it),
// each logging JSON lines on stderr, kept here parsed.
import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import type { ServeFlags } from "../../provider/api/command";
import type { ServerOptions } from "../../provider/api/server";
import { REPO } from "./build";

/** Bundles the replica server into `dir`; returns the file. */
export async function bundleReplica(dir: string): Promise<string> {
  const file = path.join(dir, "replica-server.cjs");
  const { build } = await import("rolldown");
  await build({
    input: path.join(REPO, "test/api/replica-server.ts"),
    platform: "node",
    // Packages stay packages (found through NODE_PATH); the repository's own sources are bundled.
    external: (id: string) => /^[^./]/.test(id) && !id.startsWith("pulumi-openstack-vcluster"),
    resolve: { alias: { "pulumi-openstack-vcluster/package.json": path.join(REPO, "package.json") } },
    output: { format: "cjs", file },
    logLevel: "silent",
  });
  return file;
}

export type LogRecord = Record<string, unknown> & { time: string; level: string; event: string; msg: string };

export interface Replica {
  child: ChildProcess;
  url: string;
  /** This replica's id in its leases. */
  owner: string;
  /** Every stderr line, as written. */
  lines: string[];
  /** The lines parsed (each must be a JSON object: the replica runs with --log-format json). */
  records(): LogRecord[];
  /** Resolves with the exit code (or signal) once the process ended. */
  exited: Promise<number | string>;
  /** Waits for a log record that matches, at most `timeoutMs`. */
  waitForRecord(match: (r: LogRecord) => boolean, what: string, timeoutMs?: number): Promise<LogRecord>;
}

const all: ChildProcess[] = [];

/** Kills every replica still running (for afterAll). */
export function killReplicas(): void {
  for (const c of all.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

/** Starts a replica; resolves once it listens. */
export function startReplica(
  bundle: string,
  flags: ServeFlags,
  tuning: Pick<ServerOptions, "leases" | "drainTimeoutMs"> = {},
): Promise<Replica> {
  const child = spawn(
    process.execPath,
    [bundle, JSON.stringify({ flags: { listen: "127.0.0.1:0", logFormat: "json", ...flags }, tuning })],
    {
      env: { ...process.env, NODE_PATH: path.join(REPO, "node_modules"), NODE_NO_WARNINGS: "1" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  all.push(child);
  const lines: string[] = [];
  let partial = "";
  const listeners = new Set<() => void>();
  child.stderr?.on("data", (d) => {
    partial += String(d);
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts.filter((l) => l !== ""));
    for (const l of listeners) l();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "?")),
  );
  const records = () => lines.map((l) => JSON.parse(l) as LogRecord);
  const waitForRecord = (match: (r: LogRecord) => boolean, what: string, timeoutMs = 20_000) =>
    new Promise<LogRecord>((resolve, reject) => {
      const check = () => {
        const found = records().find(match);
        if (!found) return;
        done();
        resolve(found);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; the replica said:\n${lines.join("\n")}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  return new Promise((resolve, reject) => {
    void exited.then((code) =>
      reject(new Error(`the replica exited (${code}) before listening:\n${lines.join("\n")}`)),
    );
    waitForRecord((r) => r.event === "listening", "the replica to listen", 30_000).then(
      (r) => resolve({ child, url: String(r.url), owner: String(r.server), lines, records, exited, waitForRecord }),
      reject,
    );
  });
}
