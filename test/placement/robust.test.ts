// Bad or degenerate inputs get an answer (a placement or an explanation), never an exception.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ClusterSpec } from "../../provider/model/cluster";
import { evaluatePlacement, formatExplanation, lowerBoundCauses, place, type Topology } from "../../provider/placement";
import { grid, grouping, server, spec, volume } from "../support/model";

const empty: Topology = { flavors: {}, hosts: [], storageBackends: [] };

const cases: { name: string; spec: ClusterSpec; topology: Topology; placed: boolean }[] = [
  { name: "empty spec, empty topology", spec: spec("test", []), topology: empty, placed: true },
  { name: "empty spec", spec: spec("test", []), topology: grid(1, 1, 1), placed: true },
  {
    name: "servers on a topology with zero hosts",
    spec: spec("test", [server("a")]),
    topology: { ...empty, flavors: grid(1, 1, 1).flavors },
    placed: false,
  },
  {
    name: "volume with no backends at all",
    spec: spec("test", [volume("v")]),
    topology: { ...grid(1, 1, 1), storageBackends: [] },
    placed: false,
  },
  {
    name: "flavor missing from the topology",
    spec: spec("test", [server("a", "nope")]),
    topology: grid(1, 1, 1),
    placed: false,
  },
  {
    name: "grouping naming unknown members",
    spec: spec("test", [server("a")], [grouping("g", "anti-affinity", ["a", "ghost"])]),
    topology: grid(1, 1, 1),
    placed: true,
  },
  {
    name: "grouping with no known members",
    spec: spec("test", [server("a")], [grouping("g", "affinity", ["x", "y"])]),
    topology: grid(1, 1, 1),
    placed: true,
  },
  {
    name: "NaN and negative sizes",
    spec: spec("test", [volume("v", Number.NaN), volume("w", -5)]),
    topology: { ...grid(1, 1, 1), storageBackends: [{ name: "b", zone: "z1", capacityGb: -1 }] },
    placed: true,
  },
  {
    name: "backend naming a missing host",
    spec: spec("test", [volume("v")]),
    topology: {
      ...grid(1, 1, 1, { ceph: false, lvm: false }),
      storageBackends: [{ name: "lvm@ghost", host: "ghost", capacityGb: 100 }],
    },
    placed: false,
  },
  {
    name: "huge numbers",
    spec: spec("test", [server("a")]),
    topology: grid(1, 1, 1, { size: { vcpus: Number.MAX_SAFE_INTEGER, ramMb: 1e300, diskGb: 1e300 } }),
    placed: true,
  },
  {
    name: "unicode names",
    spec: spec(
      "test",
      [server("数据库-1"), server("ünïcødé")],
      [grouping("группа", "anti-affinity", ["数据库-1", "ünïcødé"])],
    ),
    topology: grid(1, 1, 2),
    placed: true,
  },
  {
    name: "a member in a grouping twice",
    spec: spec("test", [server("a")], [grouping("g", "anti-affinity", ["a", "a"])]),
    topology: grid(1, 1, 1),
    placed: true,
  },
];

describe("bad inputs", () => {
  it.each(cases)("$name", (c) => {
    const r = place({ spec: c.spec, topology: c.topology });
    expect(r.placed).toBe(c.placed);
    if (!r.placed) {
      expect(formatExplanation(r.explanation)).toMatch(/^cluster "test" can't be placed: /);
    } else {
      expect(evaluatePlacement(c.spec, c.topology, r.placement).hardViolations).toEqual([]);
    }
    expect(() => lowerBoundCauses({ spec: c.spec, topology: c.topology })).not.toThrow();
  });

  it("random junk in every field never throws; what is placed is valid, the same every time", () => {
    const tally = { placed: 0, refused: 0 };
    const junk = fc.oneof(fc.constant(undefined), fc.integer(), fc.double(), fc.string(), fc.constant(null));
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            name: fc.string(),
            flavorRef: junk,
            sizeGb: junk,
            zone: junk,
            type: fc.constantFrom("server", "volume"),
          }),
          { maxLength: 6 },
        ),
        fc.array(
          fc.record({
            name: fc.string(),
            zone: fc.string(),
            rack: fc.string(),
            vcpus: junk,
            ramMb: junk,
            diskGb: junk,
          }),
          { maxLength: 4 },
        ),
        (members, hosts) => {
          const s = { name: "junk", members, groupings: [] } as unknown as ClusterSpec;
          const t = {
            flavors: { "m1.small": { vcpus: 1, ramMb: 1, diskGb: 1 } },
            hosts,
            storageBackends: [],
          } as unknown as Topology;
          const r = place({ spec: s, topology: t });
          expect(r.placed === true || r.placed === false).toBe(true);
          // The same input gives the same answer.
          expect(place({ spec: s, topology: t })).toEqual(r);
          tally[r.placed ? "placed" : "refused"]++;
          if (r.placed) {
            // Placed means every member placed, and no hard rule broken.
            expect(Object.keys(r.placement).sort()).toEqual([...new Set(members.map((m) => m.name))].sort());
            expect(evaluatePlacement(s, t, r.placement).hardViolations).toEqual([]);
          } else {
            expect(formatExplanation(r.explanation)).toMatch(/^cluster "junk" can't be placed: /);
          }
          expect(() => lowerBoundCauses({ spec: s, topology: t })).not.toThrow();
        },
      ),
      { numRuns: 200, seed: 1 },
    );
    // Both answers occur, or the property proves little.
    expect(tally.placed).toBeGreaterThan(10);
    expect(tally.refused).toBeGreaterThan(10);
  });
});
