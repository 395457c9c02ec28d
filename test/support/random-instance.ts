// Seeded random small instances for the exact-oracle property: mixed flavors, host-local and zonal
// backends, hard and soft affinity / anti-affinity / proximity at random scopes.

import type { ClusterSpec, Grouping, Member, Scope } from "../../provider/model/cluster";
import type { Host, StorageBackend, Topology } from "../../provider/placement";
import { mulberry32 } from "../../provider/placement/prng";

const SCOPES: Scope[] = ["host", "rack", "zone"];
const FLAVORS: Topology["flavors"] = {
  f1: { vcpus: 1, ramMb: 1024, diskGb: 10 },
  f2: { vcpus: 2, ramMb: 4096, diskGb: 40 },
  f4: { vcpus: 4, ramMb: 8192, diskGb: 80 },
  f8: { vcpus: 8, ramMb: 16384, diskGb: 160 },
};

export interface Instance {
  spec: ClusterSpec;
  topology: Topology;
}

/** Seeded draws shared by the oracle's instances and the benchmark's families. */
export function seededTools(seed: number) {
  const rnd = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const shuffle = <T>(xs: T[]): T[] => {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
    }
    return xs;
  };
  return { rnd, int, pick, shuffle };
}

export function randomInstance(seed: number, maxMembers = 12, maxHosts = 8): Instance {
  const { rnd, int, pick, shuffle } = seededTools(seed);

  const hosts: Host[] = [];
  const storageBackends: StorageBackend[] = [];
  const zones = int(1, 2);
  for (let z = 1; z <= zones && hosts.length < maxHosts; z++) {
    const racks = int(1, 2);
    for (let r = 1; r <= racks && hosts.length < maxHosts; r++) {
      const n = int(1, 3);
      for (let h = 1; h <= n && hosts.length < maxHosts; h++) {
        const name = `z${z}r${r}h${h}`;
        const host: Host = {
          name,
          zone: `z${z}`,
          rack: `r${r}`,
          vcpus: pick([4, 8, 16, 16, 24]),
          ramMb: pick([8192, 16384, 32768, 32768]),
          diskGb: pick([200, 400, 400]),
        };
        if (rnd() < 0.25) host.used = { vcpus: int(0, 2), ramMb: 1024 * int(0, 4), diskGb: 10 * int(0, 5) };
        hosts.push(host);
        if (rnd() < 0.5) {
          const b: StorageBackend = { name: `lvm@${name}`, host: name, capacityGb: pick([50, 100, 300]) };
          if (rnd() < 0.3) b.volumeTypes = ["ssd"];
          storageBackends.push(b);
        }
      }
    }
    const ceph: StorageBackend = { name: `ceph-z${z}`, zone: `z${z}`, capacityGb: pick([100, 200, 1000]) };
    if (rnd() < 0.2) ceph.volumeTypes = ["hdd"];
    if (rnd() < 0.9) storageBackends.push(ceph);
  }

  const members: Member[] = [];
  const nServers = int(2, Math.max(2, maxMembers - 3));
  const nVolumes = int(0, Math.min(3, maxMembers - nServers));
  for (let i = 1; i <= nServers; i++) {
    const s: Member = {
      type: "server",
      name: `s${i}`,
      imageRef: "img",
      flavorRef: pick(["f1", "f1", "f2", "f2", "f2", "f4", "f4", "f8"]),
    };
    if (rnd() < 0.1) s.zone = `z${int(1, zones)}`;
    members.push(s);
  }
  for (let i = 1; i <= nVolumes; i++) {
    const v: Member = { type: "volume", name: `v${i}`, sizeGb: pick([10, 50, 100, 200]) };
    if (rnd() < 0.15) v.volumeType = pick(["ssd", "hdd"]);
    if (rnd() < 0.1) v.zone = `z${int(1, zones)}`;
    members.push(v);
  }

  const groupings: Grouping[] = [];
  const nGroups = int(1, Math.max(4, Math.floor(maxMembers / 3)));
  const servers = members.filter((m) => m.type === "server").map((m) => m.name);
  const volumes = members.filter((m) => m.type === "volume").map((m) => m.name);
  for (let i = 1; i <= nGroups; i++) {
    const rule = pick(["affinity", "anti-affinity", "anti-affinity", "proximity"] as const);
    // Mixed server+volume anti-affinity is rejected by validation; keep anti-affinity single-kind.
    const pool =
      rule === "anti-affinity" ? (volumes.length >= 2 && rnd() < 0.25 ? volumes : servers) : [...servers, ...volumes];
    const size = Math.min(pool.length, int(2, 5));
    if (size < 2) continue;
    groupings.push({
      name: `g${i}`,
      members: shuffle([...pool]).slice(0, size),
      rule,
      scope: pick(SCOPES),
      enforcement: rule === "proximity" ? "soft" : rnd() < 0.45 ? "hard" : "soft",
      weight: int(1, 100),
      maxPerDomain: rule === "anti-affinity" ? int(1, 2) : 1,
    });
  }
  return { spec: { name: `rand-${seed}`, members, groupings }, topology: { flavors: FLAVORS, hosts, storageBackends } };
}
