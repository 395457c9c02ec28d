// `apply`, `show`, `destroy`: the lifecycle controller against a backend, with the cluster's
// state kept in a local file (the command's equivalent of a Pulumi stack).
//
// Each of them holds the cluster's lock for the whole run (../backends/cluster-lock.ts): in the
// state directory, so runs sharing a state file are serialized, and in the cloud's lock
// directory, so the Pulumi provider and runs with other state directories are too. The state is
// read only once the locks are held, so a run that waited sees what the other one left.
//
// State files: `<state dir>/clusters/<name>.json`, the name encoded injectively (clusterFileName).
// Each file records its cluster's name, and every read checks it, so no two clusters can ever
// share a file (on a case-insensitive disk either). Releases before this one used a mapping that
// gave "a/b" and "a_2Fb" one file: a name's old file is still read when it records that name, and
// moved to the new one at the next write. A state on a simulated cloud also records the cloud's
// directory (`simulatedDir`), so a cloud whose cloud.json was deleted is noticed instead of
// silently replaced by a new, empty one.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { type Backend, BackendError, TAG_CLUSTER } from "../backends/backend";
import { clusterFileName, clusterLockDir, withClusterLock } from "../backends/cluster-lock";
import { type BackendSelection, chooseBackendKind, DEFAULT_SIM_DIR, selectBackend } from "../backends/select";
import { CloudStateError, SimulatedCloud, STATE_FILE } from "../backends/simulated";
import { ClusterController, type ClusterState, LifecycleError } from "../lifecycle";
import { clusterHead, listItems, listNames, plural, quote } from "../model/text";
import { formatExplanation } from "../placement";
import { EXIT, type Io, json } from "./io";
import { loadSpec } from "./load";

/** Flags shared by every command that talks to a backend, as the config keys selectBackend reads. */
export interface BackendFlags {
  backend?: string;
  simDir?: string;
  simTopology?: string;
  stateDir?: string;
  concurrency?: number;
}

export const DEFAULT_STATE_DIR = ".openstack-vcluster";

function flagsToConfig(flags: BackendFlags): Record<string, string> {
  const config: Record<string, string> = {};
  if (flags.backend) config.backend = flags.backend;
  if (flags.simDir) config.simulatedDir = flags.simDir;
  if (flags.simTopology) config.simulatedTopology = flags.simTopology;
  return config;
}

/** A word of a command line the user can paste: quoted for the shell when it needs to be. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

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

function clustersDir(io: Io, flags: { stateDir?: string }): string {
  return path.join(stateDirOf(io, flags), "clusters");
}

/** Where this release keeps a cluster's state. */
function canonicalStateFile(io: Io, flags: { stateDir?: string }, clusterName: string): string {
  return path.join(clustersDir(io, flags), `${clusterFileName(clusterName)}.json`);
}

/** Where releases before this one kept it: not injective ("a/b" and "a_2Fb" shared a file). */
function legacyStateFile(io: Io, flags: { stateDir?: string }, clusterName: string): string | undefined {
  try {
    return path.join(clustersDir(io, flags), `${encodeURIComponent(clusterName).replace(/%/g, "_")}.json`);
  } catch {
    return undefined; // a lone surrogate: no older release could have stored this name
  }
}

