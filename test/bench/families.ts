// Seeded instance families F1–F6 (issue 6). Every generator is a pure function of its seed, so a
// figure in the JSON can be reproduced by running the same family, size and seed again.
// Planted families hide a feasible assignment first and derive every rule from it.

import type { ClusterSpec, Grouping, Member, ServerMember } from "../../provider/model/cluster";
import type { CauseCode, Host, StorageBackend, Topology } from "../../provider/placement";
import { grouping, server } from "../support/model";
import { seededTools } from "../support/random-instance";

export interface BenchInstance {
  spec: ClusterSpec;
  topology: Topology;
  /** A hidden feasible assignment exists: "unplaceable" would be a false answer. */
  planted: boolean;
  /** F6: the cause code the engine is expected to report. */
  expectCause?: CauseCode;
  /** F6: the cause is certified by a bound (must come back in ≤ 1 ms at any size). */
  boundCertified?: boolean;
}

// Public-cloud-like size buckets (vCPU : RAM 1:4 or 1:2).
export const FLAVORS: Topology["flavors"] = {
  "c1.small": { vcpus: 1, ramMb: 2048, diskGb: 20 },
  "m1.small": { vcpus: 1, ramMb: 4096, diskGb: 20 },
  "m1.medium": { vcpus: 2, ramMb: 8192, diskGb: 40 },
  "c1.large": { vcpus: 4, ramMb: 8192, diskGb: 40 },
  "m1.large": { vcpus: 4, ramMb: 16384, diskGb: 80 },
  "m1.xlarge": { vcpus: 8, ramMb: 32768, diskGb: 160 },
  "m1.2xlarge": { vcpus: 16, ramMb: 65536, diskGb: 320 },
};
const MIX = ["c1.small", "m1.small", "m1.small", "m1.medium", "m1.medium", "c1.large", "m1.large", "m1.xlarge"];

const GIB = 1024;
const SMALL_HOST = { vcpus: 32, ramMb: 128 * GIB, diskGb: 2000 };
const BIG_HOST = { vcpus: 64, ramMb: 256 * GIB, diskGb: 4000 };

type Tools = ReturnType<typeof seededTools>;
const tools = seededTools;

const pad = (i: number, w = 5) => String(i).padStart(w, "0");

interface Fleet {
  hosts: number;
  zones: number;
  racks: number;
  /** Share of big (64/256) hosts. */
  big: number;
  /** Fraction of each host already used by others (± 10 points). */
  preload: number;
  lvmGb?: number;
  /** Zonal backends per zone, with this capacity each. */
  zonal?: { perZone: number; gb: number };
}

/** Hosts spread round-robin over zones, racks filled in order within a zone. */
function fleet(t: Tools, f: Fleet): Topology {
  const hosts: Host[] = [];
  const storageBackends: StorageBackend[] = [];
  const racksPerZone = Math.max(1, Math.floor(f.racks / f.zones));
  const perZone = Math.ceil(f.hosts / f.zones);
  const perRack = Math.max(1, Math.ceil(perZone / racksPerZone));
  for (let i = 0; i < f.hosts; i++) {
    const z = i % f.zones;
    const inZone = Math.floor(i / f.zones);
    const name = `h${pad(i)}`;
    const size = t.rnd() < f.big ? BIG_HOST : SMALL_HOST;
    const host: Host = {
      name,
      zone: `az${z + 1}`,
      rack: `az${z + 1}-r${pad(Math.floor(inZone / perRack), 3)}`,
      ...size,
    };
    if (f.preload > 0) {
      const share = Math.min(0.95, Math.max(0, f.preload + (t.rnd() - 0.5) * 0.2));
      host.used = {
        vcpus: Math.floor(size.vcpus * share),
        ramMb: Math.floor((size.ramMb * share) / GIB) * GIB,
        diskGb: Math.floor(size.diskGb * share),
      };
    }
    hosts.push(host);
    if (f.lvmGb) storageBackends.push({ name: `lvm@${name}`, host: name, capacityGb: f.lvmGb });
  }
  if (f.zonal) {
    for (let z = 1; z <= f.zones; z++) {
      for (let k = 1; k <= f.zonal.perZone; k++)
        storageBackends.push({ name: `ceph-az${z}-${k}`, zone: `az${z}`, capacityGb: f.zonal.gb });
    }
  }
  return { flavors: structuredClone(FLAVORS), hosts, storageBackends };
}

