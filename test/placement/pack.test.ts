// The pack strategy: fewest hosts after hard rules and soft cost, never at their expense; and the
// same answers as an exact MILP (HiGHS) that minimizes soft cost, then hosts.

import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { ClusterSpec } from "../../provider/model/cluster";
import { evaluatePlacement, type Placement, place, type Topology } from "../../provider/placement";
import { encodeMilp } from "../support/milp";
import { grid, grouping, server, spec } from "../support/model";
import { randomInstance } from "../support/random-instance";

type Highs = Awaited<ReturnType<typeof import("highs").default>>;
let highs: Highs;
beforeAll(async () => {
  highs = await require("highs")();
});

const packed = (s: ClusterSpec): ClusterSpec => ({ ...s, placementStrategy: "pack" });
const hostsOf = (p: Placement) =>
  new Set(Object.values(p).flatMap((at) => (at.type === "server" ? [at.host] : []))).size;
const empty = () => grid(1, 2, 4, { size: { vcpus: 16, ramMb: 65536, diskGb: 1000 }, lvm: false, ceph: false });

describe("pack", () => {
  it("puts what fits on one host on one host", () => {
    const s = spec(
      "test",
      ["a", "b", "c", "d"].map((n) => server(n, "m1.medium")),
    );
    const p = place({ spec: packed(s), topology: empty(), seed: 1 });
    expect(p.placed && hostsOf(p.placement)).toBe(1);
  });

  it("uses as few hosts as the lower bound on a fleet where spread's sample scatters members", () => {
    const t = grid(3, 10, 10, { size: { vcpus: 16, ramMb: 65536, diskGb: 1000 }, lvm: false, ceph: false });
    const s = spec(
      "test",
      Array.from({ length: 40 }, (_, i) => server(`s${i}`, "m1.large")),
    );
    const p = place({ spec: packed(s), topology: t, seed: 1 });
    const sp = place({ spec: s, topology: t, seed: 1 });
    expect(p.placed && hostsOf(p.placement)).toBe(10); // 40 × 4 vCPUs on 16-vCPU hosts
    expect(sp.placed && hostsOf(sp.placement)).toBeGreaterThan(10);
  });

  it("fills the host with most room first, and opens another only when the first is full", () => {
    const t = empty();
    (t.hosts[5] as Topology["hosts"][number]).vcpus = 64;
    const s = spec(
      "test",
      Array.from({ length: 10 }, (_, i) => server(`s${i}`, "m1.large")),
    );
    const r = place({ spec: packed(s), topology: t, seed: 3 });
    expect(r.placed).toBe(true);
    if (!r.placed) return;
    // 10 × 4 vCPUs: the 64-vCPU host takes 10 by vCPU, but RAM (65,536 MB / 8,192 MB) stops it at 8.
    expect(hostsOf(r.placement)).toBe(2);
    expect(
      Object.values(r.placement).filter((at) => at.type === "server" && at.host === t.hosts[5]?.name),
    ).toHaveLength(8);
  });

  it("keeps every hard rule: anti-affinity still spreads", () => {
    const names = ["a", "b", "c"];
    const s = spec(
      "test",
      names.map((n) => server(n)),
      [grouping("apart", "anti-affinity", names)],
    );
    const r = place({ spec: packed(s), topology: empty(), seed: 1 });
    expect(r.placed && hostsOf(r.placement)).toBe(3);
    expect(r.placed && evaluatePlacement(s, empty(), r.placement).hardViolations).toEqual([]);
  });

  it("never pays soft cost for fewer hosts", () => {
    const names = ["a", "b", "c", "d"];
    const s = spec(
      "test",
      names.map((n) => server(n)),
      [grouping("rather-apart", "anti-affinity", names, { enforcement: "soft", weight: 1 })],
    );
    const r = place({ spec: packed(s), topology: empty(), seed: 1 });
    expect(r.placed && r.cost).toBe(0);
    expect(r.placed && hostsOf(r.placement)).toBe(4);
  });

  it("moves no existing member to pack", () => {
    const t = empty();
    const at = (host: string) => ({ type: "server" as const, zone: "z1", rack: host.split("-")[1] as string, host });
    const current = { a: at("z1-r1-h1"), b: at("z1-r2-h1") };
    const s = spec("test", [server("a"), server("b"), server("c")]);
    const r = place({ spec: packed(s), topology: t, current, currentIsCounted: false, seed: 1 });
    expect(r.placed && r.moves).toEqual([]);
    expect(r.placed && r.placement.a).toEqual(current.a);
    expect(r.placed && r.placement.b).toEqual(current.b);
    expect(r.placed && hostsOf(r.placement)).toBe(2);
  });
});

describe("pack against HiGHS (soft cost, then hosts)", () => {
  it("agrees on feasibility and soft cost on 200 random instances, and on hosts where the search settles them", () => {
    let feasible = 0;
    let sameHosts = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        const inst = randomInstance(seed, 10, 6);
        const s = packed(inst.spec);
        const milp = encodeMilp(inst.spec, inst.topology, { pack: true });
        const sol = highs.solve(milp.lp, { output_flag: false, time_limit: 20, mip_rel_gap: 0 });
        const r = place({ spec: s, topology: inst.topology, seed });
        if (r.placed) {
          const ev = evaluatePlacement(inst.spec, inst.topology, r.placement);
          expect(ev.hardViolations, `seed ${seed}`).toEqual([]);
          expect(ev.cost, `seed ${seed}`).toBe(r.cost);
        }
        if (sol.Status === "Optimal") {
          feasible++;
          const { cost, hosts } = milp.split(sol.ObjectiveValue + milp.offset);
          expect(r.placed, `seed ${seed}: HiGHS found a placement`).toBe(true);
          if (!r.placed) return;
          expect(r.cost, `seed ${seed}`).toBe(cost);
          expect(hostsOf(r.placement), `seed ${seed}`).toBeGreaterThanOrEqual(hosts);
          if (hostsOf(r.placement) === hosts) sameHosts++;
        } else if (sol.Status === "Infeasible") expect(r.placed, `seed ${seed}`).toBe(false);
      }),
      { numRuns: 200, seed: 20261201 },
    );
    expect(feasible).toBeGreaterThan(50);
    // The hosts are the last word of the objective, searched on a small budget: the fewest nearly always.
    expect(sameHosts / feasible).toBeGreaterThan(0.95);
  }, 300_000);
});
