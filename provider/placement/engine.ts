// The public entry points: place, evaluatePlacement, the explanation when nothing fits, and its rendering.

import type { ClusterSpec, Member } from "../model/cluster";
import type {
  Cause,
  Explanation,
  ForcedMove,
  Placement,
  PlacementInput,
  PlacementResult,
  SoftViolation,
} from "../model/placement";
import { record, sortRecord } from "../model/records";
import { cmp, quote } from "../model/text";
import type { Topology } from "../model/topology";
import { lowerBoundCausesOf, sortCauses } from "./bounds";
import { compile, withGroupings } from "./compile";
import { type CGroup, locPlacement, memberIndexOf, type Problem, scopeName, staticOk } from "./problem";
import { FITS, reasonAt, reasonCounts } from "./reasons";
import { isSmall, type SolveResult, solve } from "./search";
import { type Cover, State } from "./search-state";

export const DEFAULT_NODE_LIMIT = 200_000;

/** The phases of `place`, in order; `done` marks the end. */
export type PlacePhase = "compile" | "bounds" | "search" | "explain" | "done";

export interface PlaceOptions {
  nodeLimit?: number;
  /**
   * Called as each phase starts (and with "done" at the end), so a caller can time them; the
   * engine itself reads no clock. explain is building the answer: the placement record, soft
   * violations and moves, or the explanation.
   */
  onPhase?: (phase: PlacePhase) => void;
}

const DIM_NAMES = ["vcpus", "ramMb", "diskGb"] as const;

function memberName(p: Problem, m: number): string {
  return (p.members[m] as Member).name;
}

/** Soft violations of a complete state, one per grouping with a cost, sorted by grouping name. */
function softViolationsOf(state: State): SoftViolation[] {
  const p = state.p;
  const out: SoftViolation[] = [];
  p.groups.forEach((g, gi) => {
    const st = state.groupState(gi);
    if (st.cost <= 0) return;
    let ms = Array.from(g.members).filter((m) => state.loc[m] !== -1);
    if (g.kind === "anti-affinity") {
      ms = ms.filter((m) => st.counts.get((p.anti[g.s] as Int32Array)[state.loc[m] as number] as number) > g.maxPer);
    }
    out.push({ grouping: g.g.name, members: ms.map((m) => memberName(p, m)).sort(), weight: st.cost });
  });
  return out.sort((a, b) => cmp(a.grouping, b.grouping));
}

function placementOf(p: Problem, loc: Int32Array): Placement {
  const out: Placement = record();
  const names = p.members.map((m) => m.name);
  // By name; of two members with one name, the later one's spot is kept (as the record would).
  const order = Array.from({ length: p.nM }, (_, i) => i).sort(
    (a, b) => cmp(names[a] as string, names[b] as string) || a - b,
  );
  for (let i = 0; i < order.length; i++) {
    const m = order[i] as number;
    if ((loc[m] as number) >= 0) out[names[m] as string] = locPlacement(p, loc[m] as number);
  }
  return out;
}

function groupHint(g: CGroup): string {
  const name = quote(g.g.name);
  if (g.kind === "anti-affinity")
    return `relax ${name} to enforcement: soft, raise its maxPerDomain above ${g.maxPer}, or add hosts`;
  if (g.kind === "affinity") return `relax ${name} to enforcement: soft, or widen its scope beyond ${scopeName(g.s)}`;
  return `widen the scope of proximity grouping ${name} beyond ${scopeName(g.s)}`;
}

/** Deletion filtering over the hard groupings: drop each one that the rest stay unplaceable without. */
function conflictCause(p: Problem, input: PlacementInput, stuck: number | undefined, nodeLimit: number): Cause {
  const hard = p.groups.filter((g) => g.hard).sort((a, b) => cmp(a.g.name, b.g.name));
  const budget = Math.max(2_000, Math.floor(nodeLimit / (hard.length + 2)));
  const seed = input.seed ?? 0;
  // Sub-problems come from the compiled problem: the spec is not read again.
  const feasible = (names: string[]): boolean =>
    solve(withGroupings(p, new Set(names)), { seed, nodeLimit: budget, feasibilityOnly: true }).loc !== undefined;
  let kept: CGroup[];
  if (isSmall(p) && hard.length <= 40) {
    if (!feasible([])) {
      const servers = p.members
        .filter((m) => m.type === "server")
        .map((m) => m.name)
        .sort();
      return {
        code: "capacity_bin_packing",
        groupings: [],
        members: servers,
        message:
          "the members can't be packed onto the free capacity of the hosts and backends, even without any grouping",
        hint: "add hosts or backend capacity, or use smaller flavors and volumes",
      };
    }
    let names = hard.map((g) => g.g.name);
    for (const g of hard) {
      const without = names.filter((n) => n !== g.g.name);
      if (!feasible(without)) names = without;
    }
    kept = hard.filter((g) => names.includes(g.g.name));
  } else {
    kept = stuck === undefined ? hard : hard.filter((g) => g.members.includes(stuck));
  }
  const members = [...new Set(kept.flatMap((g) => Array.from(g.members, (m) => memberName(p, m))))].sort();
  const list = kept.map((g) => `${g.kind} grouping ${quote(g.g.name)} (${scopeName(g.s)})`);
  const what =
    list.length === 0
      ? "the hosts' free capacity"
      : `${list.length === 1 ? list[0] : `${list.slice(0, -1).join(", ")} and ${list[list.length - 1]}`} together with the hosts' free capacity`;
  return {
    code: "conflict",
    groupings: kept.map((g) => g.g.name),
    members,
    message: `${what} admit no placement`,
    hint: kept.length > 0 ? groupHint(kept[0] as CGroup) : "add hosts or use smaller flavors",
  };
}

