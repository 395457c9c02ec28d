// locate: where live objects sit in the engine's terms, pinned (real hosts and backends) and
// delegated (zones, and Nova's hostId); the topology verification evaluates; usage given back.
import { describe, expect, it } from "vitest";
import type { Discovery, PlacementMode, ServerInfo, VolumeInfo } from "../../provider/backends/backend";
import {
  actualPlacement,
  coarseTopology,
  releaseUsage,
  serverLocation,
  volumeLocation,
  zoneHost,
  zoneStorage,
} from "../../provider/lifecycle/locate";
import type { MemberPlacement } from "../../provider/model/placement";
import type { Topology } from "../../provider/model/topology";
import { evaluatePlacement } from "../../provider/placement";
import { liveServer, liveVolume } from "../support/live";
import { grouping, server, smallTopology, spec } from "../support/model";

const UNBOUNDED = 1e12;

describe("serverLocation", () => {
  const topology = smallTopology();
  const cases: { name: string; mode: PlacementMode; s: ServerInfo; want: MemberPlacement | undefined }[] = [
    {
      name: "pinned: the real host, with its zone and rack",
      mode: "pinned",
      s: liveServer("s", { host: "az2-r1-h2", zone: "az2" }),
      want: { type: "server", zone: "az2", rack: "r1", host: "az2-r1-h2" },
    },
    {
      name: "pinned: a host the topology doesn't have",
      mode: "pinned",
      s: liveServer("s", { host: "elsewhere", zone: "az1" }),
      want: undefined,
    },
    { name: "pinned: no host (not visible)", mode: "pinned", s: liveServer("s", { zone: "az1" }), want: undefined },
    {
      name: "delegated: the zone's pseudo-host, the zone as its rack",
      mode: "delegated",
      s: liveServer("s", { zone: "az1", hostId: "abc", host: "az2-r1-h1" }),
      want: { type: "server", zone: "az1", rack: "az1", host: "zone:az1" },
    },
    { name: "delegated: no zone", mode: "delegated", s: liveServer("s", { hostId: "abc" }), want: undefined },
  ];
  it.each(cases)("$name", ({ mode, s, want }) => {
    expect(serverLocation(s, mode, topology)).toEqual(want);
  });
});

describe("volumeLocation", () => {
  const topology: Topology = {
    ...smallTopology(),
    storageBackends: [...smallTopology().storageBackends, { name: "lvm@gone", host: "gone", capacityGb: 10 }],
  };
  const cases: { name: string; mode: PlacementMode; v: VolumeInfo; want: MemberPlacement | undefined }[] = [
    {
      name: "pinned: a zonal backend, no host",
      mode: "pinned",
      v: liveVolume("v", { backend: "ceph-az2", zone: "az1" }),
      want: { type: "volume", backend: "ceph-az2", zone: "az2" },
    },
    {
      name: "pinned: a host-local backend, its host's zone",
      mode: "pinned",
      v: liveVolume("v", { backend: "lvm@az1-r2-h1" }),
      want: { type: "volume", backend: "lvm@az1-r2-h1", zone: "az1", host: "az1-r2-h1" },
    },
    {
      name: "pinned: a local backend of a host the topology lacks takes the volume's zone",
      mode: "pinned",
      v: liveVolume("v", { backend: "lvm@gone", zone: "az2" }),
      want: { type: "volume", backend: "lvm@gone", zone: "az2", host: "gone" },
    },
    {
      name: "pinned: ... and without a zone it can't tell",
      mode: "pinned",
      v: liveVolume("v", { backend: "lvm@gone" }),
      want: undefined,
    },
    {
      name: "pinned: a backend the topology doesn't have",
      mode: "pinned",
      v: liveVolume("v", { backend: "nfs", zone: "az1" }),
      want: undefined,
    },
    { name: "pinned: no backend (not visible)", mode: "pinned", v: liveVolume("v", { zone: "az1" }), want: undefined },
    {
      name: "delegated: the zone's pseudo-backend",
      mode: "delegated",
      v: liveVolume("v", { zone: "az2", backend: "ceph-az1" }),
      want: { type: "volume", backend: "zone-storage:az2", zone: "az2" },
    },
    { name: "delegated: no zone", mode: "delegated", v: liveVolume("v"), want: undefined },
  ];
  it.each(cases)("$name", ({ mode, v, want }) => {
    expect(volumeLocation(v, mode, topology)).toEqual(want);
  });
});

