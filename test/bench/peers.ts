// The peers the engine is measured against, run in the same process on the same instances:
// first-fit decreasing, a Nova FilterScheduler emulation (every filter over every host per
// member, then a RAM weigher: spread or pack), a Kubernetes-style greedy (precomputed counts per
// grouping and domain, node sampling, least-allocated score), and HiGHS as the exact solver.
// Each heuristic peer places servers on hosts under capacity and the hard groupings it knows
// (anti-affinity with maxPerDomain at any scope; affinity at host scope), then puts volumes on a
// backend serving their server. What a peer gets wrong shows up in evaluatePlacement's verdict.

import type { ClusterSpec, Member } from "../../provider/model/cluster";
import type { MemberPlacement, Placement, Topology } from "../../provider/placement";
import { findFlavor } from "../../provider/placement";
import { encodeMilp } from "../support/milp";

export type PeerName = "ffd" | "nova-spread" | "nova-pack" | "k8s";
export const PEERS: PeerName[] = ["ffd", "nova-spread", "nova-pack", "k8s"];

export interface PeerResult {
  /** Undefined when the peer gave up on some member ("No valid host was found"). */
  placement?: Placement;
}

const SCOPE_INDEX = { host: 0, rack: 1, zone: 2 } as const;

/** The instance as the peers see it: flat arrays, built from the spec like a scheduler's host state. */
class Flat {
  readonly nH: number;
  readonly free: Float64Array;
  readonly cap: Float64Array;
  /** Domain of each host at scope 0/1/2. */
  readonly dom: Int32Array[];
  readonly nDom: number[];
  readonly servers: number[] = [];
  readonly dem: Float64Array;
  /** Hard anti-affinity groupings touching each member: [scope, maxPer, group id]. */
  readonly anti: { s: number; max: number; id: number }[][];
  /** Hard host-affinity partner group of a member (all members of its affinity components). */
  readonly hostAff: number[];
  readonly nAnti: number;

  constructor(
    readonly spec: ClusterSpec,
    readonly topology: Topology,
  ) {
    const hosts = topology.hosts;
    this.nH = hosts.length;
    this.free = new Float64Array(this.nH * 3);
    this.cap = new Float64Array(this.nH * 3);
    const ids = [new Map<string, number>(), new Map<string, number>(), new Map<string, number>()];
    this.dom = [new Int32Array(this.nH), new Int32Array(this.nH), new Int32Array(this.nH)];
    hosts.forEach((h, i) => {
      const keys = [h.name, `${h.zone}/${h.rack}`, h.zone];
      for (let s = 0; s < 3; s++) {
        const m = ids[s] as Map<string, number>;
        const k = keys[s] as string;
        if (!m.has(k)) m.set(k, m.size);
        (this.dom[s] as Int32Array)[i] = m.get(k) as number;
      }
      this.cap[i * 3] = h.vcpus;
      this.cap[i * 3 + 1] = h.ramMb;
      this.cap[i * 3 + 2] = h.diskGb;
      this.free[i * 3] = h.vcpus - (h.used?.vcpus ?? 0);
      this.free[i * 3 + 1] = h.ramMb - (h.used?.ramMb ?? 0);
      this.free[i * 3 + 2] = h.diskGb - (h.used?.diskGb ?? 0);
    });
    this.nDom = ids.map((m) => m.size);
    const members = spec.members;
    this.dem = new Float64Array(members.length * 3);
    const index = new Map(members.map((m, i) => [m.name, i]));
    members.forEach((m, i) => {
      if (m.type !== "server") return;
      this.servers.push(i);
      const f = findFlavor(topology.flavors, m.flavorRef);
      this.dem[i * 3] = f?.vcpus ?? Number.POSITIVE_INFINITY;
      this.dem[i * 3 + 1] = f?.ramMb ?? 0;
      this.dem[i * 3 + 2] = f?.diskGb ?? 0;
    });
    this.anti = members.map(() => []);
    this.hostAff = members.map((_, i) => i);
    let nAnti = 0;
    const root = (i: number): number => {
      while (this.hostAff[i] !== i) i = this.hostAff[i] as number;
      return i;
    };
    for (const g of spec.groupings) {
      if (g.enforcement !== "hard") continue;
      const ms = g.members.map((n) => index.get(n)).filter((i): i is number => i !== undefined);
      const servers = ms.filter((i) => members[i]?.type === "server");
      if (g.rule === "anti-affinity") {
        const id = nAnti++;
        for (const i of servers)
          (this.anti[i] as Flat["anti"][number]).push({ s: SCOPE_INDEX[g.scope], max: g.maxPerDomain, id });
      } else if (g.rule === "affinity" && g.scope === "host" && servers.length > 1) {
        for (const i of servers.slice(1)) this.hostAff[root(i)] = root(servers[0] as number);
      }
    }
    for (let i = 0; i < members.length; i++) this.hostAff[i] = root(i);
    this.nAnti = nAnti;
  }

