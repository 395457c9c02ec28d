// The mutable side of placement: the search state (free capacity, member locations, counters
// per grouping, soft cost) that search, bounds and explanations update as members move.
// problem.ts compiles what never changes; this file is what a move changes.
import type { CGroup, Problem } from "./problem";

/**
 * How many domains a set of members needs so that one domain holds (or is served for) them all:
 * concrete domains used, plus zonal-backend zones not already touched by a concrete domain.
 * <= 1 means affinity holds at that scope.
 */
export class Cover {
  private conc = new Map<number, number>();
  private wild = new Map<number, number>();
  private zc = new Map<number, number>();
  nConc = 0;
  nUnc = 0;
  constructor(private readonly zoneOf: Int32Array) {}
  value(): number {
    return this.nConc + this.nUnc;
  }
  /** A concrete domain used by the set, if any (the one to stay in). */
  anyConcrete(): number {
    for (const [d, c] of this.conc) if (c > 0) return d;
    return -1;
  }
  anyWildZone(): number {
    for (const [z, c] of this.wild) if (c > 0) return z;
    return -1;
  }
  after(c: number): number {
    const v = this.nConc + this.nUnc;
    if (c >= 0) {
      if ((this.conc.get(c) ?? 0) > 0) return v;
      const z = this.zoneOf[c] as number;
      return v + 1 - ((this.zc.get(z) ?? 0) === 0 && (this.wild.get(z) ?? 0) > 0 ? 1 : 0);
    }
    const z = -c - 1;
    if ((this.wild.get(z) ?? 0) > 0) return v;
    return v + ((this.zc.get(z) ?? 0) === 0 ? 1 : 0);
  }
  add(c: number): void {
    if (c >= 0) {
      const n = this.conc.get(c) ?? 0;
      this.conc.set(c, n + 1);
      if (n > 0) return;
      this.nConc++;
      const z = this.zoneOf[c] as number;
      const zc = this.zc.get(z) ?? 0;
      this.zc.set(z, zc + 1);
      if (zc === 0 && (this.wild.get(z) ?? 0) > 0) this.nUnc--;
      return;
    }
    const z = -c - 1;
    const n = this.wild.get(z) ?? 0;
    this.wild.set(z, n + 1);
    if (n === 0 && (this.zc.get(z) ?? 0) === 0) this.nUnc++;
  }
  remove(c: number): void {
    if (c >= 0) {
      const n = this.conc.get(c) as number;
      this.conc.set(c, n - 1);
      if (n > 1) return;
      this.nConc--;
      const z = this.zoneOf[c] as number;
      const zc = this.zc.get(z) as number;
      this.zc.set(z, zc - 1);
      if (zc === 1 && (this.wild.get(z) ?? 0) > 0) this.nUnc++;
      return;
    }
    const z = -c - 1;
    const n = this.wild.get(z) as number;
    this.wild.set(z, n - 1);
    if (n === 1 && (this.zc.get(z) ?? 0) === 0) this.nUnc--;
  }
}

/** Per-grouping counters: covers for affinity/proximity (one per scope up to s), counts per domain for anti-affinity. */
export interface GState {
  covers: Cover[];
  counts: Map<number, number>;
  cost: number;
}