/** F1: a three-tier application (~25 members) on 50 / 200 / 500 hosts, 60% pre-loaded. */
export function f1(hosts: number, seed: number): BenchInstance {
  const t = tools(seed);
  const topology = fleet(t, {
    hosts,
    zones: 3,
    racks: Math.max(6, Math.round(hosts / 16)),
    big: 0.3,
    preload: 0.6,
    lvmGb: 1000,
    zonal: { perZone: 1, gb: 50_000 },
  });
  const members: Member[] = [];
  const groupings: Grouping[] = [];
  const tier = (name: string, n: number, flavors: string[]) => {
    const names = Array.from({ length: n }, (_, i) => `${name}-${i + 1}`);
    for (const m of names) members.push(server(m, t.pick(flavors)));
    return names;
  };
  const web = tier("web", t.int(6, 8), ["m1.small", "m1.medium"]);
  const app = tier("app", t.int(5, 7), ["m1.medium", "m1.large"]);
  const db = tier("db", 3, ["m1.large", "m1.xlarge"]);
  groupings.push(grouping("web-apart", "anti-affinity", web, { scope: "host" }));
  groupings.push(grouping("app-apart", "anti-affinity", app, { scope: "host" }));
  groupings.push(grouping("db-apart", "anti-affinity", db, { scope: "host" }));
  // Each db (and some app servers) keeps its data on a volume local to it.
  const withData = [...db, ...app.slice(0, t.int(2, 4))];
  for (const s of withData) {
    const v = `${s}-data`;
    members.push({ type: "volume", name: v, sizeGb: t.pick([50, 100, 200]), attachTo: s });
    groupings.push(grouping(`${v}-local`, "affinity", [s, v], { scope: "host" }));
  }
  // Soft: keep the app and db tiers in one rack if possible, never beyond a zone.
  groupings.push(grouping("app-db-near", "proximity", [...app, ...db], { scope: "zone", weight: t.int(10, 90) }));
  return { spec: { name: `f1-${hosts}-${seed}`, members, groupings }, topology, planted: false };
}

export type F2Kind = "disjoint" | "graph" | "tight";

/** Simple capacity bound L1 for servers on identical bins. */
function l1(sizes: number[][], cap: number[]): number {
  let lb = 0;
  for (let k = 0; k < cap.length; k++) {
    const sum = sizes.reduce((a, s) => a + (s[k] as number), 0);
    lb = Math.max(lb, Math.ceil(sum / (cap[k] as number)));
  }
  return lb;
}

/**
 * F2: small bin packing with conflicts on identical empty hosts (~1.4 × the capacity bound).
 * disjoint: anti-affinity groups partition part of the members; graph: random conflict edges;
 * tight: many members just over half a host, so the simple bound is below the optimum.
 */
