// Topology discovery, pure: from what Nova, Placement and Cinder report to the engine's Topology.

import type { Flavor, Host, StorageBackend, Topology } from "../../model/topology";
import type { Discovery } from "../backend";

export interface RawHypervisor {
  id?: string | number;
  hypervisor_hostname: string;
  state?: string;
  status?: string;
  service?: { host?: string };
  /** Below 2.88 only. */
  vcpus?: number;
  vcpus_used?: number;
  memory_mb?: number;
  memory_mb_used?: number;
  local_gb?: number;
  local_gb_used?: number;
}

export interface ProviderInventory {
  /** Resource provider name: the hypervisor's node name. */
  name: string;
  inventories: Record<string, { total: number; reserved?: number; allocation_ratio?: number }>;
  usages: Record<string, number>;
}

export interface RawAggregate {
  name?: string;
  availability_zone?: string | null;
  hosts?: string[];
  metadata?: Record<string, string>;
}

export interface RawPool {
  name: string;
  capabilities?: {
    total_capacity_gb?: number | string;
    free_capacity_gb?: number | string;
    allocated_capacity_gb?: number | string;
    volume_backend_name?: string;
  };
}

export interface RawFlavor {
  id: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
}

/** Capacity a storage backend reports as "infinite" / "unknown": large but finite, so sums stay numbers. */
const UNBOUNDED_GB = 1_000_000_000;

function gb(v: number | string | undefined): number {
  if (typeof v === "number") return v;
  const n = Number(v);
  return Number.isFinite(n) ? n : UNBOUNDED_GB;
}

function capacity(inv: ProviderInventory["inventories"][string] | undefined): number {
  if (!inv) return 0;
  return Math.floor((inv.total - (inv.reserved ?? 0)) * (inv.allocation_ratio ?? 1));
}

export function flavorsFrom(raw: RawFlavor[]): Record<string, Flavor> {
  const out: Record<string, Flavor> = {};
  for (const f of [...raw].sort((a, b) => a.name.localeCompare(b.name))) {
    // Keyed by name; specs may name a flavor by id too (findFlavor matches either).
    out[f.name] = { vcpus: f.vcpus, ramMb: f.ram, diskGb: f.disk, ...(f.id !== f.name ? { id: f.id } : {}) };
  }
  return out;
}

export interface PinnedInputs {
  hypervisors: RawHypervisor[];
  /** Placement inventories (needed from compute 2.88, where hypervisors stop reporting usage). */
  providers: ProviderInventory[];
  /** Zone of each compute host (from /os-availability-zone/detail). */
  hostZones: Record<string, string>;
  aggregates: RawAggregate[];
  rackKey: string;
  pools: RawPool[];
  /** Zone of each cinder-volume service host ("host@backend"). */
  volumeHostZones: Record<string, string>;
  flavors: RawFlavor[];
  defaultZone: string;
}

export function pinnedTopology(input: PinnedInputs): Topology {
  const rackOf = new Map<string, string>();
  for (const agg of [...input.aggregates].sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""))) {
    const rack = agg.metadata?.[input.rackKey];
    if (!rack) continue;
    for (const h of agg.hosts ?? []) if (!rackOf.has(h)) rackOf.set(h, rack);
  }
  const providers = new Map(input.providers.map((p) => [p.name, p]));
  const hosts: Host[] = [];
  for (const hv of input.hypervisors) {
    if (hv.state === "down" || hv.status === "disabled") continue;
    const name = hv.service?.host ?? hv.hypervisor_hostname;
    const p = providers.get(hv.hypervisor_hostname);
    const total = p
      ? {
          vcpus: capacity(p.inventories.VCPU),
          ramMb: capacity(p.inventories.MEMORY_MB),
          diskGb: capacity(p.inventories.DISK_GB),
        }
      : { vcpus: hv.vcpus ?? 0, ramMb: hv.memory_mb ?? 0, diskGb: hv.local_gb ?? 0 };
    const used = p
      ? { vcpus: p.usages.VCPU ?? 0, ramMb: p.usages.MEMORY_MB ?? 0, diskGb: p.usages.DISK_GB ?? 0 }
      : { vcpus: hv.vcpus_used ?? 0, ramMb: hv.memory_mb_used ?? 0, diskGb: hv.local_gb_used ?? 0 };
    hosts.push({
      name,
      zone: input.hostZones[name] ?? input.defaultZone,
      // A host in no rack aggregate is a rack of its own.
      rack: rackOf.get(name) ?? name,
      ...total,
      used,
    });
  }
  hosts.sort((a, b) => a.name.localeCompare(b.name));
  const hostNames = new Set(hosts.map((h) => h.name));
  const storageBackends: StorageBackend[] = [];
  for (const pool of input.pools) {
    const serviceHost = pool.name.split("#")[0] ?? pool.name;
    const host = serviceHost.split("@")[0] ?? serviceHost;
    const total = gb(pool.capabilities?.total_capacity_gb);
    const free = gb(pool.capabilities?.free_capacity_gb);
    const allocated = pool.capabilities?.allocated_capacity_gb;
    const usedGb = allocated !== undefined ? gb(allocated) : Math.max(0, total - free);
    const base = { name: pool.name, capacityGb: total, usedGb: total >= UNBOUNDED_GB ? 0 : usedGb };
    // A pool whose service runs on a compute host serves that host; any other pool serves its zone.
    if (hostNames.has(host)) storageBackends.push({ ...base, host });
    else storageBackends.push({ ...base, zone: input.volumeHostZones[serviceHost] ?? input.defaultZone });
  }
  storageBackends.sort((a, b) => a.name.localeCompare(b.name));
  return { flavors: flavorsFrom(input.flavors), hosts, storageBackends };
}

export interface RawLimits {
  absolute?: Record<string, number>;
}

function remaining(max: number | undefined, used: number | undefined): number | undefined {
  if (max === undefined || max < 0) return undefined;
  return Math.max(0, max - (used ?? 0));
}

export function quotaFrom(nova: RawLimits | undefined, cinder: RawLimits | undefined): Discovery["quota"] {
  const n = nova?.absolute ?? {};
  const c = cinder?.absolute ?? {};
  const q: NonNullable<Discovery["quota"]> = {};
  const set = (k: keyof typeof q, v: number | undefined) => {
    if (v !== undefined) q[k] = v;
  };
  set("instances", remaining(n.maxTotalInstances, n.totalInstancesUsed));
  set("vcpus", remaining(n.maxTotalCores, n.totalCoresUsed));
  set("ramMb", remaining(n.maxTotalRAMSize, n.totalRAMUsed));
  set("volumes", remaining(c.maxTotalVolumes, c.totalVolumesUsed));
  set("gigabytes", remaining(c.maxTotalVolumeGigabytes, c.totalGigabytesUsed));
  return q;
}

export interface RawZone {
  zoneName: string;
  zoneState?: { available?: boolean };
  hosts?: Record<string, Record<string, unknown>> | null;
}

export function availableZones(zones: RawZone[]): string[] {
  return zones
    .filter((z) => z.zoneState?.available !== false && z.zoneName !== "internal")
    .map((z) => z.zoneName)
    .sort();
}

/** Compute host -> zone, from /os-availability-zone/detail (admin): the hosts running nova-compute. */
export function hostZonesFrom(zones: RawZone[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const z of zones) {
    if (z.zoneName === "internal") continue;
    for (const [host, services] of Object.entries(z.hosts ?? {})) {
      if (services && "nova-compute" in services) out[host] = z.zoneName;
    }
  }
  return out;
}
