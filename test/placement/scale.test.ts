// Scale smoke test: 10,000 members on 10,000 hosts with planted groups (a hidden feasible assignment
// is built first and every rule is derived from it), so a placement is known to exist.

import { describe, expect, it } from "vitest";
import type { ClusterSpec, Grouping, Member } from "../../provider/model/cluster";
import { evaluatePlacement, type Host, place, type StorageBackend, type Topology } from "../../provider/placement";
import { mulberry32 } from "../../provider/placement/prng";
import { FLAVORS } from "../support/model";
import { randomInstance } from "../support/random-instance";

function planted(nHosts: number, nMembers: number, seed: number): ClusterSpec & { topology: Topology } {
  const rnd = mulberry32(seed);
  const hosts: Host[] = [];
  const storageBackends: StorageBackend[] = [];
  const zones = 3;
  const perRack = 40;
  for (let i = 0; i < nHosts; i++) {
    const zone = `az${(i % zones) + 1}`;
    const rack = `r${Math.floor(i / (zones * perRack))}`;
    const name = `h${String(i).padStart(5, "0")}`;
    hosts.push({ name, zone, rack, vcpus: 32, ramMb: 131072, diskGb: 2000 });
    if (i % 10 === 0) storageBackends.push({ name: `lvm@${name}`, host: name, capacityGb: 2000 });
  }
  for (let z = 1; z <= zones; z++) storageBackends.push({ name: `ceph-az${z}`, zone: `az${z}`, capacityGb: 1_000_000 });
  const flavorNames = ["m1.small", "m1.medium", "m1.large", "m1.xlarge"];
  const members: Member[] = [];
  const hidden: number[] = []; // member -> host index
  const load = new Float64Array(nHosts);
  for (let i = 0; i < nMembers; i++) {
    const f = flavorNames[Math.floor(rnd() * flavorNames.length)] as string;
    const need = FLAVORS[f]?.vcpus ?? 1;
    let h = Math.floor(rnd() * nHosts);
    while ((load[h] as number) + need > 16) h = (h + 1) % nHosts; // hidden assignment fills half of each host
    load[h] = (load[h] as number) + need;
    hidden.push(h);
    members.push({ type: "server", name: `m${String(i).padStart(5, "0")}`, imageRef: "img", flavorRef: f });
  }
  const byHost = new Map<number, number[]>();
  hidden.forEach((h, m) => {
    byHost.set(h, [...(byHost.get(h) ?? []), m]);
  });
  const groupings: Grouping[] = [];
  const name = (m: number) => (members[m] as Member).name;
  const base = { weight: 50, maxPerDomain: 1, enforcement: "hard" as const };
  // Host anti-affinity among members the hidden assignment put on different hosts.
  for (let g = 0; g < nMembers / 10; g++) {
    const ms = new Set<number>();
    const hs = new Set<number>();
    while (ms.size < 5) {
      const m = Math.floor(rnd() * nMembers);
      if (hs.has(hidden[m] as number) || ms.has(m)) continue;
      ms.add(m);
      hs.add(hidden[m] as number);
    }
    groupings.push({ ...base, name: `spread-${g}`, members: [...ms].map(name), rule: "anti-affinity", scope: "host" });
  }
  // Host affinity among members sharing a hidden host; soft rack anti-affinity with maxPerDomain 2.
  let g = 0;
  for (const ms of byHost.values()) {
    if (ms.length >= 2 && g < nMembers / 20) {
      groupings.push({
        ...base,
        name: `pair-${g++}`,
        members: ms.slice(0, 2).map(name),
        rule: "affinity",
        scope: "host",
      });
    }
  }
  for (let k = 0; k < nMembers / 50; k++) {
    const ms = Array.from({ length: 6 }, () => name(Math.floor(rnd() * nMembers)));
    groupings.push({
      ...base,
      name: `soft-${k}`,
      members: [...new Set(ms)],
      rule: "anti-affinity",
      scope: "rack",
      enforcement: "soft",
      maxPerDomain: 2,
    });
  }
  // Volumes attached (zone affinity) to a few servers.
  for (let k = 0; k < 200; k++) {
    const s = k * 37;
    members.push({ type: "volume", name: `vol-${k}`, sizeGb: 100, attachTo: name(s) });
    groupings.push({
      ...base,
      name: `attach-${k}`,
      members: [name(s), `vol-${k}`],
      rule: "affinity",
      scope: "zone",
      implied: true,
    });
  }
  return { name: "big", members, groupings, topology: { flavors: structuredClone(FLAVORS), hosts, storageBackends } };
}

describe("scale", () => {
  it("places 10,000 members on 10,000 hosts with planted groups, with no hard violation", () => {
    const { topology, ...spec } = planted(10_000, 10_000, 42);
    const result = place({ spec, topology, seed: 1 });
    expect(result.placed).toBe(true);
    if (!result.placed) return;
    expect(Object.keys(result.placement)).toHaveLength(spec.members.length);
    const ev = evaluatePlacement(spec, topology, result.placement);
    expect(ev.hardViolations).toEqual([]);
    expect(ev.cost).toBe(result.cost);
  }, 120_000);
});

describe("bounded effort", () => {
  it("a large cluster the greedy can't place gets an explanation naming the stuck member's groupings", () => {
    const { topology, ...spec } = planted(10_000, 8_000, 7);
    const big = ["x1", "x2", "x3", "x4", "x5"];
    spec.members.push(
      ...big.map((name) => ({ type: "server" as const, name, imageRef: "img", flavorRef: "m1.xlarge" })),
    );
    // Five m1.xlarge (40 vCPUs) can't share a 32-vCPU host: no lower bound sees it, search does.
    spec.groupings.push({
      name: "too-tight",
      members: big,
      rule: "affinity",
      scope: "host",
      enforcement: "hard",
      weight: 50,
      maxPerDomain: 1,
    });
    const r = place({ spec, topology, seed: 3 });
    expect(r.placed).toBe(false);
    if (r.placed) return;
    expect(r.explanation.causes.map((c) => [c.code, c.groupings])).toEqual([["conflict", ["too-tight"]]]);
    expect(Object.keys(r.explanation.members)).toHaveLength(1);
  });

  it.each([1, 10, 1000])("a node limit of %i still answers, and any placement it returns is valid", (nodeLimit) => {
    for (let seed = 0; seed < 20; seed++) {
      const { spec, topology } = randomInstance(seed * 31 + 5, 20, 12);
      const r = place({ spec, topology, seed }, { nodeLimit });
      if (r.placed) expect(evaluatePlacement(spec, topology, r.placement).hardViolations).toEqual([]);
      else expect(r.explanation.causes.length).toBeGreaterThan(0);
    }
  });
});
