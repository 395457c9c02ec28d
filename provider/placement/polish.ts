// After a complete greedy placement: local moves of single members, then costly soft groupings
// moved whole into one domain, then (pack) the least-used hosts emptied into the others. Every
// step keeps the hard rules and is kept only when the objective (moves, soft cost, for pack
// hosts) improves.

import { hostsFloor } from "./cost-bounds";
import type { Greedy } from "./greedy";
import { mulberry32, type Rng } from "./prng";
import { type CGroup, type Problem, zonalBackends } from "./problem";

/** Local moves, then whole soft groupings into one domain, then (pack) emptying hosts. */
export function polish(g: Greedy, p: Problem, rank: Int32Array, seed: number, floors: Float64Array): void {
  const rng = mulberry32(seed ^ 0x5bd1e995);
  const state = g.state;
  let floorTotal = 0;
  for (const f of floors) floorTotal += f;
  // At the lower bound already: nothing to improve (pack may still empty hosts).
  if (state.cost > floorTotal + 1e-9) improve(g, rng);
  if (state.cost > floorTotal + 1e-9) {
    let attempts = p.nM <= 2_000 ? 400 : 64;
    const maxDomains = p.nM <= 2_000 ? 64 : 8;
    const rooms = new RoomOrder(g);
    for (let gi = 0; gi < p.groups.length && attempts > 0; gi++) {
      const grp = p.groups[gi] as CGroup;
      if (grp.kind === "anti-affinity" || (grp.hard && grp.kind === "affinity")) continue;
      if ((state.gs[gi]?.cost ?? 0) <= (floors[gi] as number) + 1e-9) continue;
      attempts--;
      relocate(g, rooms, gi, rank, rng, floors[gi] as number, maxDomains);
    }
  }
  // pack: try to empty hosts only while the count is above its lower bound, a few failures at most.
  if (p.strategy === "pack") consolidate(g, rank, rng, Math.min(16, state.hostsUsed - hostsFloor(p)));
}

/**
 * Local improvement: members of soft groupings that cost something try one move each to a
 * cheaper feasible spot, for a couple of passes. Existing members stay put: a move would cost
 * more than any soft saving.
 */
function improve(g: Greedy, rng: Rng): void {
  const p = g.p;
  const state = g.state;
  for (let pass = 0; pass < 2 && state.cost > 1e-9; pass++) {
    let improved = false;
    for (let m = 0; m < p.nM; m++) {
      if (p.current[m] !== -1 || state.loc[m] === -1) continue;
      let costly = false;
      const end = p.mgOff[m + 1] as number;
      for (let k = p.mgOff[m] as number; k < end && !costly; k++)
        if (state.groupState(p.mgIdx[k] as number).cost > 0) costly = true;
      if (!costly) continue;
      const old = g.release(m);
      const oldDelta = state.ruleDelta(m, old);
      const l = g.choose(m, rng);
      if (l >= 0 && l !== old && g.chosenDelta < oldDelta - 1e-9 && !g.leaderLost()) {
        g.commit(m, l);
        improved = true;
      } else g.commit(m, old);
    }
    if (!improved) break;
  }
}

/** The s-domains by free room (summed over their hosts, as a share of capacity), most first; computed once per scope. */
class RoomOrder {
  private readonly rooms: (Int32Array | undefined)[] = [undefined, undefined, undefined];
  constructor(private readonly g: Greedy) {}
  at(s: number): Int32Array {
    const cached = this.rooms[s];
    if (cached) return cached;
    const p = this.g.p;
    const free = this.g.state.free;
    const inv = p.invCap;
    const n = p.nDom[s] as number;
    const room = new Float64Array(n);
    for (let h = 0; h < p.nH; h++) {
      const d = (p.cover[s] as Int32Array)[h] as number;
      let v = 0;
      for (let k = 0; k < 3; k++) v += Math.max(0, free[h * 3 + k] as number) * (inv[h * 3 + k] as number);
      room[d] = (room[d] as number) + v;
    }
    const order = Int32Array.from({ length: n }, (_, d) => d).sort(
      (a, b) => (room[b] as number) - (room[a] as number) || a - b,
    );
    this.rooms[s] = order;
    return order;
  }
}

/**
 * A soft affinity or proximity grouping that costs more than its lower bound tries to move,
 * with everything tied to it, into one domain at a finer scope (the domains it already uses
 * first, then the others with most room). Kept only when the total cost drops.
 */
