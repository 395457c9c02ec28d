// The command's own record of a cluster (its equivalent of a Pulumi stack): one state file per
// cluster under `<state dir>/clusters/`, the name encoded injectively (clusterFileName). Each file
// records its cluster's name and every read checks it, so no two clusters ever share a file; a name's
// file from an older release (whose mapping gave "a/b" and "a_2Fb" one file) is still read when it
// records that very name, and moved at the next write. A state on a simulated cloud also records the
// cloud's directory, so a cloud whose cloud.db was deleted is noticed instead of silently replaced.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { BackendError } from "../backends/backend";
import { clusterFileName } from "../backends/cluster-lock";
import { type BackendSelection, DEFAULT_SIM_DIR } from "../backends/select";
import { cloudStateExists, SimulatedCloud, STATE_FILE } from "../backends/simulated";
import type { ClusterSpec } from "../model/cluster";
import type { ClusterState } from "../model/state";
import { clusterHead, listNames, plural, quote, shellWord } from "../model/text";
import { APPLIED_KEY } from "./applied";
import type { BackendFlags } from "./cluster";
import type { Io } from "./io";

export const DEFAULT_STATE_DIR = ".openstack-vcluster";

/** A path as the user would type it from where they are. */
export function shown(io: Io, file: string): string {
  return path.relative(io.cwd, file) || ".";
}

/** ` --sim-dir X --state-dir Y`: the flags a hint must repeat for its command to hit the same files. */
export function locationFlags(flags: { simDir?: string; stateDir?: string }): string {
  let out = "";
  if (flags.simDir !== undefined && path.normalize(flags.simDir) !== DEFAULT_SIM_DIR)
    out += ` --sim-dir ${shellWord(flags.simDir)}`;
  if (flags.stateDir !== undefined && flags.stateDir !== DEFAULT_STATE_DIR)
    out += ` --state-dir ${shellWord(flags.stateDir)}`;
  return out;
}

export function stateDirOf(io: Io, flags: { stateDir?: string }): string {
  return path.resolve(io.cwd, flags.stateDir ?? DEFAULT_STATE_DIR);
}

export function clustersDir(io: Io, flags: { stateDir?: string }): string {
  return path.join(stateDirOf(io, flags), "clusters");
}

/** Where this release keeps a cluster's state. */
export function canonicalStateFile(io: Io, flags: { stateDir?: string }, clusterName: string): string {
  return path.join(clustersDir(io, flags), `${clusterFileName(clusterName)}.json`);
}

/** Where releases before this one kept it: not injective ("a/b" and "a_2Fb" shared a file). */
export function legacyStateFile(io: Io, flags: { stateDir?: string }, clusterName: string): string | undefined {
  try {
    return path.join(clustersDir(io, flags), `${encodeURIComponent(clusterName).replace(/%/g, "_")}.json`);
  } catch {
    return undefined; // a lone surrogate: no older release could have stored this name
  }
}

/** The cluster name a state file records, or undefined when there is no file or it can't be read. */
export function recordedName(file: string): string | undefined {
  try {
    const name = (JSON.parse(readFileSync(file, "utf8")) as { clusterName?: unknown }).clusterName;
    return typeof name === "string" ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The state file to read for a cluster: this release's file, or the older release's file when only
 * that one exists and records this very name. Throws when the file records another cluster.
 */
export function stateFile(io: Io, flags: BackendFlags, clusterName: string): string {
  const file = canonicalStateFile(io, flags, clusterName);
  const owner = recordedName(file);
  if (owner !== undefined && owner !== clusterName) {
    if (clusterFileName(owner).toLowerCase() === clusterFileName(clusterName).toLowerCase()) {
      // Only a disk that ignores case gives two names one file now.
      throw new BackendError(
        "conflict",
        `${clusterHead(clusterName)}its state file ${shown(io, file)} holds the state of cluster ${quote(owner)}: the names differ only in case, which this disk does not tell apart; hint: keep this cluster's state elsewhere with --state-dir, or rename it`,
      );
    }
    throw new BackendError(
      "conflict",
      `${clusterHead(clusterName)}its state file ${shown(io, file)} holds the state of cluster ${quote(owner)} (an older release gave both names that file); hint: run \`openstack-vcluster show ${shellWord(owner)}${locationFlags(flags)}\` once to move that cluster's state to its own file, then run this again`,
    );
  }
  if (existsSync(file)) return file;
  const legacy = legacyStateFile(io, flags, clusterName);
  if (legacy !== undefined && legacy !== file && recordedName(legacy) === clusterName) return legacy;
  return file;
}

/** Extra key of the command's state files (not part of ClusterState): the simulated cloud's directory. */
export const SIM_DIR_KEY = "simulatedDir";

export function readState(file: string): ClusterState | undefined {
  try {
    const state = JSON.parse(readFileSync(file, "utf8")) as ClusterState & {
      [SIM_DIR_KEY]?: string;
      [APPLIED_KEY]?: unknown;
    };
    delete state[SIM_DIR_KEY];
    delete state[APPLIED_KEY];
    return state;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new BackendError(
      "bad_request",
      `can't read the cluster state ${file}: ${(error as Error).message}; hint: restore that file, or delete it to forget the cluster (then \`openstack-vcluster destroy <name> --yes\` removes what is tagged with its name)`,
    );
  }
}

/** Where a cluster's state is read from and written to, for one run holding the cluster's lock. */
export interface StateAt {
  /** This release's file: every write goes here. */
  file: string;
  /** The file read (an older release's, until the first write moves it). */
  readFrom: string;
}

export function locateState(io: Io, flags: BackendFlags, clusterName: string): StateAt {
  return { file: canonicalStateFile(io, flags, clusterName), readFrom: stateFile(io, flags, clusterName) };
}

/** The spec last applied, as the state file records it (applied.ts), or undefined. */
export function readApplied(file: string): unknown {
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { [APPLIED_KEY]?: unknown })[APPLIED_KEY];
  } catch {
    return undefined;
  }
}

