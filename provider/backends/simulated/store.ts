// The simulated cloud's state: what it keeps of servers, volumes, server groups, faults and calls
// (the types every operation works on), where it lives on disk, and why a directory's state can't
// be used. The state itself is kept in an embedded SQLite database, `cloud.db` in the cloud's
// directory (database.ts: one row per object, one transaction per call); `cloud.json`, the whole
// state as one JSON file, is what earlier releases kept, read once to migrate it.
import { existsSync, promises as fs } from "node:fs";
import * as path from "node:path";
import type { Topology } from "../../model/topology";
import { BackendError, type NetworkAddresses, type ServerGroupInfo, type VolumeInfo } from "../backend";
import type { BackendOp, StoredFault } from "./faults";
import { isLockFile } from "./file-lock";

/** The cloud's database (with SQLite's `-wal` and `-shm` files beside it while it is in use). */
export const STATE_FILE = "cloud.db";
/** The state file of earlier releases: migrated into the database on first open, then kept as `cloud.json.migrated`. */
export const LEGACY_STATE_FILE = "cloud.json";
export const MIGRATED_SUFFIX = ".migrated";
/**
 * Taken while a database file is created, migrated or replaced (never per call: SQLite serializes
 * calls). The name is earlier releases' per-call lock, so a process of such a release still writing
 * cloud.json finishes before its file is migrated.
 */
export const STRUCTURE_LOCK = "cloud.json.lock";
/** The lock of earlier releases (a proper-lockfile directory): still ours when sweeping the directory. */
const OLD_LOCK_DIR = ".cloud.lock";
/** Per-cluster locks (../cluster-lock.ts) live in this subdirectory. */
export const CLUSTER_LOCKS_DIR = "locks";
/** `sim reset --force` keeps an unreadable state file `<file>` as `<file>.broken-<time>`. */
export const BROKEN_INFIX = ".broken-";
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
  | {
      kind: "rebuild";
      at: number;
      imageRef: string;
      /** What the rebuild sets besides the image: absent fields stay as they were. */
      keyName?: string | null;
      userDataDigest?: string | null;
    }
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
  /** Absent in a cloud.json of a release that didn't keep them: no key, the "default" group, no networks asked. */
  keyName?: string;
  securityGroups?: string[];
  networks?: string[];
  /**
   * A SHA-256 of the user data it was booted or rebuilt with, never the data itself (the file is
   * plain text on disk); tests read it to see a rebuild took the new user data.
   */
  userDataDigest?: string;
  /** Fixed IPs by network and port ids (network.ts); absent on a server of a release that didn't keep them. */
  addresses?: Record<string, NetworkAddresses>;
  ports?: string[];
  createdAt: number;
  pending?: ServerPending;
}

export type VolumePending =
  | { kind: "create"; at: number; outcome: "available" | "error"; fault?: string }
  | { kind: "attach"; at: number; serverId: string }
  | { kind: "detach"; at: number; serverId: string }
  | { kind: "extend"; at: number; back: string }
  | { kind: "retype"; at: number; back: string; volumeType: string; backend?: string }
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
  /** How many fixed IPs were handed out (network.ts numbers them); absent: none yet. */
  nextAddress?: number;
  calls: Partial<Record<BackendOp, number>>;
}

export type CloudSnapshot = CloudState;

export function statePath(dir: string): string {
  return path.join(dir, STATE_FILE);
}

/** Whether the directory holds a cloud: its database, or a cloud.json of an earlier release not yet migrated. */
export function cloudStateExists(dir: string): boolean {
  return existsSync(path.join(dir, STATE_FILE)) || existsSync(path.join(dir, LEGACY_STATE_FILE));
}

/**
 * Why a directory's state can't be used. The message names the file and the way out; `reason`
 * lets the command offer the recovery (`sim reset --force`).
 */
export class CloudStateError extends BackendError {
  readonly dir: string;
  /** The file that can't be used: the database, or an earlier release's cloud.json being migrated. */
  readonly file: string;
  readonly reason: "unreadable" | "version";
  /** What is wrong with the file, without its name ("is empty"). */
  readonly problem: string;
  constructor(dir: string, reason: "unreadable" | "version", problem: string, file = statePath(dir)) {
    super(
      "bad_request",
      `simulated cloud in "${dir}": ${file} ${problem}; hint: restore that file from a backup, or run \`openstack-vcluster sim reset --force --sim-dir ${quoteArg(dir)}\` to start a new, empty cloud there (its servers, volumes and server groups are lost)`,
    );
    this.name = "CloudStateError";
    this.dir = dir;
    this.file = file;
    this.reason = reason;
    this.problem = problem;
  }
}

function quoteArg(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

/** An earlier release's cloud.json, read to migrate it; undefined when there is none. */
export async function readLegacyState(dir: string): Promise<CloudState | undefined> {
  const file = path.join(dir, LEGACY_STATE_FILE);
  const bad = (problem: string) => new CloudStateError(dir, "unreadable", problem, file);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw bad(`can't be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (text.trim() === "") throw bad("is empty");
  let state: CloudState;
  try {
    state = JSON.parse(text) as CloudState;
  } catch (e) {
    throw bad(`is not valid JSON (${(e as Error).message})`);
  }
  if (state === null || typeof state !== "object" || Array.isArray(state)) {
    throw bad("is not a simulated cloud's state");
  }
  if (state.version !== SIM_STATE_VERSION) {
    throw new CloudStateError(
      dir,
      "version",
      `has state version ${JSON.stringify(state.version)}, which this release does not read (expected ${SIM_STATE_VERSION})`,
      file,
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
  if (!shapeOk) throw bad("is not a simulated cloud's state (fields are missing)");
  state.calls ??= {};
  state.nextFaultId ??= 1;
  return state;
}

/** Names in the directory that are ours: the database and SQLite's files, kept-aside and migrated files, temp files, the locks. */
export function isOwnFile(name: string): boolean {
  for (const file of [STATE_FILE, LEGACY_STATE_FILE]) {
    if (name === file || name.startsWith(`${file}${BROKEN_INFIX}`)) return true;
    if (name.startsWith(`${file}.`) && (name.endsWith(TEMP_SUFFIX) || name.endsWith(`${TEMP_SUFFIX}-journal`)))
      return true;
  }
  return (
    name === `${STATE_FILE}-wal` ||
    name === `${STATE_FILE}-shm` ||
    name === `${STATE_FILE}-journal` ||
    name === `${LEGACY_STATE_FILE}${MIGRATED_SUFFIX}` ||
    name === OLD_LOCK_DIR ||
    name === CLUSTER_LOCKS_DIR ||
    isLockFile(name, STRUCTURE_LOCK)
  );
}
