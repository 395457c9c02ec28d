// `apply`, `show`, `destroy`: the lifecycle controller against a backend, with the cluster's
// state kept in a local file (the command's equivalent of a Pulumi stack).
//
// Each of them holds the cluster's lock for the whole run (../backends/cluster-lock.ts): in the
// state directory, so runs sharing a state file are serialized, and in the cloud's lock
// directory, so the Pulumi provider and runs with other state directories are too; apply and destroy
// also take its lock on the cloud (an OpenStack cloud's, against runs on other machines: `unlock`
// removes one a killed run left, unlock.ts). The state is read only once the locks are held, so a
// run that waited sees what the other one left.
//
// Where and how the state is kept: state-files.ts.
import { readdirSync } from "node:fs";
import * as path from "node:path";
import { type Backend, BackendError, TAG_CLUSTER } from "../backends/backend";
import { clusterLockDir, withClusterLock } from "../backends/cluster-lock";
import { type BackendSelection, chooseBackendKind, selectBackend } from "../backends/select";
import { CloudStateError } from "../backends/simulated";
import { ClusterController, type ClusterState, LifecycleError } from "../lifecycle";
import { clusterHead, listItems, listNames, plural, quote, shellWord } from "../model/text";
import { appliedRecord, digestKey, hasUserData, previousFromRecord } from "./applied";
import { applyDryRun } from "./dry-run";
import { fail, type Refusal, refusal } from "./failure";
import { writeLiveMap } from "./html";
import { EXIT, type Io, json } from "./io";
import { loadSpec } from "./load";
import { withStatusLine } from "./progress-display";
import {
  clustersDir,
  locateState,
  locationFlags,
  missingCloudProblem,
  readApplied,
  readState,
  recordedName,
  removeState,
  type StateAt,
  shown,
  stateDirOf,
  sweepStateTemps,
  writeState,
} from "./state-files";

/** Flags shared by every command that talks to a backend, as the config keys selectBackend reads. */
export interface BackendFlags {
  backend?: string;
  simDir?: string;
  simTopology?: string;
  stateDir?: string;
  concurrency?: number;
}

function flagsToConfig(flags: BackendFlags): Record<string, string> {
  const config: Record<string, string> = {};
  if (flags.backend) config.backend = flags.backend;
  if (flags.simDir) config.simulatedDir = flags.simDir;
  if (flags.simTopology) config.simulatedTopology = flags.simTopology;
  return config;
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
    if (problem) return fail(io, { kind: "cloud", message: problem });
  }
  try {
    const selection = await selectBackend(config, io.env, io.cwd, COMMAND_SELECT);
    if (selection.notice) io.err(selection.notice);
    return selection;
  } catch (error) {
    const message = cloudStateProblem(io, error, flags, clusterName) ?? `openstack-vcluster: ${failureText(error)}`;
    return fail(io, { kind: "cloud", message });
  }
}

