// The core proof: on seeded random small instances, place() agrees with HiGHS (an exact MILP
// solver) on whether a placement exists and, where HiGHS proves optimality, on the minimal soft cost.

import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { evaluatePlacement, place } from "../../provider/placement";
import { encodeMilp } from "../support/milp";
import { grid, grouping, server, spec } from "../support/model";
import { randomInstance } from "../support/random-instance";

type Highs = Awaited<ReturnType<typeof import("highs").default>>;
let highs: Highs;

beforeAll(async () => {
  highs = await require("highs")();
});

// ORACLE_RUNS / ORACLE_SEED / ORACLE_MAX_MEMBERS / ORACLE_MAX_HOSTS widen the search when hunting
// a bug; the default run stays fixed.
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

interface Tally {
  feasible: number;
  infeasible: number;
  undecided: number;
  withCost: number;
}

function agreeWithHighs(runs: number, fcSeed: number, maxMembers: number, maxHosts: number): Tally {
  const tally: Tally = { feasible: 0, infeasible: 0, undecided: 0, withCost: 0 };
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
      const { spec, topology } = randomInstance(seed, maxMembers, maxHosts);
      const milp = encodeMilp(spec, topology);
      const sol = highs.solve(milp.lp, { output_flag: false, time_limit: 20, mip_rel_gap: 0 });
      const result = place({ spec, topology, seed });
      if (result.placed) {
        const ev = evaluatePlacement(spec, topology, result.placement);
        expect(ev.hardViolations, `seed ${seed}`).toEqual([]);
        expect(ev.cost, `seed ${seed}`).toBe(result.cost);
      }
      if (sol.Status === "Optimal") {
        tally.feasible++;
        const optimum = Math.round(sol.ObjectiveValue + milp.offset) + 0; // + 0 turns -0 into 0
        // HiGHS's own answer must also pass the evaluator with the same cost: the two encodings agree.
        const ev = evaluatePlacement(spec, topology, milp.decode(sol.Columns));
        expect(ev.hardViolations, `seed ${seed} (HiGHS solution)`).toEqual([]);
        expect(ev.cost, `seed ${seed} (HiGHS solution)`).toBe(optimum);
        expect(result.placed, `seed ${seed}: HiGHS found a placement`).toBe(true);
        if (result.placed) expect(result.cost, `seed ${seed}`).toBe(optimum);
        if (optimum > 0) tally.withCost++;
      } else if (sol.Status === "Infeasible") {
        tally.infeasible++;
        expect(result.placed, `seed ${seed}: HiGHS proved infeasible`).toBe(false);
      } else {
        tally.undecided++;
      }
    }),
    { numRuns: runs, seed: fcSeed },
  );
  return tally;
}

describe("exact oracle (HiGHS)", () => {
  const runs = env("ORACLE_RUNS", 500);
  it(`agrees on feasibility and optimal soft cost: ${runs} instances up to 12 members and 8 hosts`, () => {
    const tally = agreeWithHighs(
      runs,
      env("ORACLE_SEED", 20261123),
      env("ORACLE_MAX_MEMBERS", 12),
      env("ORACLE_MAX_HOSTS", 8),
    );
    // The generator must exercise both answers and soft costs, or the property proves little.
    expect(tally.feasible).toBeGreaterThan(runs / 4);
    expect(tally.infeasible).toBeGreaterThan(runs / 20);
    expect(tally.withCost).toBeGreaterThan(runs / 10);
    expect(tally.undecided).toBeLessThan(runs / 20);
  }, 600_000);

  it("agrees on a tightly packed 40-member, 20-host instance (every vCPU used, overlapping rack spreads)", () => {
    const topology = grid(2, 5, 2, { size: { vcpus: 16, ramMb: 65536, diskGb: 2000 }, lvm: false, ceph: false });
    const ms = Array.from({ length: 40 }, (_, i) => server(`s${i}`, "m1.xlarge"));
    const names = ms.map((m) => m.name);
    const groupings = [
      ...Array.from({ length: 8 }, (_, g) =>
        grouping(`spread-${g}`, "anti-affinity", names.slice(g * 5, g * 5 + 6), { scope: "rack" }),
      ),
      grouping("tight", "affinity", ["s0", "s7", "s13"], { scope: "rack" }),
      grouping("zones", "anti-affinity", names, { scope: "zone", enforcement: "soft", maxPerDomain: 19 }),
    ];
    const s = spec("test", ms, groupings);
    const sol = highs.solve(encodeMilp(s, topology).lp, { output_flag: false, time_limit: 60 });
    expect(sol.Status).toBe("Optimal");
    for (const seed of [0, 1, 2]) {
      const r = place({ spec: s, topology, seed });
      expect(r.placed && r.cost).toBe(Math.round(sol.ObjectiveValue));
    }
  }, 120_000);

  it("agrees on 150 larger instances, up to 20 members and 12 hosts", () => {
    const tally = agreeWithHighs(150, 4242, 20, 12);
    expect(tally.feasible).toBeGreaterThan(20);
    expect(tally.undecided).toBeLessThan(15);
  }, 600_000);
});
