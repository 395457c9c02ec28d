// The placement problem compiled to indices and typed arrays: what never changes during a search.
// One place defines what a rule means; everything else asks this module. What a move changes
// (free capacity, counts per (grouping, domain), cost) is search-state.ts.
//
// The spec and the topology are read here, once per plan, and nowhere else: explanations derive
// their sub-problems from the compiled one (`withGroupings`), and the lower bounds read the counts
// gathered here (members per shape), not the spec.

import type { ClusterSpec, Grouping, Member, PlacementStrategy } from "../model/cluster";
import { SCOPES, scopeRank } from "../model/cluster";
import type { MemberPlacement, Placement } from "../model/placement";
import { type Flavor, findFlavor, type StorageBackend, type Topology } from "../model/topology";

export type GroupKind = "affinity" | "anti-affinity" | "proximity";

export interface CGroup {
  g: Grouping;
  kind: GroupKind;
  /** Scope rank (host 0, rack 1, zone 2); the hard bound for proximity. */
  s: number;
  hard: boolean;
  weight: number;
  maxPer: number;
  /** Member indices of the grouping that exist in the spec, each once, in the grouping's order. */
  members: Int32Array;
}

/**
 * Members that look the same to every capacity and static filter: servers of one flavor and zone
 * pin, volumes of one size, type and pin. Bounds count per shape instead of per member.
 */
export interface Shape {
  /** The first member of this shape (messages name its flavor). */
  first: number;
  count: number;
  isVol: boolean;
  dem: [number, number, number];
  /** Pinned zone index, -1 none, -2 a zone the topology lacks. */
  pin: number;
  unknownFlavor: boolean;
  volumeType?: string;
}

type Scoped<T> = [T, T, T];

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
  strategy: PlacementStrategy;
  nH: number;
  nB: number;
  nL: number;
  locName: string[];
  zones: string[];
  /** racks[i] = [zone, rack]: a rack is named within its zone. */
  racks: [string, string][];
  locZone: Int32Array;
  /** For a host-local backend, its host; for a host, itself; -1 for a zonal backend. */
  locHost: Int32Array;
  cover: Scoped<Int32Array>;
  anti: Scoped<Int32Array>;
  nDom: Scoped<number>;
  domZone: Scoped<Int32Array>;
  /**
   * Per scope, the locations of each concrete domain, ascending (CSR: domain d holds
   * domLocs[s][domOff[s][d] .. domOff[s][d+1]]): hosts and host-local backends; at zone scope
   * also the zone's zonal backends.
   */
  domOff: Scoped<Int32Array>;
  domLocs: Scoped<Int32Array>;
  /** Zonal backends per zone and hosts per zone (CSR, ascending). */
  zonalOff: Int32Array;
  zonalLocs: Int32Array;
  zoneHostOff: Int32Array;
  zoneHosts: Int32Array;
  /** Free capacity at the start: hosts use 3 slots (vcpus, ramMb, diskGb), backends slot 0. */
  free0: Float64Array;
  /** Total capacity (for hints). */
  cap: Float64Array;
  /** Counts over the hosts, gathered once: free room (all, per zone), largest capacity and free room per dimension. */
  hostTotals: { free: number[]; zoneFree: Float64Array; maxCap: number[]; maxFree: number[] };
  backendTypes: (Set<string> | undefined)[];
  nM: number;
  members: readonly Member[];
  /** Name -> first member of that name; built on first use by memberIndexOf (large specs rarely need it all). */
  nameIndex?: Map<string, number>;
  isVol: Uint8Array;
  /** Demand: servers 3 slots, volumes slot 0 = sizeGb. */
  dem: Float64Array;
  /** Server with a flavor the topology lacks. */
  unknownFlavor: Uint8Array;
  /** Pinned zone index, -1 none, -2 a zone the topology lacks. */
  pin: Int32Array;
  shape: Int32Array;
  shapes: Shape[];
  groups: CGroup[];
  /** Groupings of each member (CSR: member m is in groups mgIdx[mgOff[m] .. mgOff[m+1]]). */
  mgOff: Int32Array;
  mgIdx: Int32Array;
  /** The server a volume is attached to (attachTo), -1 for none (servers too). */
  attachedTo: Int32Array;
  /** Current location of each member, -1 when new or its spot is gone. */
  current: Int32Array;
  hasCurrent: boolean;
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function sortedByName<T extends { name: string }>(xs: readonly T[]): readonly T[] {
  for (let i = 1; i < xs.length; i++) if ((xs[i - 1] as T).name > (xs[i] as T).name) return [...xs].sort(byName);
  return xs;
}

