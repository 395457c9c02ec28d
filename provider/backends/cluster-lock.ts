// One change at a time per cluster (DESIGN.md "Backends"): the command's apply / show / destroy and
// the Pulumi provider's create / update / delete hold a lock on the cluster's name for the whole
// change, so two runs never build the same members twice, and one's rollback never deletes what
// the other just finished. The second run waits and says for whom; a lock whose holder is gone
// (killed, crashed) is taken over at once, with a message (simulated/file-lock.ts).
//
// Where the lock lives decides who is serialized:
// - a simulated cloud: in its directory (`<sim dir>/locks/`), so every process using that cloud
//   (the command, the provider) agrees;
// - any other cloud: in a per-user directory of this machine, keyed by the cloud's identity, and
//   then, for runs that change the cluster (`options.cloud`), on the cloud itself
//   (Backend.cloudLocks: a Nova keypair per cluster, openstack/cluster-marker.ts), so runs on two
//   machines (two CI jobs, two laptops) are serialized too. Runs of one machine queue on the lock
//   file and only one of them at a time reaches the cloud's lock; a run that finds another's
//   there refuses at once: it can't tell whether a run on another machine is alive, so it can't
//   wait for its end. A marker left by a run of this machine whose process is gone is taken over
//   (with a warning); one left by another machine is removed with `openstack-vcluster unlock`,
//   which the refusal names. The keypair belongs to the user, not the project: runs of two
//   different users of one project don't see each other's (see cluster-marker.ts);
// - the command also locks its own state directory, so runs that share a state file are
//   serialized whatever cloud they point at. Locks are always taken in the order given: pass the
//   state directory first, the cloud's directory second, everywhere.
//
// From the provider (provider/pulumi/hooks.ts), around each lifecycle call:
//   const sel = await backendFor(ctx);
//   return withClusterLock(clusterLockDir(sel), spec.name, () => controllerFor(ctx, sel).apply(spec, previous),
//     { purpose: "pulumi up", log: ctx.log, cloud: sel.backend });
import { createHash, randomBytes } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { clusterHead, quote, shellWord } from "../model/text";
import { type Backend, BackendError, type CloudLocks, type ClusterLockHolder } from "./backend";
import { acquireFileLock, CLUSTER_LOCKS_DIR, type LockHolder, LockTimeoutError, SimulatedCloud } from "./simulated";
import { formatSince, pidAlive, type Release } from "./simulated/file-lock";

export type LockLog = (level: "info" | "warn", message: string) => void;

