// The placement problem compiled to indices and typed arrays: what never changes during a search.
// One place defines what a rule means; everything else asks this module. What a move changes
// (free capacity, counts per (grouping, domain), cost) is search-state.ts.

import type { ClusterSpec, Grouping, Member } from "../model/cluster";
import { SCOPES, scopeRank } from "../model/cluster";
import type { MemberPlacement, Placement } from "../model/placement";
import { findFlavor, type Topology } from "../model/topology";

const DIMS = ["vcpus", "ramMb", "diskGb"] as const;

export type GroupKind = "affinity" | "anti-affinity" | "proximity";

export interface CGroup {
  g: Grouping;
  kind: GroupKind;
  /** Scope rank (host 0, rack 1, zone 2); the hard bound for proximity. */
  s: number;
  hard: boolean;
  weight: number;
  maxPer: number;
  /** Member indices of the grouping that exist in the spec. */
  members: number[];
}

/**
 * Locations are hosts (0..nH-1) then storage backends (nH..nL-1), each sorted by name.
 * cover[s][l]: the s-domain a location sits in (servers, host-local backends), or -(zone+1)
 * for a zonal backend below zone scope: it serves every s-domain of its zone.
 * anti[s][l]: the domain a location counts against for anti-affinity (a zonal backend is its
 * own domain below zone scope).
 */
export interface Problem {
  spec: ClusterSpec;
  topology: Topology;
  nH: number;
  nB: number;
  nL: number;
  locName: string[];
  zones: string[];
  /** rack names "zone/rack" are unique by zone; racks[i] = [zone, rack]. */
  racks: [string, string][];
  locZone: Int32Array;
  /** For a host-local backend, its host; for a host, itself; -1 for a zonal backend. */
  locHost: Int32Array;
  cover: [Int32Array, Int32Array, Int32Array];
  anti: [Int32Array, Int32Array, Int32Array];
  nDom: [number, number, number];
  domZone: [Int32Array, Int32Array, Int32Array];
  /** Concrete domain -> locations (hosts and host-local backends) in it. */
  locsByDom: [number[][], number[][], number[][]];
  zonalByZone: number[][];
  hostsByZone: number[][];
  /** Free capacity at the start: hosts use 3 slots (vcpus, ramMb, diskGb), backends slot 0. */
  free0: Float64Array;
  /** Total capacity (for hints). */
  cap: Float64Array;
  backendTypes: (Set<string> | undefined)[];
  nM: number;
  members: Member[];
  memberIndex: Map<string, number>;
  isVol: Uint8Array;
  /** Demand: servers 3 slots, volumes slot 0 = sizeGb. */
  dem: Float64Array;
  /** Server with a flavor the topology lacks. */
  unknownFlavor: Uint8Array;
  /** Pinned zone index, -1 none, -2 a zone the topology lacks. */
  pin: Int32Array;
  groups: CGroup[];
  memberGroups: number[][];
  /** Current location of each member, -1 when new or its spot is gone. */
  current: Int32Array;
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

const nonNeg = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) && x > 0 ? x : 0);

