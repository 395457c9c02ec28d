// The inventory placement works on: hosts in racks in zones, storage backends, flavors.
// Same shape as the topology file in DESIGN.md; topology-file.ts reads and validates that file.

export interface Resources {
  vcpus: number;
  ramMb: number;
  diskGb: number;
}

export const RESOURCE_DIMENSIONS = ["vcpus", "ramMb", "diskGb"] as const;
export type ResourceDimension = (typeof RESOURCE_DIMENSIONS)[number];

export interface Flavor extends Resources {
  /** Nova's flavor id, when the key is its name: a `flavorRef` may name either. */
  id?: string;
}

/** The flavor a `flavorRef` means: by name (the key), else by id. */
export function findFlavor(flavors: Record<string, Flavor> | undefined, ref: string): Flavor | undefined {
  if (!flavors) return undefined;
  if (Object.hasOwn(flavors, ref)) return flavors[ref];
  for (const key of Object.keys(flavors)) {
    const f = flavors[key] as Flavor;
    if (f.id === ref) return f;
  }
  return undefined;
}

const byName = new WeakMap<readonly { name: string }[], Map<string, { name: string }>>();

/**
 * The host or storage backend of that name in one of a topology's lists: a map built once per list
 * (topologies are never changed in place), not a scan per lookup — verification and the final state
 * look up every member's host.
 */
export function named<T extends { name: string }>(list: readonly T[], name: string | undefined): T | undefined {
  if (name === undefined) return undefined;
  let map = byName.get(list);
  if (!map) {
    map = new Map();
    for (const x of list) if (!map.has(x.name)) map.set(x.name, x);
    byName.set(list, map);
  }
  return map.get(name) as T | undefined;
}

export interface Host extends Resources {
  name: string;
  zone: string;
  rack: string;
  /** Already consumed by things outside this cluster. Defaults to zero. */
  used?: Resources;
}

export interface StorageBackend {
  name: string;
  /** Host-local backend: serves exactly this host. */
  host?: string;
  /** Zonal backend: serves every host of this zone. Exactly one of host/zone is set. */
  zone?: string;
  capacityGb: number;
  usedGb?: number;
  /** Volume types this backend serves. Absent: it serves any type. */
  volumeTypes?: string[];
}

export interface Topology {
  flavors: Record<string, Flavor>;
  hosts: Host[];
  storageBackends: StorageBackend[];
}
