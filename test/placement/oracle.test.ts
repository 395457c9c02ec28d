// The core proof: on seeded random small instances, place() agrees with HiGHS (an exact MILP
// solver) on whether a placement exists and, where HiGHS proves optimality, on the minimal soft cost.

import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { evaluatePlacement, place } from "../../provider/placement";
import { encodeMilp } from "./milp";
import { randomInstance } from "./random-instance";

type Highs = Awaited<ReturnType<typeof import("highs")>>;
let highs: Highs;

beforeAll(async () => {
  highs = await require("highs")();
});

// ORACLE_RUNS / ORACLE_SEED widen the search when hunting a bug; the default run stays fixed.
const RUNS = Number(process.env.ORACLE_RUNS ?? 400);
const FC_SEED = Number(process.env.ORACLE_SEED ?? 20261123);

describe("exact oracle (HiGHS)", () => {
  it(`agrees with HiGHS on feasibility and optimal soft cost over ${RUNS} random instances`, () => {
    const tally = { feasible: 0, infeasible: 0, undecided: 0, withCost: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        const { spec, topology } = randomInstance(seed);
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
      { numRuns: RUNS, seed: FC_SEED },
    );
    // The generator must exercise both answers and soft costs, or the property proves little.
    expect(tally.feasible).toBeGreaterThan(RUNS / 4);
    expect(tally.infeasible).toBeGreaterThan(RUNS / 20);
    expect(tally.withCost).toBeGreaterThan(RUNS / 10);
    expect(tally.undecided).toBeLessThan(RUNS / 20);
  }, 600_000);
});
