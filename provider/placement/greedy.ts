// The greedy side of search. Per member, the domains its groupings have already filled are marked
// once (kube-scheduler's PreFilter state: counts per (grouping, domain) kept up to date as members
// are placed), so checking a candidate is a few array reads; candidates are sampled (spread) or
// taken in fill order (pack). Then local improvement, relocation of a costly soft grouping into
// one domain, and, for pack, emptying the least-used hosts into the others.

import type { Rng } from "./prng";
import { type CGroup, domainLocations, type Problem, staticOk, zonalBackends, zoneHostList } from "./problem";
import { type Cover, INFEASIBLE, type State } from "./search-state";

type Scoped<T> = [T, T, T];

/** An anti-affinity grouping with more filled domains than this is checked per candidate instead. */
const MAX_MARKED = 48;
/** A soft grouping's domain is scanned in full as extra candidates when it is this small. */
const MAX_EXTRA = 256;
const LEADER_PENALTY = 1e9;
const EMPTY: Int32Array = new Int32Array(0);

/**
 * The marks for one member: hard anti-affinity blocks a domain, soft anti-affinity prices it,
 * and the groupings whose delta depends on more than one domain (affinity, proximity, huge
 * anti-affinity groupings) are left to State.groupDelta, the definition.
 */
class Filter {
  private ep = 0;
  private readonly mark: Scoped<Int32Array>;
  private readonly pen: Scoped<Float64Array>;
  private scopes = 0;
  private slow: Int32Array;
  private nSlow = 0;
  /** Whether the prepared member's delta can be anything but 0 or INFEASIBLE (a soft term). */
  soft = false;
  /** Whether the prepared member has any term at all (else every spot's delta is 0). */
  any = false;
  constructor(private readonly state: State) {
    const p = state.p;
    const size = (s: number) => (p.nDom[s] as number) + p.nB + 1;
    this.mark = [new Int32Array(size(0)), new Int32Array(size(1)), new Int32Array(size(2))];
    this.pen = [new Float64Array(size(0)), new Float64Array(size(1)), new Float64Array(size(2))];
    this.slow = new Int32Array(8);
  }

  prepare(m: number): void {
    const state = this.state;
    const p = state.p;
    const ep = ++this.ep;
    this.scopes = 0;
    this.nSlow = 0;
    this.soft = false;
    const end = p.mgOff[m + 1] as number;
    for (let k = p.mgOff[m] as number; k < end; k++) {
      const gi = p.mgIdx[k] as number;
      const g = p.groups[gi] as CGroup;
      const st = state.gs[gi] as NonNullable<State["gs"][number]>;
      if (g.kind === "anti-affinity") {
        const full = st.full;
        if (full.length === 0) continue;
        if (!g.hard) this.soft = true;
        if (full.length > MAX_MARKED) {
          this.addSlow(gi);
          continue;
        }
        const s = g.s;
        const mark = this.mark[s] as Int32Array;
        const pen = this.pen[s] as Float64Array;
        const add = g.hard ? Number.POSITIVE_INFINITY : g.weight;
        this.scopes |= 1 << s;
        for (let i = 0; i < full.length; i++) {
          const d = full[i] as number;
          if (mark[d] !== ep) {
            mark[d] = ep;
            pen[d] = add;
          } else pen[d] = (pen[d] as number) + add;
        }
      } else if ((st.covers[st.covers.length - 1] as Cover).value() > 0) {
        // Nothing placed yet: any spot keeps it (cost 0, the hard bound holds).
        if (!(g.hard && g.kind === "affinity")) this.soft = true;
        this.addSlow(gi);
      }
    }
    this.any = this.scopes !== 0 || this.nSlow > 0;
  }

  private addSlow(gi: number): void {
    if (this.nSlow === this.slow.length) {
      const next = new Int32Array(this.slow.length * 2);
      next.set(this.slow);
      this.slow = next;
    }
    this.slow[this.nSlow++] = gi;
  }

