// The placement problem as the search sees it: indices and typed arrays, what never changes during
// a search, and the questions asked of it (static filters, domain lists, a location as a
// placement). One place defines what a rule means; everything else asks this module. What a move
// changes (free capacity, counts per (grouping, domain), cost) is search-state.ts.
//
// compile.ts builds it from the spec and the topology, once per plan; explanations derive their
// sub-problems from the compiled one (`withGroupings`), and the lower bounds read the counts
// gathered there (members per shape), not the spec.

import type { ClusterSpec, Grouping, Member, PlacementStrategy } from "../model/cluster";
import { SCOPES } from "../model/cluster";
import type { MemberPlacement } from "../model/placement";
import type { Topology } from "../model/topology";

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

export type Scoped<T> = [T, T, T];

/**
 * What the topology compiles to (compile-topology.ts), whatever the spec.
 * Locations are hosts (0..nH-1) then storage backends (nH..nL-1), each sorted by name.
 * cover[s][l]: the s-domain a location sits in (servers, host-local backends), or -(zone+1)
 * for a zonal backend below zone scope: it serves every s-domain of its zone.
 * anti[s][l]: the domain a location counts against for anti-affinity (a zonal backend is its
 * own domain below zone scope).
 */
export interface Locations {
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
  /**
   * Free capacity at the start: hosts use 3 slots (vcpus, ramMb, diskGb), backends slot 0. compile
   * gives the current members' resources back when `used` counts them.
   */
  free0: Float64Array;
  /** Total capacity (for hints). */
  cap: Float64Array;
  /** 1 / capacity per location and dimension (0 capacity counts as 1), for the best-fit score. */
  invCap: Float64Array;
  /** The largest capacity in each of the 3 slots over all locations (a backend's GB in slot 0). */
  capMax: number[];
  backendTypes: (Set<string> | undefined)[];
}

/** The spec compiled against the topology's locations (compile.ts), once per plan. */
export interface Problem extends Locations {
  spec: ClusterSpec;
  topology: Topology;
  strategy: PlacementStrategy;
  /** Counts over the hosts, gathered once: free room (all, per zone), largest capacity and free room per dimension. */
  hostTotals: { free: number[]; zoneFree: Float64Array; maxCap: number[]; maxFree: number[] };
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

export function strategyOf(spec: ClusterSpec): PlacementStrategy {
  return spec.placementStrategy === "pack" ? "pack" : "spread";
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
