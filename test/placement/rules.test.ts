// Every rule x scope x enforcement on tiny topologies, for servers and volumes, plus capacity per
// dimension, zone pins and volume types. Each case states whether it places and at what cost.

import { describe, expect, it } from "vitest";
import type { ClusterSpec } from "../../provider/model/cluster";
import { evaluatePlacement, type Placement, place, type Topology } from "../../provider/placement";
import { grid, grouping, server, spec, volume } from "../support/model";

// 2 zones x 2 racks x 2 hosts of 8 vCPUs: two m1.large share a host, two m1.xlarge don't.
const small = (opts: Parameters<typeof grid>[3] = {}) => grid(2, 2, 2, { size: { vcpus: 8 }, ...opts });
const xl = (n: number, prefix = "s") => Array.from({ length: n }, (_, i) => server(`${prefix}${i + 1}`, "m1.xlarge"));
const sm = (n: number, prefix = "s") => Array.from({ length: n }, (_, i) => server(`${prefix}${i + 1}`, "m1.small"));
const names = (n: number, prefix = "s") => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

type Where = (p: Placement) => boolean;
const hostOf = (p: Placement, m: string) => {
  const at = p[m];
  return at?.type === "server" ? at.host : at?.host;
};
/** Distinct domains used; racks are named per zone, so a rack is "zone/rack". */
const distinct = (p: Placement, ms: string[], key: "host" | "rack" | "zone" | "backend") =>
  new Set(
    ms.map((m) => {
      const at = p[m] as unknown as Record<string, string | undefined>;
      return key === "rack" ? `${at.zone}/${at.rack}` : at[key];
    }),
  ).size;

interface Case {
  name: string;
  spec: ClusterSpec;
  topology?: Topology;
  placed: boolean;
  cost?: number;
  where?: Where;
}

