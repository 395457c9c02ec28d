// Search: a Kubernetes-style greedy (counts per domain, O(1) filters, sampled candidates) for any
// size, then a complete depth-first branch-and-bound on small instances, so that a placement is
// found whenever one exists there and its cost (moves first, then soft cost) is minimal.

import { mulberry32, type Rng } from "./prng";
import { type CGroup, type Problem, staticOk } from "./problem";
import { reasonCounts } from "./reasons";
import { type Cover, INFEASIBLE, State } from "./search-state";

export interface SolveOptions {
  seed: number;
  nodeLimit: number;
  /** Stop at the first placement (explanations only need yes/no). */
  feasibilityOnly?: boolean;
}

export interface Stuck {
  member: number;
  reasons: Record<string, number>;
}

export interface SolveResult {
  loc?: Int32Array;
  cost: number;
  moves: number;
  /** The node budget ran out before the search finished (no proof of optimality or infeasibility). */
  exhausted: boolean;
  stuck?: Stuck;
}

/** Small enough for the complete search. */
export function isSmall(p: Problem): boolean {
  return p.nM <= 60 && p.nL <= 96;
}

const SAMPLE = 128;

/** Members most constrained first; members tied by hard affinity/proximity kept together. */
export function memberOrder(p: Problem): number[] {
  const hardCount = new Int32Array(p.nM);
  const size = new Float64Array(p.nM);
  const maxCap = [1, 1, 1];
  for (let l = 0; l < p.nL; l++)
    for (let k = 0; k < 3; k++) maxCap[k] = Math.max(maxCap[k] as number, p.cap[l * 3 + k] as number);
  for (let m = 0; m < p.nM; m++) {
    for (const gi of p.memberGroups[m] as number[])
      if ((p.groups[gi] as CGroup).hard) hardCount[m] = (hardCount[m] as number) + 1;
    for (let k = 0; k < 3; k++)
      size[m] = Math.max(size[m] as number, (p.dem[m * 3 + k] as number) / (maxCap[k] as number));
  }
  const rank = Array.from({ length: p.nM }, (_, i) => i).sort(
    (a, b) =>
      Number(p.current[b] !== -1) - Number(p.current[a] !== -1) ||
      Number(p.pin[b] !== -1) - Number(p.pin[a] !== -1) ||
      (hardCount[b] as number) - (hardCount[a] as number) ||
      (size[b] as number) - (size[a] as number) ||
      a - b,
  );
  const seen = new Uint8Array(p.nM);
  const order: number[] = [];
  for (const start of rank) {
    if (seen[start]) continue;
    const queue = [start];
    seen[start] = 1;
    while (queue.length > 0) {
      const m = queue.shift() as number;
      order.push(m);
      for (const gi of p.memberGroups[m] as number[]) {
        const g = p.groups[gi] as CGroup;
        if (!g.hard || g.kind === "anti-affinity") continue;
        for (const o of g.members) {
          if (!seen[o]) {
            seen[o] = 1;
            queue.push(o);
          }
        }
      }
    }
  }
  return order;
}

/** Candidate list narrowed by hard affinity/proximity groupings that already chose a domain. */
function narrowed(state: State, m: number, all: { hosts: number[]; backends: number[] }): number[] {
  const p = state.p;
  let best: number[] | undefined;
  for (const gi of p.memberGroups[m] as number[]) {
    const g = p.groups[gi] as CGroup;
    if (!g.hard || g.kind === "anti-affinity") continue;
    const cover = state.groupState(gi).covers[g.kind === "proximity" ? g.s : 0] as Cover;
    let list: number[] | undefined;
    const d = cover.anyConcrete();
    if (d >= 0) {
      const inDom = (p.locsByDom[g.s] as number[][])[d] as number[];
      list =
        p.isVol[m] && g.s < 2
          ? [...inDom, ...(p.zonalByZone[(p.domZone[g.s] as Int32Array)[d] as number] ?? [])]
          : inDom;
    } else {
      const z = cover.anyWildZone();
      if (z >= 0) list = p.locsByDom[2][z] as number[];
    }
    if (list && (!best || list.length < best.length)) best = list;
  }
  if (best) return best;
  const z = p.pin[m] as number;
  if (z === -2) return [];
  if (p.isVol[m]) return all.backends;
  return z >= 0 ? (p.hostsByZone[z] as number[]) : all.hosts;
}