function failureText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A simulated cloud's state (cloud.db, or a cloud.json to migrate) that can't be read, as the command's user can fix it; else undefined. */
export function cloudStateProblem(
  io: Io,
  error: unknown,
  flags: { simDir?: string; stateDir?: string },
  clusterName?: string,
): string | undefined {
  if (!(error instanceof CloudStateError)) return undefined;
  const prefix = clusterName === undefined ? "openstack-vcluster: " : clusterHead(clusterName);
  return `${prefix}the simulated cloud's state ${shown(io, error.file)} ${error.problem}; hint: restore that file from a backup, or run \`openstack-vcluster sim reset --force${locationFlags(flags)}\` to start a new, empty cloud there (what the old one held is lost; the file is kept aside)`;
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

function lifecycleFailure(io: Io, error: unknown, at: StateAt, selection: BackendSelection, name: string): number {
  if (error instanceof LifecycleError) {
    if (error.partialState) writeState(at, error.partialState, selection);
    if ((error.code === "unplaceable" && error.explanation) || error.code === "invalid") {
      const { failure, human } = refusal(name, refusalOf(error));
      return fail(io, failure, human);
    }
    const recorded = error.partialState
      ? `\nwhat still exists is recorded in ${shown(io, at.file)}; run apply again to finish, or destroy.`
      : "";
    const kind = error.code === "backend" ? "cloud" : "failed";
    return fail(io, { kind, message: error.message }, `${error.message}${recorded}`);
  }
  return fail(io, { kind: "cloud", message: failureLine(error) });
}

/** What an apply refused or couldn't place: the blocking lines of an "invalid" error, its explanation. */
function refusalOf(error: LifecycleError): Refusal {
  const explanation = error.explanation ? { explanation: error.explanation } : {};
  if (error.code !== "invalid") return { blocking: [], ...explanation };
  // The message: the blocking lines, then the explanation's text when there is one.
  const lines = error.message.split("\n");
  const blocking = error.explanation ? lines.slice(0, lines.indexOf(error.explanation.summary)) : lines;
  return { blocking, ...(error.references ? { references: error.references } : {}), ...explanation };
}

function controllerFor(io: Io, selection: BackendSelection, flags: BackendFlags): ClusterController {
  return new ClusterController(selection.backend, {
    concurrency: flags.concurrency,
    backendId: selection.backendId,
    log: (_level, message) => io.err(message),
    ...(io.progress ? { onProgress: io.progress } : {}),
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
  fail(io, {
    kind: "state",
    message: `cluster ${quote(name)} was built on ${previous.backendId}, not on ${selection.backendId}: select that cloud (OS_CLOUD, --backend, --sim-dir), or use another --state-dir.`,
  });
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
          return fail(io, { kind: "state", message: `${clusterHead(name)}${failureText(error)}` });
        }
        try {
          return await step({ controller: controllerFor(io, selection, flags), selection, at, previous });
        } catch (error) {
          return lifecycleFailure(io, error, at, selection, name);
        }
      },
      {
        purpose: `openstack-vcluster ${command}`,
        log: (_level, message) => io.err(message),
        // Runs that change the cluster also take its lock on the cloud, against runs on other
        // machines; `show` only reads it, and is not refused while another machine changes it.
        ...(command === "show" ? {} : { cloud: selection.backend }),
      },
    );
  } catch (error) {
    // Taking the locks: a conflict is another run holding one.
    const kind = error instanceof BackendError && error.code === "conflict" ? "locked" : "cloud";
    return fail(io, { kind, message: failureLine(error) });
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

/** On a terminal, apply and destroy show their progress in a status line (progress-display.ts). */
export function applyCommand(
  io: Io,
  specFile: string,
  flags: BackendFlags & { json: boolean; dryRun?: boolean },
): Promise<number> {
  return withStatusLine(io, "apply", flags.json, (io) => applyWith(io, specFile, flags));
}

async function applyWith(
  io: Io,
  specFile: string,
  flags: BackendFlags & { json: boolean; dryRun?: boolean },
): Promise<number> {
  const spec = loadSpec(io, specFile);
  if (!spec.ok) return spec.code;
  if (flags.dryRun === true) return applyDryRun(io, spec.value, flags);
  const name = spec.value.name;
  return onCluster(io, flags, name, "apply", async ({ controller, selection, at, previous }) => {
    if (onOtherCloud(io, name, previous, selection)) return EXIT.usage;
    // What was applied before (user_data as keyed digests, applied.ts) and what this apply records.
    const key = digestKey(stateDirOf(io, flags), hasUserData(spec.value));
    const inputs = previousFromRecord(readApplied(at.readFrom), key, name);
    const record = appliedRecord(spec.value, key);
    let state: ClusterState;
    try {
      state = await controller.apply(spec.value, previous, inputs);
    } catch (error) {
      // What a failed update did not finish is pending in the partial state, against this record.
      if (error instanceof LifecycleError && error.partialState) writeState(at, error.partialState, selection, record);
      throw error;
    }
    writeState(at, state, selection, record);
    printState(io, selection, state, flags.json);
    return EXIT.ok;
  });
}

/** `show` and `destroy` take the spec file (to find the cluster's name) or the name itself. */
function clusterNameOf(io: Io, target: string): string | number {
  if (/\.(json|ya?ml)$/i.test(target)) {
    const spec = loadSpec(io, target);
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

export async function showCommand(
  io: Io,
  target: string,
  flags: BackendFlags & { json: boolean; html?: string },
): Promise<number> {
  const name = clusterNameOf(io, target);
  if (typeof name === "number") return name;
  return onCluster(io, flags, name, "show", async ({ controller, selection, at, previous }) => {
    if (!previous) {
      return fail(io, {
        kind: "state",
        message: `cluster ${quote(name)} has no state in ${shown(io, path.dirname(at.file))}: nothing was applied from here; hint: apply its spec first, or pass the --state-dir it was applied with`,
      });
    }
    if (onOtherCloud(io, name, previous, selection)) return EXIT.usage;
    const state = await controller.refresh(previous);
    writeState(at, state, selection);
    if (flags.html !== undefined) {
      const failed = await writeLiveMap(io, flags.html, state, readApplied(at.readFrom), selection.backend);
      if (failed !== undefined) return failed;
    }
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
export function destroyCommand(io: Io, target: string, flags: BackendFlags & { yes?: boolean }): Promise<number> {
  return withStatusLine(io, "destroy", false, (io) => destroyWith(io, target, flags));
}

async function destroyWith(io: Io, target: string, flags: BackendFlags & { yes?: boolean }): Promise<number> {
  const name = clusterNameOf(io, target);
  if (typeof name === "number") return name;
  return onCluster(io, flags, name, "destroy", async ({ controller, selection, at, previous }) => {
    if (onOtherCloud(io, name, previous, selection)) return EXIT.usage;
    if (!previous) {
      const tagged = await taggedWith(selection.backend, name);
      const where = shown(io, path.dirname(at.file));
      if (tagged.length === 0) {
        const known = clustersWithState(io, flags);
        return fail(io, {
          kind: "state",
          message: `${clusterHead(name)}nothing found: no state in ${where} and nothing tagged with it on ${selection.backend.description}; hint: check the name${known.length > 0 ? ` (clusters with state here: ${listNames(known, 10)})` : ""}, or the cloud and --state-dir it was built with`,
        });
      }
      if (flags.yes !== true) {
        return fail(io, {
          kind: "state",
          message: `${clusterHead(name)}no state in ${where}, but ${plural(tagged.length, "object")} on ${selection.backend.description} ${tagged.length === 1 ? "is" : "are"} tagged with its name and would be deleted: ${listItems(tagged, 10)}; hint: run \`openstack-vcluster destroy ${shellWord(name)} --yes${locationFlags(flags)}\` to delete them`,
        });
      }
    }
    await controller.destroy(previous ?? { clusterName: name });
    removeState(at);
    io.out(`cluster ${quote(name)} destroyed: nothing of it is left on ${selection.backend.description}.`);
    return EXIT.ok;
  });
}