  fits(m: number, h: number): boolean {
    for (let k = 0; k < 3; k++) if ((this.free[h * 3 + k] as number) < (this.dem[m * 3 + k] as number)) return false;
    return true;
  }

  take(m: number, h: number): void {
    for (let k = 0; k < 3; k++)
      this.free[h * 3 + k] = (this.free[h * 3 + k] as number) - (this.dem[m * 3 + k] as number);
  }

  /** Normalized size of a server: its largest share of the biggest host on any dimension. */
  size(m: number): number {
    if (!this.maxCap) {
      this.maxCap = [1, 1, 1];
      for (let h = 0; h < this.nH; h++)
        for (let k = 0; k < 3; k++) this.maxCap[k] = Math.max(this.maxCap[k] as number, this.cap[h * 3 + k] as number);
    }
    let best = 0;
    for (let k = 0; k < 3; k++) best = Math.max(best, (this.dem[m * 3 + k] as number) / (this.maxCap[k] as number));
    return best;
  }
  private maxCap?: number[];
}

/** Counts per (anti-affinity grouping, domain): the Kubernetes-style precomputed state, ±1 per placement. */
class Counts {
  private readonly counts = new Map<number, number>();
  constructor(private readonly f: Flat) {}
  private key(id: number, s: number, h: number): number {
    return id * 4_194_304 + ((this.f.dom[s] as Int32Array)[h] as number);
  }
  ok(m: number, h: number): boolean {
    for (const a of this.f.anti[m] as Flat["anti"][number])
      if ((this.counts.get(this.key(a.id, a.s, h)) ?? 0) >= a.max) return false;
    return true;
  }
  add(m: number, h: number): void {
    for (const a of this.f.anti[m] as Flat["anti"][number]) {
      const k = this.key(a.id, a.s, h);
      this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    }
  }
}

/** Volumes after servers: a backend serving the attached server's host (local first), else any with room. */
function placeVolumes(f: Flat, hostOf: Int32Array): Placement | undefined {
  const topo = f.topology;
  const hostIdx = new Map(topo.hosts.map((h, i) => [h.name, i]));
  const index = new Map(f.spec.members.map((m, i) => [m.name, i]));
  const free = topo.storageBackends.map((b) => b.capacityGb - (b.usedGb ?? 0));
  const localOf = new Map<number, number[]>();
  const zonal = new Map<string, number[]>();
  topo.storageBackends.forEach((b, i) => {
    if (b.host !== undefined) {
      const h = hostIdx.get(b.host);
      if (h !== undefined) localOf.set(h, [...(localOf.get(h) ?? []), i]);
    } else if (b.zone !== undefined) zonal.set(b.zone, [...(zonal.get(b.zone) ?? []), i]);
  });
  const serves = (b: number, v: Member & { type: "volume" }) => {
    const types = topo.storageBackends[b]?.volumeTypes;
    return !(v.volumeType !== undefined && types && !types.includes(v.volumeType)) && (free[b] as number) >= v.sizeGb;
  };
  const out: Placement = {};
  for (let i = 0; i < f.spec.members.length; i++) {
    const m = f.spec.members[i] as Member;
    if (m.type === "server") {
      const h = topo.hosts[hostOf[i] as number];
      if (!h) return undefined;
      out[m.name] = { type: "server", zone: h.zone, rack: h.rack, host: h.name };
      continue;
    }
    const s = m.attachTo !== undefined ? index.get(m.attachTo) : undefined;
    const h = s !== undefined ? (hostOf[s] as number) : -1;
    const near = h >= 0 ? [...(localOf.get(h) ?? []), ...(zonal.get(topo.hosts[h]?.zone as string) ?? [])] : [];
    let b = near.find((c) => serves(c, m));
    if (b === undefined) b = topo.storageBackends.findIndex((_, c) => serves(c, m));
    if (b < 0) return undefined;
    free[b] = (free[b] as number) - m.sizeGb;
    const be = topo.storageBackends[b] as Topology["storageBackends"][number];
    const zone = be.zone ?? topo.hosts[hostIdx.get(be.host as string) as number]?.zone ?? "";
    const at: MemberPlacement =
      be.host !== undefined
        ? { type: "volume", backend: be.name, zone, host: be.host }
        : { type: "volume", backend: be.name, zone };
    out[m.name] = at;
  }
  return out;
}

