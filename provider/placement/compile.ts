// Compiles the spec and the topology into a Problem (problem.ts), once per plan: the only place
// either is read. Explanations derive their sub-problems from the result (`withGroupings`).

import type { ClusterSpec, Grouping, Member } from "../model/cluster";
import { scopeRank } from "../model/cluster";
import type { MemberPlacement, Placement } from "../model/placement";
import { type Flavor, findFlavor, type Topology } from "../model/topology";
import { compileTopology, indexOfSorted, nonNeg } from "./compile-topology";
import { type CGroup, type Problem, type Shape, strategyOf } from "./problem";
import { int32Views } from "./typed-views";

export function compile(spec: ClusterSpec, topology: Topology, current?: Placement, currentIsCounted = true): Problem {
  const loc = compileTopology(topology);
  const { nH, nL, locName, zones, free0 } = loc;
  const nZ = zones.length;

  // Members: demand, pins and shapes in one pass; flavors are looked up once per name.
  const members = spec.members ?? [];
  const nM = members.length;
  const flags = new Uint8Array(nM * 2);
  const isVol = flags.subarray(0, nM);
  const unknownFlavor = flags.subarray(nM);
  const dem = new Float64Array(nM * 3);
  const [pin, shape, attachedTo, cur] = int32Views([nM, nM, nM, nM]);
  const shapes: Shape[] = [];
  const flavors = topology.flavors ?? {};
  const flavorOf = new Map<unknown, number>();
  const flavorDem: (Flavor | undefined)[] = [];
  const serverShape = new Map<number, number>();
  const volumeShape = new Map<string, number>();
  const volumeTypeIdx = new Map<string | undefined, number>();
  const nPins = nZ + 2;
  for (let m = 0; m < nM; m++) {
    const member = members[m] as Member;
    const zone = member.zone;
    let z = -1;
    if (zone !== undefined) {
      z = indexOfSorted(zones, 0, nZ, zone);
      if (z < 0) z = -2; // a zone the topology lacks
    }
    pin[m] = z;
    let sh: number | undefined;
    if (member.type === "volume") {
      isVol[m] = 1;
      const size = nonNeg(member.sizeGb);
      dem[m * 3] = size;
      const vt = member.volumeType;
      let t = volumeTypeIdx.get(vt);
      if (t === undefined) {
        t = volumeTypeIdx.size;
        volumeTypeIdx.set(vt, t);
      }
      const key = `${size}:${t * nPins + z + 2}`;
      sh = volumeShape.get(key);
      if (sh === undefined) {
        sh = shapes.length;
        volumeShape.set(key, sh);
        const s: Shape = { first: m, count: 0, isVol: true, dem: [size, 0, 0], pin: z, unknownFlavor: false };
        if (vt !== undefined) s.volumeType = vt;
        shapes.push(s);
      }
    } else {
      const ref = member.flavorRef;
      let fi = flavorOf.get(ref);
      if (fi === undefined) {
        const f = findFlavor(flavors, ref);
        fi = flavorDem.length;
        flavorDem.push(f);
        flavorOf.set(ref, fi);
      }
      const f = flavorDem[fi];
      if (f) {
        dem[m * 3] = nonNeg(f.vcpus);
        dem[m * 3 + 1] = nonNeg(f.ramMb);
        dem[m * 3 + 2] = nonNeg(f.diskGb);
      } else unknownFlavor[m] = 1;
      const key = fi * nPins + z + 2;
      sh = serverShape.get(key);
      if (sh === undefined) {
        sh = shapes.length;
        serverShape.set(key, sh);
        shapes.push({
          first: m,
          count: 0,
          isVol: false,
          dem: [dem[m * 3] as number, dem[m * 3 + 1] as number, dem[m * 3 + 2] as number],
          pin: z,
          unknownFlavor: !f,
        });
      }
    }
    shape[m] = sh;
    (shapes[sh] as Shape).count++;
  }

  const groupings = spec.groupings ?? [];
  const named = namedMembers(members, groupings, current);
  const groups = compileGroups(groupings, named, nM);
  attachedTo.fill(-1);
  for (let m = 0; m < nM; m++) {
    const to = (members[m] as Member & { attachTo?: string }).attachTo;
    if (to === undefined) continue;
    const s = named.get(to);
    if (s !== undefined && s >= 0 && !isVol[s]) attachedTo[m] = s;
  }
  const { mgOff, mgIdx } = memberGroupsOf(groups, nM);

  // Current spots; with currentIsCounted their resources are already in `used`, so give them back:
  // a member that stays takes them again, one that moves frees them.
  cur.fill(-1);
  let hasCurrent = false;
  if (current) {
    for (const name of Object.keys(current).sort()) {
      const p = current[name] as MemberPlacement;
      const i = named.get(name);
      if (i === undefined || i < 0) continue; // removed member: its size is unknown here, so it stays counted
      const member = members[i] as Member;
      const l = p.type === "server" ? indexOfSorted(locName, 0, nH, p.host) : indexOfSorted(locName, nH, nL, p.backend);
      if (l < 0 || p.type !== member.type) continue;
      cur[i] = l;
      hasCurrent = true;
      if (currentIsCounted)
        for (let k = 0; k < 3; k++) free0[l * 3 + k] = (free0[l * 3 + k] as number) + (dem[i * 3 + k] as number);
    }
  }

  return {
    ...loc,
    spec,
    topology,
    strategy: strategyOf(spec),
    hostTotals: hostTotalsOf(free0, loc.cap, loc.locZone, nH, nZ),
    nM,
    members,
    ...(named.size === nM ? { nameIndex: named } : {}),
    isVol,
    dem,
    unknownFlavor,
    pin,
    shape,
    shapes,
    groups,
    mgOff,
    mgIdx,
    attachedTo,
    current: cur,
    hasCurrent,
  };
}

