// The simulated cloud's built-in inventory, used when neither a topology file nor a stored cloud
// gives one: 3 zones x 2 racks x 4 hosts, a shared (zonal) backend per zone and a local backend
// per host. Kept in this one file so it can be unified with the placement package's default.
import type { Flavor, Host, StorageBackend, Topology } from "../../placement/topology";

export const DEFAULT_IMAGES: readonly string[] = ["debian-12", "ubuntu-24.04", "cirros"];

export const DEFAULT_FLAVORS: Readonly<Record<string, Flavor>> = {
  "m1.tiny": { vcpus: 1, ramMb: 512, diskGb: 1 },
  "m1.small": { vcpus: 1, ramMb: 2048, diskGb: 20 },
  "m1.medium": { vcpus: 2, ramMb: 4096, diskGb: 40 },
  "m1.large": { vcpus: 4, ramMb: 8192, diskGb: 80 },
  "m1.xlarge": { vcpus: 8, ramMb: 16384, diskGb: 160 },
};

/** A fresh copy every call: callers may mutate what they get. */
export function defaultSimulatedTopology(): Topology {
  const hosts: Host[] = [];
  const storageBackends: StorageBackend[] = [];
  for (let z = 1; z <= 3; z++) {
    const zone = `az${z}`;
    storageBackends.push({ name: `ceph-${zone}`, zone, capacityGb: 100000, usedGb: 0 });
    for (let r = 1; r <= 2; r++) {
      for (let h = 1; h <= 4; h++) {
        const name = `${zone}-r${r}-h${h}`;
        hosts.push({
          name,
          zone,
          rack: `r${r}`,
          vcpus: 32,
          ramMb: 131072,
          diskGb: 2000,
          used: { vcpus: 0, ramMb: 0, diskGb: 0 },
        });
        storageBackends.push({ name: `lvm@${name}`, host: name, capacityGb: 2000, usedGb: 0 });
      }
    }
  }
  const flavors: Record<string, Flavor> = {};
  for (const [name, f] of Object.entries(DEFAULT_FLAVORS)) flavors[name] = { ...f };
  return { flavors, hosts, storageBackends };
}