function explain(
  input: PlacementInput,
  causes: Cause[],
  memberReasons: Record<string, Record<string, number>>,
  exhausted = false,
): PlacementResult {
  const sorted = sortCauses(causes);
  const first = sorted[0];
  const more = sorted.length > 1 ? ` (and ${sorted.length - 1} more cause${sorted.length > 2 ? "s" : ""})` : "";
  const why = first ? first.message : "no placement was found";
  const budget = exhausted ? " (search budget exhausted; the causes are the best found)" : "";
  const explanation: Explanation = {
    summary: `cluster ${quote(input.spec.name)} can't be placed: ${why}${more}${budget}`,
    causes: sorted,
    members: memberReasons,
  };
  return { placed: false, explanation };
}

export function place(input: PlacementInput, options?: PlaceOptions): PlacementResult {
  const nodeLimit = Math.max(1, options?.nodeLimit ?? DEFAULT_NODE_LIMIT);
  const phase = options?.onPhase ?? (() => {});
  phase("compile");
  const p = compile(input.spec, input.topology, input.current, input.currentIsCounted ?? true);
  phase("bounds");
  const bounds = lowerBoundCausesOf(p);
  if (bounds.length > 0) {
    phase("explain");
    const reasons: Record<string, Record<string, number>> = record();
    let state: State | undefined;
    for (const c of bounds) {
      if (c.code !== "member_fits_nowhere" && c.code !== "no_backend" && c.code !== "unknown_zone") continue;
      const m = memberIndexOf(p, c.members[0] as string);
      state ??= new State(p);
      if (m !== undefined) reasons[memberName(p, m)] = reasonCounts(state, m);
    }
    const out = explain(input, bounds, sortRecord(reasons));
    phase("done");
    return out;
  }
  phase("search");
  const r: SolveResult = solve(p, { seed: input.seed ?? 0, nodeLimit });
  phase("explain");
  if (!r.loc) {
    const reasons: Record<string, Record<string, number>> = record();
    if (r.stuck) reasons[memberName(p, r.stuck.member)] = r.stuck.reasons;
    const cause = conflictCause(p, input, r.stuck?.member, nodeLimit);
    const out = explain(input, [cause], reasons, r.exhausted);
    phase("done");
    return out;
  }
  let state = r.state;
  if (!state) {
    state = new State(p);
    for (let m = 0; m < p.nM; m++) state.place(m, r.loc[m] as number);
  }
  const softViolations = softViolationsOf(state);
  const out: PlacementResult = {
    placed: true,
    placement: placementOf(p, r.loc),
    softViolations,
    cost: softViolations.reduce((a, v) => a + v.weight, 0),
    moves: forcedMoves(p, r.loc, state),
  };
  phase("done");
  return out;
}

