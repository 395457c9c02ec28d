// What the first member of a grouping checks before it picks a spot: that the domain around the
// spot can hold the whole grouping, so the members after it aren't pushed out of it. A hard
// affinity or proximity grouping is held at its scope (the greedy pays LEADER_PENALTY for a spot
// that can't, so it takes one only when nothing else is feasible); a soft affinity or proximity
// grouping at the finest scope its cost can reach (a spot that can't costs its weight, the level
// it would most likely pay later, instead of relocating the grouping after the fact).

import { keptApart } from "./cost-bounds";
import type { CGroup, Scoped } from "./problem";
import { type Cover, INFEASIBLE, type State } from "./search-state";

export const LEADER_PENALTY = 1e9;

/** Free capacity summed per rack and zone (kept up to date as members are placed). */
class DomainFree {
  readonly sums: Scoped<Float64Array>;
  constructor(private readonly state: State) {
    const p = state.p;
    this.sums = [new Float64Array(0), new Float64Array(p.nDom[1] * 3), new Float64Array(p.nDom[2] * 3)];
    for (let h = 0; h < p.nH; h++) this.adjust(h, state.free, h * 3, 1);
  }
  adjust(l: number, src: Float64Array, base: number, sign: number): void {
    const p = this.state.p;
    if (l >= p.nH) return;
    for (let s = 1; s < 3; s++) {
      const d = (p.cover[s] as Int32Array)[l] as number;
      const sums = this.sums[s] as Float64Array;
      for (let k = 0; k < 3; k++) sums[d * 3 + k] = (sums[d * 3 + k] as number) + sign * (src[base + k] as number);
    }
  }
  freeAt(s: number, l: number, k: number): number {
    if (s === 0) return this.state.free[l * 3 + k] as number;
    const d = (this.state.p.cover[s] as Int32Array)[l] as number;
    return (this.sums[s] as Float64Array)[d * 3 + k] as number;
  }
}

export class Leaders {
  private readonly dom: DomainFree;
  /** Total server demand per grouping led (the domain must have that much free). */
  private readonly demand: Float64Array;
  /** Hard affinity/proximity groupings with two servers or more: led at their scope. */
  private readonly hard: Uint8Array;
  /** Soft affinity/proximity groupings with two servers or more: the scope they are led at, -1 none. */
  private readonly softScope: Int8Array;
  /** Per soft-led grouping, the hosts (slot 0) and racks (slot 1) its hard anti-affinity partners keep it on at least. */
  private readonly apart: Int32Array;
  /** Hosts per rack and zone, racks per zone (only when a soft grouping is led). */
  private hostsIn: Scoped<Int32Array> | undefined;
  private racksIn: Int32Array | undefined;
  // The groupings the prepared member leads.
  private readonly hardLed: number[] = [];
  private nHard = 0;
  private readonly softLed: number[] = [];
  private nSoft = 0;

  constructor(private readonly state: State) {
    const p = state.p;
    const nG = p.groups.length;
    this.dom = new DomainFree(state);
    this.demand = new Float64Array(nG * 3);
    this.hard = new Uint8Array(nG);
    this.softScope = new Int8Array(nG).fill(-1);
    this.apart = new Int32Array(nG * 2);
    let inBoth: Map<number, number> | undefined;
    p.groups.forEach((g, gi) => {
      if (g.kind === "anti-affinity" || (!g.hard && g.weight <= 0)) return;
      let servers = 0;
      for (const m of g.members) {
        if (p.isVol[m]) continue;
        servers++;
        for (let k = 0; k < 3; k++)
          this.demand[gi * 3 + k] = (this.demand[gi * 3 + k] as number) + (p.dem[m * 3 + k] as number);
      }
      // With one server, the domain that fits it fits the grouping: no check.
      if (servers < 2) return;
      if (g.hard && g.kind === "affinity") {
        this.hard[gi] = 1;
        return;
      }
      if (g.kind === "proximity") this.hard[gi] = 1;
      // The finest scope the soft cost can reach: hard anti-affinity over more of its servers than
      // maxPerDomain keeps proximity above that scope, and soft affinity out of one domain.
      inBoth ??= new Map();
      keptApart(p, gi, inBoth);
      let level = 0;
      for (const [a, k] of inBoth) {
        const ag = p.groups[a] as CGroup;
        if (k <= ag.maxPer) continue;
        level = Math.max(level, ag.s + 1);
        if (ag.s < 2) {
          const i = gi * 2 + ag.s;
          this.apart[i] = Math.max(this.apart[i] as number, Math.ceil(k / ag.maxPer));
        }
      }
      const scope = g.kind === "affinity" ? (level > g.s ? -1 : g.s) : level < g.s ? level : -1;
      this.softScope[gi] = scope;
      if (scope >= 1 && !this.hostsIn) this.countDomains();
    });
  }