/** Soft cost of a grouping given its counters (proximity: weight x level; affinity: domains - 1). */
function groupCost(g: CGroup, st: GState): number {
  if (g.kind === "anti-affinity") {
    if (g.hard) return 0;
    let over = 0;
    for (const c of st.counts.values()) if (c > g.maxPer) over += c - g.maxPer;
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
  cost = 0;
  moves = 0;
  placed = 0;
  constructor(readonly p: Problem) {
    this.free = Float64Array.from(p.free0);
    this.loc = new Int32Array(p.nM).fill(-1);
    this.gs = p.groups.map((g) => ({
      covers:
        g.kind === "anti-affinity"
          ? []
          : Array.from({ length: g.kind === "proximity" ? g.s + 1 : 1 }, (_, i) => {
              const s = g.kind === "proximity" ? i : g.s;
              return new Cover(p.domZone[s] as Int32Array);
            }),
      counts: new Map(),
      cost: 0,
    }));
  }

  fits(m: number, l: number): boolean {
    const p = this.p;
    if (p.isVol[m]) return (this.free[l * 3] as number) >= (p.dem[m * 3] as number);
    return (
      (this.free[l * 3] as number) >= (p.dem[m * 3] as number) &&
      (this.free[l * 3 + 1] as number) >= (p.dem[m * 3 + 1] as number) &&
      (this.free[l * 3 + 2] as number) >= (p.dem[m * 3 + 2] as number)
    );
  }

  /** Rule check and soft-cost delta of putting m on l (capacity and static filters not included). */
  /** `perGroup`, when given, receives each of m's groupings' share of the delta (in memberGroups order). */
  ruleDelta(m: number, l: number, perGroup?: Float64Array): number {
    const p = this.p;
    let delta = 0;
    const gis = p.memberGroups[m] as number[];
    for (let i = 0; i < gis.length; i++) {
      const gi = gis[i] as number;
      const g = p.groups[gi] as CGroup;
      const st = this.gs[gi] as GState;
      let d = 0;
      if (g.kind === "anti-affinity") {
        const n = st.counts.get((p.anti[g.s] as Int32Array)[l] as number) ?? 0;
        if (n >= g.maxPer) {
          if (g.hard) return INFEASIBLE;
          d = g.weight;
        }
      } else if (g.kind === "affinity") {
        const after = (st.covers[0] as Cover).after((p.cover[g.s] as Int32Array)[l] as number);
        if (after > 1) {
          if (g.hard) return INFEASIBLE;
          d = g.weight * Math.max(0, after - 1) - st.cost;
        }
      } else {
        if ((st.covers[g.s] as Cover).after((p.cover[g.s] as Int32Array)[l] as number) > 1) return INFEASIBLE;
        let level = g.s;
        for (let r = 0; r < g.s; r++) {
          if ((st.covers[r] as Cover).after((p.cover[r] as Int32Array)[l] as number) <= 1) {
            level = r;
            break;
          }
        }
        d = g.weight * level - st.cost;
      }
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
    if (p.current[m] !== -1 && p.current[m] !== l) this.moves++;
    for (const gi of p.memberGroups[m] as number[]) this.touch(gi, m, l, 1);
  }

  unplace(m: number): void {
    const p = this.p;
    const l = this.loc[m] as number;
    this.loc[m] = -1;
    this.placed--;
    for (let k = 0; k < 3; k++) this.free[l * 3 + k] = (this.free[l * 3 + k] as number) + (p.dem[m * 3 + k] as number);
    if (p.current[m] !== -1 && p.current[m] !== l) this.moves--;
    for (const gi of p.memberGroups[m] as number[]) this.touch(gi, m, l, -1);
  }

  private touch(gi: number, _m: number, l: number, sign: 1 | -1): void {
    const p = this.p;
    const g = p.groups[gi] as CGroup;
    const st = this.gs[gi] as GState;
    if (g.kind === "anti-affinity") {
      const d = (p.anti[g.s] as Int32Array)[l] as number;
      st.counts.set(d, (st.counts.get(d) ?? 0) + sign);
      if (!g.hard) {
        const n = st.counts.get(d) as number;
        // Crossing above maxPer adds (sign 1) or removes (sign -1) one unit of excess.
        if ((sign === 1 && n > g.maxPer) || (sign === -1 && n >= g.maxPer)) {
          st.cost += sign * g.weight;
          this.cost += sign * g.weight;
        }
      }
      return;
    }
    st.covers.forEach((c, i) => {
      const s = g.kind === "proximity" ? i : g.s;
      const d = (p.cover[s] as Int32Array)[l] as number;
      if (sign === 1) c.add(d);
      else c.remove(d);
    });
    const next = groupCost(g, st);
    this.cost += next - st.cost;
    st.cost = next;
  }

  groupState(gi: number): GState {
    return this.gs[gi] as GState;
  }
}
