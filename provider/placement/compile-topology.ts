// The topology compiled to locations and domains (problem.ts `Locations`): hosts then storage
// backends, each sorted by name, their zones, racks, capacities and the domain lists. It reads
// nothing of the spec. Names are looked up by binary search over the sorted names (no map built
// per plan), and the arrays are views on two allocations (typed-views.ts).

import type { Host, StorageBackend, Topology } from "../model/topology";
import type { Locations, Scoped } from "./problem";
import { float64Views, int32Views } from "./typed-views";

/**
 * The stable order that sorts `names`, or undefined when they already are. A natural merge sort:
 * topologies mostly list things in order (hosts by name, a host's local backend after it, zonal
 * backends at the end), so it merges a few runs in linear time.
 */
function sortedOrder(names: readonly string[]): Int32Array | undefined {
  const n = names.length;
  let bounds = [0];
  for (let i = 1; i < n; i++) if ((names[i - 1] as string) > (names[i] as string)) bounds.push(i);
  if (bounds.length === 1) return undefined;
  bounds.push(n);
  let src = new Int32Array(n);
  for (let i = 0; i < n; i++) src[i] = i;
  let dst = new Int32Array(n);
  while (bounds.length > 2) {
    const next = [0];
    for (let r = 0; r + 1 < bounds.length; r += 2) {
      const lo = bounds[r] as number;
      const mid = bounds[r + 1] as number;
      const hi = r + 2 < bounds.length ? (bounds[r + 2] as number) : mid;
      let i = lo;
      let j = mid;
      let o = lo;
      // The left run first on equal names: stable.
      while (i < mid && j < hi)
        dst[o++] =
          (names[src[j] as number] as string) < (names[src[i] as number] as string)
            ? (src[j++] as number)
            : (src[i++] as number);
      while (i < mid) dst[o++] = src[i++] as number;
      while (j < hi) dst[o++] = src[j++] as number;
      next.push(hi);
    }
    bounds = next;
    const t = src;
    src = dst;
    dst = t;
  }
  return src;
}

export const nonNeg = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) && x > 0 ? x : 0);

/** The first index in [from, to) of `names` (sorted) holding `name`, or -1. */
export function indexOfSorted(names: readonly string[], from: number, to: number, name: string): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((names[mid] as string) < name) lo = mid + 1;
    else hi = mid;
  }
  return lo < to && names[lo] === name ? lo : -1;
}

/**
 * CSR of `keys` (one key per item, -1 skips it): items of key k, in item order. Filled back to
 * front so that the offsets array serves as the fill cursor and no copy of it is needed.
 */
export function csr(
  keys: Int32Array,
  nKeys: number,
  n = keys.length,
  offset = 0,
): { off: Int32Array; items: Int32Array } {
  const off = new Int32Array(nKeys + 1);
  for (let i = 0; i < n; i++) {
    const k = keys[i] as number;
    if (k >= 0) off[k + 1] = (off[k + 1] as number) + 1;
  }
  for (let k = 0; k < nKeys; k++) off[k + 1] = (off[k + 1] as number) + (off[k] as number);
  const total = off[nKeys] as number;
  const items = new Int32Array(total);
  // off[k + 1] is the end of k's items; filling downwards leaves it at their start, which is off[k].
  for (let i = n - 1; i >= 0; i--) {
    const k = keys[i] as number;
    if (k < 0) continue;
    const at = (off[k + 1] as number) - 1;
    items[at] = i + offset;
    off[k + 1] = at;
  }
  off.copyWithin(0, 1);
  off[nKeys] = total;
  return { off, items };
}

/**
 * Zone and rack of each host: zones numbered as they first appear (sorted later), racks (named
 * within their zone) as they first appear in host order.
 */
function zonesAndRacks(hosts: readonly Host[]) {
  const nH = hosts.length;
  const zoneNames: string[] = [];
  const zoneOfName = new Map<string, number>();
  const [hostZone, hostRack] = int32Views([nH, nH]);
  const racks: [string, string][] = [];
  // Per zone: the last rack seen (hosts usually come rack by rack), then a map of its racks.
  const lastRack: string[] = [];
  const lastRackId: number[] = [];
  const rackIds: (Map<string, number> | undefined)[] = [];
  let lastZoneName = "";
  let lastZ = -1;
  for (let i = 0; i < nH; i++) {
    const h = hosts[i] as Host;
    const zone = h.zone;
    const rack = h.rack;
    let z = lastZ;
    if (lastZ < 0 || zone !== lastZoneName) {
      z = zoneOfName.get(zone) ?? -1;
      if (z < 0) {
        z = zoneNames.length;
        zoneNames.push(zone);
        zoneOfName.set(zone, z);
        lastRack.push("");
        lastRackId.push(-1);
        rackIds.push(undefined);
      }
      lastZoneName = zone;
      lastZ = z;
    }
    hostZone[i] = z;
    let r = lastRackId[z] as number;
    if (r < 0 || lastRack[z] !== rack) {
      let ids = rackIds[z];
      if (!ids) {
        ids = new Map();
        rackIds[z] = ids;
      }
      r = ids.get(rack) ?? -1;
      if (r < 0) {
        r = racks.length;
        ids.set(rack, r);
        racks.push([zone, rack]);
      }
      lastRack[z] = rack;
      lastRackId[z] = r;
    }
    hostRack[i] = r;
  }
  return { zoneNames, zoneOfName, hostZone, hostRack, racks };
}

