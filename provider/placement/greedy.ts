// The greedy side of search: members placed one by one, each on the best of its candidates. The
// filters prepared per member (greedy-filters.ts) make a candidate a few array reads; candidates
// are sampled from a random start (spread) or taken in fill order (pack, candidate-lists.ts); the
// first member of a grouping prefers a spot whose domain can hold all of it (leaders.ts). polish.ts
// improves the complete placement with the moves of whole sets defined here (closure, attempt).

import { Lists } from "./candidate-lists";
import { Filter } from "./greedy-filters";
import { LEADER_PENALTY, Leaders } from "./leaders";
import type { Rng } from "./prng";
import { type CGroup, type Problem, staticOk, zonalBackends } from "./problem";
import { type Cover, INFEASIBLE, type State } from "./search-state";

/** A soft grouping's domain is scanned in full as extra candidates when it is this small. */
const MAX_EXTRA = 256;
const EMPTY: Int32Array = new Int32Array(0);

/**
 * How many feasible candidates a member compares: `soft` when its spots can differ in soft cost or
 * it leads a grouping, `plain` when they differ only in fit (Kubernetes scores a share of the
 * nodes the same way). Pack takes them in fill order, spread from a random start.
 */
export interface Sampling {
  soft: number;
  plain: number;
}

/** One greedy run's working state: the search state, the candidate lists, the marks and the leaders. */
export class Greedy {
  readonly state: State;
  readonly p: Problem;
  readonly lists: Lists;
  private readonly filter: Filter;
  private readonly leaders: Leaders;
  /** Whether the member being placed leads a grouping (leaders.ts). */
  private leading = false;
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
    this.leaders = new Leaders(state);
  }

  commit(m: number, l: number): void {
    this.state.place(m, l);
    this.leaders.adjust(l, m, -1);
  }

  release(m: number): number {
    const l = this.state.loc[m] as number;
    this.state.unplace(m);
    this.leaders.adjust(l, m, 1);
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
      // Affinity: its domain; proximity: the widest domain below its bound that still holds all
      // of it and is small enough (it contains the finer ones: one member on a host, the rack
      // around it is scanned, so the second member finds room there).
      let list: Int32Array | undefined;
      if (g.kind === "affinity") {
        const d = (covers[0] as Cover).anyConcrete();
        if (d >= 0) list = this.lists.domain(g.s, d);
      } else {
        for (let r = g.s - 1; r >= 0 && !list; r--) {
          const c = covers[r] as Cover;
          if (c.value() !== 1) continue;
          const d = c.anyConcrete();
          if (d < 0) continue;
          const l = this.lists.domain(r, d);
          if (l.length <= MAX_EXTRA) list = l;
        }
      }
      if (!list || list.length > MAX_EXTRA || (out && out.length <= list.length)) continue;
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
    this.found++;
    const inv = p.invCap;
    let left = ((free[i] as number) - (dem[j] as number)) * (inv[i] as number);
    if (!vol)
      left +=
        ((free[i + 1] as number) - (dem[j + 1] as number)) * (inv[i + 1] as number) +
        ((free[i + 2] as number) - (dem[j + 2] as number)) * (inv[i + 2] as number);
    const k0 = this.leading ? delta + this.leaders.penalty(m, l) : delta;
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

  /**
   * The best spot for m among its candidates (a sample from a random start for spread, the first
   * ones in fill order for pack), or -1. `only` replaces the candidate list (hard rules still hold).
   * Counts feasible candidates (Sampling); `only` is scanned in full.
   */
  choose(m: number, rng: Rng, only?: Int32Array): number {
    this.filter.prepare(m);
    this.leading = this.leaders.prepare(m);
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
      // spread: a spot there at no extra cost can't be beaten on cost by the sample (a delta is
      // never negative); the sample would only find a closer fit. (A volume still compares the
      // sample: it may find a backend serving its server's host.)
      if (!this.pack && !this.p.isVol[m] && this.bestL >= 0 && this.best[0] === 0) return this.bestL;
      this.found = 0;
    }
    const want = only
      ? Number.POSITIVE_INFINITY
      : this.filter.soft || this.leading
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

  /** Whether the last `choose` left a component leader without a domain its component fits. */
  leaderLost(): boolean {
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
}