/** Free capacity summed per rack and zone, so a component leader can pick a domain its whole component fits. */
class DomainFree {
  readonly sums: [Float64Array, Float64Array, Float64Array];
  constructor(private readonly state: State) {
    const p = state.p;
    this.sums = [new Float64Array(0), new Float64Array(p.nDom[1] * 3), new Float64Array(p.nDom[2] * 3)];
    for (let h = 0; h < p.nH; h++) this.adjust(h, state.free, 0, 1);
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

export function greedy(p: Problem, order: number[], rng: Rng, sample: number): SolveResult {
  const state = new State(p);
  const all = {
    hosts: Array.from({ length: p.nH }, (_, i) => i),
    backends: Array.from({ length: p.nB }, (_, i) => p.nH + i),
  };
  const dom = new DomainFree(state);
  // Total server demand per hard affinity/proximity grouping: the leader's domain must hold it all.
  const groupDemand = p.groups.map((g) => {
    const d = [0, 0, 0];
    if (g.hard && g.kind !== "anti-affinity") {
      for (const m of g.members)
        if (!p.isVol[m]) for (let k = 0; k < 3; k++) d[k] = (d[k] as number) + (p.dem[m * 3 + k] as number);
    }
    return d;
  });
  const commit = (m: number, l: number) => {
    state.place(m, l);
    dom.adjust(l, p.dem, m * 3, -1);
  };
  for (const m of order) {
    const cur = p.current[m] as number;
    if (cur >= 0 && staticOk(p, m, cur) && state.delta(m, cur) !== INFEASIBLE) {
      commit(m, cur);
      continue;
    }
    const list = narrowed(state, m, all);
    const n = list.length;
    const start = n > sample ? Math.floor(rng() * n) : 0;
    let best = -1;
    let bestKey0 = Number.POSITIVE_INFINITY;
    let bestKey1 = Number.POSITIVE_INFINITY;
    let found = 0;
    for (let i = 0; i < n && found < sample; i++) {
      const l = list[(start + i) % n] as number;
      if (!staticOk(p, m, l)) continue;
      const delta = state.delta(m, l);
      if (delta === INFEASIBLE) continue;
      // A component leader needs a domain that can hold the whole component.
      let leaderOk = true;
      if (!p.isVol[m]) {
        for (const gi of p.memberGroups[m] as number[]) {
          const g = p.groups[gi] as CGroup;
          if (!g.hard || g.kind === "anti-affinity") continue;
          if ((state.groupState(gi).covers[0] as Cover).value() !== 0) continue;
          const need = groupDemand[gi] as number[];
          for (let k = 0; k < 3 && leaderOk; k++) if (dom.freeAt(g.s, l, k) < (need[k] as number)) leaderOk = false;
        }
      }
      found++;
      // Best fit: least capacity left over (normalized), so big members keep room elsewhere.
      let left = 0;
      const dims = p.isVol[m] ? 1 : 3;
      for (let k = 0; k < dims; k++) {
        const c = (p.cap[l * 3 + k] as number) || 1;
        left += ((state.free[l * 3 + k] as number) - (p.dem[m * 3 + k] as number)) / c;
      }
      const key0 = delta + (leaderOk ? 0 : 1e9);
      const key1 = left + rng() * 1e-9;
      if (key0 < bestKey0 || (key0 === bestKey0 && key1 < bestKey1)) {
        best = l;
        bestKey0 = key0;
        bestKey1 = key1;
      }
    }
    if (best < 0) return { cost: 0, moves: 0, exhausted: false, stuck: { member: m, reasons: reasonCounts(state, m) } };
    commit(m, best);
  }
  improve(state, all, rng, sample);
  return { loc: Int32Array.from(state.loc), cost: state.cost, moves: state.moves, exhausted: false };
}

/**
 * Cheap local improvement after the greedy: members of soft groupings that cost something try
 * one move each to a cheaper feasible spot (sampled like the greedy), for a couple of passes.
 * Existing members stay put: a move would cost more than any soft saving.
 */
function improve(state: State, all: { hosts: number[]; backends: number[] }, rng: Rng, sample: number): void {
  const p = state.p;
  for (let pass = 0; pass < 2 && state.cost > 1e-9; pass++) {
    let improved = false;
    for (let m = 0; m < p.nM; m++) {
      if (p.current[m] !== -1) continue;
      const gis = p.memberGroups[m] as number[];
      if (!gis.some((gi) => state.groupState(gi).cost > 0)) continue;
      const old = state.loc[m] as number;
      state.unplace(m);
      let best = old;
      let bestDelta = state.delta(m, old);
      const list = narrowed(state, m, all);
      const n = list.length;
      const start = n > sample ? Math.floor(rng() * n) : 0;
      for (let i = 0, found = 0; i < n && found < sample; i++) {
        const l = list[(start + i) % n] as number;
        if (l === old || !staticOk(p, m, l)) continue;
        const d = state.delta(m, l);
        if (d === INFEASIBLE) continue;
        found++;
        if (d < bestDelta - 1e-9) {
          best = l;
          bestDelta = d;
        }
      }
      state.place(m, best);
      if (best !== old) improved = true;
    }
    if (!improved) break;
  }
}

/** Signature of a location for symmetry breaking: same rack, same free capacity, same local backends, nothing current. */
function locationSignatures(p: Problem): { sig: string[]; bundle: Int32Array } {
  const bundle = new Int32Array(p.nL);
  const localOf: number[][] = Array.from({ length: p.nH }, () => []);
  const hasCurrent = new Uint8Array(p.nL);
  for (let m = 0; m < p.nM; m++) if ((p.current[m] as number) >= 0) hasCurrent[p.current[m] as number] = 1;
  for (let l = 0; l < p.nL; l++) {
    const h = p.locHost[l] as number;
    bundle[l] = h >= 0 ? h : l;
    if (l >= p.nH && h >= 0) (localOf[h] as number[]).push(l);
  }
  const free = (l: number) => `${p.free0[l * 3]},${p.free0[l * 3 + 1]},${p.free0[l * 3 + 2]}`;
  const types = (l: number) => [...(p.backendTypes[l - p.nH] ?? ["*"])].sort().join("|");
  const hostSig: string[] = [];
  for (let h = 0; h < p.nH; h++) {
    const locals = localOf[h] as number[];
    const unique = hasCurrent[h] || locals.some((l) => hasCurrent[l]);
    hostSig.push(
      unique
        ? `u${h}`
        : `r${(p.cover[1] as Int32Array)[h]}:${free(h)}:${locals.map((l) => `${free(l)}/${types(l)}`).join(";")}`,
    );
  }
  const sig: string[] = [];
  for (let l = 0; l < p.nL; l++) {
    const h = p.locHost[l] as number;
    if (l < p.nH) sig.push(`h:${hostSig[l]}`);
    else if (h >= 0) sig.push(`b${(localOf[h] as number[]).indexOf(l)}:${hostSig[h]}`);
    else sig.push(hasCurrent[l] ? `u${l}` : `z${p.locZone[l]}:${free(l)}:${types(l)}`);
  }
  return { sig, bundle };
}

/** Complete depth-first branch-and-bound with fail-first member choice and symmetry breaking. */
export function dfs(p: Problem, opts: SolveOptions, incumbent?: SolveResult): SolveResult {
  const state = new State(p);
  const rng = mulberry32(opts.seed ^ 0x9e3779b9);
  const tie = Float64Array.from({ length: p.nL }, () => rng());
  const { sig, bundle } = locationSignatures(p);
  const inBundle = new Int32Array(p.nL);
  const rank = new Int32Array(p.nM);
  memberOrder(p).forEach((m, i) => {
    rank[m] = i;
  });
  const cands: number[][] = [];
  for (let m = 0; m < p.nM; m++) {
    const list: number[] = [];
    for (let l = 0; l < p.nL; l++) if (staticOk(p, m, l)) list.push(l);
    cands.push(list);
  }
  let bestLoc = incumbent?.loc ? Int32Array.from(incumbent.loc) : undefined;
  let bestMoves = incumbent?.loc ? incumbent.moves : Number.POSITIVE_INFINITY;
  let bestCost = incumbent?.loc ? incumbent.cost : Number.POSITIVE_INFINITY;
  let nodes = 0;
  let evals = 0;
  let exhausted = false;
  let done = false;
  let deepest = -1;
  let stuck: Stuck | undefined;
  const unplaced = new Set<number>(Array.from({ length: p.nM }, (_, i) => i));
  const maxGroups = Math.max(1, ...p.memberGroups.map((g) => g.length));
  const share = new Float64Array(maxGroups);
  const minShare = new Float64Array(maxGroups);
  const extra = new Float64Array(p.groups.length);
  const costly = Uint8Array.from({ length: p.nM }, (_, m) =>
    p.current[m] !== -1 ||
    (p.memberGroups[m] as number[]).some((gi) => {
      const g = p.groups[gi] as CGroup;
      return !g.hard || g.kind === "proximity";
    })
      ? 1
      : 0,
  );
  let leaves = 0;

  const worse = (moves: number, cost: number) => moves > bestMoves || (moves === bestMoves && cost >= bestCost - 1e-9);

  const visit = (depth: number): void => {
    if (done) return;
    // Nodes are the budget; the member scans inside a node are capped too, so wide nodes can't hang.
    if (++nodes > opts.nodeLimit || evals > opts.nodeLimit * 50) {
      exhausted = true;
      done = true;
      return;
    }
    if (unplaced.size === 0) {
      leaves++;
      if (!bestLoc || !worse(state.moves, state.cost)) {
        bestLoc = Int32Array.from(state.loc);
        bestMoves = state.moves;
        bestCost = state.cost;
      }
      if (opts.feasibilityOnly || (bestMoves === 0 && bestCost <= 1e-9)) done = true;
      return;
    }
    // Fail first: the unplaced member with the fewest feasible spots. The same scan gives a lower
    // bound: grouping costs only grow, so each soft grouping will cost at least its cheapest next
    // step (the sum over members for anti-affinity, whose increments add up; the max otherwise),
    // and an existing member whose spot is no longer feasible will have to move.
    let pick = -1;
    let pickKey = 0;
    let pickList: { l: number; move: number; delta: number }[] = [];
    extra.fill(0);
    let forcedMoves = 0;
    for (const m of unplaced) {
      const list: { l: number; move: number; delta: number }[] = [];
      const gis = p.memberGroups[m] as number[];
      minShare.fill(Number.POSITIVE_INFINITY, 0, gis.length);
      let curOk = false;
      evals += (cands[m] as number[]).length;
      for (const l of cands[m] as number[]) {
        const delta = state.delta(m, l, share);
        if (delta === INFEASIBLE) continue;
        for (let i = 0; i < gis.length; i++) minShare[i] = Math.min(minShare[i] as number, share[i] as number);
        const move = p.current[m] !== -1 && p.current[m] !== l ? 1 : 0;
        if (p.current[m] === l) curOk = true;
        list.push({ l, move, delta });
      }
      if (list.length > 0) {
        if (p.current[m] !== -1 && !curOk) forcedMoves++;
        for (let i = 0; i < gis.length; i++) {
          const gi = gis[i] as number;
          const v = Math.max(0, minShare[i] as number);
          extra[gi] =
            (p.groups[gi] as CGroup).kind === "anti-affinity"
              ? (extra[gi] as number) + v
              : Math.max(extra[gi] as number, v);
        }
      }
      // Forced members first, then those that can still change the cost, fewest spots first;
      // cost-neutral members go last, where the first completion ends the subtree.
      const key = list.length === 0 ? -1 : (list.length === 1 ? 0 : 2) + (costly[m] ? 0 : 1);
      if (
        pick < 0 ||
        key < pickKey ||
        (key === pickKey &&
          (list.length < pickList.length ||
            (list.length === pickList.length && (rank[m] as number) < (rank[pick] as number))))
      ) {
        pickKey = key;
        pick = m;
        pickList = list;
        if (list.length === 0) break;
      }
    }
    if (pickList.length > 0) {
      let bound = state.cost;
      for (let gi = 0; gi < extra.length; gi++) bound += extra[gi] as number;
      if (worse(state.moves + forcedMoves, bound)) return;
    }
    if (pickList.length === 0) {
      if (depth > deepest) {
        deepest = depth;
        stuck = { member: pick, reasons: reasonCounts(state, pick) };
      }
      return;
    }
    pickList.sort((a, b) => a.move - b.move || a.delta - b.delta || (tie[a.l] as number) - (tie[b.l] as number));
    const seen = new Set<string>();
    // When no member left can change the cost (no soft grouping, no spot to keep), the first
    // completion of this subtree is as good as any other.
    let costFixed = true;
    for (const m of unplaced) if (costly[m]) costFixed = false;
    const leavesBefore = leaves;
    unplaced.delete(pick);
    for (const c of pickList) {
      if (costFixed && leaves > leavesBefore) break;
      if (done) break;
      if (worse(state.moves + c.move, state.cost + c.delta)) continue;
      if (inBundle[bundle[c.l] as number] === 0) {
        const key = sig[c.l] as string;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      state.place(pick, c.l);
      const b = bundle[c.l] as number;
      inBundle[b] = (inBundle[b] as number) + 1;
      visit(depth + 1);
      inBundle[b] = (inBundle[b] as number) - 1;
      state.unplace(pick);
    }
    unplaced.add(pick);
  };
  visit(0);
  const result: SolveResult = {
    cost: bestLoc ? bestCost : 0,
    moves: bestLoc ? bestMoves : 0,
    exhausted,
  };
  if (bestLoc) result.loc = bestLoc;
  if (stuck) result.stuck = stuck;
  return result;
}

/** Greedy first; on small instances the exact search improves on it or finds what it missed. */
export function solve(p: Problem, opts: SolveOptions): SolveResult {
  const order = memberOrder(p);
  const rng = mulberry32(opts.seed);
  let g = greedy(p, order, rng, SAMPLE);
  if (!g.loc && !isSmall(p) && p.nM * p.nL <= 5_000_000) {
    const full = greedy(p, order, mulberry32(opts.seed + 1), Number.POSITIVE_INFINITY);
    if (full.loc) g = full;
  }
  if (!isSmall(p)) return g;
  if (g.loc && (opts.feasibilityOnly || (g.moves === 0 && g.cost <= 1e-9))) return g;
  let incumbent = g.loc ? g : undefined;
  let budget = opts.nodeLimit;
  if (!incumbent) {
    // Tight instances are heavy-tailed for backtracking: short feasibility runs with other tie
    // orders (doubling budgets, half the total) find a first placement far more often than one long run.
    let stuck: Stuck | undefined;
    for (let i = 0, run = 1000; !incumbent && run <= budget / 2; i++, run *= 2) {
      const r = dfs(p, { seed: (opts.seed + i * 7919 + 1) >>> 0, nodeLimit: run, feasibilityOnly: true });
      if (r.loc) incumbent = r;
      else if (!r.exhausted) return { ...r, stuck: r.stuck ?? g.stuck ?? stuck };
      stuck = stuck ?? r.stuck;
      budget -= run;
    }
    if (incumbent && opts.feasibilityOnly) return incumbent;
    if (!incumbent && !g.stuck && stuck) g.stuck = stuck;
  }
  const d = dfs(p, { ...opts, nodeLimit: Math.max(1, budget) }, incumbent);
  if (!d.loc && g.stuck && !d.stuck) d.stuck = g.stuck;
  return d;
}