function forcedMoves(p: Problem, loc: Int32Array, state: State): ForcedMove[] {
  const out: ForcedMove[] = [];
  const mostFree = new Float64Array(3).fill(Number.NaN);
  for (let m = 0; m < p.nM; m++) {
    const from = p.current[m] as number;
    const to = loc[m] as number;
    if (from < 0 || from === to) continue;
    // Why the old spot can't hold it in the final placement (the member itself taken out).
    state.unplace(m);
    for (let k = 0; k < 3; k++) mostFree[k] = state.free[from * 3 + k] as number;
    const why = staticOk(p, m, from) ? reasonAt(state, m, from, mostFree) : "its old spot no longer matches its spec";
    state.place(m, to);
    out.push({
      member: memberName(p, m),
      from: locPlacement(p, from),
      to: locPlacement(p, to),
      reason: why
        ? `old spot ${quote(p.locName[from] as string)}: ${why}`
        : "moved so that hard rules and capacities hold for the other members",
    });
  }
  return out.sort((a, b) => (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
}

export interface HardViolation {
  grouping?: string;
  members: string[];
  message: string;
}

export function evaluatePlacement(
  spec: ClusterSpec,
  topology: Topology,
  placement: Placement,
  opts?: { currentIsCounted?: boolean; current?: Placement },
): { hardViolations: HardViolation[]; softViolations: SoftViolation[]; cost: number } {
  const p = compile(spec, topology, opts?.current, opts?.currentIsCounted ?? true);
  const state = new State(p);
  const hard: HardViolation[] = [];
  const locIdx = new Map(p.locName.map((n, i) => [n, i]));
  for (let m = 0; m < p.nM; m++) {
    const name = memberName(p, m);
    const at = Object.hasOwn(placement, name) ? placement[name] : undefined;
    if (!at) {
      hard.push({ members: [name], message: `${quote(name)} is not placed` });
      continue;
    }
    const l = at.type === "server" ? locIdx.get(at.host) : locIdx.get(at.backend);
    if (l === undefined || at.type !== p.members[m]?.type || (at.type === "server") !== l < p.nH) {
      const where = at.type === "server" ? at.host : at.backend;
      hard.push({
        members: [name],
        message: `${quote(name)} is placed on ${quote(where)}, which is not a ${p.isVol[m] ? "storage backend" : "host"} of the topology`,
      });
      continue;
    }
    if (!staticOk(p, m, l)) {
      const r = reasonAt(state, m, l, new Float64Array(3)) ?? "does not match its spec";
      hard.push({ members: [name], message: `${quote(name)} on ${quote(p.locName[l] as string)}: ${r}` });
    }
    state.place(m, l);
  }
  // Capacity: only locations holding members of this cluster can be this placement's fault.
  const holders = new Map<number, string[]>();
  for (let m = 0; m < p.nM; m++) {
    const l = state.loc[m] as number;
    if (l >= 0) holders.set(l, [...(holders.get(l) ?? []), memberName(p, m)]);
  }
  for (const [l, ms] of [...holders].sort((a, b) => a[0] - b[0])) {
    for (let k = 0; k < (l < p.nH ? 3 : 1); k++) {
      const f = state.free[l * 3 + k] as number;
      if (f < 0) {
        const what = l < p.nH ? DIM_NAMES[k] : "GB";
        hard.push({
          members: ms.sort(),
          message: `${l < p.nH ? "host" : "backend"} ${quote(p.locName[l] as string)} is over capacity by ${-f} ${what}`,
        });
      }
    }
  }
  p.groups.forEach((g, gi) => {
    if (!g.hard) return;
    const st = state.groupState(gi);
    const placed = Array.from(g.members).filter((m) => state.loc[m] !== -1);
    const names = placed.map((m) => memberName(p, m)).sort();
    const scope = scopeName(g.s);
    if (g.kind === "anti-affinity") {
      const over = placed.filter(
        (m) => st.counts.get((p.anti[g.s] as Int32Array)[state.loc[m] as number] as number) > g.maxPer,
      );
      if (over.length > 0)
        hard.push({
          grouping: g.g.name,
          members: over.map((m) => memberName(p, m)).sort(),
          message: `anti-affinity grouping ${quote(g.g.name)} has more than ${g.maxPer} per ${scope}`,
        });
      return;
    }
    const cover = st.covers[g.kind === "proximity" ? g.s : 0] as Cover;
    if (cover.value() > 1)
      hard.push({
        grouping: g.g.name,
        members: names,
        message: `${g.kind} grouping ${quote(g.g.name)} spans ${cover.value()} ${scope}s`,
      });
  });
  hard.sort((a, b) => (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
  const softViolations = softViolationsOf(state);
  return { hardViolations: hard, softViolations, cost: softViolations.reduce((a, v) => a + v.weight, 0) };
}

/** Summary, one line per cause with its hint, then `0/12 hosts fit "db-4": 3 ..., 9 ...` per member. */
export function formatExplanation(explanation: Explanation): string {
  const lines = [explanation.summary];
  for (const c of explanation.causes) lines.push(`  - ${c.message} (hint: ${c.hint})`);
  for (const member of Object.keys(explanation.members).sort()) {
    const reasons = explanation.members[member] ?? {};
    const keys = Object.keys(reasons);
    const total = keys.reduce((a, k) => a + (reasons[k] ?? 0), 0);
    const volume = keys.length > 0 && keys.every((k) => k.startsWith("backend: "));
    const fit = keys.filter((k) => k.endsWith(FITS)).reduce((a, k) => a + (reasons[k] ?? 0), 0);
    const parts = keys
      .filter((k) => !k.endsWith(FITS))
      .sort((a, b) => (reasons[b] ?? 0) - (reasons[a] ?? 0) || cmp(a, b))
      .map((k) => `${reasons[k]} ${volume ? k.slice("backend: ".length) : k}`);
    lines.push(
      `  ${fit}/${total} ${volume ? "backends" : "hosts"} fit ${quote(member)}${parts.length > 0 ? `: ${parts.join(", ")}` : ""}`,
    );
  }
  return lines.join("\n");
}