/** First-fit decreasing over hosts in order; respects capacity, anti-affinity and host affinity. */
export function ffd(spec: ClusterSpec, topology: Topology): PeerResult {
  const f = new Flat(spec, topology);
  const counts = new Counts(f);
  const hostOf = new Int32Array(spec.members.length).fill(-1);
  const size = f.servers.map((m) => f.size(m));
  const order = f.servers.map((m, i) => ({ m, s: size[i] as number })).sort((a, b) => b.s - a.s || a.m - b.m);
  for (const { m } of order) {
    const aff = f.hostAff[m] as number;
    const leader = hostOf[aff] as number;
    let chosen = -1;
    if (leader >= 0) chosen = f.fits(m, leader) && counts.ok(m, leader) ? leader : -1;
    else for (let h = 0; h < f.nH && chosen < 0; h++) if (f.fits(m, h) && counts.ok(m, h)) chosen = h;
    if (chosen < 0) return {};
    f.take(m, chosen);
    counts.add(m, chosen);
    hostOf[m] = chosen;
    if (hostOf[aff] === -1) hostOf[aff] = chosen;
  }
  return { placement: placeVolumes(f, hostOf) };
}

/**
 * Nova FilterScheduler: members in request order; for each, every host through RamFilter /
 * CoreFilter / DiskFilter, ServerGroupAntiAffinityFilter (`host not in group.hosts`, here with
 * a count per domain from the group's member list) and ServerGroupAffinityFilter; then the RAM
 * weigher (spread: most free RAM first; pack: least).
 */