  /** The soft-cost delta of m (the member prepared) on l, or INFEASIBLE; capacity not included. */
  delta(l: number): number {
    let d = 0;
    const sc = this.scopes;
    if (sc !== 0) {
      const p = this.state.p;
      const ep = this.ep;
      for (let s = 0; s < 3; s++) {
        if ((sc & (1 << s)) === 0) continue;
        const a = (p.anti[s] as Int32Array)[l] as number;
        if ((this.mark[s] as Int32Array)[a] === ep) d += (this.pen[s] as Float64Array)[a] as number;
      }
      if (d === Number.POSITIVE_INFINITY) return INFEASIBLE;
    }
    const slow = this.slow;
    for (let i = 0; i < this.nSlow; i++) {
      const x = this.state.groupDelta(slow[i] as number, l);
      if (x === INFEASIBLE) return INFEASIBLE;
      d += x;
    }
    return d;
  }
}

/** Free capacity summed per rack and zone, so a component leader can pick a domain its whole component fits. */
class DomainFree {
  readonly sums: [Float64Array, Float64Array, Float64Array];
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

/**
 * The order hosts are filled in by `pack`: most room first, room being what a host can take of
 * the cluster's total server demand in its tightest dimension. Ties keep host order.
 */
function packRank(p: Problem): Int32Array {
  const total = [0, 0, 0];
  for (let m = 0; m < p.nM; m++)
    if (!p.isVol[m]) for (let k = 0; k < 3; k++) total[k] = (total[k] as number) + (p.dem[m * 3 + k] as number);
  const score = new Float64Array(p.nH);
  let max = 0;
  for (let h = 0; h < p.nH; h++) {
    let v = Number.POSITIVE_INFINITY;
    for (let k = 0; k < 3; k++) {
      const t = total[k] as number;
      if (t > 0) v = Math.min(v, Math.max(0, p.free0[h * 3 + k] as number) / t);
    }
    if (!Number.isFinite(v)) v = 0;
    score[h] = v;
    max = Math.max(max, v);
  }
  // One numeric sort: the quantized room (high first) above the host index (low first).
  const keys = new Float64Array(p.nH);
  const Q = 2 ** 30;
  const H = 2 ** 21;
  for (let h = 0; h < p.nH; h++) {
    const q = max > 0 ? Math.floor(((score[h] as number) / max) * (Q - 1)) : 0;
    keys[h] = (Q - 1 - q) * H + h;
  }
  keys.sort();
  const order = new Int32Array(p.nH);
  for (let i = 0; i < p.nH; i++) order[i] = (keys[i] as number) % H;
  return order;
}

/** Candidate lists in scan order: host order for spread, fill order for pack. */
class Lists {
  readonly hosts: Int32Array;
  readonly backends: Int32Array;
  readonly zoneHosts: Int32Array[];
  /** pack: each host's position in the fill order. */
  readonly rank?: Int32Array;
  private readonly byDomain = new Map<number, Int32Array>();
  constructor(private readonly p: Problem) {
    this.backends = new Int32Array(p.nB);
    for (let j = 0; j < p.nB; j++) this.backends[j] = p.nH + j;
    if (p.strategy === "pack") {
      this.hosts = packRank(p);
      const rank = new Int32Array(p.nH);
      this.hosts.forEach((h, i) => {
        rank[h] = i;
      });
      this.rank = rank;
      const counts = new Int32Array(p.zones.length);
      for (let h = 0; h < p.nH; h++) counts[p.locZone[h] as number] = (counts[p.locZone[h] as number] as number) + 1;
      this.zoneHosts = p.zones.map((_, z) => new Int32Array(counts[z] as number));
      const fill = new Int32Array(p.zones.length);
      for (const h of this.hosts) {
        const z = p.locZone[h] as number;
        (this.zoneHosts[z] as Int32Array)[fill[z] as number] = h;
        fill[z] = (fill[z] as number) + 1;
      }
    } else {
      this.hosts = new Int32Array(p.nH);
      for (let i = 0; i < p.nH; i++) this.hosts[i] = i;
      this.zoneHosts = p.zones.map((_, z) => zoneHostList(p, z));
    }
  }
  /** The locations of a concrete s-domain (pack: in fill order). */
  domain(s: number, d: number): Int32Array {
    const list = domainLocations(this.p, s, d);
    const rank = this.rank;
    if (!rank || list.length < 2) return list;
    const key = d * 3 + s;
    let sorted = this.byDomain.get(key);
    if (!sorted) {
      const nH = this.p.nH;
      sorted = Int32Array.from(list).sort((a, b) =>
        a < nH && b < nH ? (rank[a] as number) - (rank[b] as number) : a - b,
      );
      this.byDomain.set(key, sorted);
    }
    return sorted;
  }
}

/**
 * How many feasible candidates a member compares: `soft` when its spots can differ in soft cost or
 * it leads a component, `plain` when they differ only in fit (Kubernetes scores a share of the
 * nodes the same way). Pack takes them in fill order, spread from a random start.
 */
export interface Sampling {
  soft: number;
  plain: number;
}

/** One greedy run's working state: the search state, the lists, the marks and the component demands. */
export class Greedy {
  readonly state: State;
  readonly p: Problem;
  readonly lists: Lists;
  private readonly filter: Filter;
  private readonly dom: DomainFree;
  /** Total server demand per hard affinity/proximity grouping: the leader's domain must hold it all. */
  private readonly groupDemand: Float64Array;
  /** Hard affinity/proximity groupings with two servers or more: their first member checks the whole fits. */
  private readonly leads: Uint8Array;
  private readonly pack: boolean;
  // The best candidate of the current scan.
  private bestL = -1;
  /** The best candidate's keys (k0, k1, k2) and delta; a typed array, so updates don't allocate. */
  private readonly best = new Float64Array(4);
  private found = 0;
  /** Whether the last narrowed list holds only hosts a server may take (no static check needed). */
  private clean = false;
  /** Candidates after the last narrowed list (a volume's zonal backends), scanned as if appended. */
  private tail: Int32Array = EMPTY;
  private readonly leaderGroups: number[] = [];
  private nLeader = 0;
  /** 1 / capacity per location and dimension (0 capacity counts as 1), for the best-fit score. */
  private readonly invCap: Float64Array;