const nonNeg = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) && x > 0 ? x : 0);

/** CSR of `keys` (one key per item, -1 skips it): items of key k, in item order. */
function csr(keys: Int32Array, nKeys: number, n = keys.length, offset = 0): { off: Int32Array; items: Int32Array } {
  const off = new Int32Array(nKeys + 1);
  for (let i = 0; i < n; i++) {
    const k = keys[i] as number;
    if (k >= 0) off[k + 1] = (off[k + 1] as number) + 1;
  }
  for (let k = 0; k < nKeys; k++) off[k + 1] = (off[k + 1] as number) + (off[k] as number);
  const fill = off.slice(0, nKeys);
  const items = new Int32Array(off[nKeys] as number);
  for (let i = 0; i < n; i++) {
    const k = keys[i] as number;
    if (k >= 0) {
      items[fill[k] as number] = i + offset;
      fill[k] = (fill[k] as number) + 1;
    }
  }
  return { off, items };
}

export function strategyOf(spec: ClusterSpec): PlacementStrategy {
  return spec.placementStrategy === "pack" ? "pack" : "spread";
}

export function compile(spec: ClusterSpec, topology: Topology, current?: Placement, currentIsCounted = true): Problem {
  const hosts = sortedByName(topology.hosts ?? []);
  const nH = hosts.length;
  // Zones are sorted by name; racks are numbered as they first appear in host order.
  const zoneOfName = new Map<string, number>();
  const hostZoneRaw = new Int32Array(nH);
  const hostRack = new Int32Array(nH);
  const rackIds = new Map<string, Map<string, number>>();
  const racksRaw: [string, string][] = [];
  let lastZone: string | undefined;
  let lastRack: string | undefined;
  let lastRackId = -1;
  for (let i = 0; i < nH; i++) {
    const h = hosts[i] as (typeof hosts)[number];
    const zone = h.zone;
    const rack = h.rack;
    let z = zoneOfName.get(zone);
    if (z === undefined) {
      z = zoneOfName.size;
      zoneOfName.set(zone, z);
    }
    hostZoneRaw[i] = z;
    if (zone !== lastZone || rack !== lastRack) {
      let byRack = rackIds.get(zone);
      if (!byRack) {
        byRack = new Map();
        rackIds.set(zone, byRack);
      }
      let r = byRack.get(rack);
      if (r === undefined) {
        r = racksRaw.length;
        byRack.set(rack, r);
        racksRaw.push([zone, rack]);
      }
      lastZone = zone;
      lastRack = rack;
      lastRackId = r;
    }
    hostRack[i] = lastRackId;
  }
  let hostIdx: Map<string, number> | undefined;
  const hostIndex = (): Map<string, number> => {
    if (!hostIdx) {
      hostIdx = new Map();
      for (let i = nH - 1; i >= 0; i--) hostIdx.set((hosts[i] as (typeof hosts)[number]).name, i);
    }
    return hostIdx;
  };
  // Backends whose host exists or that name a zone, by name; a host-local one's host looked up once.
  const rawBackends = topology.storageBackends ?? [];
  const hostOfBackend = new Map<StorageBackend, number>();
  const kept: StorageBackend[] = [];
  for (const b of rawBackends) {
    if (b.host !== undefined) {
      const h = hostIndex().get(b.host);
      if (h === undefined) continue;
      hostOfBackend.set(b, h);
    } else if (b.zone === undefined) continue;
    kept.push(b);
  }
  const backends = sortedByName(kept);
  for (const b of backends) {
    if (b.host === undefined && !zoneOfName.has(b.zone as string)) zoneOfName.set(b.zone as string, zoneOfName.size);
  }
  const zones = [...zoneOfName.keys()].sort();
  const zoneRemap = new Int32Array(zones.length);
  zones.forEach((z, i) => {
    zoneRemap[zoneOfName.get(z) as number] = i;
  });
  const zoneIdx = new Map(zones.map((z, i) => [z, i]));

  const nB = backends.length;
  const nL = nH + nB;
  const nR = racksRaw.length;
  const nZ = zones.length;
  const locName: string[] = new Array(nL);
  const locZone = new Int32Array(nL);
  const locHost = new Int32Array(nL);
  const cover: Scoped<Int32Array> = [new Int32Array(nL), new Int32Array(nL), new Int32Array(nL)];
  const anti: Scoped<Int32Array> = [new Int32Array(nL), new Int32Array(nL), new Int32Array(nL)];
  const nDom: Scoped<number> = [nH, nR, nZ];
  const domZone: Scoped<Int32Array> = [new Int32Array(nH), new Int32Array(nR), new Int32Array(nZ)];
  for (let z = 0; z < nZ; z++) domZone[2][z] = z;
  const free0 = new Float64Array(nL * 3);
  const cap = new Float64Array(nL * 3);
  for (let i = 0; i < nH; i++) {
    const h = hosts[i] as (typeof hosts)[number];
    const z = zoneRemap[hostZoneRaw[i] as number] as number;
    const r = hostRack[i] as number;
    locName[i] = h.name;
    locZone[i] = z;
    locHost[i] = i;
    cover[0][i] = i;
    cover[1][i] = r;
    cover[2][i] = z;
    anti[0][i] = i;
    anti[1][i] = r;
    anti[2][i] = z;
    domZone[0][i] = z;
    domZone[1][r] = z;
    const used = h.used;
    const v = nonNeg(h.vcpus);
    const ram = nonNeg(h.ramMb);
    const disk = nonNeg(h.diskGb);
    cap[i * 3] = v;
    cap[i * 3 + 1] = ram;
    cap[i * 3 + 2] = disk;
    const fv = used ? v - nonNeg(used.vcpus) : v;
    const fr = used ? ram - nonNeg(used.ramMb) : ram;
    const fd = used ? disk - nonNeg(used.diskGb) : disk;
    free0[i * 3] = fv;
    free0[i * 3 + 1] = fr;
    free0[i * 3 + 2] = fd;
  }
  const backendTypes: (Set<string> | undefined)[] = new Array(nB);
  for (let j = 0; j < nB; j++) {
    const b = backends[j] as (typeof backends)[number];
    const l = nH + j;
    locName[l] = b.name;
    backendTypes[j] = b.volumeTypes ? new Set(b.volumeTypes) : undefined;
    cap[l * 3] = nonNeg(b.capacityGb);
    free0[l * 3] = nonNeg(b.capacityGb) - nonNeg(b.usedGb);
    if (b.host !== undefined) {
      const h = hostOfBackend.get(b) as number;
      locHost[l] = h;
      locZone[l] = locZone[h] as number;
      for (let s = 0; s < 3; s++) {
        const d = (cover[s] as Int32Array)[h] as number;
        (cover[s] as Int32Array)[l] = d;
        (anti[s] as Int32Array)[l] = d;
      }
    } else {
      const z = zoneIdx.get(b.zone as string) as number;
      locHost[l] = -1;
      locZone[l] = z;
      cover[0][l] = -(z + 1);
      cover[1][l] = -(z + 1);
      cover[2][l] = z;
      anti[0][l] = nH + j;
      anti[1][l] = nR + j;
      anti[2][l] = z;
    }
  }
  const doms = ([0, 1, 2] as const).map((s) => csr(cover[s], nDom[s])) as Scoped<{
    off: Int32Array;
    items: Int32Array;
  }>;
  const zonalKey = new Int32Array(nB);
  for (let j = 0; j < nB; j++) zonalKey[j] = locHost[nH + j] === -1 ? (locZone[nH + j] as number) : -1;
  const zonal = csr(zonalKey, nZ, nB, nH);
  const zoneHosts = csr(locZone, nZ, nH);

  // Members: demand, pins and shapes in one pass; flavors are looked up once per name.
  const members = spec.members ?? [];
  const nM = members.length;
  const isVol = new Uint8Array(nM);
  const dem = new Float64Array(nM * 3);
  const unknownFlavor = new Uint8Array(nM);
  const pin = new Int32Array(nM);
  const shape = new Int32Array(nM);
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
    const z = zone === undefined ? -1 : (zoneIdx.get(zone) ?? -2);
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
  const attachedTo = new Int32Array(nM).fill(-1);
  for (let m = 0; m < nM; m++) {
    const to = (members[m] as Member & { attachTo?: string }).attachTo;
    if (to === undefined) continue;
    const s = named.get(to);
    if (s !== undefined && s >= 0 && !isVol[s]) attachedTo[m] = s;
  }
  const { mgOff, mgIdx } = memberGroupsOf(groups, nM);

  // Current spots; with currentIsCounted their resources are already in `used`, so give them back:
  // a member that stays takes them again, one that moves frees them.
  const cur = new Int32Array(nM).fill(-1);
  let hasCurrent = false;
  if (current) {
    const locIdx = new Map<string, number>();
    for (let l = nL - 1; l >= nH; l--) locIdx.set(locName[l] as string, l);
    for (const name of Object.keys(current).sort()) {
      const p = current[name] as MemberPlacement;
      const i = named.get(name);
      if (i === undefined || i < 0) continue; // removed member: its size is unknown here, so it stays counted
      const member = members[i] as Member;
      const l = p.type === "server" ? hostIndex().get(p.host) : locIdx.get(p.backend);
      if (l === undefined || p.type !== member.type) continue;
      cur[i] = l;
      hasCurrent = true;
      if (currentIsCounted)
        for (let k = 0; k < 3; k++) free0[l * 3 + k] = (free0[l * 3 + k] as number) + (dem[i * 3 + k] as number);
    }
  }

  return {
    spec,
    topology,
    strategy: strategyOf(spec),
    nH,
    nB,
    nL,
    locName,
    zones,
    racks: racksRaw,
    locZone,
    locHost,
    cover,
    anti,
    nDom,
    domZone,
    domOff: [doms[0].off, doms[1].off, doms[2].off],
    domLocs: [doms[0].items, doms[1].items, doms[2].items],
    zonalOff: zonal.off,
    zonalLocs: zonal.items,
    zoneHostOff: zoneHosts.off,
    zoneHosts: zoneHosts.items,
    free0,
    cap,
    hostTotals: hostTotalsOf(free0, cap, locZone, nH, nZ),
    backendTypes,
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

/** The index of the (first) member named `name`, or undefined. */
export function memberIndexOf(p: Problem, name: string): number | undefined {
  if (!p.nameIndex) {
    const index = new Map<string, number>();
    for (let m = p.nM - 1; m >= 0; m--) index.set((p.members[m] as Member).name, m);
    p.nameIndex = index;
  }
  return p.nameIndex.get(name);
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

/** Static filters that never change during search: member kind, known flavor, zone pin, volume type. */
export function staticOk(p: Problem, m: number, l: number): boolean {
  if (p.isVol[m]) {
    if (l < p.nH) return false;
    const types = p.backendTypes[l - p.nH];
    if (types) {
      const vt = (p.members[m] as Member & { volumeType?: string }).volumeType;
      if (vt !== undefined && !types.has(vt)) return false;
    }
  } else if (l >= p.nH || p.unknownFlavor[m]) return false;
  const z = p.pin[m] as number;
  return z === -1 || p.locZone[l] === z;
}

/** The locations of a concrete s-domain. */
export function domainLocations(p: Problem, s: number, d: number): Int32Array {
  const off = p.domOff[s] as Int32Array;
  return (p.domLocs[s] as Int32Array).subarray(off[d] as number, off[d + 1] as number);
}

export function zonalBackends(p: Problem, z: number): Int32Array {
  return p.zonalLocs.subarray(p.zonalOff[z] as number, p.zonalOff[z + 1] as number);
}

export function zoneHostList(p: Problem, z: number): Int32Array {
  return p.zoneHosts.subarray(p.zoneHostOff[z] as number, p.zoneHostOff[z + 1] as number);
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
