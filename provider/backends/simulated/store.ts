// The simulated cloud's state file: `cloud.json` in the cloud's directory. Every change is made
// under a lock on the directory (several processes share one cloud: the Pulumi provider and the
// command) and written atomically (temp file in the same directory, fsync, rename), so a reader
// never sees half a file and two writers never lose each other's update. The lock names its holder
// (file-lock.ts), so one left by a killed process is taken over at once, and the temp files such a
// process leaves are swept by the next one to hold the lock.
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { Topology } from "../../model/topology";
import { BackendError, type ServerGroupInfo, type VolumeInfo } from "../backend";
import type { BackendOp, StoredFault } from "./faults";
import { acquireFileLock, isLockFile, LockTimeoutError, type Release } from "./file-lock";

export const STATE_FILE = "cloud.json";
const LOCK_FILE = "cloud.json.lock";
/** The lock of earlier releases (a proper-lockfile directory): still ours when sweeping the directory. */
const OLD_LOCK_DIR = ".cloud.lock";
/** Per-cluster locks (../cluster-lock.ts) live in this subdirectory. */
export const CLUSTER_LOCKS_DIR = "locks";
/** `sim reset --force` keeps an unreadable state file under this prefix. */
export const BROKEN_PREFIX = `${"cloud.json"}.broken-`;
const TEMP_SUFFIX = ".tmp";
export const SIM_STATE_VERSION = 1;

export interface Quota {
  instances?: number;
  vcpus?: number;
  ramMb?: number;
  volumes?: number;
  gigabytes?: number;
}

/** Resources a server holds on its host (Nova placement allocation). */
export interface Claim {
  host: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
}

/** What a server is on its way to; applied once the clock passes `at`. */
export type ServerPending =
  | { kind: "build"; at: number; outcome: "ACTIVE" | "ERROR"; fault?: string }
  | { kind: "resize"; at: number; flavorRef: string }
  | { kind: "rebuild"; at: number; imageRef: string }
  | { kind: "delete"; at: number };

export interface ServerRecord {
  id: string;
  name: string;
  status: string;
  fault?: string;
  flavorRef: string;
  imageRef: string;
  zone?: string;
  host?: string;
  claim?: Claim;
  groupId?: string;
  metadata: Record<string, string>;
  createdAt: number;
  pending?: ServerPending;
}

export type VolumePending =
  | { kind: "create"; at: number; outcome: "available" | "error"; fault?: string }
  | { kind: "attach"; at: number; serverId: string }
  | { kind: "detach"; at: number; serverId: string }
  | { kind: "extend"; at: number; back: string }
  | { kind: "delete"; at: number };

/** What the cloud keeps of a volume: what `getVolume` shows, plus its timing. */
export interface VolumeRecord extends VolumeInfo {
  /** Storage backend; its capacity is claimed while the volume is not in error. */
  backend?: string;
  createdAt: number;
  pending?: VolumePending;
}

/** Everything the simulated cloud knows, as plain JSON (also what `snapshot()` returns). */
export interface CloudState {
  version: number;
  /** Stable identity of the cloud: a different id means a different cloud. */
  cloudId: string;
  createdAt: number;
  /** Salt for tenant-visible host ids (Nova hashes project id + host). */
  projectSalt: string;
  topology: Topology;
  images: string[];
  quota?: Quota;
  servers: ServerRecord[];
  volumes: VolumeRecord[];
  serverGroups: ServerGroupInfo[];
  faults: StoredFault[];
  nextFaultId: number;
  calls: Partial<Record<BackendOp, number>>;
}

export type CloudSnapshot = CloudState;

export function statePath(dir: string): string {
  return path.join(dir, STATE_FILE);
}

/**
 * Why a directory's state can't be used. The message names the file and the way out; `reason`
 * lets the command offer the recovery (`sim reset --force`).
 */
export class CloudStateError extends BackendError {
  readonly dir: string;
  readonly reason: "unreadable" | "version";
  /** What is wrong with the file, without its name ("is empty"). */
  readonly problem: string;
  constructor(dir: string, reason: "unreadable" | "version", problem: string) {
    super(
      "bad_request",
      `simulated cloud in "${dir}": ${statePath(dir)} ${problem}; hint: restore that file from a backup, or run \`openstack-vcluster sim reset --force --sim-dir ${quoteArg(dir)}\` to start a new, empty cloud there (its servers, volumes and server groups are lost)`,
    );
    this.name = "CloudStateError";
    this.dir = dir;
    this.reason = reason;
    this.problem = problem;
  }
}