describe("actualPlacement", () => {
  it("pinned: every locatable member placed on the discovered topology, the rest unknown, sorted", () => {
    const topology = smallTopology();
    const got = actualPlacement(
      "pinned",
      topology,
      new Map([
        ["b", liveServer("s-b", { host: "az1-r1-h1" })],
        ["z", liveServer("s-z", { host: "nowhere" })],
        ["a", liveServer("s-a")],
      ]),
      new Map([
        ["v", liveVolume("v-1", { backend: "ceph-az1" })],
        ["m", liveVolume("v-2", { backend: "nfs" })],
      ]),
    );
    expect(got.topology).toBe(topology);
    expect(got.placement).toEqual({
      b: { type: "server", zone: "az1", rack: "r1", host: "az1-r1-h1" },
      v: { type: "volume", backend: "ceph-az1", zone: "az1" },
    });
    expect(got.unknown).toEqual(["a", "m", "z"]);
  });

  it("delegated: one unbounded pseudo-host per hostId (its own rack), one pseudo-backend per zone", () => {
    const topology = smallTopology();
    const got = actualPlacement(
      "delegated",
      topology,
      new Map([
        ["a", liveServer("s-a", { zone: "az1", hostId: "h-1" })],
        ["b", liveServer("s-b", { zone: "az1", hostId: "h-1" })],
        ["c", liveServer("s-c", { zone: "az2", hostId: "h-2" })],
        ["d", liveServer("s-d", { zone: "az2" })],
        ["e", liveServer("s-e", { hostId: "h-3" })],
      ]),
      new Map([
        ["v", liveVolume("v-1", { zone: "az3" })],
        ["w", liveVolume("v-2", { zone: "az1" })],
        ["x", liveVolume("v-3")],
      ]),
    );
    expect(got.placement).toEqual({
      a: { type: "server", zone: "az1", rack: "hostId:h-1", host: "hostId:h-1" },
      b: { type: "server", zone: "az1", rack: "hostId:h-1", host: "hostId:h-1" },
      c: { type: "server", zone: "az2", rack: "hostId:h-2", host: "hostId:h-2" },
      v: { type: "volume", backend: "zone-storage:az3", zone: "az3" },
      w: { type: "volume", backend: "zone-storage:az1", zone: "az1" },
    });
    expect(got.unknown).toEqual(["d", "e", "x"]);
    const host = (name: string, zone: string) => ({
      name,
      zone,
      rack: name,
      vcpus: UNBOUNDED,
      ramMb: UNBOUNDED,
      diskGb: UNBOUNDED,
    });
    expect(got.topology).toEqual({
      flavors: topology.flavors,
      hosts: [host("hostId:h-1", "az1"), host("hostId:h-2", "az2")],
      storageBackends: ["az1", "az2", "az3"].map((zone) => ({
        name: `zone-storage:${zone}`,
        zone,
        capacityGb: UNBOUNDED,
      })),
    });
  });

  it("delegated: what verification makes of it: equal hostIds break host anti-affinity, racks are unknown", () => {
    const s = spec(
      "c",
      [server("a"), server("b"), server("c")],
      [
        grouping("apart", "anti-affinity", ["a", "b"]),
        grouping("racks", "anti-affinity", ["b", "c"], { scope: "rack" }),
      ],
    );
    const got = actualPlacement(
      "delegated",
      smallTopology(),
      new Map([
        ["a", liveServer("s-a", { zone: "az1", hostId: "h-1" })],
        ["b", liveServer("s-b", { zone: "az1", hostId: "h-1" })],
        ["c", liveServer("s-c", { zone: "az1", hostId: "h-2" })],
      ]),
      new Map(),
    );
    const broken = evaluatePlacement(s, got.topology, got.placement).hardViolations.map((v) => v.grouping);
    expect(broken).toEqual(["apart"]);
  });
});

