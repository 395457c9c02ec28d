// `sim show` / `sim reset`: look into the embedded simulated cloud kept beside the program.
//
// A cloud whose cloud.db was deleted while the state directory still records clusters built on it
// is not silently replaced by a new, empty one (they would be stranded): both commands say so, and
// `sim reset --force` is the way out. It also recovers a cloud.db (or an earlier release's
// cloud.json) that can't be read (kept aside as <file>.broken-<time>), and sets the stranded
// clusters' state aside, saying what is lost.
import { existsSync, mkdirSync, renameSync } from "node:fs";
import * as path from "node:path";
import { DEFAULT_SIM_DIR } from "../backends/select";
import { type RecreateOutcome, renderCloudTree, SimulatedCloud, STATE_FILE } from "../backends/simulated";
import { listNames, plural } from "../model/text";
import { cloudStateProblem } from "./cluster";
import { fail } from "./failure";
import { EXIT, type Io, json } from "./io";
import { loadTopology } from "./load";
import { clustersRecordedOn, missingCloudProblem, type RecordedCluster, shown, stateDirOf } from "./state-files";

interface SimFlags {
  simDir?: string;
  stateDir?: string;
}

function simDirOf(io: Io, flags: SimFlags): string {
  return path.resolve(io.cwd, flags.simDir ?? DEFAULT_SIM_DIR);
}

async function openSim(io: Io, flags: SimFlags): Promise<SimulatedCloud | number> {
  const problem = missingCloudProblem(io, flags);
  if (problem) return fail(io, { kind: "cloud", message: problem });
  try {
    return await SimulatedCloud.open({ dir: simDirOf(io, flags), env: io.env });
  } catch (error) {
    const message =
      cloudStateProblem(io, error, flags) ??
      `openstack-vcluster: ${error instanceof Error ? error.message : String(error)}`;
    return fail(io, { kind: "cloud", message });
  }
}

export async function simShowCommand(io: Io, opts: SimFlags & { json: boolean }): Promise<number> {
  const cloud = await openSim(io, opts);
  if (typeof cloud === "number") return cloud;
  try {
    const snapshot = await cloud.snapshot();
    io.out(opts.json ? json(snapshot) : renderCloudTree(snapshot));
    return EXIT.ok;
  } finally {
    await cloud.close();
  }
}

export async function simResetCommand(
  io: Io,
  opts: SimFlags & { force: boolean; simTopology?: string },
): Promise<number> {
  if (opts.force) return forceReset(io, opts);
  const cloud = await openSim(io, opts);
  if (typeof cloud === "number") return cloud;
  try {
    await cloud.reset();
    io.out(
      `simulated cloud in ${shown(io, simDirOf(io, opts))} reset: no servers, volumes or server groups, no faults; topology kept.`,
    );
    return EXIT.ok;
  } finally {
    await cloud.close();
  }
}

async function forceReset(io: Io, opts: SimFlags & { simTopology?: string }): Promise<number> {
  const dir = simDirOf(io, opts);
  let topology: Parameters<typeof SimulatedCloud.recreate>[0]["topology"];
  if (opts.simTopology !== undefined) {
    const loaded = loadTopology(io, opts.simTopology);
    if (!loaded.ok) return loaded.code;
    topology = loaded.value;
  }
  let outcome: RecreateOutcome;
  try {
    outcome = await SimulatedCloud.recreate({ dir, ...(topology ? { topology } : {}) });
  } catch (error) {
    return fail(io, {
      kind: "cloud",
      message: `openstack-vcluster: ${error instanceof Error ? error.message : String(error)}`,
    });
  }
  const where = shown(io, dir);
  const parts: string[] = [];
  if (outcome.found === "cloud") {
    const { servers, volumes, serverGroups } = outcome.lost;
    parts.push(
      `simulated cloud in ${where} reset: deleted ${plural(servers, "server")}, ${plural(volumes, "volume")} and ${plural(serverGroups, "server group")}, and its faults; topology kept`,
    );
  } else {
    const made = `started a new, empty cloud with ${opts.simTopology !== undefined ? `the topology of ${opts.simTopology}` : "the default topology"}`;
    parts.push(
      outcome.found === "nothing"
        ? `simulated cloud in ${where}: there was no ${STATE_FILE}; ${made}`
        : `simulated cloud in ${where}: its ${outcome.unreadableFile ?? STATE_FILE} could not be read and was kept as ${shown(io, outcome.keptAs as string)}; ${made}, and whatever the old one held is lost`,
    );
  }
  let setAside: RecordedCluster[] = [];
  try {
    setAside = setAsideStranded(io, opts, dir, `simulated:${outcome.cloudId}`);
  } catch (error) {
    io.out(`${parts.join("")}.`);
    return fail(io, {
      kind: "state",
      message: `openstack-vcluster: ${error instanceof Error ? error.message : String(error)}`,
    });
  }
  if (setAside.length > 0) {
    parts.push(
      `; ${plural(setAside.length, "cluster")} built on the old cloud (${listNames(
        setAside.map((c) => c.name),
        10,
      )}) went with it: ${setAside.length === 1 ? "its state was" : "their state was"} moved to ${shown(io, lostDir(io, opts))}`,
    );
  }
  io.out(`${parts.join("")}.`);
  return EXIT.ok;
}

function lostDir(io: Io, flags: SimFlags): string {
  return path.join(stateDirOf(io, flags), "lost-clusters");
}

/** Moves the state of clusters recorded on this directory's old cloud out of the way of the new one. */
function setAsideStranded(io: Io, flags: SimFlags, dir: string, newBackendId: string): RecordedCluster[] {
  const stranded = clustersRecordedOn(io, flags, dir, newBackendId);
  if (stranded.length === 0) return [];
  const to = lostDir(io, flags);
  mkdirSync(to, { recursive: true });
  for (const c of stranded) {
    const base = path.basename(c.file, ".json");
    let target = path.join(to, `${base}.json`);
    for (let i = 2; existsSync(target); i++) target = path.join(to, `${base}.${i}.json`);
    renameSync(c.file, target);
  }
  return stranded;
}