export function compile(
  spec: ClusterSpec,
  topology: Topology,
  current?: Placement,
  currentIsCounted = true,
  onlyGroupings?: Set<string>,
): Problem {
  const hosts = [...(topology.hosts ?? [])].sort(byName);
  const hostIdx = new Map<string, number>();
  hosts.forEach((h, i) => {
    if (!hostIdx.has(h.name)) hostIdx.set(h.name, i);
  });
  const backends = [...(topology.storageBackends ?? [])]
    .filter((b) => (b.host !== undefined ? hostIdx.has(b.host) : b.zone !== undefined))
    .sort(byName);
  const zoneSet = new Set<string>();
  for (const h of hosts) zoneSet.add(h.zone);
  for (const b of backends) if (b.zone !== undefined) zoneSet.add(b.zone);
  const zones = [...zoneSet].sort();
  const zoneIdx = new Map(zones.map((z, i) => [z, i]));
  const rackKeys = [...new Set(hosts.map((h) => `${h.zone}\u0000${h.rack}`))].sort();
  const rackIdx = new Map(rackKeys.map((k, i) => [k, i]));
  const racks = rackKeys.map((k) => k.split("\u0000") as [string, string]);

  const nH = hosts.length;
  const nB = backends.length;
  const nL = nH + nB;
  const locName = [...hosts.map((h) => h.name), ...backends.map((b) => b.name)];
  const locZone = new Int32Array(nL);
  const locHost = new Int32Array(nL);
  const cover: [Int32Array, Int32Array, Int32Array] = [new Int32Array(nL), new Int32Array(nL), new Int32Array(nL)];
  const anti: [Int32Array, Int32Array, Int32Array] = [new Int32Array(nL), new Int32Array(nL), new Int32Array(nL)];
  const nDom: [number, number, number] = [nH, racks.length, zones.length];
  const domZone: [Int32Array, Int32Array, Int32Array] = [
    new Int32Array(nH),
    new Int32Array(racks.length),
    Int32Array.from(zones.map((_, i) => i)),
  ];
  const free0 = new Float64Array(nL * 3);
  const cap = new Float64Array(nL * 3);
  hosts.forEach((h, i) => {
    const z = zoneIdx.get(h.zone) as number;
    const r = rackIdx.get(`${h.zone}\u0000${h.rack}`) as number;
    locZone[i] = z;
    locHost[i] = i;
    cover[0][i] = i;
    cover[1][i] = r;
    cover[2][i] = z;
    domZone[0][i] = z;
    domZone[1][r] = z;
    DIMS.forEach((d, k) => {
      cap[i * 3 + k] = nonNeg(h[d]);
      free0[i * 3 + k] = nonNeg(h[d]) - nonNeg(h.used?.[d]);
    });
  });
  const backendTypes: (Set<string> | undefined)[] = [];
  backends.forEach((b, j) => {
    const l = nH + j;
    backendTypes.push(b.volumeTypes ? new Set(b.volumeTypes) : undefined);
    cap[l * 3] = nonNeg(b.capacityGb);
    free0[l * 3] = nonNeg(b.capacityGb) - nonNeg(b.usedGb);
    if (b.host !== undefined) {
      const h = hostIdx.get(b.host) as number;
      locHost[l] = h;
      locZone[l] = locZone[h] as number;
      for (const s of [0, 1, 2] as const) {
        cover[s][l] = cover[s][h] as number;
        anti[s][l] = cover[s][h] as number;
      }
    } else {
      const z = zoneIdx.get(b.zone as string) as number;
      locHost[l] = -1;
      locZone[l] = z;
      cover[0][l] = -(z + 1);
      cover[1][l] = -(z + 1);
      cover[2][l] = z;
      anti[0][l] = nDom[0] + j;
      anti[1][l] = nDom[1] + j;
      anti[2][l] = z;
    }
  });
  for (let i = 0; i < nH; i++) for (const s of [0, 1, 2] as const) anti[s][i] = cover[s][i] as number;

  const locsByDom: [number[][], number[][], number[][]] = [
    Array.from({ length: nDom[0] }, () => []),
    Array.from({ length: nDom[1] }, () => []),
    Array.from({ length: nDom[2] }, () => []),
  ];
  const zonalByZone: number[][] = zones.map(() => []);
  const hostsByZone: number[][] = zones.map(() => []);
  for (let l = 0; l < nL; l++) {
    const z = locZone[l] as number;
    if (l < nH) (hostsByZone[z] as number[]).push(l);
    if (locHost[l] === -1) (zonalByZone[z] as number[]).push(l);
    else for (const s of [0, 1, 2] as const) (locsByDom[s][cover[s][l] as number] as number[]).push(l);
  }
  zonalByZone.forEach((list, z) => {
    (locsByDom[2][z] as number[]).push(...list);
  });
  for (const list of locsByDom[2]) list.sort((a, b) => a - b);

  const members = [...(spec.members ?? [])];
  const nM = members.length;
  const memberIndex = new Map<string, number>();
  members.forEach((m, i) => {
    if (!memberIndex.has(m.name)) memberIndex.set(m.name, i);
  });
  const isVol = new Uint8Array(nM);
  const dem = new Float64Array(nM * 3);
  const unknownFlavor = new Uint8Array(nM);
  const pin = new Int32Array(nM).fill(-1);
  const flavors = topology.flavors ?? {};
  members.forEach((m, i) => {
    if (m.type === "volume") {
      isVol[i] = 1;
      dem[i * 3] = nonNeg(m.sizeGb);
    } else {
      const f = findFlavor(flavors, m.flavorRef);
      if (!f) unknownFlavor[i] = 1;
      else
        DIMS.forEach((d, k) => {
          dem[i * 3 + k] = nonNeg(f[d]);
        });
    }
    if (m.zone !== undefined) pin[i] = zoneIdx.get(m.zone) ?? -2;
  });

  const groups: CGroup[] = [];
  const memberGroups: number[][] = members.map(() => []);
  const sortedGroupings = [...(spec.groupings ?? [])].sort(byName);
  for (const g of sortedGroupings) {
    if (onlyGroupings && !onlyGroupings.has(g.name)) continue;
    const ms = [...new Set(g.members.map((n) => memberIndex.get(n)).filter((x): x is number => x !== undefined))];
    if (ms.length === 0) continue;
    const kind = g.rule;
    const cg: CGroup = {
      g,
      kind,
      s: Math.max(0, scopeRank(g.scope)),
      hard: kind === "proximity" ? true : g.enforcement !== "soft",
      weight: nonNeg(g.weight),
      maxPer: Math.max(1, Math.floor(nonNeg(g.maxPerDomain)) || 1),
      members: ms,
    };
    for (const m of ms) (memberGroups[m] as number[]).push(groups.length);
    groups.push(cg);
  }

  // Current spots; with currentIsCounted their resources are already in `used`, so give them back:
  // a member that stays takes them again, one that moves frees them.
  const locIdx = new Map(locName.map((n, i) => [n, i]));
  const cur = new Int32Array(nM).fill(-1);
  if (current) {
    for (const name of Object.keys(current).sort()) {
      const p = current[name] as MemberPlacement;
      const i = memberIndex.get(name);
      if (i === undefined) continue; // removed member: its size is unknown here, so it stays counted
      const member = members[i] as Member;
      const l = p.type === "server" ? hostIdx.get(p.host) : locIdx.get(p.backend);
      if (l === undefined || p.type !== member.type || (p.type === "volume" && l < nH)) continue;
      cur[i] = l;
      if (currentIsCounted)
        for (let k = 0; k < 3; k++) free0[l * 3 + k] = (free0[l * 3 + k] as number) + (dem[i * 3 + k] as number);
    }
  }

  return {
    spec,
    topology,
    nH,
    nB,
    nL,
    locName,
    zones,
    racks,
    locZone,
    locHost,
    cover,
    anti,
    nDom,
    domZone,
    locsByDom,
    zonalByZone,
    hostsByZone,
    free0,
    cap,
    backendTypes,
    nM,
    members,
    memberIndex,
    isVol,
    dem,
    unknownFlavor,
    pin,
    groups,
    memberGroups,
    current: cur,
  };
}

/** Static filters that never change during search: member kind, known flavor, zone pin, volume type. */
export function staticOk(p: Problem, m: number, l: number): boolean {
  if (p.isVol[m]) {
    if (l < p.nH) return false;
    const types = p.backendTypes[l - p.nH];
    const vt = (p.members[m] as Member & { volumeType?: string }).volumeType;
    if (types && vt !== undefined && !types.has(vt)) return false;
  } else if (l >= p.nH || p.unknownFlavor[m]) return false;
  const z = p.pin[m] as number;
  return z === -1 || p.locZone[l] === z;
}

export function scopeName(s: number): string {
  return SCOPES[s] ?? "host";
}

export function locPlacement(p: Problem, l: number): MemberPlacement {
  if (l < p.nH) {
    const r = p.racks[(p.cover[1] as Int32Array)[l] as number] as [string, string];
    return { type: "server", zone: r[0], rack: r[1], host: p.locName[l] as string };
  }
  const out: MemberPlacement = {
    type: "volume",
    backend: p.locName[l] as string,
    zone: p.zones[p.locZone[l] as number] as string,
  };
  const h = p.locHost[l] as number;
  if (h >= 0) out.host = p.locName[h] as string;
  return out;
}