const cases: Case[] = [
  // affinity
  {
    name: "affinity host hard: together",
    spec: spec("test", sm(3), [grouping("g", "affinity", names(3))]),
    placed: true,
    cost: 0,
    where: (p) => distinct(p, names(3), "host") === 1,
  },
  {
    name: "affinity host hard: too big for one host",
    spec: spec("test", xl(2), [grouping("g", "affinity", names(2))]),
    placed: false,
  },
  {
    name: "affinity host soft: split, pays once",
    spec: spec("test", xl(2), [grouping("g", "affinity", names(2), { enforcement: "soft", weight: 30 })]),
    placed: true,
    cost: 30,
  },
  {
    name: "affinity rack hard: two hosts of one rack",
    spec: spec("test", xl(2), [grouping("g", "affinity", names(2), { scope: "rack" })]),
    placed: true,
    cost: 0,
    where: (p) => distinct(p, names(2), "rack") === 1 && distinct(p, names(2), "host") === 2,
  },
  {
    name: "affinity rack hard: three don't fit a rack",
    spec: spec("test", xl(3), [grouping("g", "affinity", names(3), { scope: "rack" })]),
    placed: false,
  },
  {
    name: "affinity rack soft: three over two racks",
    spec: spec("test", xl(3), [grouping("g", "affinity", names(3), { scope: "rack", enforcement: "soft", weight: 7 })]),
    placed: true,
    cost: 7,
  },
  {
    name: "affinity zone hard: four in a zone",
    spec: spec("test", xl(4), [grouping("g", "affinity", names(4), { scope: "zone" })]),
    placed: true,
    cost: 0,
    where: (p) => distinct(p, names(4), "zone") === 1,
  },
  {
    name: "affinity zone hard: five don't fit a zone",
    spec: spec("test", xl(5), [grouping("g", "affinity", names(5), { scope: "zone" })]),
    placed: false,
  },
  {
    name: "affinity zone soft: five over two zones",
    spec: spec("test", xl(5), [
      grouping("g", "affinity", names(5), { scope: "zone", enforcement: "soft", weight: 11 }),
    ]),
    placed: true,
    cost: 11,
  },
  // anti-affinity
  {
    name: "anti-affinity host hard: apart",
    spec: spec("test", sm(3), [grouping("g", "anti-affinity", names(3))]),
    placed: true,
    cost: 0,
    where: (p) => distinct(p, names(3), "host") === 3,
  },
  {
    name: "anti-affinity host hard: nine on eight hosts",
    spec: spec("test", sm(9), [grouping("g", "anti-affinity", names(9))]),
    placed: false,
  },
  {
    name: "anti-affinity host hard maxPerDomain 2",
    spec: spec("test", sm(16), [grouping("g", "anti-affinity", names(16), { maxPerDomain: 2 })]),
    placed: true,
    cost: 0,
  },
  {
    name: "anti-affinity host soft: nine on eight hosts pays once",
    spec: spec("test", sm(9), [grouping("g", "anti-affinity", names(9), { enforcement: "soft", weight: 5 })]),
    placed: true,
    cost: 5,
  },
  {
    name: "anti-affinity rack hard: four racks",
    spec: spec("test", sm(4), [grouping("g", "anti-affinity", names(4), { scope: "rack" })]),
    placed: true,
    cost: 0,
    where: (p) => distinct(p, names(4), "rack") === 4,
  },
  {
    name: "anti-affinity rack hard: five on four racks",
    spec: spec("test", sm(5), [grouping("g", "anti-affinity", names(5), { scope: "rack" })]),
    placed: false,
  },
  {
    name: "anti-affinity rack soft: six on four racks pays twice",
    spec: spec("test", sm(6), [
      grouping("g", "anti-affinity", names(6), { scope: "rack", enforcement: "soft", weight: 3 }),
    ]),
    placed: true,
    cost: 6,
  },
  {
    name: "anti-affinity zone hard maxPerDomain 2: four",
    spec: spec("test", sm(4), [grouping("g", "anti-affinity", names(4), { scope: "zone", maxPerDomain: 2 })]),
    placed: true,
    cost: 0,
    where: (p) => distinct(p, names(4), "zone") === 2,
  },
  {
    name: "anti-affinity zone hard maxPerDomain 2: five",
    spec: spec("test", sm(5), [grouping("g", "anti-affinity", names(5), { scope: "zone", maxPerDomain: 2 })]),
    placed: false,
  },
  {
    name: "anti-affinity zone soft: three on two zones",
    spec: spec("test", sm(3), [
      grouping("g", "anti-affinity", names(3), { scope: "zone", enforcement: "soft", weight: 9 }),
    ]),
    placed: true,
    cost: 9,
  },
  // proximity: hard bound, cost weight x level
  {
    name: "proximity zone: one host, free",
    spec: spec("test", sm(2), [grouping("g", "proximity", names(2), { weight: 10 })]),
    placed: true,
    cost: 0,
    where: (p) => distinct(p, names(2), "host") === 1,
  },
  {
    name: "proximity zone: same rack costs 1 level",
    spec: spec("test", xl(2), [grouping("g", "proximity", names(2), { weight: 10 })]),
    placed: true,
    cost: 10,
    where: (p) => distinct(p, names(2), "rack") === 1,
  },
  {
    name: "proximity zone: same zone costs 2 levels",
    spec: spec("test", xl(3), [grouping("g", "proximity", names(3), { weight: 10 })]),
    placed: true,
    cost: 20,
    where: (p) => distinct(p, names(3), "zone") === 1,
  },
  {
    name: "proximity zone: bound is hard",
    spec: spec("test", xl(5), [grouping("g", "proximity", names(5))]),
    placed: false,
  },
  {
    name: "proximity rack: bound rack is hard",
    spec: spec("test", xl(3), [grouping("g", "proximity", names(3), { scope: "rack" })]),
    placed: false,
  },
  {
    name: "proximity rack: two cost 1 level",
    spec: spec("test", xl(2), [grouping("g", "proximity", names(2), { scope: "rack", weight: 4 })]),
    placed: true,
    cost: 4,
  },
  {
    name: "proximity host: bound host",
    spec: spec("test", sm(2), [grouping("g", "proximity", names(2), { scope: "host" })]),
    placed: true,
    cost: 0,
    where: (p) => distinct(p, names(2), "host") === 1,
  },
  // soft rules against each other: the cheaper violation wins
  {
    name: "soft anti-affinity vs proximity: cheaper side wins",
    spec: spec("test", sm(2), [
      grouping("apart", "anti-affinity", names(2), { scope: "zone", enforcement: "soft", weight: 30 }),
      grouping("near", "proximity", names(2), { weight: 20 }),
    ]),
    placed: true,
    cost: 30,
  },
  // volumes: server-volume affinity, host-local and zonal backends
  {
    name: "server-volume affinity host: local backend of the server's host, or the zone's ceph",
    spec: spec("test", [server("a"), volume("v", 100)], [grouping("g", "affinity", ["a", "v"])]),
    placed: true,
    cost: 0,
    where: (p) => {
      const v = p.v;
      return v?.type === "volume" && (v.host === undefined ? v.zone === p.a?.zone : v.host === hostOf(p, "a"));
    },
  },
  {
    name: "server-volume affinity host without ceph: the local backend",
    topology: small({ ceph: false }),
    spec: spec("test", [server("a"), volume("v", 100)], [grouping("g", "affinity", ["a", "v"])]),
    placed: true,
    where: (p) => p.v?.type === "volume" && p.v.backend === `lvm@${hostOf(p, "a")}`,
  },
  {
    name: "server-volume affinity host: volume too big for any local backend, ceph serves the zone",
    topology: small({ lvmGb: 50 }),
    spec: spec("test", [server("a"), volume("v", 100)], [grouping("g", "affinity", ["a", "v"])]),
    placed: true,
    where: (p) => p.v?.type === "volume" && p.v.backend === `ceph-${p.a?.zone}`,
  },
  {
    name: "server-volume affinity host: no ceph and no room locally",
    topology: small({ lvmGb: 50, ceph: false }),
    spec: spec("test", [server("a"), volume("v", 100)], [grouping("g", "affinity", ["a", "v"])]),
    placed: false,
  },
  {
    name: "volume-volume anti-affinity host: different backends",
    topology: small({ ceph: false }),
    spec: spec(
      "test",
      [volume("v1"), volume("v2"), volume("v3")],
      [grouping("g", "anti-affinity", ["v1", "v2", "v3"])],
    ),
    placed: true,
    cost: 0,
    where: (p) => distinct(p, ["v1", "v2", "v3"], "backend") === 3,
  },
  {
    name: "volume-volume anti-affinity zone: two zones, three volumes",
    spec: spec(
      "test",
      [volume("v1"), volume("v2"), volume("v3")],
      [grouping("g", "anti-affinity", ["v1", "v2", "v3"], { scope: "zone" })],
    ),
    placed: false,
  },
  {
    name: "volume-volume anti-affinity rack soft: ceph is a domain of its own",
    topology: grid(1, 1, 1, { size: { vcpus: 8 } }),
    spec: spec(
      "test",
      [volume("v1"), volume("v2"), volume("v3")],
      [grouping("g", "anti-affinity", ["v1", "v2", "v3"], { scope: "rack", enforcement: "soft", weight: 2 })],
    ),
    placed: true,
    cost: 2,
  },
  {
    name: "volume-volume affinity rack: local backends of one rack",
    topology: small({ ceph: false }),
    spec: spec("test", [volume("v1"), volume("v2")], [grouping("g", "affinity", ["v1", "v2"], { scope: "rack" })]),
    placed: true,
    where: (p) => new Set(["v1", "v2"].map((v) => hostOf(p, v)?.split("-h")[0])).size === 1,
  },
  // capacity per dimension
  {
    name: "capacity: RAM runs out before vCPUs",
    topology: grid(1, 1, 1, { size: { vcpus: 64, ramMb: 16384 } }),
    spec: spec("test", xl(2)),
    placed: false,
  },
  {
    name: "capacity: disk runs out",
    topology: grid(1, 1, 1, { size: { vcpus: 64, diskGb: 300 } }),
    spec: spec("test", xl(2)),
    placed: false,
  },
  {
    name: "capacity: used counts",
    topology: grid(1, 1, 2, { size: { vcpus: 8, used: { vcpus: 4, ramMb: 0, diskGb: 0 } } }),
    spec: spec("test", xl(1)),
    placed: false,
  },
  {
    name: "capacity: exactly full fits",
    topology: grid(1, 1, 1, { size: { vcpus: 8, ramMb: 16384, diskGb: 160 } }),
    spec: spec("test", xl(1)),
    placed: true,
    cost: 0,
  },
  // zone pins and volume types
  {
    name: "zone pin: servers and volumes stay in their zone",
    spec: spec("test", [server("a", "m1.small", { zone: "z2" }), volume("v", 10, { zone: "z2" })]),
    placed: true,
    where: (p) => p.a?.zone === "z2" && p.v?.zone === "z2",
  },
  {
    name: "zone pin vs zone affinity: pinned member pulls the group",
    spec: spec(
      "test",
      [server("a", "m1.small", { zone: "z2" }), server("b")],
      [grouping("g", "affinity", ["a", "b"], { scope: "zone" })],
    ),
    placed: true,
    where: (p) => p.b?.zone === "z2",
  },
  {
    name: "volume type: only a backend that serves it",
    topology: (() => {
      const t = small();
      const b = t.storageBackends.find((s) => s.name === "lvm@z2-r1-h2");
      if (b) b.volumeTypes = ["ssd"];
      for (const s of t.storageBackends) if (s.name !== "lvm@z2-r1-h2") s.volumeTypes = ["hdd"];
      return t;
    })(),
    spec: spec("test", [volume("v", 10, { volumeType: "ssd" })]),
    placed: true,
    where: (p) => p.v?.type === "volume" && p.v.backend === "lvm@z2-r1-h2",
  },
];

