// Why a location can't take a member, as Kubernetes-style reason strings, each location counted
// once under its first failing filter (fixed order: zone pin, volume type, capacity, rules by name).

import type { Member } from "../model/cluster";
import { cmp } from "../model/text";
import { type CGroup, type Problem, scopeName } from "./problem";
import type { Cover, State } from "./search-state";

/** A location that passes every filter now, but the rest could not be placed around it. */
export const FITS = "fits, but the other members can't be placed around it";

const DIM_NAMES = ["vcpus", "ramMb", "diskGb"] as const;
const PLACEHOLDER = (k: number) => `\u0000${k}\u0000`;
const most = (mostFree: Float64Array, k: number) => (Number.isNaN(mostFree[k]) ? PLACEHOLDER(k) : String(mostFree[k]));

/**
 * The first failing filter for m on l. Capacity reasons quote `mostFree[k]`; pass NaN to get a
 * placeholder that reasonCounts fills in with the most any failing location has free.
 */
export function reasonAt(state: State, m: number, l: number, mostFree: Float64Array): string | undefined {
  const p = state.p;
  const member = p.members[m] as Member;
  if (!p.isVol[m] && p.unknownFlavor[m]) return `flavor "${(member as { flavorRef: string }).flavorRef}" is unknown`;
  const z = p.pin[m] as number;
  if (z !== -1 && p.locZone[l] !== z) return `not in pinned zone "${member.zone}"`;
  if (p.isVol[m]) {
    const types = p.backendTypes[l - p.nH];
    const vt = member.type === "volume" ? member.volumeType : undefined;
    if (types && vt !== undefined && !types.has(vt)) return `doesn't serve volume type "${vt}"`;
    if ((state.free[l * 3] as number) < (p.dem[m * 3] as number))
      return `insufficient capacity (need ${p.dem[m * 3]} GB, most free ${most(mostFree, 0)} GB)`;
  } else {
    for (let k = 0; k < 3; k++) {
      if ((state.free[l * 3 + k] as number) < (p.dem[m * 3 + k] as number))
        return `insufficient ${DIM_NAMES[k]} (need ${p.dem[m * 3 + k]}, most free ${most(mostFree, k)})`;
    }
  }
  for (const gi of hardGroupsByName(p, m)) {
    const g = p.groups[gi] as CGroup;
    const st = state.groupState(gi);
    const scope = scopeName(g.s);
    if (g.kind === "anti-affinity") {
      const n = st.counts.get((p.anti[g.s] as Int32Array)[l] as number);
      if (n >= g.maxPer) {
        const who = g.maxPer === 1 ? "a member" : `${g.maxPer} members`;
        return `${g.s === 0 ? "holds" : `its ${scope} holds`} ${who} of anti-affinity grouping "${g.g.name}"`;
      }
    } else if (g.kind === "affinity") {
      if ((st.covers[0] as Cover).after((p.cover[g.s] as Int32Array)[l] as number) > 1)
        return `outside the ${scope} of affinity grouping "${g.g.name}"`;
    } else if ((st.covers[g.s] as Cover).after((p.cover[g.s] as Int32Array)[l] as number) > 1) {
      return `outside the ${scope} of proximity grouping "${g.g.name}"`;
    }
  }
  return undefined;
}

/** m's hard groupings, sorted by name (reasons name the first one that fails). */
function hardGroupsByName(p: Problem, m: number): number[] {
  const out: number[] = [];
  for (let k = p.mgOff[m] as number; k < (p.mgOff[m + 1] as number); k++) {
    const gi = p.mgIdx[k] as number;
    if ((p.groups[gi] as CGroup).hard) out.push(gi);
  }
  if (out.length > 1) out.sort((a, b) => cmp((p.groups[a] as CGroup).g.name, (p.groups[b] as CGroup).g.name) || a - b);
  return out;
}

/** Reason counts over every host (servers) or backend (volumes) for member m in the given state. */
export function reasonCounts(state: State, m: number): Record<string, number> {
  const p = state.p;
  const [from, to] = p.isVol[m] ? [p.nH, p.nL] : [0, p.nH];
  const unknown = new Float64Array(3).fill(Number.NaN);
  // "most free" is the most any location that failed on that dimension has: the gap the user must close.
  const mostFree = new Float64Array(3).fill(0);
  const raw: string[] = [];
  for (let l = from; l < to; l++) {
    const r = reasonAt(state, m, l, unknown) ?? FITS;
    for (let k = 0; k < 3; k++) {
      if (r.includes(PLACEHOLDER(k))) mostFree[k] = Math.max(mostFree[k] as number, state.free[l * 3 + k] as number);
    }
    raw.push(r);
  }
  const counts = new Map<string, number>();
  for (const r0 of raw) {
    let r = r0;
    for (let k = 0; k < 3; k++) r = r.replace(PLACEHOLDER(k), String(mostFree[k]));
    // Volume reasons name the backend, so a reader (and formatExplanation) can tell them from host reasons.
    if (p.isVol[m]) r = `backend: ${r}`;
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  const out: Record<string, number> = {};
  for (const k of [...counts.keys()].sort()) out[k] = counts.get(k) as number;
  return out;
}
