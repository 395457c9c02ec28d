// `apply`, `show`, `destroy`: the lifecycle controller against a backend, with the cluster's
// state kept in a local file (the command's equivalent of a Pulumi stack).
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { BackendError } from "../backends/backend";
import { type BackendSelection, selectBackend } from "../backends/select";
import { ClusterController, type ClusterState, LifecycleError } from "../lifecycle";
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

export async function openBackend(io: Io, flags: BackendFlags): Promise<BackendSelection | number> {
  try {
    const selection = await selectBackend(flagsToConfig(flags), io.env, io.cwd);
    if (selection.notice) io.err(selection.notice);
    return selection;
  } catch (error) {
    io.err(`openstack-vcluster: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.usage;
  }
}

export function stateFile(io: Io, flags: BackendFlags, clusterName: string): string {
  // Cluster names are user text: keep the file name safe whatever they contain.
  const safe = encodeURIComponent(clusterName).replace(/%/g, "_");
  return path.resolve(io.cwd, flags.stateDir ?? DEFAULT_STATE_DIR, "clusters", `${safe}.json`);
}

export function readState(file: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as ClusterState;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new BackendError("bad_request", `can't read the cluster state ${file}: ${(error as Error).message}`);
  }
}

function writeState(file: string, state: ClusterState): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
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

function lifecycleFailure(io: Io, error: unknown, file: string): number {
  if (error instanceof LifecycleError) {
    if (error.partialState) writeState(file, error.partialState);
    if (error.code === "unplaceable" && error.explanation) {
      io.err(formatExplanation(error.explanation));
      return EXIT.unplaceable;
    }
    io.err(error.message);
    if (error.partialState) io.err(`what still exists is recorded in ${file}; run apply again to finish, or destroy.`);
    return error.code === "invalid" ? EXIT.invalidSpec : EXIT.usage;
  }
  io.err(`openstack-vcluster: ${error instanceof Error ? error.message : String(error)}`);
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
    `cluster "${name}" was built on ${previous.backendId}, not on ${selection.backendId}: select that cloud (OS_CLOUD, --backend, --sim-dir), or use another --state-dir.`,
  );
  return true;
}

/** Opens the backend, runs one lifecycle step, maps its failure to an exit code, closes the backend. */
async function onBackend(
  io: Io,
  flags: BackendFlags,
  file: string,
  step: (controller: ClusterController, selection: BackendSelection) => Promise<number>,
): Promise<number> {
  const selection = await openBackend(io, flags);
  if (typeof selection === "number") return selection;
  try {
    return await step(controllerFor(io, selection, flags), selection);
  } catch (error) {
    return lifecycleFailure(io, error, file);
  } finally {
    await selection.backend.close();
  }
}

function printState(io: Io, selection: BackendSelection, state: ClusterState, asJson: boolean): void {
  io.out(
    asJson
      ? json(state)
      : `cluster "${state.clusterName}" on ${selection.backend.description}\n\n${renderState(state)}`,
  );
}

export async function applyCommand(io: Io, specFile: string, flags: BackendFlags & { json: boolean }): Promise<number> {
  const spec = loadSpec(io, specFile, false);
  if (!spec.ok) return spec.code;
  const file = stateFile(io, flags, spec.value.name);
  return onBackend(io, flags, file, async (controller, selection) => {
    const previous = readState(file);
    if (onOtherCloud(io, spec.value.name, previous, selection)) return EXIT.usage;
    const state = await controller.apply(spec.value, previous);
    writeState(file, state);
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

export async function showCommand(io: Io, target: string, flags: BackendFlags & { json: boolean }): Promise<number> {
  const name = clusterNameOf(io, target);
  if (typeof name === "number") return name;
  const file = stateFile(io, flags, name);
  return onBackend(io, flags, file, async (controller, selection) => {
    const previous = readState(file);
    if (!previous) {
      io.err(`cluster "${name}" has no state in ${path.dirname(file)}: nothing was applied from here.`);
      return EXIT.usage;
    }
    if (onOtherCloud(io, name, previous, selection)) return EXIT.usage;
    const state = await controller.refresh(previous);
    writeState(file, state);
    printState(io, selection, state, flags.json);
    return EXIT.ok;
  });
}

export async function destroyCommand(io: Io, target: string, flags: BackendFlags): Promise<number> {
  const name = clusterNameOf(io, target);
  if (typeof name === "number") return name;
  const file = stateFile(io, flags, name);
  return onBackend(io, flags, file, async (controller, selection) => {
    const previous = readState(file);
    if (onOtherCloud(io, name, previous, selection)) return EXIT.usage;
    // Without state, destroy still sweeps everything tagged with the cluster's name.
    await controller.destroy(previous ?? { clusterName: name });
    rmSync(file, { force: true });
    io.out(`cluster "${name}" destroyed: nothing of it is left on ${selection.backend.description}.`);
    return EXIT.ok;
  });
}