export function f2(n: number, kind: F2Kind, seed: number): BenchInstance {
  const t = tools(seed);
  const cap = { vcpus: 16, ramMb: 64 * GIB, diskGb: 1000 };
  const members: ServerMember[] = [];
  const flavors: Topology["flavors"] = structuredClone(FLAVORS);
  if (kind === "tight") flavors["t1.half"] = { vcpus: 9, ramMb: 20 * GIB, diskGb: 100 };
  for (let i = 0; i < n; i++) {
    const f = kind === "tight" && t.rnd() < 0.45 ? "t1.half" : t.pick(MIX);
    members.push(server(`m${pad(i, 3)}`, f));
  }
  const sizes = members.map((m) => {
    const f = flavors[m.flavorRef] as Topology["flavors"][string];
    return [f.vcpus, f.ramMb, f.diskGb];
  });
  const lb = l1(sizes, [cap.vcpus, cap.ramMb, cap.diskGb]);
  let nHosts = Math.max(2, Math.ceil(1.4 * lb));
  if (kind === "tight") {
    // Enough hosts for every over-half member plus room: feasible, but the simple bound misses them.
    const halves = members.filter((m) => m.flavorRef === "t1.half").length;
    nHosts = Math.max(nHosts, halves + Math.ceil(lb * 0.25));
  }
  const groupings: Grouping[] = [];
  const names = members.map((m) => m.name);
  if (kind === "disjoint" || kind === "tight") {
    const pool = t.shuffle([...names]).slice(0, Math.floor(n * 0.7));
    let g = 0;
    for (let i = 0; i < pool.length; ) {
      const size = Math.min(pool.length - i, t.int(2, Math.min(6, nHosts)));
      if (size >= 2) groupings.push(grouping(`g${g++}`, "anti-affinity", pool.slice(i, i + size), { scope: "host" }));
      i += size;
    }
  } else {
    // An arbitrary conflict graph: about 1.5 edges per member, each a two-member anti-affinity grouping.
    const edges = new Set<string>();
    const want = Math.floor(n * 1.5);
    for (let tries = 0; edges.size < want && tries < want * 10; tries++) {
      const a = t.int(0, n - 1);
      const b = t.int(0, n - 1);
      if (a === b) continue;
      edges.add(a < b ? `${a}:${b}` : `${b}:${a}`);
    }
    [...edges].sort().forEach((e, i) => {
      const [a, b] = e.split(":").map(Number) as [number, number];
      groupings.push(grouping(`e${i}`, "anti-affinity", [names[a] as string, names[b] as string], { scope: "host" }));
    });
  }
  const hosts: Host[] = Array.from({ length: nHosts }, (_, i) => ({
    name: `h${pad(i, 3)}`,
    zone: "az1",
    rack: `r${Math.floor(i / 20)}`,
    ...cap,
  }));
  return {
    spec: { name: `f2-${kind}-${n}-${seed}`, members, groupings },
    topology: { flavors, hosts, storageBackends: [] },
    planted: false,
  };
}

interface Planted {
  members: Member[];
  /** member index -> host index, for servers. */
  hidden: number[];
}

/** Servers put on hosts by a hidden first-fit over a shuffled host order, never above `fill` of the free room. */
function plant(t: Tools, topology: Topology, n: number, fill: number, prefix = "m"): Planted {
  const hosts = topology.hosts;
  const free = hosts.map((h) => [
    (h.vcpus - (h.used?.vcpus ?? 0)) * fill,
    (h.ramMb - (h.used?.ramMb ?? 0)) * fill,
    (h.diskGb - (h.used?.diskGb ?? 0)) * fill,
  ]);
  const members: Member[] = [];
  const hidden: number[] = [];
  for (let i = 0; i < n; i++) {
    const f = t.pick(MIX);
    const d = FLAVORS[f] as Topology["flavors"][string];
    let h = t.int(0, hosts.length - 1);
    for (let tries = 0; tries < hosts.length; tries++, h = (h + 1) % hosts.length) {
      const fr = free[h] as number[];
      if ((fr[0] as number) >= d.vcpus && (fr[1] as number) >= d.ramMb && (fr[2] as number) >= d.diskGb) break;
    }
    const fr = free[h] as number[];
    fr[0] = (fr[0] as number) - d.vcpus;
    fr[1] = (fr[1] as number) - d.ramMb;
    fr[2] = (fr[2] as number) - d.diskGb;
    members.push(server(`${prefix}${pad(i)}`, f));
    hidden.push(h);
  }
  return { members, hidden };
}

/**
 * Groups of `size` members on distinct hidden hosts, at most `perRack` of them in a rack, so
 * host and rack anti-affinity built from them hold in the hidden assignment.
 */