function relocate(
  greedy: Greedy,
  rooms: RoomOrder,
  gi: number,
  rank: Int32Array,
  rng: Rng,
  lowerBound: number,
  maxDomains: number,
): boolean {
  const p = greedy.p;
  const state = greedy.state;
  const g = p.groups[gi] as CGroup;
  const set = greedy.closure(g.members, 256);
  if (!set) return false;
  const inGroup = new Set<number>(g.members);
  const levels: number[] = [];
  if (g.kind === "affinity") levels.push(g.s);
  else {
    const level = Math.round(state.groupState(gi).cost / (g.weight || 1));
    for (let r = 0; r < Math.min(level, g.s); r++) levels.push(r);
  }
  for (const r of levels) {
    if (g.weight * (g.kind === "affinity" ? 0 : r) < lowerBound - 1e-9) continue;
    for (const d of domainsToTry(greedy, rooms, g, r, maxDomains)) {
      const hosts = greedy.lists.domain(r, d);
      const z = (p.domZone[r] as Int32Array)[d] as number;
      let withZonal: Int32Array | undefined;
      const only = (m: number): Int32Array | undefined => {
        if (!inGroup.has(m)) return undefined;
        if (!p.isVol[m] || r === 2) return hosts;
        if (!withZonal) {
          const zonal = zonalBackends(p, z);
          withZonal = new Int32Array(hosts.length + zonal.length);
          withZonal.set(hosts);
          withZonal.set(zonal, hosts.length);
        }
        return withZonal;
      };
      const done = greedy.attempt(
        set,
        rank,
        rng,
        only,
        (b) => state.moves < b.moves || (state.moves === b.moves && state.cost < b.cost - 1e-9),
      );
      if (done) return true;
    }
  }
  return false;
}

/** Domains at scope r to try for grouping g: those holding its members, then those with most free room. */
function domainsToTry(greedy: Greedy, rooms: RoomOrder, g: CGroup, r: number, max: number): number[] {
  const p = greedy.p;
  const state = greedy.state;
  const out: number[] = [];
  const seen = new Set<number>();
  for (const m of g.members) {
    const l = state.loc[m] as number;
    if (l < 0) continue;
    const d = (p.cover[r] as Int32Array)[l] as number;
    if (d >= 0 && !seen.has(d)) {
      seen.add(d);
      out.push(d);
    }
  }
  for (const d of rooms.at(r)) {
    if (out.length >= max) break;
    if (!seen.has(d)) out.push(d);
  }
  return out;
}

/**
 * pack: empties the least-used hosts into the other open ones, a host at a time with the
 * members tied to its servers, when that keeps every rule and costs nothing more.
 */
function consolidate(greedy: Greedy, rank: Int32Array, rng: Rng, maxTries: number): void {
  const p = greedy.p;
  const state = greedy.state;
  const fillRank = greedy.lists.rank;
  if (!fillRank) return;
  const failed = new Set<number>();
  for (let tries = 0; tries < maxTries; tries++) {
    const onHost = new Map<number, number[]>();
    for (let m = 0; m < p.nM; m++) {
      const l = state.loc[m] as number;
      if (l < 0 || l >= p.nH) continue;
      const list = onHost.get(l);
      if (list) list.push(m);
      else onHost.set(l, [m]);
    }
    // The host with the fewest servers (last in fill order on ties) that hasn't failed yet.
    let h = -1;
    for (const [l, ms] of onHost) {
      if (failed.has(l)) continue;
      const n = ms.length;
      const best = h < 0 ? -1 : (onHost.get(h) as number[]).length;
      if (h < 0 || n < best || (n === best && (fillRank[l] as number) > (fillRank[h] as number))) h = l;
    }
    if (h < 0 || onHost.size < 2) return;
    const set = greedy.closure(onHost.get(h) as number[], 512);
    if (!set) {
      failed.add(h);
      continue;
    }
    const others = [...onHost.keys()]
      .filter((l) => l !== h)
      .sort((a, b) => (fillRank[a] as number) - (fillRank[b] as number));
    const open = Int32Array.from(others);
    const done = greedy.attempt(
      set,
      rank,
      rng,
      (m) => (p.isVol[m] ? undefined : open),
      (b) =>
        state.moves <= b.moves &&
        state.cost <= b.cost + 1e-9 &&
        (state.moves < b.moves || state.cost < b.cost - 1e-9 || state.hostsUsed < b.hosts),
    );
    if (!done) failed.add(h);
  }
}
