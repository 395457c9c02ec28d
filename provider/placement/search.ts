// Search: the greedy (greedy.ts) for any size, then local improvement, relocation of costly soft
// groupings and, for pack, emptying hosts (polish.ts); on small instances a complete
// branch-and-bound (exact.ts) follows unless the greedy already meets the lower bound, so that a
// placement is found whenever one exists there and its cost (moves first, then soft cost, then for
// pack hosts) is minimal.

import { domainFloors, hostsFloor, staticFloors } from "./cost-bounds";
import { branchAndBound, type Incumbent, type Stuck } from "./exact";
import { Greedy, type Sampling } from "./greedy";
import { polish } from "./polish";
import { mulberry32 } from "./prng";
import { type CGroup, type Problem, staticOk } from "./problem";
import { reasonCounts } from "./reasons";
import { State } from "./search-state";

export type { Stuck } from "./exact";

export interface SolveOptions {
  seed: number;
  nodeLimit: number;
  /** Stop at the first placement (explanations only need yes/no). */
  feasibilityOnly?: boolean;
}

export interface SolveResult {
  loc?: Int32Array;
  cost: number;
  moves: number;
  /** The node budget ran out before the search finished (no proof of optimality or infeasibility). */
  exhausted: boolean;
  stuck?: Stuck;
  /** The search state holding exactly `loc`, when search ended on one (saves replaying it). */
  state?: State;
}

/** Small enough for the complete search: few members, and few member × location pairs to scan per node. */
export function isSmall(p: Problem): boolean {
  return p.nM <= 60 && p.nM * p.nL <= 6_000;
}

/** Feasible candidates a member compares (greedy.ts Sampling). */
function samplingOf(p: Problem): Sampling {
  if (p.strategy === "pack") return { soft: 32, plain: 8 };
  return p.nM <= 2_000 ? { soft: 128, plain: 32 } : { soft: 24, plain: 8 };
}

/**
 * Members most constrained first (existing, pinned, in more hard groupings, bigger; pack: bigger
 * first, as first-fit decreasing does); members tied by hard affinity/proximity kept together.
 */
export function memberOrder(p: Problem): Int32Array {
  const maxCap = p.capMax.map((c) => Math.max(1, c));
  const pack = p.strategy === "pack";
  // One small-integer key per member (flags, hard groupings and size, packed), then a counting
  // sort: there are few distinct keys, and members with equal keys keep their order.
  const SIZE = 2 ** 18;
  const key = new Int32Array(p.nM);
  const bucket = new Map<number, number>();
  const distinct: number[] = [];
  for (let m = 0; m < p.nM; m++) {
    let hc = 0;
    for (let k = p.mgOff[m] as number; k < (p.mgOff[m + 1] as number); k++)
      if ((p.groups[p.mgIdx[k] as number] as CGroup).hard) hc++;
    let s = 0;
    for (let k = 0; k < 3; k++) s = Math.max(s, (p.dem[m * 3 + k] as number) / (maxCap[k] as number));
    const flags = (p.current[m] !== -1 ? 2 : 0) + (p.pin[m] !== -1 ? 1 : 0);
    const q = Math.floor(Math.min(1, Math.max(0, s)) * (SIZE - 1));
    const h = Math.min(255, hc);
    const v = flags * 256 * SIZE + (pack ? q * 256 + h : h * SIZE + q);
    key[m] = v;
    if (!bucket.has(v)) {
      bucket.set(v, 0);
      distinct.push(v);
    }
  }
  distinct.sort((a, b) => b - a);
  const start = new Int32Array(distinct.length + 1);
  distinct.forEach((v, i) => {
    bucket.set(v, i);
  });
  const slot = new Int32Array(p.nM);
  for (let m = 0; m < p.nM; m++) {
    const b = bucket.get(key[m] as number) as number;
    slot[m] = b;
    start[b + 1] = (start[b + 1] as number) + 1;
  }
  for (let i = 0; i < distinct.length; i++) start[i + 1] = (start[i + 1] as number) + (start[i] as number);
  const rank = new Int32Array(p.nM);
  for (let m = 0; m < p.nM; m++) {
    const b = slot[m] as number;
    rank[start[b] as number] = m;
    start[b] = (start[b] as number) + 1;
  }
  const seen = new Uint8Array(p.nM);
  const seenGroup = new Uint8Array(p.groups.length);
  const order = new Int32Array(p.nM);
  let n = 0;
  for (let i = 0; i < p.nM; i++) {
    const start = rank[i] as number;
    if (seen[start]) continue;
    seen[start] = 1;
    let head = n;
    order[n++] = start;
    while (head < n) {
      const m = order[head++] as number;
      for (let k = p.mgOff[m] as number; k < (p.mgOff[m + 1] as number); k++) {
        const gi = p.mgIdx[k] as number;
        const g = p.groups[gi] as CGroup;
        if (!g.hard || g.kind === "anti-affinity" || seenGroup[gi]) continue;
        seenGroup[gi] = 1;
        for (const o of g.members) {
          if (!seen[o]) {
            seen[o] = 1;
            order[n++] = o;
          }
        }
      }
    }
  }
  return order;
}

function rankOf(order: Int32Array): Int32Array {
  const rank = new Int32Array(order.length);
  for (let i = 0; i < order.length; i++) rank[order[i] as number] = i;
  return rank;
}

interface GreedyOutcome {
  g: Greedy;
  stuck?: Stuck;
}