export function nova(spec: ClusterSpec, topology: Topology, mode: "spread" | "pack"): PeerResult {
  const f = new Flat(spec, topology);
  const hostOf = new Int32Array(spec.members.length).fill(-1);
  // group id -> hosts of its members so far (Nova keeps group.hosts as a list).
  const groupHosts = new Map<number, number[]>();
  const sign = mode === "spread" ? 1 : -1;
  for (const m of f.servers) {
    const aff = f.hostAff[m] as number;
    const affHost = hostOf[aff] as number;
    let best = -1;
    let bestW = Number.NEGATIVE_INFINITY;
    for (let h = 0; h < f.nH; h++) {
      if (!f.fits(m, h)) continue;
      if (affHost >= 0 && h !== affHost) continue;
      let ok = true;
      for (const a of f.anti[m] as Flat["anti"][number]) {
        const d = (f.dom[a.s] as Int32Array)[h];
        let n = 0;
        for (const gh of groupHosts.get(a.id) ?? []) if ((f.dom[a.s] as Int32Array)[gh] === d) n++;
        if (n >= a.max) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      const w = sign * ((f.free[h * 3 + 1] as number) / ((f.cap[h * 3 + 1] as number) || 1));
      if (w > bestW) {
        bestW = w;
        best = h;
      }
    }
    if (best < 0) return {};
    f.take(m, best);
    hostOf[m] = best;
    if (hostOf[aff] === -1) hostOf[aff] = best;
    for (const a of f.anti[m] as Flat["anti"][number]) groupHosts.set(a.id, [...(groupHosts.get(a.id) ?? []), best]);
  }
  return { placement: placeVolumes(f, hostOf) };
}

/**
 * Kubernetes-style greedy: counts per (grouping, domain) kept up to date (O(1) filter per node),
 * nodes scanned round-robin from where the last member stopped, stopping after
 * max(100, n × (50 − n/125)%, 5%) feasible nodes; least-allocated score among those.
 */
export function k8s(spec: ClusterSpec, topology: Topology): PeerResult {
  const f = new Flat(spec, topology);
  const counts = new Counts(f);
  const hostOf = new Int32Array(spec.members.length).fill(-1);
  const pct = Math.max(5, 50 - f.nH / 125);
  const want = Math.max(100, Math.floor((f.nH * pct) / 100));
  let next = 0;
  for (const m of f.servers) {
    const aff = f.hostAff[m] as number;
    const affHost = hostOf[aff] as number;
    let best = -1;
    let bestScore = Number.NEGATIVE_INFINITY;
    if (affHost >= 0) best = f.fits(m, affHost) && counts.ok(m, affHost) ? affHost : -1;
    else {
      let found = 0;
      let i = 0;
      for (; i < f.nH && found < want; i++) {
        const h = (next + i) % f.nH;
        if (!f.fits(m, h) || !counts.ok(m, h)) continue;
        found++;
        let score = 0;
        for (let k = 0; k < 2; k++)
          score += ((f.free[h * 3 + k] as number) - (f.dem[m * 3 + k] as number)) / ((f.cap[h * 3 + k] as number) || 1);
        if (score > bestScore) {
          bestScore = score;
          best = h;
        }
      }
      next = (next + i) % f.nH;
    }
    if (best < 0) return {};
    f.take(m, best);
    counts.add(m, best);
    hostOf[m] = best;
    if (hostOf[aff] === -1) hostOf[aff] = best;
  }
  return { placement: placeVolumes(f, hostOf) };
}

export function runPeer(name: PeerName, spec: ClusterSpec, topology: Topology): PeerResult {
  if (name === "ffd") return ffd(spec, topology);
  if (name === "nova-spread") return nova(spec, topology, "spread");
  if (name === "nova-pack") return nova(spec, topology, "pack");
  return k8s(spec, topology);
}

// ---- HiGHS ----

export type Highs = Awaited<ReturnType<typeof import("highs").default>>;

let highsPromise: Promise<Highs> | undefined;
export function loadHighs(): Promise<Highs> {
  highsPromise ??= (require("highs") as () => Promise<Highs>)();
  return highsPromise;
}

export interface ExactResult {
  status: "optimal" | "infeasible" | "feasible" | "unknown" | "error";
  /** Soft cost (placement objective) or hosts used (packing objective). */
  objective?: number;
  placement?: Placement;
  ms: number;
}

function solveLp(highs: Highs, lp: string, timeLimitS: number) {
  const t0 = performance.now();
  try {
    const sol = highs.solve(lp, { output_flag: false, time_limit: timeLimitS, mip_rel_gap: 0 });
    return { sol, ms: performance.now() - t0 };
  } catch {
    return { sol: undefined, ms: performance.now() - t0 };
  }
}

function statusOf(s: string, hasPrimal: boolean): ExactResult["status"] {
  if (s === "Optimal") return "optimal";
  if (s === "Infeasible") return "infeasible";
  return hasPrimal ? "feasible" : "unknown";
}

/** The placement problem as the engine defines it (test/support/milp.ts): minimal soft cost. */
export function exactPlacement(highs: Highs, spec: ClusterSpec, topology: Topology, timeLimitS: number): ExactResult {
  const milp = encodeMilp(spec, topology);
  const { sol, ms } = solveLp(highs, milp.lp, timeLimitS);
  if (!sol) return { status: "error", ms };
  const status = statusOf(sol.Status, sol.Status === "Time limit reached" && Number.isFinite(sol.ObjectiveValue));
  if (status !== "optimal" && status !== "feasible") return { status, ms };
  return {
    status,
    objective: Math.round(sol.ObjectiveValue + milp.offset) + 0,
    placement: milp.decode(sol.Columns as Record<string, { Primal: number }>),
    ms,
  };
}

/**
 * The placement problem with pack's objective (test/support/milp.ts `pack`): the least soft cost,
 * then the fewest hosts. `objective` is the hosts, `cost` the soft cost.
 */
export function exactPack(
  highs: Highs,
  spec: ClusterSpec,
  topology: Topology,
  timeLimitS: number,
): ExactResult & { cost?: number } {
  const milp = encodeMilp(spec, topology, { pack: true });
  const { sol, ms } = solveLp(highs, milp.lp, timeLimitS);
  if (!sol) return { status: "error", ms };
  const status = statusOf(sol.Status, sol.Status === "Time limit reached" && Number.isFinite(sol.ObjectiveValue));
  if (status !== "optimal" && status !== "feasible") return { status, ms };
  const { cost, hosts } = milp.split(sol.ObjectiveValue + milp.offset);
  return { status, objective: hosts, cost, ms };
}

/**
 * Bin packing with conflicts (servers only, host anti-affinity): the fewest hosts. y_h orders
 * the hosts used (y_h ≥ y_{h+1}) to break the symmetry of identical hosts.
 */
export function exactHosts(highs: Highs, spec: ClusterSpec, topology: Topology, timeLimitS: number): ExactResult {
  const hosts = topology.hosts;
  const servers = spec.members.filter((m): m is Member & { type: "server" } => m.type === "server");
  const idx = new Map(servers.map((m, i) => [m.name, i]));
  const rows: string[] = [];
  const bin: string[] = [];
  const x = (i: number, h: number) => `x_${i}_${h}`;
  hosts.forEach((_, h) => {
    bin.push(`y_${h}`);
    if (h > 0) rows.push(`y_${h} - y_${h - 1} <= 0`);
  });
  servers.forEach((_, i) => {
    rows.push(`${hosts.map((_, h) => x(i, h)).join(" + ")} = 1`);
    for (let h = 0; h < hosts.length; h++) bin.push(x(i, h));
  });
  hosts.forEach((host, h) => {
    for (const d of ["vcpus", "ramMb", "diskGb"] as const) {
      const terms = servers.map((m, i) => `${findFlavor(topology.flavors, m.flavorRef)?.[d] ?? 0} ${x(i, h)}`);
      rows.push(`${terms.join(" + ")} - ${host[d] - (host.used?.[d] ?? 0)} y_${h} <= 0`);
    }
  });
  for (const g of spec.groupings) {
    if (g.rule !== "anti-affinity" || g.enforcement !== "hard" || g.scope !== "host") continue;
    const ms = g.members.map((n) => idx.get(n)).filter((i): i is number => i !== undefined);
    hosts.forEach((_, h) => {
      rows.push(`${ms.map((i) => x(i, h)).join(" + ")} - ${g.maxPerDomain} y_${h} <= 0`);
    });
  }
  const lp = [
    "Minimize",
    ` obj: ${hosts.map((_, h) => `y_${h}`).join(" + ")}`,
    "Subject To",
    ...rows.map((r, i) => ` c${i}: ${r}`),
    "Binary",
    ` ${bin.join(" ")}`,
    "End",
  ].join("\n");
  const { sol, ms } = solveLp(highs, lp, timeLimitS);
  if (!sol) return { status: "error", ms };
  const status = statusOf(sol.Status, sol.Status === "Time limit reached" && Number.isFinite(sol.ObjectiveValue));
  if (status !== "optimal" && status !== "feasible") return { status, ms };
  return { status, objective: Math.round(sol.ObjectiveValue), ms };
}
