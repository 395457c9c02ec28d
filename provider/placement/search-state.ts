// The mutable side of placement: the search state (free capacity, member locations, counters
// per grouping, soft cost) that search, bounds and explanations update as members move.
// problem.ts holds what never changes (compile.ts builds it); this file is what a move changes.
import type { CGroup, Problem } from "./problem";
import { int32Views } from "./typed-views";

/**
 * Counts by integer key. Most groupings touch a handful of domains, so the counts live in a flat
 * array (scanned) until there are more than a few keys, then in a Map. A key whose count drops
 * to 0 is forgotten.
 */
export class Tally {
  private flat: number[] | undefined;
  private map: Map<number, number> | undefined;
  get(k: number): number {
    if (this.map) return this.map.get(k) ?? 0;
    const f = this.flat;
    if (f) for (let i = 0; i < f.length; i += 2) if (f[i] === k) return f[i + 1] as number;
    return 0;
  }
  /** Adds d to k's count; returns the new count. */
  add(k: number, d: number): number {
    if (this.map) {
      const n = (this.map.get(k) ?? 0) + d;
      if (n === 0) this.map.delete(k);
      else this.map.set(k, n);
      return n;
    }
    let f = this.flat;
    if (!f) f = this.flat = [];
    for (let i = 0; i < f.length; i += 2) {
      if (f[i] !== k) continue;
      const n = (f[i + 1] as number) + d;
      if (n === 0) {
        f[i] = f[f.length - 2] as number;
        f[i + 1] = f[f.length - 1] as number;
        f.length -= 2;
      } else f[i + 1] = n;
      return n;
    }
    if (d === 0) return 0;
    if (f.length >= 16) {
      const map = new Map<number, number>();
      for (let i = 0; i < f.length; i += 2) map.set(f[i] as number, f[i + 1] as number);
      map.set(k, d);
      this.map = map;
      this.flat = undefined;
      return d;
    }
    f.push(k, d);
    return d;
  }
  /** Calls fn for every key with a non-zero count. */
  forEach(fn: (count: number, key: number) => void): void {
    if (this.map) this.map.forEach(fn);
    else if (this.flat)
      for (let i = 0; i < this.flat.length; i += 2) fn(this.flat[i + 1] as number, this.flat[i] as number);
  }
  /** Some key with a non-zero count passing `test`, or -1. */
  find(test: (key: number) => boolean): number {
    if (this.map) {
      for (const k of this.map.keys()) if (test(k)) return k;
      return -1;
    }
    const f = this.flat;
    if (f) for (let i = 0; i < f.length; i += 2) if (test(f[i] as number)) return f[i] as number;
    return -1;
  }
}

// Cover keys: a concrete domain d is 3d, a zone z's wild (zonal-backend) members 3z+1, and the
// number of concrete domains in zone z 3z+2; one tally holds all three.
const isConcrete = (k: number) => k % 3 === 0;
const isWild = (k: number) => k % 3 === 1;

/**
 * How many domains a set of members needs so that one domain holds (or is served for) them all:
 * concrete domains used, plus zonal-backend zones not already touched by a concrete domain.
 * <= 1 means affinity holds at that scope.
 */
export class Cover {
  private readonly t = new Tally();
  nConc = 0;
  nUnc = 0;
  constructor(private readonly zoneOf: Int32Array) {}
  value(): number {
    return this.nConc + this.nUnc;
  }
  /** A concrete domain used by the set, if any (the one to stay in). */
  anyConcrete(): number {
    if (this.nConc === 0) return -1;
    return this.t.find(isConcrete) / 3;
  }
  anyWildZone(): number {
    const k = this.t.find(isWild);
    return k < 0 ? -1 : (k - 1) / 3;
  }
  after(c: number): number {
    const v = this.nConc + this.nUnc;
    const t = this.t;
    if (v === 0) return 1;
    if (c >= 0) {
      if (t.get(3 * c) > 0) return v;
      const z = this.zoneOf[c] as number;
      return v + 1 - (t.get(3 * z + 2) === 0 && t.get(3 * z + 1) > 0 ? 1 : 0);
    }
    const z = -c - 1;
    if (t.get(3 * z + 1) > 0) return v;
    return v + (t.get(3 * z + 2) === 0 ? 1 : 0);
  }
  add(c: number): void {
    const t = this.t;
    if (c >= 0) {
      if (t.add(3 * c, 1) > 1) return;
      this.nConc++;
      const z = this.zoneOf[c] as number;
      if (t.add(3 * z + 2, 1) === 1 && t.get(3 * z + 1) > 0) this.nUnc--;
      return;
    }
    const z = -c - 1;
    if (t.add(3 * z + 1, 1) === 1 && t.get(3 * z + 2) === 0) this.nUnc++;
  }
  remove(c: number): void {
    const t = this.t;
    if (c >= 0) {
      if (t.add(3 * c, -1) > 0) return;
      this.nConc--;
      const z = this.zoneOf[c] as number;
      if (t.add(3 * z + 2, -1) === 0 && t.get(3 * z + 1) > 0) this.nUnc++;
      return;
    }
    const z = -c - 1;
    if (t.add(3 * z + 1, -1) === 0 && t.get(3 * z + 2) === 0) this.nUnc--;
  }
}