/** The cluster name a state file records, or undefined when there is no file or it can't be read. */
function recordedName(file: string): string | undefined {
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
const SIM_DIR_KEY = "simulatedDir";

export function readState(file: string): ClusterState | undefined {
  try {
    const state = JSON.parse(readFileSync(file, "utf8")) as ClusterState & { [SIM_DIR_KEY]?: string };
    delete state[SIM_DIR_KEY];
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
interface StateAt {
  /** This release's file: every write goes here. */
  file: string;
  /** The file read (an older release's, until the first write moves it). */
  readFrom: string;
}

function locateState(io: Io, flags: BackendFlags, clusterName: string): StateAt {
  return { file: canonicalStateFile(io, flags, clusterName), readFrom: stateFile(io, flags, clusterName) };
}

function writeState(at: StateAt, state: ClusterState, selection: BackendSelection): void {
  mkdirSync(path.dirname(at.file), { recursive: true });
  const tmp = `${at.file}.${process.pid}.tmp`;
  const record =
    selection.backend instanceof SimulatedCloud ? { ...state, [SIM_DIR_KEY]: selection.backend.dir } : state;
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(tmp, at.file);
  if (at.readFrom !== at.file) {
    rmSync(at.readFrom, { force: true });
    at.readFrom = at.file;
  }
}

function removeState(at: StateAt): void {
  rmSync(at.file, { force: true });
  if (at.readFrom !== at.file) rmSync(at.readFrom, { force: true });
}

/** Temp files of this cluster's state left by a run that was killed (call holding its lock). */
function sweepStateTemps(at: StateAt): void {
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
 * When the simulated cloud's directory has no cloud.json but the state directory records clusters
 * built on it, opening it would silently make a new, empty cloud and strand them: the message
 * saying so instead, or undefined.
 */
export function missingCloudProblem(
  io: Io,
  flags: { simDir?: string; stateDir?: string },
  clusterName?: string,
): string | undefined {
  const simDir = path.resolve(io.cwd, flags.simDir ?? DEFAULT_SIM_DIR);
  if (existsSync(path.join(simDir, STATE_FILE))) return undefined;
  const stranded = clustersRecordedOn(io, flags, simDir);
  if (stranded.length === 0) return undefined;
  const prefix = clusterName === undefined ? "openstack-vcluster: " : clusterHead(clusterName);
  return `${prefix}the simulated cloud in ${shown(io, simDir)} is gone (no ${STATE_FILE}), and ${shown(io, clustersDir(io, flags))} records ${plural(stranded.length, "cluster")} built on it: ${listNames(
    stranded.map((c) => c.name),
    10,
  )}; hint: restore ${shown(io, path.join(simDir, STATE_FILE))} from a backup, or run \`openstack-vcluster sim reset --force${locationFlags(flags)}\` to start a new, empty cloud there and set their state aside (what they held is lost)`;
}

/** The command, unlike a Pulumi program, defaults to the simulated cloud beside it (with a notice). */
const COMMAND_SELECT = { defaultToSimulated: true };

export async function openBackend(
  io: Io,
  flags: BackendFlags,
  clusterName?: string,
): Promise<BackendSelection | number> {
  const config = flagsToConfig(flags);
  let kind: string | undefined;
  try {
    kind = chooseBackendKind(config, io.env, COMMAND_SELECT);
  } catch {
    // selectBackend says what is wrong with the choice.
  }
  if (kind === "simulated") {
    const problem = missingCloudProblem(io, flags, clusterName);
    if (problem) {
      io.err(problem);
      return EXIT.usage;
    }
  }
  try {
    const selection = await selectBackend(config, io.env, io.cwd, COMMAND_SELECT);
    if (selection.notice) io.err(selection.notice);
    return selection;
  } catch (error) {
    io.err(cloudStateProblem(io, error, flags, clusterName) ?? `openstack-vcluster: ${failureText(error)}`);
    return EXIT.usage;
  }
}

function failureText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A simulated cloud.json that can't be read, as the command's user can fix it; else undefined. */
export function cloudStateProblem(
  io: Io,
  error: unknown,
  flags: { simDir?: string; stateDir?: string },
  clusterName?: string,
): string | undefined {
  if (!(error instanceof CloudStateError)) return undefined;
  const prefix = clusterName === undefined ? "openstack-vcluster: " : clusterHead(clusterName);
  return `${prefix}the simulated cloud's state ${shown(io, path.join(error.dir, STATE_FILE))} ${error.problem}; hint: restore that file from a backup, or run \`openstack-vcluster sim reset --force${locationFlags(flags)}\` to start a new, empty cloud there (what the old one held is lost; the file is kept aside)`;
}

/** A member table: one line per member, sorted by name. */
export function renderMembers(state: ClusterState): string {
  const header = ["MEMBER", "TYPE", "STATUS", "ZONE", "RACK", "HOST", "BACKEND", "ID"];
  const rows = Object.values(state.members)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((m) => [
      m.name,
      m.type,
      m.status,
      m.zone ?? "-",
      m.rack ?? "-",
      m.host ?? (m.hostId ? `hostId ${m.hostId.slice(0, 12)}` : "-"),
      m.backend ?? (m.type === "server" && m.serverGroup ? `group ${m.serverGroup.slice(0, 8)}` : "-"),
      m.id || "-",
    ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

function renderState(state: ClusterState): string {
  const lines = [renderMembers(state)];
  if (state.softViolations.length > 0) {
    lines.push("", "soft rules not met:");
    for (const v of state.softViolations)
      lines.push(`  "${v.grouping}" (cost ${v.weight}): ${v.members.map((m) => `"${m}"`).join(", ")}`);
  }
  if (state.brokenRules.length > 0) {
    lines.push("", "hard rules broken:");
    for (const r of state.brokenRules) lines.push(`  ${r.message}`);
  }
  if (state.missing.length > 0) {
    lines.push("", `missing (the next apply recreates them): ${state.missing.map((m) => `"${m}"`).join(", ")}`);
  }
  return lines.join("\n");
}

/** One line for a failure that is not the lifecycle's: messages about a cluster already start with its name. */
function failureLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.startsWith("cluster ") ? text : `openstack-vcluster: ${text}`;
}

function lifecycleFailure(io: Io, error: unknown, at: StateAt, selection: BackendSelection): number {
  if (error instanceof LifecycleError) {
    if (error.partialState) writeState(at, error.partialState, selection);
    if (error.code === "unplaceable" && error.explanation) {
      io.err(formatExplanation(error.explanation));
      return EXIT.unplaceable;
    }
    io.err(error.message);
    if (error.partialState) {
      io.err(`what still exists is recorded in ${shown(io, at.file)}; run apply again to finish, or destroy.`);
    }
    return error.code === "invalid" ? EXIT.invalidSpec : EXIT.usage;
  }
  io.err(failureLine(error));
  return EXIT.usage;
}

function controllerFor(io: Io, selection: BackendSelection, flags: BackendFlags): ClusterController {
  return new ClusterController(selection.backend, {
    concurrency: flags.concurrency,
    backendId: selection.backendId,
    log: (_level, message) => io.err(message),
  });
}

/**
 * A cluster's state belongs to the cloud it was built on: showing it from another cloud would call
 * every member missing, and destroying it there would sweep another project's objects by name.
 */
export function onOtherCloud(
  io: Io,
  name: string,
  previous: ClusterState | undefined,
  selection: BackendSelection,
): boolean {
  if (!previous || previous.backendId === selection.backendId) return false;
  io.err(
    `cluster ${quote(name)} was built on ${previous.backendId}, not on ${selection.backendId}: select that cloud (OS_CLOUD, --backend, --sim-dir), or use another --state-dir.`,
  );
  return true;
}

/** What one locked run of a command on a cluster works with. */
interface ClusterRun {
  controller: ClusterController;
  selection: BackendSelection;
  at: StateAt;
  /** The cluster's state, read once the locks were held. */
  previous: ClusterState | undefined;
}

/**
 * Opens the backend, takes the cluster's locks (state directory, then cloud), reads its state, runs
 * one lifecycle step, records a partial state while still holding the locks, maps failures to an
 * exit code, and closes the backend.
 */
async function onCluster(
  io: Io,
  flags: BackendFlags,
  name: string,
  command: string,
  step: (run: ClusterRun) => Promise<number>,
): Promise<number> {
  const selection = await openBackend(io, flags, name);
  if (typeof selection === "number") return selection;
  try {
    return await withClusterLock(
      [path.join(stateDirOf(io, flags), "locks"), clusterLockDir(selection)],
      name,
      async () => {
        const at = locateState(io, flags, name);
        sweepStateTemps(at);
        let previous: ClusterState | undefined;
        try {
          previous = readState(at.readFrom);
        } catch (error) {
          io.err(`${clusterHead(name)}${failureText(error)}`);
          return EXIT.usage;
        }
        try {
          return await step({ controller: controllerFor(io, selection, flags), selection, at, previous });
        } catch (error) {
          return lifecycleFailure(io, error, at, selection);
        }
      },
      { purpose: `openstack-vcluster ${command}`, log: (_level, message) => io.err(message) },
    );
  } catch (error) {
    io.err(failureLine(error));
    return EXIT.usage;
  } finally {
    await selection.backend.close();
  }
}

function printState(io: Io, selection: BackendSelection, state: ClusterState, asJson: boolean): void {
  io.out(
    asJson
      ? json(state)
      : `cluster ${quote(state.clusterName)} on ${selection.backend.description}\n\n${renderState(state)}`,
  );
}

export async function applyCommand(io: Io, specFile: string, flags: BackendFlags & { json: boolean }): Promise<number> {
  const spec = loadSpec(io, specFile, false);
  if (!spec.ok) return spec.code;
  const name = spec.value.name;
  return onCluster(io, flags, name, "apply", async ({ controller, selection, at, previous }) => {
    if (onOtherCloud(io, name, previous, selection)) return EXIT.usage;
    const state = await controller.apply(spec.value, previous);
    writeState(at, state, selection);
    printState(io, selection, state, flags.json);
    return EXIT.ok;
  });
}

/** `show` and `destroy` take the spec file (to find the cluster's name) or the name itself. */
function clusterNameOf(io: Io, target: string): string | number {
  if (/\.(json|ya?ml)$/i.test(target)) {
    const spec = loadSpec(io, target, false);
    return spec.ok ? spec.value.name : spec.code;
  }
  return target;
}

/** Names of the clusters with state in this state directory, sorted. */
function clustersWithState(io: Io, flags: BackendFlags): string[] {
  let names: string[];
  try {
    names = readdirSync(clustersDir(io, flags)).filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
  const out = names.map((n) => recordedName(path.join(clustersDir(io, flags), n)));
  return [...new Set(out.filter((n): n is string => n !== undefined))].sort();
}

export async function showCommand(io: Io, target: string, flags: BackendFlags & { json: boolean }): Promise<number> {
  const name = clusterNameOf(io, target);
  if (typeof name === "number") return name;
  return onCluster(io, flags, name, "show", async ({ controller, selection, at, previous }) => {
    if (!previous) {
      io.err(
        `cluster ${quote(name)} has no state in ${shown(io, path.dirname(at.file))}: nothing was applied from here; hint: apply its spec first, or pass the --state-dir it was applied with`,
      );
      return EXIT.usage;
    }
    if (onOtherCloud(io, name, previous, selection)) return EXIT.usage;
    const state = await controller.refresh(previous);
    writeState(at, state, selection);
    printState(io, selection, state, flags.json);
    return EXIT.ok;
  });
}

/** Everything on the cloud tagged with the cluster's name, one label each ("server \"shop-lb-1\""), sorted. */
async function taggedWith(backend: Backend, name: string): Promise<string[]> {
  const tags = { [TAG_CLUSTER]: name };
  const [servers, volumes, groups] = await Promise.all([
    backend.findServers(tags),
    backend.findVolumes(tags),
    backend.findServerGroups(tags),
  ]);
  return [
    ...servers.map((s) => `server ${quote(s.name)}`).sort(),
    ...volumes.map((v) => `volume ${quote(v.name)}`).sort(),
    ...groups.map((g) => `server group ${quote(g.name)}`).sort(),
  ];
}

/**
 * With the cluster's state, destroy deletes what the state names plus whatever is tagged with the
 * cluster's name. Without state, the name alone decides: nothing tagged is "nothing found" (a typo
 * must not look like success), and a sweep by name needs `--yes` after seeing what it would delete.
 */
export async function destroyCommand(io: Io, target: string, flags: BackendFlags & { yes?: boolean }): Promise<number> {
  const name = clusterNameOf(io, target);
  if (typeof name === "number") return name;
  return onCluster(io, flags, name, "destroy", async ({ controller, selection, at, previous }) => {
    if (onOtherCloud(io, name, previous, selection)) return EXIT.usage;
    if (!previous) {
      const tagged = await taggedWith(selection.backend, name);
      const where = shown(io, path.dirname(at.file));
      if (tagged.length === 0) {
        const known = clustersWithState(io, flags);
        io.err(
          `${clusterHead(name)}nothing found: no state in ${where} and nothing tagged with it on ${selection.backend.description}; hint: check the name${known.length > 0 ? ` (clusters with state here: ${listNames(known, 10)})` : ""}, or the cloud and --state-dir it was built with`,
        );
        return EXIT.usage;
      }
      if (flags.yes !== true) {
        io.err(
          `${clusterHead(name)}no state in ${where}, but ${plural(tagged.length, "object")} on ${selection.backend.description} ${tagged.length === 1 ? "is" : "are"} tagged with its name and would be deleted: ${listItems(tagged, 10)}; hint: run \`openstack-vcluster destroy ${shellWord(name)} --yes${locationFlags(flags)}\` to delete them`,
        );
        return EXIT.usage;
      }
    }
    await controller.destroy(previous ?? { clusterName: name });
    removeState(at);
    io.out(`cluster ${quote(name)} destroyed: nothing of it is left on ${selection.backend.description}.`);
    return EXIT.ok;
  });
}