function spreadGroups(t: Tools, topology: Topology, pl: Planted, count: number, size: number, perRack: number) {
  const free = t.shuffle(Array.from({ length: pl.members.length }, (_, i) => i)).filter((m) => pl.hidden[m] !== -1);
  const used = new Uint8Array(pl.members.length);
  const out: number[][] = [];
  let cursor = 0;
  for (let g = 0; g < count; g++) {
    const hostsSeen = new Set<number>();
    const racks = new Map<string, number>();
    const ms: number[] = [];
    for (let i = cursor; i < free.length && ms.length < size; i++) {
      const m = free[i] as number;
      if (used[m]) continue;
      const h = pl.hidden[m] as number;
      const rack = topology.hosts[h]?.rack as string;
      if (hostsSeen.has(h) || (racks.get(rack) ?? 0) >= perRack) continue;
      ms.push(m);
      used[m] = 1;
      hostsSeen.add(h);
      racks.set(rack, (racks.get(rack) ?? 0) + 1);
    }
    while (cursor < free.length && used[free[cursor] as number]) cursor++;
    out.push(ms);
  }
  return out;
}

/** Volumes attached to servers and kept on their host's domain (zonal backends serve the whole zone). */
function attachVolumes(t: Tools, pl: Planted, servers: number[], groupings: Grouping[], sizes: number[]): void {
  for (const s of servers) {
    const sName = (pl.members[s] as Member).name;
    const v = `${sName}-vol`;
    pl.members.push({ type: "volume", name: v, sizeGb: t.pick(sizes), attachTo: sName });
    groupings.push(grouping(`${v}-local`, "affinity", [sName, v], { scope: "host" }));
  }
}

/**
 * F3: 1,000 members, 100 anti-affinity groups of 10 (one per host, at most 3 per rack),
 * 5,000 heterogeneous hosts in 125 racks, 500 volumes local to their servers over 50 zonal backends.
 */
export function f3(seed: number, scale = 1): BenchInstance {
  const t = tools(seed);
  const nHosts = Math.round(5000 * scale);
  const topology = fleet(t, {
    hosts: nHosts,
    zones: 5,
    racks: Math.max(5, Math.round(125 * scale)),
    big: 0.4,
    preload: 0.5,
    zonal: { perZone: 10, gb: 20_000 },
  });
  const nMembers = Math.round(1000 * scale);
  const pl = plant(t, topology, nMembers, 0.9);
  const groupings: Grouping[] = [];
  const groups = spreadGroups(t, topology, pl, Math.round(100 * scale), 10, 3);
  groups.forEach((ms, g) => {
    const names = ms.map((m) => (pl.members[m] as Member).name);
    groupings.push(grouping(`svc-${g}-hosts`, "anti-affinity", names, { scope: "host" }));
    groupings.push(grouping(`svc-${g}-racks`, "anti-affinity", names, { scope: "rack", maxPerDomain: 3 }));
  });
  const withVol = t.shuffle(Array.from({ length: nMembers }, (_, i) => i)).slice(0, Math.round(500 * scale));
  attachVolumes(
    t,
    pl,
    withVol.sort((a, b) => a - b),
    groupings,
    [20, 50, 100],
  );
  return { spec: { name: `f3-${seed}`, members: pl.members, groupings }, topology, planted: true };
}

/**
 * F4: 10,000 members on 10,000 hosts, 1,000 groups (max 2 per host, soft zone spread, hard
 * affinity pairs on a hidden shared host, soft rack affinity), 2,000 volume pairs; planted.
 */