/**
 * Per-grouping counters: covers for affinity/proximity (one per scope up to s), counts per domain
 * for anti-affinity, and the domains at or over maxPerDomain (kept exact, for the greedy's filters).
 */
export interface GState {
  covers: Cover[];
  counts: Tally;
  full: number[];
  cost: number;
}

/** Soft cost of a grouping given its counters (proximity: weight x level; affinity: domains - 1). */
function groupCost(g: CGroup, st: GState): number {
  if (g.kind === "anti-affinity") {
    if (g.hard) return 0;
    let over = 0;
    st.counts.forEach((c) => {
      if (c > g.maxPer) over += c - g.maxPer;
    });
    return g.weight * over;
  }
  if (g.kind === "affinity") return g.hard ? 0 : g.weight * Math.max(0, (st.covers[0] as Cover).value() - 1);
  for (let r = 0; r <= g.s; r++) if ((st.covers[r] as Cover).value() <= 1) return g.weight * r;
  return g.weight * g.s;
}

export const INFEASIBLE = -1;

/** The mutable search state: free capacity, member locations, counters per grouping, cost and moves. */
export class State {
  readonly free: Float64Array;
  readonly loc: Int32Array;
  readonly gs: GState[];
  /** Servers of this cluster per host, and the hosts holding at least one (what `pack` minimizes). */
  readonly hostUse: Int32Array;
  hostsUsed = 0;
  cost = 0;
  moves = 0;
  placed = 0;
  constructor(readonly p: Problem) {
    this.free = p.free0.slice();
    [this.loc, this.hostUse] = int32Views([p.nM, p.nH]);
    this.loc.fill(-1);
    this.gs = p.groups.map((g) => ({
      covers:
        g.kind === "anti-affinity"
          ? []
          : Array.from({ length: g.kind === "proximity" ? g.s + 1 : 1 }, (_, i) => {
              const s = g.kind === "proximity" ? i : g.s;
              return new Cover(p.domZone[s] as Int32Array);
            }),
      counts: new Tally(),
      full: [],
      cost: 0,
    }));
  }

  fits(m: number, l: number): boolean {
    const p = this.p;
    const f = this.free;
    const d = p.dem;
    const i = l * 3;
    const j = m * 3;
    if (p.isVol[m]) return (f[i] as number) >= (d[j] as number);
    return (
      (f[i] as number) >= (d[j] as number) &&
      (f[i + 1] as number) >= (d[j + 1] as number) &&
      (f[i + 2] as number) >= (d[j + 2] as number)
    );
  }

  /**
   * Soft-cost delta of grouping gi if m goes on l, or INFEASIBLE when it is hard and l breaks it.
   * The one definition of what a move costs; the greedy's per-member filters must agree with it.
   */
  groupDelta(gi: number, l: number): number {
    const p = this.p;
    const g = p.groups[gi] as CGroup;
    const st = this.gs[gi] as GState;
    if (g.kind === "anti-affinity") {
      const n = st.counts.get((p.anti[g.s] as Int32Array)[l] as number);
      if (n < g.maxPer) return 0;
      return g.hard ? INFEASIBLE : g.weight;
    }
    if (g.kind === "affinity") {
      const after = (st.covers[0] as Cover).after((p.cover[g.s] as Int32Array)[l] as number);
      if (after <= 1) return 0;
      if (g.hard) return INFEASIBLE;
      return g.weight * Math.max(0, after - 1) - st.cost;
    }
    if ((st.covers[g.s] as Cover).after((p.cover[g.s] as Int32Array)[l] as number) > 1) return INFEASIBLE;
    let level = g.s;
    for (let r = 0; r < g.s; r++) {
      if ((st.covers[r] as Cover).after((p.cover[r] as Int32Array)[l] as number) <= 1) {
        level = r;
        break;
      }
    }
    return g.weight * level - st.cost;
  }

