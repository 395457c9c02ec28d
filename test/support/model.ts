// Builders for the model's values (provider/model), what normalize and the topology file produce:
// members, groupings and specs, hosts and topologies, in one line each. The args form a user writes
// (what normalize reads) is built by ./clusterspec instead.

import {
  type ClusterSpec,
  DEFAULT_WEIGHT,
  type Grouping,
  type Member,
  type Rule,
  type ServerMember,
  type VolumeMember,
} from "../../provider/model/cluster";
import type { Host, StorageBackend, Topology } from "../../provider/model/topology";

export const FLAVORS: Topology["flavors"] = {
  "m1.tiny": { vcpus: 1, ramMb: 512, diskGb: 1 },
  "m1.small": { vcpus: 1, ramMb: 2048, diskGb: 20 },
  "m1.medium": { vcpus: 2, ramMb: 4096, diskGb: 40 },
  "m1.large": { vcpus: 4, ramMb: 8192, diskGb: 80 },
  "m1.xlarge": { vcpus: 8, ramMb: 16384, diskGb: 160 },
};

export function server(name: string, flavorRef = "m1.small", over: Partial<ServerMember> = {}): ServerMember {
  return { type: "server", name, imageRef: "debian-12", flavorRef, ...over };
}

export function volume(name: string, sizeGb = 10, over: Partial<VolumeMember> = {}): VolumeMember {
  return { type: "volume", name, sizeGb, ...over };
}

/** Normalize's defaults: scope "host" ("zone" for proximity), hard (proximity: soft), weight 50, one per domain. */
export function grouping(
  name: string,
  rule: Rule,
  members: string[],
  over: Partial<Omit<Grouping, "name" | "rule" | "members">> = {},
): Grouping {
  return {
    name,
    members,
    rule,
    scope: rule === "proximity" ? "zone" : "host",
    enforcement: rule === "proximity" ? "soft" : "hard",
    weight: DEFAULT_WEIGHT,
    maxPerDomain: 1,
    ...over,
  };
}

/** attachTo implies hard server-volume affinity at zone scope (what normalize derives). */
export function spec(name: string, members: Member[], groupings: Grouping[] = []): ClusterSpec {
  const implied = members
    .filter((m): m is VolumeMember => m.type === "volume" && m.attachTo !== undefined)
    .map((v) =>
      grouping(`attach:${v.name}`, "affinity", [v.attachTo as string, v.name], { scope: "zone", implied: true }),
    );
  return { name, members, groupings: [...groupings, ...implied] };
}

export function host(name: string, zone: string, rack: string, size: Partial<Host> = {}): Host {
  return { name, zone, rack, vcpus: 16, ramMb: 65536, diskGb: 500, ...size };
}

/**
 * zones x racks x hosts per rack, hosts named z1-r1-h1 (the zone's prefix is "z" unless given);
 * lvm@<host> per host and ceph-<zone> per zone unless disabled.
 */
export function grid(
  zones: number,
  racks: number,
  hostsPerRack: number,
  opts: {
    size?: Partial<Host>;
    zonePrefix?: string;
    lvmGb?: number;
    cephGb?: number;
    lvm?: boolean;
    ceph?: boolean;
  } = {},
): Topology {
  const hosts: Host[] = [];
  const storageBackends: StorageBackend[] = [];
  for (let z = 1; z <= zones; z++) {
    const zone = `${opts.zonePrefix ?? "z"}${z}`;
    for (let r = 1; r <= racks; r++) {
      for (let h = 1; h <= hostsPerRack; h++) {
        const name = `${zone}-r${r}-h${h}`;
        hosts.push(host(name, zone, `r${r}`, opts.size));
        if (opts.lvm !== false)
          storageBackends.push({ name: `lvm@${name}`, host: name, capacityGb: opts.lvmGb ?? 1000 });
      }
    }
    if (opts.ceph !== false) storageBackends.push({ name: `ceph-${zone}`, zone, capacityGb: opts.cephGb ?? 10000 });
  }
  return { flavors: structuredClone(FLAVORS), hosts, storageBackends };
}

/** The lifecycle tests' cloud: 2 zones (az1, az2) x 2 racks x 2 hosts of 1000 GB disk. */
export function smallTopology(): Topology {
  return grid(2, 2, 2, { zonePrefix: "az", size: { diskGb: 1000 } });
}
