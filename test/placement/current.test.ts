// Existing members stay put unless a hard rule or capacity forces a move; forced moves are reported.
// Same input and seed give the same answer, key order included.

import { describe, expect, it } from "vitest";
import { evaluatePlacement, type Placement, place, type ServerPlacement } from "../../provider/placement";
import { grid, grouping, server, spec } from "../support/model";
import { randomInstance, seededTools } from "../support/random-instance";

const at = (host: string): ServerPlacement => {
  const [zone, rack] = host.split("-") as [string, string];
  return { type: "server", zone, rack, host };
};
const topo = () => grid(2, 2, 2, { size: { vcpus: 8 } });
/** The topology as the cloud reports it: current members' flavors already in `used`. */
function counted(current: Placement, flavor: { vcpus: number; ramMb: number; diskGb: number }) {
  const t = topo();
  for (const h of t.hosts) {
    const n = Object.values(current).filter((p) => p.type === "server" && p.host === h.name).length;
    h.used = { vcpus: n * flavor.vcpus, ramMb: n * flavor.ramMb, diskGb: n * flavor.diskGb };
  }
  return t;
}
const LARGE = { vcpus: 4, ramMb: 8192, diskGb: 80 };

describe("current placement", () => {
  it("keeps existing members where they are, even when moving would lower the soft cost", () => {
    const current = { a: at("z1-r1-h1"), b: at("z2-r1-h1") };
    const s = spec(
      "test",
      [server("a", "m1.large"), server("b", "m1.large"), server("c", "m1.large")],
      [grouping("near", "affinity", ["a", "b", "c"], { enforcement: "soft", weight: 10 })],
    );
    const r = place({ spec: s, topology: counted(current, LARGE), current });
    expect(r.placed).toBe(true);
    if (!r.placed) return;
    expect(r.placement.a).toEqual(current.a);
    expect(r.placement.b).toEqual(current.b);
    expect(r.moves).toEqual([]);
    expect(r.cost).toBe(10); // c joins a or b; the two existing members stay apart
  });

  it("does not count a staying member twice (currentIsCounted, the default)", () => {
    // Each host is full with its current member; nothing else fits, but the members themselves stay.
    const current = { a: at("z1-r1-h1"), b: at("z1-r1-h2") };
    const t = topo();
    t.hosts = t.hosts.filter((h) => h.name === "z1-r1-h1" || h.name === "z1-r1-h2");
    for (const h of t.hosts) h.used = { vcpus: 8, ramMb: 16384, diskGb: 160 };
    const s = spec("test", [server("a", "m1.xlarge"), server("b", "m1.xlarge")]);
    const r = place({ spec: s, topology: t, current });
    expect(r.placed && r.moves).toEqual([]);
    // With currentIsCounted: false the same `used` is foreign load, and nothing fits.
    expect(place({ spec: s, topology: t, current, currentIsCounted: false }).placed).toBe(false);
  });

  it("moves a member a new hard rule forbids where it is, and says why", () => {
    const current = { a: at("z1-r1-h1"), b: at("z1-r1-h1") };
    const s = spec(
      "test",
      [server("a", "m1.large"), server("b", "m1.large")],
      [grouping("apart", "anti-affinity", ["a", "b"])],
    );
    const r = place({ spec: s, topology: counted(current, LARGE), current });
    expect(r.placed).toBe(true);
    if (!r.placed) return;
    expect(r.moves).toHaveLength(1);
    const move = r.moves[0];
    expect(move?.member).toBe("b");
    expect(move?.from).toEqual(current.b);
    expect(move?.reason).toBe('old spot "z1-r1-h1": holds a member of anti-affinity grouping "apart"');
    expect(r.placement.a).toEqual(current.a);
    expect(evaluatePlacement(s, counted(current, LARGE), r.placement, { current }).hardViolations).toEqual([]);
  });

  it("moves as few existing members as the new ones need", () => {
    // c (8 vCPUs) must avoid a's host; b and d (4 each) share a host so that c gets one: one move, not two.
    const current = { a: at("z1-r1-h1"), b: at("z1-r1-h2"), d: at("z1-r2-h1") };
    const t = grid(1, 2, 2, { size: { vcpus: 8 } });
    t.hosts = t.hosts.filter((h) => h.name !== "z1-r2-h2");
    const s = spec(
      "test",
      [server("a", "m1.xlarge"), server("b", "m1.large"), server("c", "m1.xlarge"), server("d", "m1.large")],
      [grouping("apart", "anti-affinity", ["a", "c"])],
    );
    const r = place({ spec: s, topology: t, current, currentIsCounted: false });
    expect(r.placed).toBe(true);
    if (!r.placed) return;
    expect(r.moves.map((m) => m.member)).toHaveLength(1);
    // Its old host went to c, so it no longer has room there.
    expect(r.moves[0]?.reason).toMatch(/^old spot "z1-r\d-h\d": insufficient vcpus \(need 4, most free 0\)$/);
    expect(r.placement.a).toEqual(current.a);
    expect(evaluatePlacement(s, t, r.placement, { current, currentIsCounted: false }).hardViolations).toEqual([]);
  });

  it("moves a member whose host lost capacity, freeing its old spot", () => {
    const current = { a: at("z1-r1-h1") };
    const t = counted(current, LARGE);
    const h1 = t.hosts.find((h) => h.name === "z1-r1-h1");
    if (h1) h1.vcpus = 2; // the host shrank below what the member needs
    const r = place({ spec: spec("test", [server("a", "m1.large")]), topology: t, current });
    expect(r.placed && r.moves.map((m) => [m.member, m.reason])).toEqual([
      ["a", 'old spot "z1-r1-h1": insufficient vcpus (need 4, most free 2)'],
    ]);
  });

  it("ignores current members that left the spec, and current spots that no longer exist", () => {
    const current = { gone: at("z1-r1-h1"), a: at("z9-r9-h9") };
    const r = place({ spec: spec("test", [server("a")]), topology: topo(), current });
    expect(r.placed).toBe(true);
    if (r.placed) {
      expect(Object.keys(r.placement)).toEqual(["a"]);
      expect(r.moves).toEqual([]);
    }
  });
});