  /** A seeded random value per location, breaking spread's ties. */
  private readonly tie: Float64Array;

  constructor(
    state: State,
    private readonly sampling: Sampling,
    seed: number,
    lists?: Lists,
  ) {
    this.state = state;
    const p = state.p;
    this.p = p;
    this.pack = p.strategy === "pack";
    this.lists = lists ?? new Lists(p);
    this.filter = new Filter(state);
    // An integer hash of (seed, location): the same seeded order as a generator, without boxing.
    this.tie = new Float64Array(p.nL);
    const s0 = Math.imul(seed ^ 0x2545f491, 0x9e3779b1);
    for (let l = 0; l < p.nL; l++) {
      let h = Math.imul(s0 ^ l, 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
      this.tie[l] = ((h ^ (h >>> 16)) >>> 0) / 4294967296;
    }
    this.invCap = new Float64Array(p.nL * 3);
    for (let i = 0; i < p.nL * 3; i++) this.invCap[i] = 1 / ((p.cap[i] as number) || 1);
    this.dom = new DomainFree(state);
    this.groupDemand = new Float64Array(p.groups.length * 3);
    this.leads = new Uint8Array(p.groups.length);
    p.groups.forEach((g, gi) => {
      if (!g.hard || g.kind === "anti-affinity") return;
      let servers = 0;
      for (const m of g.members) {
        if (p.isVol[m]) continue;
        servers++;
        for (let k = 0; k < 3; k++)
          this.groupDemand[gi * 3 + k] = (this.groupDemand[gi * 3 + k] as number) + (p.dem[m * 3 + k] as number);
      }
      // With one server, the domain that fits it fits the component: no leader check.
      this.leads[gi] = servers >= 2 ? 1 : 0;
    });
  }

  commit(m: number, l: number): void {
    this.state.place(m, l);
    this.dom.adjust(l, this.p.dem, m * 3, -1);
  }

  release(m: number): number {
    const l = this.state.loc[m] as number;
    this.state.unplace(m);
    this.dom.adjust(l, this.p.dem, m * 3, 1);
    return l;
  }

  /** Candidates narrowed by the hard affinity/proximity groupings that already chose a domain, else by zone pin. */
  private narrowed(m: number): Int32Array {
    const p = this.p;
    const state = this.state;
    let best: Int32Array | undefined;
    this.tail = EMPTY;
    const end = p.mgOff[m + 1] as number;
    for (let k = p.mgOff[m] as number; k < end; k++) {
      const gi = p.mgIdx[k] as number;
      const g = p.groups[gi] as CGroup;
      if (!g.hard || g.kind === "anti-affinity") continue;
      const cover = state.groupState(gi).covers[g.kind === "proximity" ? g.s : 0] as Cover;
      if (cover.value() === 0) continue;
      let list: Int32Array | undefined;
      let tail = EMPTY;
      const d = cover.anyConcrete();
      if (d >= 0) {
        list = this.lists.domain(g.s, d);
        // A volume may also go on a zonal backend of the domain's zone: it serves the domain.
        if (p.isVol[m] && g.s < 2) tail = zonalBackends(p, (p.domZone[g.s] as Int32Array)[d] as number);
      } else {
        const z = cover.anyWildZone();
        if (z >= 0) list = this.lists.domain(2, z);
      }
      if (list && (!best || list.length + tail.length < best.length + this.tail.length)) {
        best = list;
        this.tail = tail;
      }
    }
    this.clean = !best && !p.isVol[m];
    if (best) return best;
    this.tail = EMPTY;
    const z = p.pin[m] as number;
    if (z === -2 || (!p.isVol[m] && p.unknownFlavor[m])) return EMPTY;
    if (p.isVol[m]) return this.lists.backends;
    return z >= 0 ? (this.lists.zoneHosts[z] as Int32Array) : this.lists.hosts;
  }

  /** Small domains of m's soft groupings that already hold members: worth scanning in full. */
  private extras(m: number): Int32Array | undefined {
    const p = this.p;
    const state = this.state;
    let out: Int32Array | undefined;
    const end = p.mgOff[m + 1] as number;
    for (let k = p.mgOff[m] as number; k < end; k++) {
      const gi = p.mgIdx[k] as number;
      const g = p.groups[gi] as CGroup;
      if (g.kind === "anti-affinity" || (g.hard && g.kind === "affinity")) continue;
      const covers = state.groupState(gi).covers;
      // Affinity: its domain; proximity: the finest scope where it still has one domain.
      let s = -1;
      let d = -1;
      if (g.kind === "affinity") {
        s = g.s;
        d = (covers[0] as Cover).anyConcrete();
      } else {
        for (let r = 0; r < g.s; r++) {
          const c = covers[r] as Cover;
          if (c.value() === 1 && c.anyConcrete() >= 0) {
            s = r;
            d = c.anyConcrete();
            break;
          }
        }
      }
      if (d < 0) continue;
      const list = this.lists.domain(s, d);
      if (list.length > MAX_EXTRA || (out && out.length <= list.length)) continue;
      out = list;
    }
    return out;
  }

  private consider(m: number, l: number, check: boolean): void {
    const p = this.p;
    const state = this.state;
    if (check && !staticOk(p, m, l)) return;
    const free = state.free;
    const dem = p.dem;
    const i = l * 3;
    const j = m * 3;
    const vol = p.isVol[m] === 1;
    if (
      (free[i] as number) < (dem[j] as number) ||
      (!vol && ((free[i + 1] as number) < (dem[j + 1] as number) || (free[i + 2] as number) < (dem[j + 2] as number)))
    )
      return;
    const filter = this.filter;
    const delta = filter.any ? filter.delta(l) : 0;
    if (delta === INFEASIBLE) return;
    let leaderOk = true;
    const lg = this.leaderGroups;
    for (let x = 0; x < this.nLeader && leaderOk; x++) {
      const gi = lg[x] as number;
      const g = p.groups[gi] as CGroup;
      for (let k = 0; k < 3; k++) {
        if (this.dom.freeAt(g.s, l, k) < (this.groupDemand[gi * 3 + k] as number)) {
          leaderOk = false;
          break;
        }
      }
      // At host scope the host is the component's: each of its other servers must be allowed there
      // by its own hard anti-affinity groupings too.
      if (leaderOk && g.s === 0) leaderOk = this.hostTakesComponent(g, m, l);
    }
    this.found++;
    const inv = this.invCap;
    let left = ((free[i] as number) - (dem[j] as number)) * (inv[i] as number);
    if (!vol)
      left +=
        ((free[i + 1] as number) - (dem[j + 1] as number)) * (inv[i + 1] as number) +
        ((free[i + 2] as number) - (dem[j + 2] as number)) * (inv[i + 2] as number);
    const k0 = delta + (leaderOk ? 0 : LEADER_PENALTY);
    // A volume attached to a placed server: rather a backend serving that server's host (its own
    // host-local backend, or a zonal one) than another host's local backend.
    let far = 0;
    if (vol) {
      const s = p.attachedTo[m] as number;
      const h = p.locHost[l] as number;
      if (s >= 0 && h >= 0 && h !== state.loc[s]) far = 10;
    }
    let k1: number;
    let k2: number;
    if (this.pack) {
      // Fewest hosts: an open host before a new one; among open hosts the best fit, among new
      // ones the first in fill order (most room).
      const opens = !vol && (state.hostUse[l] as number) === 0;
      k1 = (opens ? 1 : 0) + far;
      k2 = opens ? ((this.lists.rank as Int32Array)[l] as number) : left;
    } else {
      // Best fit among the sample (the sample itself spreads), ties broken at random (a seeded
      // order of the locations, drawn once: a call per candidate would box its number).
      k1 = far + left + (this.tie[l] as number) * 1e-9;
      k2 = 0;
    }
    const b = this.best;
    const b0 = b[0] as number;
    const b1 = b[1] as number;
    const b2 = b[2] as number;
    if (
      this.bestL < 0 ||
      k0 < b0 ||
      (k0 === b0 && (k1 < b1 || (k1 === b1 && (k2 < b2 || (k2 === b2 && l < this.bestL)))))
    ) {
      this.bestL = l;
      b[0] = k0;
      b[1] = k1;
      b[2] = k2;
      b[3] = delta;
    }
  }

  private hostTakesComponent(g: CGroup, m: number, l: number): boolean {
    const p = this.p;
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

  /**
   * The best spot for m among its candidates (a sample from a random start for spread, the first
   * ones in fill order for pack), or -1. `only` replaces the candidate list (hard rules still hold).
   * Counts feasible candidates (Sampling); `only` is scanned in full.
   */
  choose(m: number, rng: Rng, only?: Int32Array): number {
    const p = this.p;
    const state = this.state;
    this.filter.prepare(m);
    this.nLeader = 0;
    if (!p.isVol[m]) {
      const end = p.mgOff[m + 1] as number;
      for (let k = p.mgOff[m] as number; k < end; k++) {
        const gi = p.mgIdx[k] as number;
        if (!this.leads[gi]) continue;
        if ((state.groupState(gi).covers[0] as Cover).value() === 0) this.leaderGroups[this.nLeader++] = gi;
      }
    }
    this.bestL = -1;
    this.found = 0;
    let list: Int32Array;
    let check = true;
    if (only) list = only;
    else {
      list = this.narrowed(m);
      check = !this.clean;
      const extra = this.filter.soft ? this.extras(m) : undefined;
      if (extra) for (let i = 0; i < extra.length; i++) this.consider(m, extra[i] as number, true);
      this.found = 0;
    }
    const want = only
      ? Number.POSITIVE_INFINITY
      : this.filter.soft || this.nLeader > 0
        ? this.sampling.soft
        : this.sampling.plain;
    const tail = only ? EMPTY : this.tail;
    const n1 = list.length;
    const n = n1 + tail.length;
    const start = !this.pack && n > want ? Math.floor(rng() * n) : 0;
    for (let i = start; i < n && this.found < want; i++)
      this.consider(m, (i < n1 ? list[i] : tail[i - n1]) as number, check);
    for (let i = 0; i < start && this.found < want; i++)
      this.consider(m, (i < n1 ? list[i] : tail[i - n1]) as number, check);
    return this.bestL;
  }

  /** The soft-cost delta of the last spot `choose` returned. */
  get chosenDelta(): number {
    return this.best[3] as number;
  }

  /** Places `order` one by one; the first member with no spot is returned (the others stay placed). */
  placeAll(order: Int32Array | number[], rng: Rng): number {
    const p = this.p;
    const state = this.state;
    for (let i = 0; i < order.length; i++) {
      const m = order[i] as number;
      if (state.loc[m] !== -1) continue;
      const cur = p.current[m] as number;
      if (cur >= 0 && staticOk(p, m, cur) && state.delta(m, cur) !== INFEASIBLE) {
        this.commit(m, cur);
        continue;
      }
      const l = this.choose(m, rng);
      if (l < 0) return m;
      this.commit(m, l);
    }
    return -1;
  }

  /**
   * Local improvement: members of soft groupings that cost something try one move each to a
   * cheaper feasible spot, for a couple of passes. Existing members stay put: a move would cost
   * more than any soft saving.
   */
  improve(rng: Rng): void {
    const p = this.p;
    const state = this.state;
    for (let pass = 0; pass < 2 && state.cost > 1e-9; pass++) {
      let improved = false;
      for (let m = 0; m < p.nM; m++) {
        if (p.current[m] !== -1 || state.loc[m] === -1) continue;
        let costly = false;
        const end = p.mgOff[m + 1] as number;
        for (let k = p.mgOff[m] as number; k < end && !costly; k++)
          if (state.groupState(p.mgIdx[k] as number).cost > 0) costly = true;
        if (!costly) continue;
        const old = this.release(m);
        const oldDelta = state.ruleDelta(m, old);
        const l = this.choose(m, rng);
        if (l >= 0 && l !== old && this.chosenDelta < oldDelta - 1e-9 && !this.leaderLost()) {
          this.commit(m, l);
          improved = true;
        } else this.commit(m, old);
      }
      if (!improved) break;
    }
  }

  private leaderLost(): boolean {
    return (this.best[0] as number) >= LEADER_PENALTY;
  }

  /** Members tied to `seed` by hard affinity or proximity (the set that has to move together). */
  closure(seed: ArrayLike<number>, limit: number): number[] | undefined {
    const p = this.p;
    const seen = new Set<number>();
    const seenGroup = new Set<number>();
    const out: number[] = [];
    for (let i = 0; i < seed.length; i++) {
      const m = seed[i] as number;
      if (!seen.has(m)) {
        seen.add(m);
        out.push(m);
      }
    }
    for (let i = 0; i < out.length; i++) {
      const m = out[i] as number;
      if (p.current[m] !== -1 || out.length > limit) return undefined;
      const end = p.mgOff[m + 1] as number;
      for (let k = p.mgOff[m] as number; k < end; k++) {
        const gi = p.mgIdx[k] as number;
        const g = p.groups[gi] as CGroup;
        if (!g.hard || g.kind === "anti-affinity" || seenGroup.has(gi)) continue;
        seenGroup.add(gi);
        for (const o of g.members) {
          if (!seen.has(o)) {
            seen.add(o);
            out.push(o);
          }
        }
      }
    }
    return out.length > limit ? undefined : out;
  }

  /**
   * Takes `set` out and places it again (`only` gives the candidates of some members); keeps the
   * result when it is better (moves, then soft cost, then for pack hosts), else puts everything back.
   */
  attempt(
    set: number[],
    rank: Int32Array,
    rng: Rng,
    only: (m: number) => Int32Array | undefined,
    better: (before: { moves: number; cost: number; hosts: number }) => boolean,
  ): boolean {
    const state = this.state;
    const before = { moves: state.moves, cost: state.cost, hosts: state.hostsUsed };
    const saved = set.map((m) => this.release(m));
    const order = [...set].sort((a, b) => (rank[a] as number) - (rank[b] as number));
    const placed: number[] = [];
    let ok = true;
    for (const m of order) {
      const l = this.choose(m, rng, only(m));
      if (l < 0 || this.leaderLost()) {
        ok = false;
        break;
      }
      this.commit(m, l);
      placed.push(m);
    }
    if (ok && better(before)) return true;
    for (const m of placed) this.release(m);
    set.forEach((m, i) => {
      this.commit(m, saved[i] as number);
    });
    return false;
  }

  /**
   * A soft affinity or proximity grouping that costs more than its lower bound tries to move,
   * with everything tied to it, into one domain at a finer scope (the domains it already uses
   * first, then the others with most room). Kept only when the total cost drops.
   */
  relocate(gi: number, rank: Int32Array, rng: Rng, lowerBound: number, maxDomains: number): boolean {
    const p = this.p;
    const state = this.state;
    const g = p.groups[gi] as CGroup;
    const set = this.closure(g.members, 256);
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
      for (const d of this.domainsToTry(g, r, maxDomains)) {
        const hosts = this.lists.domain(r, d);
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
        const done = this.attempt(
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
  private domainsToTry(g: CGroup, r: number, max: number): number[] {
    const p = this.p;
    const state = this.state;
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
    for (const d of this.roomOrder(r)) {
      if (out.length >= max) break;
      if (!seen.has(d)) out.push(d);
    }
    return out;
  }

  private readonly rooms: (Int32Array | undefined)[] = [undefined, undefined, undefined];
  /** The s-domains by free room (summed over their hosts, as a share of capacity), most first; computed once. */
  private roomOrder(s: number): Int32Array {
    const cached = this.rooms[s];
    if (cached) return cached;
    const p = this.p;
    const n = p.nDom[s] as number;
    const room = new Float64Array(n);
    for (let h = 0; h < p.nH; h++) {
      const d = (p.cover[s] as Int32Array)[h] as number;
      let v = 0;
      for (let k = 0; k < 3; k++)
        v += Math.max(0, this.state.free[h * 3 + k] as number) * (this.invCap[h * 3 + k] as number);
      room[d] = (room[d] as number) + v;
    }
    const order = Int32Array.from({ length: n }, (_, d) => d).sort(
      (a, b) => (room[b] as number) - (room[a] as number) || a - b,
    );
    this.rooms[s] = order;
    return order;
  }

  /**
   * pack: empties the least-used hosts into the other open ones, a host at a time with the
   * members tied to its servers, when that keeps every rule and costs nothing more.
   */
  consolidate(rank: Int32Array, rng: Rng, maxTries: number): void {
    const p = this.p;
    const state = this.state;
    const fillRank = this.lists.rank;
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
      const set = this.closure(onHost.get(h) as number[], 512);
      if (!set) {
        failed.add(h);
        continue;
      }
      const others = [...onHost.keys()]
        .filter((l) => l !== h)
        .sort((a, b) => (fillRank[a] as number) - (fillRank[b] as number));
      const open = Int32Array.from(others);
      const done = this.attempt(
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
}