function quoteArg(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

export async function readState(dir: string): Promise<CloudState | undefined> {
  let text: string;
  try {
    text = await fs.readFile(statePath(dir), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CloudStateError(dir, "unreadable", `can't be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (text.trim() === "") throw new CloudStateError(dir, "unreadable", "is empty");
  let state: CloudState;
  try {
    state = JSON.parse(text) as CloudState;
  } catch (e) {
    throw new CloudStateError(dir, "unreadable", `is not valid JSON (${(e as Error).message})`);
  }
  if (state === null || typeof state !== "object" || Array.isArray(state)) {
    throw new CloudStateError(dir, "unreadable", "is not a simulated cloud's state");
  }
  if (state.version !== SIM_STATE_VERSION) {
    throw new CloudStateError(
      dir,
      "version",
      `has state version ${JSON.stringify(state.version)}, which this release does not read (expected ${SIM_STATE_VERSION})`,
    );
  }
  const shapeOk =
    typeof state.cloudId === "string" &&
    typeof state.topology === "object" &&
    state.topology !== null &&
    Array.isArray(state.topology.hosts) &&
    Array.isArray(state.servers) &&
    Array.isArray(state.volumes) &&
    Array.isArray(state.serverGroups) &&
    Array.isArray(state.faults) &&
    Array.isArray(state.images);
  if (!shapeOk) throw new CloudStateError(dir, "unreadable", "is not a simulated cloud's state (fields are missing)");
  state.calls ??= {};
  state.nextFaultId ??= 1;
  return state;
}

export async function writeStateAtomically(dir: string, state: CloudState): Promise<void> {
  const tmp = path.join(dir, `${STATE_FILE}.${process.pid}.${randomBytes(4).toString("hex")}${TEMP_SUFFIX}`);
  const handle = await fs.open(tmp, "w");
  try {
    await handle.writeFile(`${JSON.stringify(state, null, 1)}\n`, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, statePath(dir));
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Removes temp files of writes that never finished. Call holding the lock: every write is made under it. */
export async function sweepStateTemps(dir: string): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((n) => n.startsWith(`${STATE_FILE}.`) && n.endsWith(TEMP_SUFFIX) && !isLockFile(n, LOCK_FILE))
      .map((n) => fs.rm(path.join(dir, n), { force: true })),
  );
}

/** Runs `fn` holding the directory's lock. Waits while another live process holds it. */
export async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  let tookOver = false;
  let release: Release;
  try {
    release = await acquireFileLock(path.join(dir, LOCK_FILE), {
      purpose: "a simulated cloud call",
      // A holder that died is taken over at once (same machine) or after 30 s without a heartbeat.
      staleMs: 30_000,
      // A live holder never keeps the lock this long for one call: a stuck process.
      timeoutMs: 120_000,
      onTakeover: () => {
        tookOver = true;
      },
    });
  } catch (e) {
    if (!(e instanceof LockTimeoutError)) throw e;
    throw new BackendError(
      "unavailable",
      `simulated cloud in "${dir}": pid ${e.holder.pid} has held ${LOCK_FILE} for over 2 minutes; hint: stop that process if it hangs`,
      { cause: e },
    );
  }
  try {
    // The dead holder's unfinished write may have left a temp file: ours to sweep while we hold the lock.
    if (tookOver) await sweepStateTemps(dir);
    return await fn();
  } finally {
    await release();
  }
}

/** Names in the directory that are ours: the state, its temp files and backups, the locks. */
export function isOwnFile(name: string): boolean {
  return (
    name === STATE_FILE ||
    name === OLD_LOCK_DIR ||
    name === CLUSTER_LOCKS_DIR ||
    name.startsWith(BROKEN_PREFIX) ||
    isLockFile(name, LOCK_FILE) ||
    (name.startsWith(`${STATE_FILE}.`) && name.endsWith(TEMP_SUFFIX))
  );
}