export function f4(seed: number, scale = 1): BenchInstance {
  const t = tools(seed);
  const nHosts = Math.round(10_000 * scale);
  const topology = fleet(t, {
    hosts: nHosts,
    zones: 3,
    racks: Math.max(3, Math.round(nHosts / 32)),
    big: 0.3,
    preload: 0.3,
    zonal: { perZone: 4, gb: 200_000 },
  });
  const nMembers = Math.round(10_000 * scale);
  const pl = plant(t, topology, nMembers, 0.8);
  const groupings: Grouping[] = [];
  const nGroups = Math.round(1000 * scale);
  // 600 spread groups of 8: max 2 per host (hidden: distinct hosts), soft spread over zones.
  const spread = spreadGroups(t, topology, pl, Math.round(nGroups * 0.6), 8, 8);
  spread.forEach((ms, g) => {
    const names = ms.map((m) => (pl.members[m] as Member).name);
    groupings.push(grouping(`spread-${g}`, "anti-affinity", names, { scope: "host", maxPerDomain: 2 }));
    groupings.push(
      grouping(`spread-${g}-zones`, "anti-affinity", names, {
        scope: "zone",
        enforcement: "soft",
        maxPerDomain: Math.ceil(names.length / 3),
        weight: 20,
      }),
    );
  });
  // 250 hard affinity pairs on a hidden shared host.
  const byHost = new Map<number, number[]>();
  pl.hidden.forEach((h, m) => {
    byHost.set(h, [...(byHost.get(h) ?? []), m]);
  });
  let pairs = 0;
  for (const ms of byHost.values()) {
    if (pairs >= Math.round(nGroups * 0.25)) break;
    if (ms.length < 2) continue;
    const names = ms.slice(0, 2).map((m) => (pl.members[m] as Member).name);
    groupings.push(grouping(`pair-${pairs++}`, "affinity", names, { scope: "host" }));
  }
  // 150 soft rack affinity groups of 4 (may cost: the hidden assignment ignores them).
  for (let g = 0; g < Math.round(nGroups * 0.15); g++) {
    const names = [...new Set(Array.from({ length: 4 }, () => (pl.members[t.int(0, nMembers - 1)] as Member).name))];
    if (names.length >= 2)
      groupings.push(
        grouping(`near-${g}`, "affinity", names, { scope: "rack", enforcement: "soft", weight: t.int(5, 60) }),
      );
  }
  const withVol = t.shuffle(Array.from({ length: nMembers }, (_, i) => i)).slice(0, Math.round(2000 * scale));
  attachVolumes(
    t,
    pl,
    withVol.sort((a, b) => a - b),
    groupings,
    [20, 50, 100],
  );
  return { spec: { name: `f4-${seed}`, members: pl.members, groupings }, topology, planted: true };
}

/**
 * F5: 100,000 members on 10,000 hosts; four resource dimensions (vCPU, RAM, disk on hosts, and
 * volume storage on backends: the model has three host dimensions), planted; light rules.
 */
export function f5(seed: number, scale = 1): BenchInstance {
  const t = tools(seed);
  const nHosts = Math.round(10_000 * scale);
  const topology = fleet(t, {
    hosts: nHosts,
    zones: 3,
    racks: Math.max(3, Math.round(nHosts / 32)),
    big: 0.5,
    preload: 0.1,
    zonal: { perZone: 4, gb: 2_000_000 },
  });
  const nMembers = Math.round(100_000 * scale);
  const pl = plant(t, topology, nMembers, 0.9);
  const groupings: Grouping[] = [];
  spreadGroups(t, topology, pl, Math.round(1000 * scale), 10, 10).forEach((ms, g) => {
    const names = ms.map((m) => (pl.members[m] as Member).name);
    groupings.push(grouping(`spread-${g}`, "anti-affinity", names, { scope: "host" }));
  });
  const withVol = t.shuffle(Array.from({ length: nMembers }, (_, i) => i)).slice(0, Math.round(nMembers * 0.1));
  for (const s of withVol.sort((a, b) => a - b)) {
    const sName = (pl.members[s] as Member).name;
    pl.members.push({ type: "volume", name: `${sName}-vol`, sizeGb: t.pick([20, 50, 100]), attachTo: sName });
  }
  return { spec: { name: `f5-${seed}`, members: pl.members, groupings }, topology, planted: true };
}

export const F6_KINDS = ["domains", "racks", "backend", "bin-packing", "affinity-vs-anti"] as const;
export type F6Kind = (typeof F6_KINDS)[number];

/**
 * F6: unplaceable instances with a known cause, hidden among n otherwise placeable members
 * (spread groups of 4 on a fleet with room for them).
 */