/**
 * Writes a cluster's state; with `applied`, the record of the spec applied (user_data as digests:
 * applied.ts), else the record the file has is kept.
 */
export function writeState(at: StateAt, state: ClusterState, selection: BackendSelection, applied?: ClusterSpec): void {
  mkdirSync(path.dirname(at.file), { recursive: true });
  const tmp = `${at.file}.${process.pid}.tmp`;
  const spec = applied ?? readApplied(at.readFrom);
  const record = {
    ...state,
    ...(selection.backend instanceof SimulatedCloud ? { [SIM_DIR_KEY]: selection.backend.dir } : {}),
    ...(spec !== undefined ? { [APPLIED_KEY]: spec } : {}),
  };
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(tmp, at.file);
  if (at.readFrom !== at.file) {
    rmSync(at.readFrom, { force: true });
    at.readFrom = at.file;
  }
}

export function removeState(at: StateAt): void {
  rmSync(at.file, { force: true });
  if (at.readFrom !== at.file) rmSync(at.readFrom, { force: true });
}

/** Temp files of this cluster's state left by a run that was killed (call holding its lock). */
export function sweepStateTemps(at: StateAt): void {
  const dir = path.dirname(at.file);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const base = path.basename(at.file);
  for (const n of names) {
    const rest = n.startsWith(`${base}.`) ? n.slice(base.length + 1) : "";
    if (/^\d+\.tmp$/.test(rest)) rmSync(path.join(dir, n), { force: true });
  }
}

/** A cluster recorded in the state directory as built on a simulated cloud. */
export interface RecordedCluster {
  name: string;
  backendId: string;
  file: string;
}

/**
 * Clusters whose state says they were built on the simulated cloud in `simDir`, except those on the
 * cloud `exceptBackendId`. A state of an older release, which did not record the directory, counts
 * as built on the default one.
 */
export function clustersRecordedOn(
  io: Io,
  flags: { stateDir?: string },
  simDir: string,
  exceptBackendId?: string,
): RecordedCluster[] {
  const dir = clustersDir(io, flags);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
  const defaultDir = path.resolve(io.cwd, DEFAULT_SIM_DIR);
  const found: RecordedCluster[] = [];
  for (const n of names.sort()) {
    const file = path.join(dir, n);
    let state: Partial<ClusterState> & { [SIM_DIR_KEY]?: unknown };
    try {
      state = JSON.parse(readFileSync(file, "utf8")) as typeof state;
    } catch {
      continue;
    }
    if (state.backendKind !== "simulated" || typeof state.clusterName !== "string") continue;
    const recorded = typeof state[SIM_DIR_KEY] === "string" ? path.resolve(state[SIM_DIR_KEY]) : defaultDir;
    if (recorded !== path.resolve(simDir) || state.backendId === exceptBackendId) continue;
    found.push({ name: state.clusterName, backendId: String(state.backendId), file });
  }
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * When the simulated cloud's directory has no cloud.db (nor a cloud.json to migrate) but the state directory records clusters
 * built on it, opening it would silently make a new, empty cloud and strand them: the message
 * saying so instead, or undefined.
 */
export function missingCloudProblem(
  io: Io,
  flags: { simDir?: string; stateDir?: string },
  clusterName?: string,
): string | undefined {
  const simDir = path.resolve(io.cwd, flags.simDir ?? DEFAULT_SIM_DIR);
  if (cloudStateExists(simDir)) return undefined;
  const stranded = clustersRecordedOn(io, flags, simDir);
  if (stranded.length === 0) return undefined;
  const prefix = clusterName === undefined ? "openstack-vcluster: " : clusterHead(clusterName);
  return `${prefix}the simulated cloud in ${shown(io, simDir)} is gone (no ${STATE_FILE}), and ${shown(io, clustersDir(io, flags))} records ${plural(stranded.length, "cluster")} built on it: ${listNames(
    stranded.map((c) => c.name),
    10,
  )}; hint: restore ${shown(io, path.join(simDir, STATE_FILE))} from a backup, or run \`openstack-vcluster sim reset --force${locationFlags(flags)}\` to start a new, empty cloud there and set their state aside (what they held is lost)`;
}
