// The complete search: depth-first branch-and-bound over the members left free in a state (all of
// them for a whole instance, or a small set with the rest fixed), fail-first member choice, a lower
// bound per soft grouping, and symmetry breaking over interchangeable empty locations. The
// objective is lexicographic: moves of existing members, then soft cost, then (pack) hosts used.
// Spot order prefers open hosts for pack even when hosts don't count, so the first completions pack.

import { mulberry32 } from "./prng";
import type { CGroup, Problem } from "./problem";
import { reasonCounts } from "./reasons";
import { INFEASIBLE, type State } from "./search-state";

export interface Stuck {
  member: number;
  reasons: Record<string, number>;
}

export interface ExactOptions {
  seed: number;
  nodeLimit: number;
  /** Stop at the first placement (explanations only need yes/no). */
  feasibilityOnly?: boolean;
  /** Per grouping, a lower bound on its final soft cost (its cost can only grow as members are added). */
  groupFloor?: Float64Array;
  /** Stop once a placement reaches this (moves 0, this cost, and when `hosts` counts, this many hosts). */
  target?: { cost: number; hosts: number };
  /** Fewer hosts breaks ties of moves and soft cost (pack). */
  hosts?: boolean;
}

export interface Incumbent {
  loc: Int32Array;
  moves: number;
  cost: number;
  hosts: number;
}

export interface ExactResult {
  best?: Incumbent;
  /** The node budget ran out before the search finished (no proof of optimality or infeasibility). */
  exhausted: boolean;
  stuck?: Stuck;
  nodes: number;
}

/** Signature of a location for symmetry breaking: same rack, same free capacity, same local backends, nothing placed or current. */
function locationSignatures(state: State): { sig: string[]; bundle: Int32Array } {
  const p = state.p;
  const bundle = new Int32Array(p.nL);
  const localOf: number[][] = Array.from({ length: p.nH }, () => []);
  const taken = new Uint8Array(p.nL);
  for (let m = 0; m < p.nM; m++) {
    if ((p.current[m] as number) >= 0) taken[p.current[m] as number] = 1;
    if ((state.loc[m] as number) >= 0) taken[state.loc[m] as number] = 1;
  }
  for (let l = 0; l < p.nL; l++) {
    const h = p.locHost[l] as number;
    bundle[l] = h >= 0 ? h : l;
    if (l >= p.nH && h >= 0) (localOf[h] as number[]).push(l);
  }
  const free = (l: number) => `${state.free[l * 3]},${state.free[l * 3 + 1]},${state.free[l * 3 + 2]}`;
  const types = (l: number) => [...(p.backendTypes[l - p.nH] ?? ["*"])].sort().join("|");
  const hostSig: string[] = [];
  for (let h = 0; h < p.nH; h++) {
    const locals = localOf[h] as number[];
    const unique = taken[h] || locals.some((l) => taken[l]);
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
    else sig.push(taken[l] ? `u${l}` : `z${p.locZone[l]}:${free(l)}:${types(l)}`);
  }
  return { sig, bundle };
}

interface Spot {
  l: number;
  move: number;
  delta: number;
  opens: number;
}

/**
 * Searches placements of `free` (unplaced in `state`) among their candidates `cands[i]`, the rest
 * of the state fixed. The state is left as it was found.
 * The objective is lexicographic: moves of existing members, soft cost, then (opts.hosts) hosts used.
 */
