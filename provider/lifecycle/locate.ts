// Where live objects sit, in the placement engine's terms, for both views of the cloud:
// pinned (admin: real hosts and storage backends) and delegated (tenant: zones, and Nova's
// hostId, which is equal for servers on one host). Pure.
import type { Discovery, PlacementMode, ServerInfo, VolumeInfo } from "../backends/backend";
import type { MemberPlacement, Placement } from "../model/placement";
import { record } from "../model/records";
import { findFlavor, named, type Topology } from "../model/topology";

/** Effectively unbounded capacity for pseudo-hosts where the tenant has no quota limit. */
const UNBOUNDED = 1e12;

export function zoneHost(zone: string): string {
  return `zone:${zone}`;
}

export function zoneStorage(zone: string): string {
  return `zone-storage:${zone}`;
}

function tenantHost(hostId: string): string {
  return `hostId:${hostId}`;
}

/**
 * Delegated mode: each zone is one big pseudo-host (its rack is the zone too) with one zonal
 * pseudo-backend, sized by the project's quota, so the engine chooses zones for zone-scope rules.
 */
export function coarseTopology(discovery: Discovery): Topology {
  const q = discovery.quota ?? {};
  const zones = [...new Set(discovery.zones)].sort();
  return {
    flavors: discovery.topology.flavors,
    hosts: zones.map((zone) => ({
      name: zoneHost(zone),
      zone,
      rack: zone,
      vcpus: q.vcpus ?? UNBOUNDED,
      ramMb: q.ramMb ?? UNBOUNDED,
      diskGb: UNBOUNDED,
    })),
    storageBackends: zones.map((zone) => ({ name: zoneStorage(zone), zone, capacityGb: q.gigabytes ?? UNBOUNDED })),
  };
}

/** Where a live server sits, or undefined when the view can't tell. */
export function serverLocation(
  server: ServerInfo,
  mode: PlacementMode,
  topology: Topology,
): MemberPlacement | undefined {
  if (mode === "pinned") {
    const host = named(topology.hosts, server.host);
    return host ? { type: "server", zone: host.zone, rack: host.rack, host: host.name } : undefined;
  }
  if (server.zone === undefined) return undefined;
  return { type: "server", zone: server.zone, rack: server.zone, host: zoneHost(server.zone) };
}

export function volumeLocation(
  volume: VolumeInfo,
  mode: PlacementMode,
  topology: Topology,
): MemberPlacement | undefined {
  if (mode === "pinned") {
    const b = named(topology.storageBackends, volume.backend);
    if (!b) return undefined;
    const zone = b.zone ?? named(topology.hosts, b.host)?.zone ?? volume.zone;
    if (zone === undefined) return undefined;
    return { type: "volume", backend: b.name, zone, ...(b.host !== undefined ? { host: b.host } : {}) };
  }
  if (volume.zone === undefined) return undefined;
  return { type: "volume", backend: zoneStorage(volume.zone), zone: volume.zone };
}

/**
 * What verification evaluates: the actual placement of every live member and a topology that
 * holds it. Pinned: the discovered topology. Delegated: one pseudo-host per hostId (racks unknown,
 * so each host is its own rack) and one zonal pseudo-backend per zone, all unbounded.
 */
export function actualPlacement(
  mode: PlacementMode,
  topology: Topology,
  servers: Map<string, ServerInfo>,
  volumes: Map<string, VolumeInfo>,
): { placement: Placement; topology: Topology; unknown: string[] } {
  const placement: Placement = record();
  const unknown: string[] = [];
  if (mode === "pinned") {
    for (const [name, s] of servers) {
      const at = serverLocation(s, mode, topology);
      if (at) placement[name] = at;
      else unknown.push(name);
    }
    for (const [name, v] of volumes) {
      const at = volumeLocation(v, mode, topology);
      if (at) placement[name] = at;
      else unknown.push(name);
    }
    return { placement, topology, unknown: unknown.sort() };
  }
  const hosts = new Map<string, { zone: string }>();
  const zones = new Set<string>();
  for (const [name, s] of servers) {
    if (s.hostId === undefined || s.zone === undefined) {
      unknown.push(name);
      continue;
    }
    const host = tenantHost(s.hostId);
    hosts.set(host, { zone: s.zone });
    zones.add(s.zone);
    placement[name] = { type: "server", zone: s.zone, rack: host, host };
  }
  for (const [name, v] of volumes) {
    if (v.zone === undefined) {
      unknown.push(name);
      continue;
    }
    zones.add(v.zone);
    placement[name] = { type: "volume", backend: zoneStorage(v.zone), zone: v.zone };
  }
  const verifyTopology: Topology = {
    flavors: topology.flavors,
    hosts: [...hosts].map(([name, h]) => ({
      name,
      zone: h.zone,
      rack: name,
      vcpus: UNBOUNDED,
      ramMb: UNBOUNDED,
      diskGb: UNBOUNDED,
    })),
    storageBackends: [...zones].sort().map((zone) => ({ name: zoneStorage(zone), zone, capacityGb: UNBOUNDED })),
  };
  return { placement, topology: verifyTopology, unknown: unknown.sort() };
}

/**
 * The topology with the usage of objects about to be deleted given back (they are counted in
 * discovery's `used`), so a member renamed to replace another can take its place.
 */
export function releaseUsage(
  topology: Topology,
  servers: { host?: string; flavorRef: string }[],
  volumes: { backend?: string; sizeGb: number }[],
): Topology {
  if (servers.length === 0 && volumes.length === 0) return topology;
  const hosts = topology.hosts.map((h) => ({ ...h, ...(h.used ? { used: { ...h.used } } : {}) }));
  for (const s of servers) {
    const host = hosts.find((h) => h.name === s.host);
    const flavor = findFlavor(topology.flavors, s.flavorRef);
    if (!host?.used || !flavor) continue;
    host.used = {
      vcpus: Math.max(0, host.used.vcpus - flavor.vcpus),
      ramMb: Math.max(0, host.used.ramMb - flavor.ramMb),
      diskGb: Math.max(0, host.used.diskGb - flavor.diskGb),
    };
  }
  const storageBackends = topology.storageBackends.map((b) => ({ ...b }));
  for (const v of volumes) {
    const b = storageBackends.find((x) => x.name === v.backend);
    if (b?.usedGb !== undefined) b.usedGb = Math.max(0, b.usedGb - v.sizeGb);
  }
  return { ...topology, hosts, storageBackends };
}
