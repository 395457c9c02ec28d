// Lower bounds on the soft cost, per grouping: a grouping's cost only grows as members are added,
// so a bound that holds for the grouping alone holds for the whole placement. When the greedy's
// cost meets the sum of the bounds, it is optimal and the exact search has nothing to do.

import { branchAndBound } from "./exact";
import { type CGroup, domainLocations, type Problem } from "./problem";
import { State } from "./search-state";

/**
 * The servers of grouping gi, and in `inBoth` how many of them each other hard anti-affinity
 * grouping holds (it keeps those apart: ⌈count / maxPerDomain⌉ domains at its scope at least).
 */
export function keptApart(p: Problem, gi: number, inBoth: Map<number, number>): number {
  let servers = 0;
  inBoth.clear();
  for (const m of (p.groups[gi] as CGroup).members) {
    if (p.isVol[m]) continue;
    servers++;
    const end = p.mgOff[m + 1] as number;
    for (let k = p.mgOff[m] as number; k < end; k++) {
      const a = p.mgIdx[k] as number;
      const ag = p.groups[a] as CGroup;
      if (a !== gi && ag.hard && ag.kind === "anti-affinity") inBoth.set(a, (inBoth.get(a) ?? 0) + 1);
    }
  }
  return servers;
}

/**
 * Bounds from hard anti-affinity alone: servers of a soft grouping that a hard anti-affinity
 * grouping keeps apart need that many domains (so soft affinity pays for each one past the
 * first, and proximity can't be finer than the anti-affinity's scope); soft anti-affinity pays
 * for what can't fit in the domains there are.
 */
export function staticFloors(p: Problem): Float64Array {
  const floor = new Float64Array(p.groups.length);
  const inBoth = new Map<number, number>();
  p.groups.forEach((g, gi) => {
    if (g.hard && g.kind !== "proximity") return;
    const servers = keptApart(p, gi, inBoth);
    if (g.kind === "anti-affinity") {
      floor[gi] = g.weight * Math.max(0, servers - (p.nDom[g.s] as number) * g.maxPer);
      return;
    }
    if (g.kind === "affinity") {
      let need = 1;
      for (const [a, k] of inBoth) {
        const ag = p.groups[a] as CGroup;
        if (ag.s >= g.s) need = Math.max(need, Math.ceil(k / ag.maxPer));
      }
      floor[gi] = g.weight * (need - 1);
      return;
    }
    let level = 0;
    for (const [a, k] of inBoth) {
      const ag = p.groups[a] as CGroup;
      if (k > ag.maxPer) level = Math.max(level, ag.s + 1);
    }
    floor[gi] = g.weight * Math.min(level, g.s);
  });
  return floor;
}

/**
 * Whether the servers of g alone (their hard groupings among themselves, the hosts' free capacity
 * at the start) fit in the r-domain d. false is a proof; true may also mean "not disproved".
 */
function fitsInDomain(
  p: Problem,
  servers: number[],
  r: number,
  d: number,
  nodeLimit: number,
): { fits: boolean; nodes: number } {
  const hosts = Array.from(domainLocations(p, r, d)).filter((l) => l < p.nH);
  // Capacity first: the summed free room of the domain's hosts.
  for (let k = 0; k < 3; k++) {
    let need = 0;
    let have = 0;
    for (const m of servers) need += p.dem[m * 3 + k] as number;
    for (const h of hosts) have += Math.max(0, p.free0[h * 3 + k] as number);
    if (need > have) return { fits: false, nodes: 0 };
  }
  const cands = servers.map((m) =>
    hosts.filter((h) => (p.pin[m] === -1 || p.locZone[h] === p.pin[m]) && !p.unknownFlavor[m]),
  );
  if (cands.some((c) => c.length === 0)) return { fits: false, nodes: 0 };
  const rank = new Int32Array(p.nM);
  const r0 = branchAndBound(new State(p), servers, cands, rank, { seed: 1, nodeLimit, feasibilityOnly: true });
  return { fits: r0.best !== undefined || r0.exhausted, nodes: r0.nodes };
}

/**
 * Raises the floor of soft affinity and proximity groupings by asking, domain by domain, whether
 * the grouping's servers could share one at all (small groupings only; `budget` caps the search
 * nodes spent, and a domain whose search runs out counts as one they might share).
 */
export function domainFloors(p: Problem, floor: Float64Array, groups: number[], budget: number): void {
  let left = budget;
  for (const gi of groups) {
    const g = p.groups[gi] as CGroup;
    if (g.hard && g.kind !== "proximity") continue;
    if (g.kind === "anti-affinity") continue;
    const servers = [...g.members].filter((m) => !p.isVol[m]);
    if (servers.length < 2 || servers.length > 40) continue;
    const first = Math.round((floor[gi] as number) / (g.weight || 1));
    const top = g.kind === "affinity" ? g.s : g.s - 1;
    const from = g.kind === "affinity" ? g.s : first;
    for (let r = from; r <= top; r++) {
      let any = false;
      for (let d = 0; d < (p.nDom[r] as number) && !any; d++) {
        if (--left < 0) return;
        const f = fitsInDomain(p, servers, r, d, Math.min(500, left));
        left -= f.nodes;
        any = f.fits;
      }
      if (any) break;
      floor[gi] = g.kind === "affinity" ? Math.max(floor[gi] as number, g.weight) : g.weight * (r + 1);
    }
  }
}

/**
 * pack: the fewest hosts the servers could use, per dimension (the hosts with most room first) and
 * per hard host anti-affinity grouping.
 */
export function hostsFloor(p: Problem): number {
  let lb = 0;
  let servers = 0;
  for (let m = 0; m < p.nM; m++) if (!p.isVol[m]) servers++;
  if (servers === 0) return 0;
  for (let k = 0; k < 3; k++) {
    let need = 0;
    for (let m = 0; m < p.nM; m++) if (!p.isVol[m]) need += p.dem[m * 3 + k] as number;
    if (need <= 0) continue;
    // Most room first: negated, so the native numeric sort puts it first.
    const free = new Float64Array(p.nH);
    for (let h = 0; h < p.nH; h++) free[h] = -(p.free0[h * 3 + k] as number);
    free.sort();
    let n = 0;
    for (; n < free.length && need > 0; n++) need += free[n] as number;
    lb = Math.max(lb, n);
  }
  for (const g of p.groups) {
    if (g.kind !== "anti-affinity" || !g.hard || g.s !== 0) continue;
    let n = 0;
    for (const m of g.members) if (!p.isVol[m]) n++;
    lb = Math.max(lb, Math.ceil(n / g.maxPer));
  }
  return Math.max(1, lb);
}