  /** Rule check and soft-cost delta of putting m on l (capacity and static filters not included). */
  /** `perGroup`, when given, receives each of m's groupings' share of the delta (in memberGroups order). */
  ruleDelta(m: number, l: number, perGroup?: Float64Array): number {
    const p = this.p;
    let delta = 0;
    const end = p.mgOff[m + 1] as number;
    for (let k = p.mgOff[m] as number, i = 0; k < end; k++, i++) {
      const d = this.groupDelta(p.mgIdx[k] as number, l);
      if (d === INFEASIBLE) return INFEASIBLE;
      if (perGroup) perGroup[i] = d;
      delta += d;
    }
    return delta;
  }

  /** Soft-cost delta, or INFEASIBLE when capacity or a hard rule forbids m on l. */
  delta(m: number, l: number, perGroup?: Float64Array): number {
    if (!this.fits(m, l)) return INFEASIBLE;
    return this.ruleDelta(m, l, perGroup);
  }

  place(m: number, l: number): void {
    const p = this.p;
    this.loc[m] = l;
    this.placed++;
    for (let k = 0; k < 3; k++) this.free[l * 3 + k] = (this.free[l * 3 + k] as number) - (p.dem[m * 3 + k] as number);
    if (l < p.nH) {
      const n = (this.hostUse[l] as number) + 1;
      this.hostUse[l] = n;
      if (n === 1) this.hostsUsed++;
    }
    if (p.current[m] !== -1 && p.current[m] !== l) this.moves++;
    const end = p.mgOff[m + 1] as number;
    for (let k = p.mgOff[m] as number; k < end; k++) this.touch(p.mgIdx[k] as number, l, 1);
  }

  unplace(m: number): void {
    const p = this.p;
    const l = this.loc[m] as number;
    this.loc[m] = -1;
    this.placed--;
    for (let k = 0; k < 3; k++) this.free[l * 3 + k] = (this.free[l * 3 + k] as number) + (p.dem[m * 3 + k] as number);
    if (l < p.nH) {
      const n = (this.hostUse[l] as number) - 1;
      this.hostUse[l] = n;
      if (n === 0) this.hostsUsed--;
    }
    if (p.current[m] !== -1 && p.current[m] !== l) this.moves--;
    const end = p.mgOff[m + 1] as number;
    for (let k = p.mgOff[m] as number; k < end; k++) this.touch(p.mgIdx[k] as number, l, -1);
  }

  private touch(gi: number, l: number, sign: 1 | -1): void {
    const p = this.p;
    const g = p.groups[gi] as CGroup;
    const st = this.gs[gi] as GState;
    if (g.kind === "anti-affinity") {
      const d = (p.anti[g.s] as Int32Array)[l] as number;
      const n = st.counts.add(d, sign);
      if (sign === 1 && n === g.maxPer) st.full.push(d);
      else if (sign === -1 && n === g.maxPer - 1) {
        const i = st.full.indexOf(d);
        st.full[i] = st.full[st.full.length - 1] as number;
        st.full.pop();
      }
      // Crossing above maxPer adds (sign 1) or removes (sign -1) one unit of excess.
      if (!g.hard && ((sign === 1 && n > g.maxPer) || (sign === -1 && n >= g.maxPer))) {
        st.cost += sign * g.weight;
        this.cost += sign * g.weight;
      }
      return;
    }
    const covers = st.covers;
    for (let i = 0; i < covers.length; i++) {
      const s = g.kind === "proximity" ? i : g.s;
      const d = (p.cover[s] as Int32Array)[l] as number;
      if (sign === 1) (covers[i] as Cover).add(d);
      else (covers[i] as Cover).remove(d);
    }
    const next = groupCost(g, st);
    this.cost += next - st.cost;
    st.cost = next;
  }

  groupState(gi: number): GState {
    return this.gs[gi] as GState;
  }
}
