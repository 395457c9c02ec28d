// Small builders for placement tests: specs, topologies and groupings in one line each.

import type { ClusterSpec, Grouping, Member, Scope } from "../../provider/model/cluster";
import type { Host, StorageBackend, Topology } from "../../provider/model/topology";

export const FLAVORS: Topology["flavors"] = {
  "m1.tiny": { vcpus: 1, ramMb: 512, diskGb: 1 },
  "m1.small": { vcpus: 1, ramMb: 2048, diskGb: 20 },
  "m1.medium": { vcpus: 2, ramMb: 4096, diskGb: 40 },
  "m1.large": { vcpus: 4, ramMb: 8192, diskGb: 80 },
  "m1.xlarge": { vcpus: 8, ramMb: 16384, diskGb: 160 },
};

export function server(name: string, flavorRef = "m1.small", extra: { zone?: string } = {}): Member {
  return { type: "server", name, imageRef: "img", flavorRef, ...extra };
}

export function volume(
  name: string,
  sizeGb = 10,
  extra: { zone?: string; volumeType?: string; attachTo?: string } = {},
): Member {
  return { type: "volume", name, sizeGb, ...extra };
}

export function group(
  name: string,
  rule: Grouping["rule"],
  members: string[],
  opts: { scope?: Scope; soft?: boolean; weight?: number; maxPerDomain?: number } = {},
): Grouping {
  return {
    name,
    rule,
    members,
    scope: opts.scope ?? (rule === "proximity" ? "zone" : "host"),
    enforcement: rule === "proximity" ? "soft" : opts.soft ? "soft" : "hard",
    weight: opts.weight ?? 50,
    maxPerDomain: rule === "anti-affinity" ? (opts.maxPerDomain ?? 1) : 1,
  };
}

export function spec(members: Member[], groupings: Grouping[] = [], name = "test"): ClusterSpec {
  return { name, members, groupings };
}

export function host(name: string, zone: string, rack: string, size: Partial<Host> = {}): Host {
  return { name, zone, rack, vcpus: 16, ramMb: 65536, diskGb: 500, ...size };
}

/** zones x racks x hosts per rack, hosts named z1-r1-h1; lvm@<host> per host and ceph-<zone> per zone unless disabled. */
export function grid(
  zones: number,
  racks: number,
  hostsPerRack: number,
  opts: { size?: Partial<Host>; lvmGb?: number; cephGb?: number; lvm?: boolean; ceph?: boolean } = {},
): Topology {
  const hosts: Host[] = [];
  const storageBackends: StorageBackend[] = [];
  for (let z = 1; z <= zones; z++) {
    for (let r = 1; r <= racks; r++) {
      for (let h = 1; h <= hostsPerRack; h++) {
        const name = `z${z}-r${r}-h${h}`;
        hosts.push(host(name, `z${z}`, `r${r}`, opts.size));
        if (opts.lvm !== false)
          storageBackends.push({ name: `lvm@${name}`, host: name, capacityGb: opts.lvmGb ?? 1000 });
      }
    }
    if (opts.ceph !== false)
      storageBackends.push({ name: `ceph-z${z}`, zone: `z${z}`, capacityGb: opts.cephGb ?? 10000 });
  }
  return { flavors: structuredClone(FLAVORS), hosts, storageBackends };
}