describe("releaseUsage", () => {
  /** smallTopology with some usage on az1-r1-h1 and ceph-az1, and a flavor known by id. */
  function used(): Topology {
    const t = smallTopology();
    t.flavors["m1.large"] = { ...(t.flavors["m1.large"] as Topology["flavors"][string]), id: "f-large" };
    const h = t.hosts.find((x) => x.name === "az1-r1-h1");
    if (h) h.used = { vcpus: 5, ramMb: 10240, diskGb: 100 };
    const b = t.storageBackends.find((x) => x.name === "ceph-az1");
    if (b) b.usedGb = 50;
    return t;
  }
  const usage = (t: Topology) => ({
    host: t.hosts.find((x) => x.name === "az1-r1-h1")?.used,
    ceph: t.storageBackends.find((x) => x.name === "ceph-az1")?.usedGb,
  });

  it("with nothing to release, the topology itself", () => {
    const t = used();
    expect(releaseUsage(t, [], [])).toBe(t);
  });

  it.each([
    {
      name: "a server gives back its flavor on its host",
      servers: [{ host: "az1-r1-h1", flavorRef: "m1.small" }],
      volumes: [],
      want: { host: { vcpus: 4, ramMb: 8192, diskGb: 80 }, ceph: 50 },
    },
    {
      name: "a flavor may be named by its id",
      servers: [{ host: "az1-r1-h1", flavorRef: "f-large" }],
      volumes: [],
      want: { host: { vcpus: 1, ramMb: 2048, diskGb: 20 }, ceph: 50 },
    },
    {
      name: "usage never goes below zero",
      servers: [
        { host: "az1-r1-h1", flavorRef: "m1.large" },
        { host: "az1-r1-h1", flavorRef: "m1.large" },
      ],
      volumes: [
        { backend: "ceph-az1", sizeGb: 40 },
        { backend: "ceph-az1", sizeGb: 40 },
      ],
      want: { host: { vcpus: 0, ramMb: 0, diskGb: 0 }, ceph: 0 },
    },
    {
      name: "a volume gives back its size on its backend",
      servers: [],
      volumes: [{ backend: "ceph-az1", sizeGb: 20 }],
      want: { host: { vcpus: 5, ramMb: 10240, diskGb: 100 }, ceph: 30 },
    },
    {
      name: "unknown hosts, flavors and backends, and objects with no place, change nothing",
      servers: [
        { host: "nowhere", flavorRef: "m1.small" },
        { host: "az1-r1-h1", flavorRef: "nope" },
        { flavorRef: "m1.small" },
      ],
      volumes: [{ backend: "nfs", sizeGb: 10 }, { sizeGb: 10 }],
      want: { host: { vcpus: 5, ramMb: 10240, diskGb: 100 }, ceph: 50 },
    },
  ])("$name", ({ servers, volumes, want }) => {
    const t = used();
    const before = structuredClone(t);
    expect(usage(releaseUsage(t, servers, volumes))).toEqual(want);
    expect(t).toEqual(before);
  });

  it("hosts and backends without usage stay without it", () => {
    const t = smallTopology();
    for (const h of t.hosts) delete h.used;
    for (const b of t.storageBackends) delete b.usedGb;
    const got = releaseUsage(t, [{ host: "az1-r1-h1", flavorRef: "m1.small" }], [{ backend: "ceph-az1", sizeGb: 5 }]);
    expect(got).toEqual(t);
  });
});

describe("coarseTopology", () => {
  const flavors = smallTopology().flavors;
  const discovery = (zones: string[], quota?: Discovery["quota"]): Discovery => ({
    mode: "delegated",
    topology: { flavors, hosts: [], storageBackends: [] },
    zones,
    ...(quota ? { quota } : {}),
  });

  it("one pseudo-host and one pseudo-backend per zone, sorted and without repeats, sized by the quota", () => {
    const t = coarseTopology(
      discovery(["az2", "az1", "az2"], { vcpus: 20, ramMb: 40960, gigabytes: 500, instances: 3 }),
    );
    expect(t).toEqual({
      flavors,
      hosts: ["az1", "az2"].map((zone) => ({
        name: `zone:${zone}`,
        zone,
        rack: zone,
        vcpus: 20,
        ramMb: 40960,
        diskGb: UNBOUNDED,
      })),
      storageBackends: ["az1", "az2"].map((zone) => ({ name: `zone-storage:${zone}`, zone, capacityGb: 500 })),
    });
  });

  it("no quota is unbounded; a quota of zero is zero", () => {
    const open = coarseTopology(discovery(["az1"]));
    expect(open.hosts[0]).toMatchObject({ vcpus: UNBOUNDED, ramMb: UNBOUNDED, diskGb: UNBOUNDED });
    expect(open.storageBackends[0]?.capacityGb).toBe(UNBOUNDED);
    const none = coarseTopology(discovery(["az1"], { vcpus: 0, ramMb: 0, gigabytes: 0 }));
    expect(none.hosts[0]).toMatchObject({ vcpus: 0, ramMb: 0 });
    expect(none.storageBackends[0]?.capacityGb).toBe(0);
  });

  it("no zones, no hosts", () => {
    expect(coarseTopology(discovery([]))).toEqual({ flavors, hosts: [], storageBackends: [] });
  });

  it("names pseudo-hosts and pseudo-backends as serverLocation and volumeLocation do", () => {
    const t = coarseTopology(discovery(["az1"]));
    expect(t.hosts[0]?.name).toBe(zoneHost("az1"));
    expect(t.storageBackends[0]?.name).toBe(zoneStorage("az1"));
    expect(serverLocation(liveServer("s", { zone: "az1" }), "delegated", t)?.host).toBe(zoneHost("az1"));
    expect(volumeLocation(liveVolume("v", { zone: "az1" }), "delegated", t)).toMatchObject({
      backend: zoneStorage("az1"),
    });
  });
});