/** The backends kept (a host-local one whose host exists, or a zonal one), sorted by name, with their hosts. */
function keptBackends(raw: readonly StorageBackend[], hosts: readonly Host[], hostNames: readonly string[]) {
  const nH = hosts.length;
  let backends: StorageBackend[] = [];
  let backendHost: number[] = [];
  let names: string[] = [];
  let next = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] as StorageBackend;
    let h = -1;
    if (b.host !== undefined) {
      // Local backends usually follow their hosts' order: try the host after the last one first
      // (names are sorted, so a duplicate name would sit right before it).
      if (next < nH && hostNames[next] === b.host && (next === 0 || hostNames[next - 1] !== b.host)) h = next;
      else h = indexOfSorted(hostNames, 0, nH, b.host);
      if (h < 0) continue;
      next = h + 1;
    } else if (b.zone === undefined) continue;
    backends.push(b);
    backendHost.push(h);
    names.push(b.name);
  }
  const order = sortedOrder(names);
  if (order) {
    backends = permute(backends, order);
    backendHost = permute(backendHost, order);
    names = permute(names, order);
  }
  return { backends, backendHost, names };
}

function permute<T>(xs: readonly T[], order: Int32Array): T[] {
  const out = new Array<T>(order.length);
  for (let i = 0; i < order.length; i++) out[i] = xs[order[i] as number] as T;
  return out;
}

export function compileTopology(topology: Topology): Locations {
  let hosts = topology.hosts ?? [];
  let hostNames = hosts.map((h) => h.name);
  const hostOrder = sortedOrder(hostNames);
  if (hostOrder) {
    hosts = permute(hosts, hostOrder);
    hostNames = permute(hostNames, hostOrder);
  }
  const nH = hosts.length;
  const { zoneNames, zoneOfName, hostZone, hostRack, racks } = zonesAndRacks(hosts);
  const { backends, backendHost, names } = keptBackends(topology.storageBackends ?? [], hosts, hostNames);
  for (const b of backends) {
    if (b.host === undefined && !zoneOfName.has(b.zone as string)) {
      zoneOfName.set(b.zone as string, zoneNames.length);
      zoneNames.push(b.zone as string);
    }
  }
  const zones = [...zoneNames].sort();
  const nZ = zones.length;
  const zoneRemap = new Int32Array(nZ);
  for (let z = 0; z < nZ; z++) zoneRemap[zoneOfName.get(zones[z] as string) as number] = z;

  const nB = backends.length;
  const nL = nH + nB;
  const nR = racks.length;
  const [locZone, locHost, c0, c1, c2, a0, a1, a2, dz0, dz1, dz2, zonalKey] = int32Views([
    nL,
    nL,
    nL,
    nL,
    nL,
    nL,
    nL,
    nL,
    nH,
    nR,
    nZ,
    nB,
  ]);
  const cover: Scoped<Int32Array> = [c0, c1, c2];
  const anti: Scoped<Int32Array> = [a0, a1, a2];
  const domZone: Scoped<Int32Array> = [dz0, dz1, dz2];
  const nDom: Scoped<number> = [nH, nR, nZ];
  for (let z = 0; z < nZ; z++) domZone[2][z] = z;
  const [free0, cap, invCap] = float64Views([nL * 3, nL * 3, nL * 3]);
  const locName = hostNames.concat(names);
  for (let i = 0; i < nH; i++) {
    const h = hosts[i] as Host;
    const z = zoneRemap[hostZone[i] as number] as number;
    const r = hostRack[i] as number;
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
    free0[i * 3] = used ? v - nonNeg(used.vcpus) : v;
    free0[i * 3 + 1] = used ? ram - nonNeg(used.ramMb) : ram;
    free0[i * 3 + 2] = used ? disk - nonNeg(used.diskGb) : disk;
  }
  const backendTypes: (Set<string> | undefined)[] = new Array(nB);
  for (let j = 0; j < nB; j++) {
    const b = backends[j] as StorageBackend;
    const l = nH + j;
    backendTypes[j] = b.volumeTypes ? new Set(b.volumeTypes) : undefined;
    cap[l * 3] = nonNeg(b.capacityGb);
    free0[l * 3] = nonNeg(b.capacityGb) - nonNeg(b.usedGb);
    const h = backendHost[j] as number;
    if (h >= 0) {
      locHost[l] = h;
      locZone[l] = locZone[h] as number;
      zonalKey[j] = -1;
      for (let s = 0; s < 3; s++) {
        const d = (cover[s] as Int32Array)[h] as number;
        (cover[s] as Int32Array)[l] = d;
        (anti[s] as Int32Array)[l] = d;
      }
    } else {
      const z = zoneRemap[zoneOfName.get(b.zone as string) as number] as number;
      locHost[l] = -1;
      locZone[l] = z;
      zonalKey[j] = z;
      cover[0][l] = -(z + 1);
      cover[1][l] = -(z + 1);
      cover[2][l] = z;
      anti[0][l] = nH + j;
      anti[1][l] = nR + j;
      anti[2][l] = z;
    }
  }
  const capMax = [0, 0, 0];
  for (let l = 0; l < nL; l++)
    for (let k = 0; k < 3; k++) {
      const c = cap[l * 3 + k] as number;
      invCap[l * 3 + k] = 1 / (c || 1);
      if (c > (capMax[k] as number)) capMax[k] = c;
    }
  const d0 = csr(cover[0], nDom[0]);
  const d1 = csr(cover[1], nDom[1]);
  const d2 = csr(cover[2], nDom[2]);
  const zonal = csr(zonalKey, nZ, nB, nH);
  const zoneHosts = csr(locZone, nZ, nH);
  return {
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
    domOff: [d0.off, d1.off, d2.off],
    domLocs: [d0.items, d1.items, d2.items],
    zonalOff: zonal.off,
    zonalLocs: zonal.items,
    zoneHostOff: zoneHosts.off,
    zoneHosts: zoneHosts.items,
    free0,
    cap,
    invCap,
    capMax,
    backendTypes,
  };
}