describe("rules", () => {
  it.each(cases)("$name", (c) => {
    const topology = c.topology ?? small();
    const result = place({ spec: c.spec, topology });
    expect(result.placed).toBe(c.placed);
    if (!result.placed) {
      expect(result.explanation.causes.length).toBeGreaterThan(0);
      expect(result.explanation.summary.startsWith(`cluster "${c.spec.name}" can't be placed: `)).toBe(true);
      return;
    }
    const ev = evaluatePlacement(c.spec, topology, result.placement);
    expect(ev.hardViolations).toEqual([]);
    expect(ev.cost).toBe(result.cost);
    if (c.cost !== undefined) expect(result.cost).toBe(c.cost);
    if (c.where) expect(c.where(result.placement), JSON.stringify(result.placement)).toBe(true);
  });
});

describe("evaluatePlacement", () => {
  const topology = small();
  const s = spec(
    "test",
    [server("a"), server("b"), server("c")],
    [
      grouping("apart", "anti-affinity", ["a", "b"]),
      grouping("together", "affinity", ["a", "c"], { scope: "rack" }),
      grouping("soft", "anti-affinity", ["b", "c"], { scope: "zone", enforcement: "soft", weight: 4 }),
    ],
  );
  const at = (host: string) => {
    const [zone, rack] = host.split("-") as [string, string];
    return { type: "server" as const, zone, rack, host };
  };

  it("reports every hard violation with the grouping and the members at stake", () => {
    const ev = evaluatePlacement(s, topology, { a: at("z1-r1-h1"), b: at("z1-r1-h1"), c: at("z2-r1-h1") });
    expect(ev.hardViolations).toMatchInlineSnapshot(`
      [
        {
          "grouping": "together",
          "members": [
            "a",
            "c",
          ],
          "message": "affinity grouping "together" spans 2 racks",
        },
        {
          "grouping": "apart",
          "members": [
            "a",
            "b",
          ],
          "message": "anti-affinity grouping "apart" has more than 1 per host",
        },
      ]
    `);
  });

  it("reports missing members, unknown hosts and capacity overruns", () => {
    const ev = evaluatePlacement(spec("test", xl(3)), grid(1, 1, 1, { size: { vcpus: 8 } }), {
      s1: at("z1-r1-h1"),
      s2: at("z1-r1-h1"),
      s3: at("nowhere-x-y"),
    });
    expect(ev.hardViolations.map((v) => v.message)).toEqual([
      '"s3" is placed on "nowhere-x-y", which is not a host of the topology',
      'host "z1-r1-h1" is over capacity by 8 vcpus',
    ]);
    expect(evaluatePlacement(spec("test", xl(1)), small(), {}).hardViolations.map((v) => v.message)).toEqual([
      '"s1" is not placed',
    ]);
  });

  it("prices soft violations and names the members involved", () => {
    const ev = evaluatePlacement(s, topology, { a: at("z1-r1-h1"), b: at("z1-r2-h1"), c: at("z1-r1-h2") });
    expect(ev.hardViolations).toEqual([]);
    expect(ev.softViolations).toEqual([{ grouping: "soft", members: ["b", "c"], weight: 4 }]);
    expect(ev.cost).toBe(4);
  });
});