describe("determinism", () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])("instance %i: same seed, same answer; other seeds still valid", (i) => {
    const { spec: s, topology } = randomInstance(1000 + i);
    const a = place({ spec: s, topology, seed: 5 });
    const b = place({ spec: structuredClone(s), topology: structuredClone(topology), seed: 5 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    for (const seed of [0, 99, 123456]) {
      const r = place({ spec: s, topology, seed });
      expect(r.placed).toBe(a.placed);
      if (r.placed && a.placed) {
        expect(evaluatePlacement(s, topology, r.placement).hardViolations).toEqual([]);
        expect(r.cost).toBe(a.cost); // small instances: optimal whatever the seed
      }
    }
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])("instance %i: the order hosts and backends are listed in changes nothing", (i) => {
    const { spec: s, topology } = randomInstance(2000 + i);
    const { shuffle } = seededTools(i);
    const a = place({ spec: s, topology, seed: 5 });
    // Shuffled, and reversed (backends before the hosts they live on): compile sorts both by name.
    for (const reorder of [shuffle, <T>(xs: T[]) => xs.reverse()]) {
      const t = structuredClone(topology);
      t.hosts = reorder(t.hosts);
      t.storageBackends = reorder(t.storageBackends);
      expect(JSON.stringify(place({ spec: s, topology: t, seed: 5 }))).toBe(JSON.stringify(a));
      if (a.placed) expect(place({ spec: s, topology: t, current: a.placement, seed: 5 })).toMatchObject({ moves: [] });
    }
  });

  it("lists placement keys sorted by member name", () => {
    const r = place({ spec: spec("test", [server("zeta"), server("alpha"), server("mid")]), topology: topo() });
    expect(r.placed && Object.keys(r.placement)).toEqual(["alpha", "mid", "zeta"]);
  });
});