export function branchAndBound(
  state: State,
  free: number[],
  cands: ArrayLike<number>[],
  rank: Int32Array,
  opts: ExactOptions,
  incumbent?: Incumbent,
): ExactResult {
  const p: Problem = state.p;
  const pack = opts.hosts === true;
  const packing = p.strategy === "pack";
  const rng = mulberry32(opts.seed ^ 0x9e3779b9);
  const tie = Float64Array.from({ length: p.nL }, () => rng());
  const { sig, bundle } = locationSignatures(state);
  const inBundle = new Int32Array(p.nL);
  const candOf = new Map<number, ArrayLike<number>>();
  free.forEach((m, i) => {
    candOf.set(m, cands[i] as ArrayLike<number>);
  });
  let best: Incumbent | undefined = incumbent ? { ...incumbent, loc: Int32Array.from(incumbent.loc) } : undefined;
  let nodes = 0;
  let evals = 0;
  let exhausted = false;
  let done = false;
  let deepest = -1;
  let stuck: Stuck | undefined;
  const unplaced = new Set<number>(free);
  let maxGroups = 1;
  for (const m of free) maxGroups = Math.max(maxGroups, (p.mgOff[m + 1] as number) - (p.mgOff[m] as number));
  const share = new Float64Array(maxGroups);
  const minShare = new Float64Array(maxGroups);
  const extra = new Float64Array(p.groups.length);
  const floor = opts.groupFloor;
  const costly = new Uint8Array(p.nM);
  for (const m of free) {
    let c = p.current[m] !== -1;
    for (let k = p.mgOff[m] as number; k < (p.mgOff[m + 1] as number) && !c; k++) {
      const g = p.groups[p.mgIdx[k] as number] as CGroup;
      if (!g.hard || g.kind === "proximity") c = true;
    }
    costly[m] = c ? 1 : 0;
  }
  let leaves = 0;

  const worse = (moves: number, cost: number, hosts: number) => {
    if (!best) return false;
    if (moves !== best.moves) return moves > best.moves;
    if (Math.abs(cost - best.cost) > 1e-9) return cost > best.cost;
    return !pack || hosts >= best.hosts;
  };
  const reachedTarget = () => {
    if (!best) return false;
    if (opts.feasibilityOnly) return true;
    const t = opts.target;
    const cost = t ? t.cost : 0;
    return best.moves === 0 && best.cost <= cost + 1e-9 && (!pack || best.hosts <= (t ? t.hosts : 0));
  };

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
      if (!best || !worse(state.moves, state.cost, state.hostsUsed)) {
        best = { loc: Int32Array.from(state.loc), moves: state.moves, cost: state.cost, hosts: state.hostsUsed };
      }
      if (reachedTarget()) done = true;
      return;
    }
    // Fail first: the unplaced member with the fewest feasible spots. The same scan gives a lower
    // bound: grouping costs only grow, so each soft grouping will cost at least its cheapest next
    // step (the sum over members for anti-affinity, whose increments add up; the max otherwise),
    // and an existing member whose spot is no longer feasible will have to move.
    let pick = -1;
    let pickKey = 0;
    let pickCount = 0;
    extra.fill(0);
    let forcedMoves = 0;
    for (const m of unplaced) {
      let count = 0;
      const g0 = p.mgOff[m] as number;
      const nG = (p.mgOff[m + 1] as number) - g0;
      minShare.fill(Number.POSITIVE_INFINITY, 0, nG);
      let curOk = false;
      const cs = candOf.get(m) as ArrayLike<number>;
      evals += cs.length;
      for (let c = 0; c < cs.length; c++) {
        const l = cs[c] as number;
        const delta = state.delta(m, l, share);
        if (delta === INFEASIBLE) continue;
        for (let i = 0; i < nG; i++) minShare[i] = Math.min(minShare[i] as number, share[i] as number);
        if (p.current[m] === l) curOk = true;
        count++;
      }
      if (count > 0) {
        if (p.current[m] !== -1 && !curOk) forcedMoves++;
        for (let i = 0; i < nG; i++) {
          const gi = p.mgIdx[g0 + i] as number;
          const v = Math.max(0, minShare[i] as number);
          extra[gi] =
            (p.groups[gi] as CGroup).kind === "anti-affinity"
              ? (extra[gi] as number) + v
              : Math.max(extra[gi] as number, v);
        }
      }
      // Forced members first, then those that can still change the cost, fewest spots first;
      // cost-neutral members go last, where the first completion ends the subtree.
      const key = count === 0 ? -1 : (count === 1 ? 0 : 2) + (costly[m] ? 0 : 1);
      if (
        pick < 0 ||
        key < pickKey ||
        (key === pickKey &&
          (count < pickCount || (count === pickCount && (rank[m] as number) < (rank[pick] as number))))
      ) {
        pickKey = key;
        pick = m;
        pickCount = count;
        if (count === 0) break;
      }
    }
    if (pickCount > 0) {
      let bound = state.cost;
      for (let gi = 0; gi < extra.length; gi++) {
        let e = extra[gi] as number;
        if (floor) e = Math.max(e, (floor[gi] as number) - (state.gs[gi]?.cost ?? 0));
        bound += e;
      }
      if (worse(state.moves + forcedMoves, bound, state.hostsUsed)) return;
    }
    if (pickCount === 0) {
      if (depth > deepest) {
        deepest = depth;
        stuck = { member: pick, reasons: reasonCounts(state, pick) };
      }
      return;
    }
    // The picked member's spots (only its list is built: the scan above just counted).
    const pickList: Spot[] = [];
    const pcs = candOf.get(pick) as ArrayLike<number>;
    for (let c = 0; c < pcs.length; c++) {
      const l = pcs[c] as number;
      const delta = state.delta(pick, l);
      if (delta === INFEASIBLE) continue;
      const move = p.current[pick] !== -1 && p.current[pick] !== l ? 1 : 0;
      pickList.push({ l, move, delta, opens: packing && l < p.nH && state.hostUse[l] === 0 ? 1 : 0 });
    }
    pickList.sort(
      (a, b) =>
        a.move - b.move || a.delta - b.delta || a.opens - b.opens || (tie[a.l] as number) - (tie[b.l] as number),
    );
    const seen = new Set<string>();
    // When no member left can change the cost (no soft grouping, no spot to keep) and hosts don't
    // count, the first completion of this subtree is as good as any other.
    let costFixed = !pack;
    if (costFixed) for (const m of unplaced) if (costly[m]) costFixed = false;
    const leavesBefore = leaves;
    unplaced.delete(pick);
    for (const c of pickList) {
      if (costFixed && leaves > leavesBefore) break;
      if (done) break;
      if (worse(state.moves + c.move, state.cost + c.delta, state.hostsUsed + c.opens)) continue;
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
  if (!(best && reachedTarget() && !opts.feasibilityOnly)) visit(0);
  const out: ExactResult = { exhausted, nodes };
  if (best) out.best = best;
  if (stuck) out.stuck = stuck;
  return out;
}
