// The lifecycle controller over a real simulated cloud in a temp dir, and what the tests ask that cloud:
// call counts, what exists, what each member has. The specs and topologies come from ./model.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { TAG_CLUSTER, TAG_MEMBER } from "../../provider/backends/backend";
import { type BackendOp, type Fault, type Quota, SimulatedCloud } from "../../provider/backends/simulated";
import { ClusterController, type ControllerOptions } from "../../provider/lifecycle";
import type { Topology } from "../../provider/model/topology";
import { smallTopology } from "./model";

export interface Harness {
  cloud: SimulatedCloud;
  controller: ClusterController;
  logs: string[];
  dir: string;
  cleanup: () => Promise<void>;
}

export async function openHarness(
  opts: {
    view?: "admin" | "tenant";
    faults?: Fault[];
    controller?: ControllerOptions;
    topology?: Topology;
    quota?: Quota;
  } = {},
): Promise<Harness> {
  const dir = mkdtempSync(path.join(tmpdir(), "vcluster-lifecycle-"));
  const cloud = await SimulatedCloud.open({
    dir,
    topology: opts.topology ?? smallTopology(),
    view: opts.view ?? "admin",
    latency: { serverBuildMs: 15, volumeCreateMs: 10, attachMs: 5, deleteMs: 5, resizeMs: 15 },
    env: {},
    ...(opts.faults ? { faults: opts.faults } : {}),
    ...(opts.quota ? { quota: opts.quota } : {}),
  });
  const logs: string[] = [];
  const controller = new ClusterController(cloud, {
    log: (level, message) => logs.push(`${level}: ${message}`),
    ...opts.controller,
  });
  return {
    cloud,
    controller,
    logs,
    dir,
    cleanup: async () => {
      await cloud.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const MUTATING_OPS: BackendOp[] = [
  "createServerGroup",
  "deleteServerGroup",
  "createServer",
  "deleteServer",
  "resizeServer",
  "rebuildServer",
  "updateServerMetadata",
  "addSecurityGroup",
  "removeSecurityGroup",
  "attachNetwork",
  "detachNetwork",
  "createVolume",
  "extendVolume",
  "retypeVolume",
  "updateVolumeMetadata",
  "deleteVolume",
  "attachVolume",
  "detachVolume",
];

export async function callCounts(cloud: SimulatedCloud, ops: BackendOp[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const op of ops) out[op] = await cloud.callCount(op);
  return out;
}

/** What exists on the cloud, by kind. */
export async function inventory(cloud: SimulatedCloud) {
  const snap = await cloud.snapshot();
  return { servers: snap.servers, volumes: snap.volumes, groups: snap.serverGroups };
}

/** How many servers and volumes carry each member tag of a cluster. */
export async function perMember(cloud: SimulatedCloud, cluster: string): Promise<Record<string, number>> {
  const snap = await cloud.snapshot();
  const counts: Record<string, number> = {};
  for (const o of [...snap.servers, ...snap.volumes]) {
    if (o.metadata[TAG_CLUSTER] !== cluster) continue;
    const m = o.metadata[TAG_MEMBER] ?? "?";
    counts[m] = (counts[m] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort());
}

export async function expectEmpty(cloud: SimulatedCloud): Promise<void> {
  const inv = await inventory(cloud);
  const left = [
    ...inv.servers.map((s) => `server ${s.name} ${s.status}`),
    ...inv.volumes.map((v) => `volume ${v.name} ${v.status}`),
    ...inv.groups.map((g) => `group ${g.name}`),
  ];
  if (left.length > 0) throw new Error(`cloud not empty:\n${left.join("\n")}`);
}