export function f6(kind: F6Kind, n: number, seed: number): BenchInstance {
  const t = tools(seed);
  const nHosts = Math.max(8, Math.ceil(n / 4));
  const topology = fleet(t, {
    hosts: nHosts,
    zones: 2,
    racks: Math.max(2, Math.round(nHosts / 8)),
    big: 0,
    preload: 0,
    lvmGb: 500,
    zonal: { perZone: 1, gb: 100_000 },
  });
  const members: Member[] = [];
  const groupings: Grouping[] = [];
  for (let i = 0; i < n; i++) members.push(server(`m${pad(i)}`, t.pick(["m1.small", "m1.medium"])));
  for (let g = 0; g * 4 + 4 <= n; g += 2) {
    groupings.push(
      grouping(
        `spread-${g}`,
        "anti-affinity",
        members.slice(g * 4, g * 4 + 4).map((m) => m.name),
        { scope: "host" },
      ),
    );
  }
  const racks = new Set(topology.hosts.map((h) => h.rack)).size;
  let expectCause: CauseCode;
  let boundCertified = true;
  if (kind === "domains") {
    // One more member than hosts × maxPerDomain.
    const names = Array.from({ length: nHosts * 2 + 1 }, (_, i) => `x${pad(i)}`);
    for (const x of names) members.push(server(x, "c1.small"));
    groupings.push(grouping("too-many", "anti-affinity", names, { scope: "host", maxPerDomain: 2 }));
    expectCause = "anti_affinity_domains";
  } else if (kind === "racks") {
    const names = Array.from({ length: racks + 1 }, (_, i) => `x${pad(i)}`);
    for (const x of names) members.push(server(x, "c1.small"));
    groupings.push(grouping("one-per-rack", "anti-affinity", names, { scope: "rack" }));
    expectCause = "anti_affinity_domains";
  } else if (kind === "backend") {
    // Volumes of a type only one backend serves, more than it holds.
    for (const b of topology.storageBackends) b.volumeTypes = ["standard"];
    const only = topology.storageBackends.find((b) => b.zone !== undefined) as StorageBackend;
    only.volumeTypes = ["gold"];
    for (let i = 0; i < 3; i++) members.push({ type: "volume", name: `gold-${i}`, sizeGb: 40_000, volumeType: "gold" });
    expectCause = "volume_capacity";
  } else if (kind === "bin-packing") {
    // Members over half a 32-vCPU host, one more than there are hosts: total vCPUs still fit.
    for (const h of topology.hosts) Object.assign(h, SMALL_HOST);
    topology.flavors["x1.big"] = { vcpus: 17, ramMb: 8 * GIB, diskGb: 40 };
    const freeVcpus = topology.hosts.length * 32;
    const used = members.reduce((a, m) => a + ((FLAVORS[(m as ServerMember).flavorRef]?.vcpus as number) ?? 0), 0);
    const big = Math.min(nHosts + 1, Math.floor((freeVcpus - used) / 17));
    for (let i = 0; i < big; i++) members.push(server(`big-${i}`, "x1.big"));
    expectCause = big > nHosts ? "capacity_bin_packing" : "capacity";
  } else {
    // Hard rack affinity and hard host anti-affinity over more members than a rack has hosts.
    boundCertified = false;
    const perRack = Math.max(...[...countBy(topology.hosts.map((h) => h.rack)).values()]);
    const names = Array.from({ length: perRack + 1 }, (_, i) => `x${pad(i)}`);
    for (const x of names) members.push(server(x, "c1.small"));
    groupings.push(grouping("together", "affinity", names, { scope: "rack" }));
    groupings.push(grouping("apart", "anti-affinity", names, { scope: "host" }));
    expectCause = "conflict";
  }
  return {
    spec: { name: `f6-${kind}-${n}-${seed}`, members, groupings },
    topology,
    planted: false,
    expectCause,
    boundCertified,
  };
}

function countBy(xs: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const x of xs) out.set(x, (out.get(x) ?? 0) + 1);
  return out;
}