  private countDomains(): void {
    const p = this.state.p;
    const hostsIn: Scoped<Int32Array> = [new Int32Array(0), new Int32Array(p.nDom[1]), new Int32Array(p.nDom[2])];
    for (let h = 0; h < p.nH; h++)
      for (let s = 1; s < 3; s++) {
        const d = (p.cover[s] as Int32Array)[h] as number;
        (hostsIn[s] as Int32Array)[d] = ((hostsIn[s] as Int32Array)[d] as number) + 1;
      }
    const racksIn = new Int32Array(p.nDom[2]);
    const rackZone = p.domZone[1] as Int32Array;
    for (let r = 0; r < p.nDom[1]; r++) racksIn[rackZone[r] as number] = (racksIn[rackZone[r] as number] as number) + 1;
    this.hostsIn = hostsIn;
    this.racksIn = racksIn;
  }

  adjust(l: number, m: number, sign: number): void {
    this.dom.adjust(l, this.state.p.dem, m * 3, sign);
  }

  /** Collects the groupings server m would be the first of; returns whether there are any. */
  prepare(m: number): boolean {
    const p = this.state.p;
    this.nHard = 0;
    this.nSoft = 0;
    if (p.isVol[m]) return false;
    const end = p.mgOff[m + 1] as number;
    for (let k = p.mgOff[m] as number; k < end; k++) {
      const gi = p.mgIdx[k] as number;
      const soft = (this.softScope[gi] as number) >= 0;
      if (!this.hard[gi] && !soft) continue;
      if ((this.state.groupState(gi).covers[0] as Cover).value() !== 0) continue;
      if (this.hard[gi]) this.hardLed[this.nHard++] = gi;
      if (soft) this.softLed[this.nSoft++] = gi;
    }
    return this.nHard + this.nSoft > 0;
  }

  /** Whether m leads a hard grouping (the greedy then compares more candidates). */
  get leadsHard(): boolean {
    return this.nHard > 0;
  }

  /** What spot l costs the groupings m leads: LEADER_PENALTY for a hard one it can't hold, the weight of a soft one. */
  penalty(m: number, l: number): number {
    const p = this.state.p;
    let out = 0;
    for (let x = 0; x < this.nHard; x++) {
      const gi = this.hardLed[x] as number;
      const g = p.groups[gi] as CGroup;
      // At host scope the host is the grouping's: each of its other servers must be allowed there
      // by its own hard anti-affinity groupings too.
      if (!this.fits(gi, g.s, l) || (g.s === 0 && !this.hostTakesAll(g, m, l))) {
        out = LEADER_PENALTY;
        break;
      }
    }
    for (let x = 0; x < this.nSoft; x++) {
      const gi = this.softLed[x] as number;
      const s = this.softScope[gi] as number;
      if (!this.fits(gi, s, l) || !this.roomApart(gi, s, l)) out += (p.groups[gi] as CGroup).weight;
    }
    return out;
  }

  private fits(gi: number, s: number, l: number): boolean {
    for (let k = 0; k < 3; k++) if (this.dom.freeAt(s, l, k) < (this.demand[gi * 3 + k] as number)) return false;
    return true;
  }

  /** Whether the s-domain of l has as many hosts and racks as the grouping's anti-affinity partners need. */
  private roomApart(gi: number, s: number, l: number): boolean {
    if (s === 0) return (this.apart[gi * 2] as number) <= 1;
    const p = this.state.p;
    const d = (p.cover[s] as Int32Array)[l] as number;
    const hosts = (this.hostsIn as Scoped<Int32Array>)[s] as Int32Array;
    if ((hosts[d] as number) < (this.apart[gi * 2] as number)) return false;
    return s < 2 || ((this.racksIn as Int32Array)[d] as number) >= (this.apart[gi * 2 + 1] as number);
  }

  private hostTakesAll(g: CGroup, m: number, l: number): boolean {
    const p = this.state.p;
    const state = this.state;
    const ms = g.members;
    for (let i = 0; i < ms.length; i++) {
      const u = ms[i] as number;
      if (u === m || p.isVol[u] || state.loc[u] !== -1) continue;
      const end = p.mgOff[u + 1] as number;
      for (let k = p.mgOff[u] as number; k < end; k++) {
        const a = p.mgIdx[k] as number;
        const ag = p.groups[a] as CGroup;
        if (ag.kind === "anti-affinity" && ag.hard && state.groupDelta(a, l) === INFEASIBLE) return false;
      }
    }
    return true;
  }
}