export interface ClusterLockOptions {
  /** What this run does, shown to runs that wait for it ("openstack-vcluster apply", "pulumi up"). */
  purpose?: string;
  /** Where "waiting for…" (info) and "took over…" (warn) go: the lifecycle's log signature. */
  log?: LockLog;
  /** Give up after this long with a BackendError "conflict". Default: wait while the holder lives. */
  timeoutMs?: number;
  /**
   * The cluster's cloud, for runs that change the cluster: when it keeps locks of its own
   * (Backend.cloudLocks), its lock is taken too, after the lock files.
   */
  cloud?: Backend;
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
    const locks = options.cloud?.cloudLocks;
    if (locks) releases.push(await takeCloudLock(locks, clusterName, options));
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

// The lock on the cloud (see the top of this file).

const HOST = os.hostname();

/**
 * Tokens of the cloud locks this process holds now: a marker naming this process's pid with
 * another token was left by an earlier process that had the same pid (containers reuse pids).
 * Kept on globalThis so two copies of this module in one process (source and dist) agree.
 */
const HELD_KEY = Symbol.for("openstack-vcluster.cloud-locks-held");
const registry = globalThis as unknown as Record<symbol, Set<string> | undefined>;
const heldOnCloud: Set<string> = registry[HELD_KEY] ?? new Set<string>();
registry[HELD_KEY] = heldOnCloud;

export interface ThisMachine {
  host: string;
  pid: number;
  alive: (pid: number) => boolean;
  /** Tokens of the locks this process holds. */
  held: ReadonlySet<string>;
}

const thisMachine = (): ThisMachine => ({ host: HOST, pid: process.pid, alive: pidAlive, held: heldOnCloud });

/**
 * Whether the run a cloud lock names has ended: only a run of this machine can be seen to have
 * (its pid is gone, or is this process's without this process holding the lock). Of another
 * machine, or a holder unknown, nothing can be told: it is taken to be alive.
 */
export function cloudHolderGone(holder: ClusterLockHolder, here: ThisMachine = thisMachine()): boolean {
  if (holder.pid <= 0 || holder.host !== here.host) return false;
  if (holder.pid === here.pid) return !here.held.has(holder.token);
  return !here.alive(holder.pid);
}

/** `openstack-vcluster unlock <name> --cloud prod`: the command that removes a cluster's cloud lock. */
export function unlockCommand(clusterName: string, selectArgs: readonly string[]): string {
  const flags = selectArgs.map(shellWord);
  // A name starting with "-" would read as an option: after "--", nothing does.
  if (clusterName.startsWith("-"))
    return ["openstack-vcluster unlock", ...flags, "--", shellWord(clusterName)].join(" ");
  return ["openstack-vcluster unlock", shellWord(clusterName), ...flags].join(" ");
}

/** `since 2030-01-02T03:04:05Z (host "ci-7", pid 4242, "pulumi up")`, or what is known of a holder unknown. */
export function describeCloudHolder(holder: ClusterLockHolder, where: string): string {
  const since = holder.since > 0 ? `since ${formatSince(holder.since)} ` : "";
  if (holder.pid <= 0) return `${since}(holder unknown: ${where} was not made by openstack-vcluster)`;
  return `${since}(host ${quote(holder.host)}, pid ${holder.pid}, ${quote(holder.purpose)})`;
}

/** The refusal of a run that finds another run's lock on the cloud. */
export function cloudLockConflict(
  clusterName: string,
  holder: ClusterLockHolder,
  where: string,
  selectArgs: readonly string[],
): string {
  return `${clusterHead(clusterName)}another run is changing it ${describeCloudHolder(holder, where)}; if no run is active there, remove the lock with: ${unlockCommand(clusterName, selectArgs)}`;
}

/** Nova refuses the marker itself (policy, keypair quota, a key it can't read): the run goes on, unserialized across machines. */
const CANT_LOCK: ReadonlySet<string> = new Set(["forbidden", "quota_exceeded", "bad_request"]);

async function takeCloudLock(locks: CloudLocks, clusterName: string, options: ClusterLockOptions): Promise<Release> {
  const head = clusterHead(clusterName);
  const where = await locks.describe(clusterName);
  const mine: ClusterLockHolder = {
    host: HOST,
    pid: process.pid,
    since: Date.now(),
    purpose: options.purpose ?? "a change",
    token: randomBytes(8).toString("hex"),
  };
  const release: Release = async () => {
    try {
      // Ours unless someone ran `unlock` and another run took it since.
      if ((await locks.read(clusterName))?.token === mine.token) await locks.remove(clusterName);
    } catch (e) {
      options.log?.(
        "warn",
        `${head}could not remove this run's lock on the cloud (${where}): ${errorText(e)}; the next run on this machine takes it over, a run elsewhere is refused until it is removed with: ${unlockCommand(clusterName, locks.selectArgs)}`,
      );
    } finally {
      heldOnCloud.delete(mine.token);
    }
  };
  // A marker that changes hands under us again and again: give up rather than spin.
  for (let attempt = 0; attempt < 5; attempt++) {
    let created: boolean;
    try {
      created = await locks.create(clusterName, mine);
    } catch (e) {
      if (!(e instanceof BackendError && CANT_LOCK.has(e.code))) throw e;
      options.log?.(
        "warn",
        `${head}this run holds no lock on the cloud: creating ${where} failed (${errorText(e)}); runs on other machines are not held off`,
      );
      return async () => {};
    }
    if (created) {
      heldOnCloud.add(mine.token);
      return release;
    }
    const holder = await locks.read(clusterName);
    if (!holder) continue; // released meanwhile
    if (holder.token === mine.token) {
      // Our own create, answered 409 after a resend.
      heldOnCloud.add(mine.token);
      return release;
    }
    if (!cloudHolderGone(holder)) {
      throw new BackendError("conflict", cloudLockConflict(clusterName, holder, where, locks.selectArgs));
    }
    // Still the dead run's (not another taker's) the moment before it is deleted.
    if ((await locks.read(clusterName))?.token !== holder.token) continue;
    await locks.remove(clusterName);
    options.log?.(
      "warn",
      `${head}took over the lock on the cloud of a run on this machine that ended without releasing it (pid ${holder.pid}, ${quote(holder.purpose)}, since ${formatSince(holder.since)}); this run picks up whatever it left half-done`,
    );
  }
  throw new BackendError(
    "conflict",
    `${head}the lock on the cloud (${where}) changed hands 5 times while this run tried to take it; hint: run again`,
  );
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export type UnlockOutcome =
  /** Removed; `holder` is whose it was. */
  | { kind: "removed"; holder: ClusterLockHolder; where: string }
  /** There was no lock. */
  | { kind: "none"; where: string }
  /** Not removed without `force`: a run of this machine that is alive, or a keypair not made by this product. */
  | { kind: "refused"; holder: ClusterLockHolder; where: string; reason: "alive" | "unknown" };

/**
 * `openstack-vcluster unlock`: removes the cluster's lock on the cloud, unless it is plainly not
 * stale (a live process of this machine holds it) or not a lock (a keypair this product did not
 * make), which only `force` removes.
 */
export async function unlockCloud(locks: CloudLocks, clusterName: string, force = false): Promise<UnlockOutcome> {
  const where = await locks.describe(clusterName);
  for (;;) {
    const holder = await locks.read(clusterName);
    if (!holder) return { kind: "none", where };
    if (!force) {
      if (holder.pid <= 0) return { kind: "refused", holder, where, reason: "unknown" };
      if (holder.host === HOST && !cloudHolderGone(holder)) return { kind: "refused", holder, where, reason: "alive" };
    }
    // The lock this user was told about, not one a new run took since: else judge that one.
    if ((await locks.read(clusterName))?.token !== holder.token) continue;
    await locks.remove(clusterName);
    return { kind: "removed", holder, where };
  }
}
