// Small builders and a real simulated cloud in a temp dir, for the lifecycle tests.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { TAG_CLUSTER, TAG_MEMBER } from "../../provider/backends/backend";
import { type BackendOp, type Fault, type Quota, SimulatedCloud } from "../../provider/backends/simulated";
import { ClusterController, type ControllerOptions } from "../../provider/lifecycle";
import {
  type ClusterSpec,
  DEFAULT_WEIGHT,
  type Grouping,
  type Member,
  type Rule,
  type Scope,
  type ServerMember,
  type VolumeMember,
} from "../../provider/model/cluster";
import type { Topology } from "../../provider/model/topology";

export function server(name: string, over: Partial<ServerMember> = {}): ServerMember {
  return { type: "server", name, imageRef: "debian-12", flavorRef: "m1.small", ...over };
}

export function volume(name: string, sizeGb: number, over: Partial<VolumeMember> = {}): VolumeMember {
  return { type: "volume", name, sizeGb, ...over };
}

export function grouping(
  name: string,
  rule: Rule,
  members: string[],
  over: Partial<Omit<Grouping, "name" | "rule" | "members">> & { scope?: Scope } = {},
): Grouping {
  return {
    name,
    members,
    rule,
    scope: "host",
    enforcement: "hard",
    weight: DEFAULT_WEIGHT,
    maxPerDomain: 1,
    ...over,
  };
}

/** attachTo implies hard server-volume affinity at zone scope (what normalize derives). */
export function spec(name: string, members: Member[], groupings: Grouping[] = []): ClusterSpec {
  const implied = members
    .filter((m): m is VolumeMember => m.type === "volume" && m.attachTo !== undefined)
    .map((v) =>
      grouping(`attach:${v.name}`, "affinity", [v.attachTo as string, v.name], { scope: "zone", implied: true }),
    );
  return { name, members, groupings: [...groupings, ...implied] };
}

/** 2 zones x 2 racks x 2 hosts, a local backend per host and a shared one per zone. */
export function smallTopology(): Topology {
  const hosts: Topology["hosts"] = [];
  const storageBackends: Topology["storageBackends"] = [];
  for (const zone of ["az1", "az2"]) {
    storageBackends.push({ name: `ceph-${zone}`, zone, capacityGb: 10_000, usedGb: 0 });
    for (const rack of ["r1", "r2"]) {
      for (const h of ["h1", "h2"]) {
        const name = `${zone}-${rack}-${h}`;
        hosts.push({
          name,
          zone,
          rack,
          vcpus: 16,
          ramMb: 65536,
          diskGb: 1000,
          used: { vcpus: 0, ramMb: 0, diskGb: 0 },
        });
        storageBackends.push({ name: `lvm@${name}`, host: name, capacityGb: 1000, usedGb: 0 });
      }
    }
  }
  return {
    flavors: {
      "m1.small": { vcpus: 1, ramMb: 2048, diskGb: 20 },
      "m1.medium": { vcpus: 2, ramMb: 4096, diskGb: 40 },
      "m1.large": { vcpus: 4, ramMb: 8192, diskGb: 80 },
    },
    hosts,
    storageBackends,
  };
}

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
  "createVolume",
  "extendVolume",
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