function runGreedy(p: Problem, order: Int32Array, seed: number, sampling: Sampling): GreedyOutcome {
  const g = new Greedy(new State(p), sampling, seed);
  const failed = g.placeAll(order, mulberry32(seed));
  if (failed < 0) return { g };
  return { g, stuck: { member: failed, reasons: reasonCounts(g.state, failed) } };
}

function incumbentOf(state: State): Incumbent {
  return { loc: Int32Array.from(state.loc), moves: state.moves, cost: state.cost, hosts: state.hostsUsed };
}

/** Greedy first, then improvement; on small instances the exact search improves on it or finds what it missed. */
export function solve(p: Problem, opts: SolveOptions): SolveResult {
  const order = memberOrder(p);
  const rank = rankOf(order);
  const pack = p.strategy === "pack";
  const small = isSmall(p);
  let run = runGreedy(p, order, opts.seed, samplingOf(p));
  if (run.stuck && !small && p.nM * p.nL <= 5_000_000) {
    const all = Number.POSITIVE_INFINITY;
    const full = runGreedy(p, order, opts.seed + 1, { soft: all, plain: all });
    if (!full.stuck) run = full;
  }
  const floors = opts.feasibilityOnly ? new Float64Array(p.groups.length) : staticFloors(p);
  if (!run.stuck && !opts.feasibilityOnly) polish(run.g, p, rank, opts.seed, floors);
  const g = run.g.state;
  const placed = !run.stuck;
  const result = (): SolveResult =>
    placed
      ? { loc: Int32Array.from(g.loc), cost: g.cost, moves: g.moves, exhausted: false, state: g }
      : { cost: 0, moves: 0, exhausted: false, ...(run.stuck ? { stuck: run.stuck } : {}) };
  if (!small) return result();
  if (placed && opts.feasibilityOnly) return result();
  // Raise the floors where the greedy pays more than them; meeting them proves the greedy optimal.
  let floorTotal = 0;
  const above: number[] = [];
  for (let gi = 0; gi < p.groups.length; gi++) {
    if (placed && (g.gs[gi]?.cost ?? 0) > (floors[gi] as number) + 1e-9) above.push(gi);
  }
  if (above.length > 0) domainFloors(p, floors, above, 20_000);
  for (const f of floors) floorTotal += f;
  const hostsLb = pack ? hostsFloor(p) : 0;
  if (placed && g.moves === 0 && g.cost <= floorTotal + 1e-9 && (!pack || g.hostsUsed <= hostsLb)) return result();
  let incumbent = placed ? incumbentOf(g) : undefined;
  let budget = opts.nodeLimit;
  const all = Array.from({ length: p.nM }, (_, i) => i);
  const cands = all.map((m) => {
    const list: number[] = [];
    for (let l = 0; l < p.nL; l++) if (staticOk(p, m, l)) list.push(l);
    return list;
  });
  let stuck = run.stuck;
  if (!incumbent) {
    // Tight instances are heavy-tailed for backtracking: short feasibility runs with other tie
    // orders (doubling budgets, half the total) find a first placement far more often than one long run.
    let firstStuck: Stuck | undefined;
    for (let i = 0, n = 1000; !incumbent && n <= budget / 2; i++, n *= 2) {
      const r = branchAndBound(new State(p), all, cands, rank, {
        seed: (opts.seed + i * 7919 + 1) >>> 0,
        nodeLimit: n,
        feasibilityOnly: true,
      });
      if (r.best) incumbent = r.best;
      else if (!r.exhausted) {
        return { cost: 0, moves: 0, exhausted: false, ...withStuck(r.stuck ?? stuck ?? firstStuck) };
      }
      firstStuck = firstStuck ?? r.stuck;
      budget -= n;
    }
    if (incumbent && opts.feasibilityOnly) return fromIncumbent(incumbent, false);
    if (!incumbent && !stuck && firstStuck) stuck = firstStuck;
  }
  // Moves and soft cost first, on the whole budget; then, for pack, fewer hosts at that cost on a
  // small one (bin packing proofs are long, and hosts are the last word of the objective).
  let d = { best: incumbent, exhausted: false, stuck: undefined as Stuck | undefined };
  const costProved = placed && g.moves === 0 && g.cost <= floorTotal + 1e-9;
  if (!costProved) {
    const r = branchAndBound(
      new State(p),
      all,
      cands,
      rank,
      { seed: opts.seed, nodeLimit: Math.max(1, budget), groupFloor: floors, target: { cost: floorTotal, hosts: 0 } },
      incumbent,
    );
    d = { best: r.best, exhausted: r.exhausted, stuck: r.stuck };
    budget -= r.nodes;
  }
  if (pack && d.best && d.best.hosts > hostsLb && !d.exhausted) {
    const r = branchAndBound(
      new State(p),
      all,
      cands,
      rank,
      {
        seed: opts.seed,
        nodeLimit: Math.max(1, Math.min(budget, PACK_NODES)),
        groupFloor: floors,
        target: { cost: d.best.cost, hosts: hostsLb },
        hosts: true,
      },
      d.best,
    );
    if (r.best) d.best = r.best;
  }
  if (d.best) return fromIncumbent(d.best, d.exhausted);
  return { cost: 0, moves: 0, exhausted: d.exhausted, ...withStuck(d.stuck ?? stuck) };
}

/** pack: the node budget for fewer hosts once moves and soft cost are settled. */
const PACK_NODES = 5_000;

function withStuck(stuck: Stuck | undefined): { stuck?: Stuck } {
  return stuck ? { stuck } : {};
}

function fromIncumbent(b: Incumbent, exhausted: boolean): SolveResult {
  return { loc: b.loc, cost: b.cost, moves: b.moves, exhausted };
}
