// The simulated cloud's state file: `cloud.json` in the cloud's directory. Every change is made
// under a lock on the directory (several processes share one cloud: the Pulumi provider and the
// command) and written atomically (temp file in the same directory, fsync, rename), so a reader
// never sees half a file and two writers never lose each other's update.
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import * as lockfile from "proper-lockfile";
import type { Topology } from "../../model/topology";
import type { ServerGroupInfo, VolumeInfo } from "../backend";
import type { BackendOp, StoredFault } from "./faults";

export const STATE_FILE = "cloud.json";
const LOCK_FILE = ".cloud.lock";
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

export async function readState(dir: string): Promise<CloudState | undefined> {
  let text: string;
  try {
    text = await fs.readFile(statePath(dir), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const state = JSON.parse(text) as CloudState;
  if (state.version !== SIM_STATE_VERSION) {
    throw new Error(
      `simulated cloud in "${dir}": state version ${state.version} is not supported (expected ${SIM_STATE_VERSION}); hint: reset it with \`openstack-vcluster sim reset\``,
    );
  }
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

/** Runs `fn` holding the directory's lock. Waits (with retries) while another process holds it. */
export async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const release = await lockfile.lock(dir, {
    lockfilePath: path.join(dir, LOCK_FILE),
    realpath: false,
    // A holder that died leaves a stale lock; others take it over after `stale` ms.
    stale: 10_000,
    retries: { retries: 1000, factor: 1.2, minTimeout: 2, maxTimeout: 50, randomize: true },
    // The default throws from a timer and kills the process (the Pulumi provider) when a stalled
    // event loop lets the lock go stale; the write is atomic either way, so carry on.
    onCompromised: () => {},
  });
  try {
    return await fn();
  } finally {
    await release().catch(() => {
      // Already released because it was compromised: nothing left to undo.
    });
  }
}

/** Names in the directory that are ours: the state, its temp files, the lock. */
export function isOwnFile(name: string): boolean {
  return name === STATE_FILE || name === LOCK_FILE || (name.startsWith(`${STATE_FILE}.`) && name.endsWith(TEMP_SUFFIX));
}