/** Sums and maxima over the hosts that the lower bounds need (after current members gave their room back). */
function hostTotalsOf(free0: Float64Array, cap: Float64Array, locZone: Int32Array, nH: number, nZ: number) {
  const free = [0, 0, 0];
  const maxCap = [0, 0, 0];
  const maxFree = [0, 0, 0];
  const zoneFree = new Float64Array(nZ * 3);
  for (let h = 0; h < nH; h++) {
    const z = locZone[h] as number;
    for (let k = 0; k < 3; k++) {
      const f = free0[h * 3 + k] as number;
      const c = cap[h * 3 + k] as number;
      if (c > (maxCap[k] as number)) maxCap[k] = c;
      if (f > (maxFree[k] as number)) maxFree[k] = f;
      if (f > 0) {
        free[k] = (free[k] as number) + f;
        zoneFree[z * 3 + k] = (zoneFree[z * 3 + k] as number) + f;
      }
    }
  }
  return { free, zoneFree, maxCap, maxFree };
}

/**
 * Name -> index of the first member of that name, for the names groupings and the current
 * placement use (-1: no such member). When they name most members, it indexes all of them.
 */
function namedMembers(
  members: readonly Member[],
  groupings: readonly Grouping[],
  current: Placement | undefined,
): Map<string, number> {
  const nM = members.length;
  let refs = 0;
  for (const g of groupings) refs += g.members?.length ?? 0;
  if (current) refs += Object.keys(current).length;
  const attached: string[] = [];
  for (let m = 0; m < nM; m++) {
    const to = (members[m] as Member & { attachTo?: string }).attachTo;
    if (to !== undefined) attached.push(to);
  }
  refs += attached.length;
  const index = new Map<string, number>();
  if (refs * 2 >= nM) {
    for (let m = nM - 1; m >= 0; m--) index.set((members[m] as Member).name, m);
    return index;
  }
  for (const g of groupings) {
    const names = g.members ?? [];
    for (let i = 0; i < names.length; i++) index.set(names[i] as string, -1);
  }
  if (current) for (const name of Object.keys(current)) index.set(name, -1);
  for (let i = 0; i < attached.length; i++) index.set(attached[i] as string, -1);
  for (let m = nM - 1; m >= 0; m--) {
    const name = (members[m] as Member).name;
    if (index.has(name)) index.set(name, m);
  }
  return index;
}

function compileGroups(groupings: readonly Grouping[], memberIndex: Map<string, number>, nM: number): CGroup[] {
  const groups: CGroup[] = [];
  const seen = new Int32Array(nM);
  let buf = new Int32Array(16);
  for (const g of groupings) {
    const stamp = groups.length + 1;
    const names = g.members ?? [];
    if (buf.length < names.length) buf = new Int32Array(names.length);
    let n = 0;
    for (let i = 0; i < names.length; i++) {
      const m = memberIndex.get(names[i] as string);
      if (m === undefined || m < 0 || seen[m] === stamp) continue;
      seen[m] = stamp;
      buf[n++] = m;
    }
    if (n === 0) continue;
    const kind = g.rule;
    groups.push({
      g,
      kind,
      s: Math.max(0, scopeRank(g.scope)),
      hard: kind === "proximity" ? true : g.enforcement !== "soft",
      weight: nonNeg(g.weight),
      maxPer: Math.max(1, Math.floor(nonNeg(g.maxPerDomain)) || 1),
      members: buf.slice(0, n),
    });
  }
  return groups;
}

function memberGroupsOf(groups: readonly CGroup[], nM: number): { mgOff: Int32Array; mgIdx: Int32Array } {
  const mgOff = new Int32Array(nM + 1);
  for (const g of groups) {
    const ms = g.members;
    for (let i = 0; i < ms.length; i++) mgOff[(ms[i] as number) + 1] = (mgOff[(ms[i] as number) + 1] as number) + 1;
  }
  for (let m = 0; m < nM; m++) mgOff[m + 1] = (mgOff[m + 1] as number) + (mgOff[m] as number);
  const fill = mgOff.slice(0, nM);
  const mgIdx = new Int32Array(mgOff[nM] as number);
  groups.forEach((g, gi) => {
    const ms = g.members;
    for (let i = 0; i < ms.length; i++) {
      const m = ms[i] as number;
      mgIdx[fill[m] as number] = gi;
      fill[m] = (fill[m] as number) + 1;
    }
  });
  return { mgOff, mgIdx };
}

/** The same problem with only the groupings named (explanations drop groupings to find which matter). */
export function withGroupings(p: Problem, names: ReadonlySet<string>): Problem {
  const groups = p.groups.filter((g) => names.has(g.g.name));
  return { ...p, groups, ...memberGroupsOf(groups, p.nM) };
}
