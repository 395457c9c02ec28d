// One change at a time per cluster (DESIGN.md "Backends"): the command's apply / show / destroy and
// the Pulumi provider's create / update / delete hold a lock on the cluster's name for the whole
// change, so two runs never build the same members twice, and one's rollback never deletes what
// the other just finished. The second run waits and says for whom; a lock whose holder is gone
// (killed, crashed) is taken over at once, with a message (simulated/file-lock.ts).
//
// Where the lock lives decides who is serialized:
// - a simulated cloud: in its directory (`<sim dir>/locks/`), so every process using that cloud
//   (the command, the provider) agrees;
// - any other cloud: in a per-user directory of this machine, keyed by the cloud's identity;
// - the command also locks its own state directory, so runs that share a state file are
//   serialized whatever cloud they point at. Locks are always taken in the order given: pass the
//   state directory first, the cloud's directory second, everywhere.
//
// From the provider (provider/pulumi/hooks.ts), around each lifecycle call:
//   const sel = await backendFor(ctx);
//   return withClusterLock(clusterLockDir(sel), spec.name, () => controllerFor(ctx, sel).apply(spec, previous),
//     { purpose: "pulumi up", log: ctx.log });
import { createHash } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { quote } from "../model/text";
import { type Backend, BackendError } from "./backend";
import { acquireFileLock, CLUSTER_LOCKS_DIR, type LockHolder, LockTimeoutError, SimulatedCloud } from "./simulated";
import { formatSince, type Release } from "./simulated/file-lock";

export type LockLog = (level: "info" | "warn", message: string) => void;

export interface ClusterLockOptions {
  /** What this run does, shown to runs that wait for it ("openstack-vcluster apply", "pulumi up"). */
  purpose?: string;
  /** Where "waiting for…" (info) and "took over…" (warn) go: the lifecycle's log signature. */
  log?: LockLog;
  /** Give up after this long with a BackendError "conflict". Default: wait while the holder lives. */
  timeoutMs?: number;
}

/**
 * The file name (without extension) for a cluster's name: any text, injectively. Percent-encoding
 * with `_` as the escape character and `_` itself escaped, so "a/b" is `a_2Fb` and "a_2Fb" is
 * `a_5F2Fb`; `~` is escaped too, and marks a lone surrogate (`~D800`), which has no UTF-8. Names of
 * letters, digits, `-` and `.` are kept as they are.
 */
export function clusterFileName(clusterName: string): string {
  let out = "";
  for (const ch of clusterName) {
    const cp = ch.codePointAt(0) as number;
    if (cp >= 0xd800 && cp <= 0xdfff) out += `~${cp.toString(16).toUpperCase()}`;
    else out += encodeURIComponent(ch).replace(/_/g, "_5F").replace(/~/g, "_7E").replace(/%/g, "_");
  }
  return out;
}

/** Where the lock on a cluster of this cloud lives (see the top of this file). */
export function clusterLockDir(selection: { backend: Backend; backendId: string }): string {
  if (selection.backend instanceof SimulatedCloud) return path.join(selection.backend.dir, CLUSTER_LOCKS_DIR);
  const cloud = createHash("sha256").update(selection.backendId).digest("hex").slice(0, 16);
  const user = typeof process.getuid === "function" ? String(process.getuid()) : os.userInfo().username;
  return path.join(os.tmpdir(), `openstack-vcluster-${user}`, CLUSTER_LOCKS_DIR, cloud);
}

/** The lock file of a cluster in one lock directory. */
export function clusterLockFile(dir: string, clusterName: string): string {
  return path.join(dir, `${clusterFileName(clusterName)}.lock`);
}

function describeHolder(h: LockHolder): string {
  if (h.pid <= 0) return `holder unknown, since ${formatSince(h.since)}`;
  const where = h.host === os.hostname() ? "" : ` on host "${h.host}"`;
  return `pid ${h.pid}${where}, "${h.purpose}", since ${formatSince(h.since)}`;
}

/**
 * Runs `fn` holding the lock on `clusterName` in each of `dirs`, taken in that order and released
 * in reverse. Not re-entrant: don't take a cluster's lock again inside `fn`.
 */
export async function withClusterLock<T>(
  dirs: string | readonly string[],
  clusterName: string,
  fn: () => Promise<T>,
  options: ClusterLockOptions = {},
): Promise<T> {
  const unique = [...new Set((typeof dirs === "string" ? [dirs] : dirs).map((d) => path.resolve(d)))];
  const releases: Release[] = [];
  // One run usually holds the cluster's lock in every directory: say each thing once per holder.
  const said = new Set<string>();
  try {
    for (const dir of unique) releases.push(await lockIn(dir, clusterName, options, said));
    return await fn();
  } finally {
    for (const release of releases.reverse()) await release();
  }
}

async function lockIn(
  dir: string,
  clusterName: string,
  options: ClusterLockOptions,
  said: Set<string>,
): Promise<Release> {
  const head = `cluster ${quote(clusterName)}: `;
  const log = (level: "info" | "warn", h: LockHolder, message: string): void => {
    const key = `${level} ${h.host} ${h.pid}`;
    if (said.has(key)) return;
    said.add(key);
    options.log?.(level, message);
  };
  try {
    return await acquireFileLock(clusterLockFile(dir, clusterName), {
      purpose: options.purpose ?? "a change",
      staleMs: 30_000,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      onWait: (h) =>
        log(
          "info",
          h,
          `${head}waiting for another run changing cluster ${quote(clusterName)} (${describeHolder(h)}); this run goes on when that one ends`,
        ),
      onTakeover: (h) =>
        log(
          "warn",
          h,
          `${head}took over the lock of a run that ended without releasing it (${describeHolder(h)}); this run picks up whatever it left half-done`,
        ),
    });
  } catch (e) {
    if (!(e instanceof LockTimeoutError)) throw e;
    const seconds = Math.round((options.timeoutMs ?? 0) / 1000);
    throw new BackendError(
      "conflict",
      `${head}another run is still changing it after ${seconds} s (${describeHolder(e.holder)}); hint: run again when it ends, or stop it if it hangs`,
      { cause: e },
    );
  }
}
