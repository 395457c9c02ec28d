// Metamorphic properties of the engine on seeded random instances: how the answer must change (or not)
// when the input changes in a known way. The exact oracle (oracle.test.ts) checks the answers themselves.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evaluatePlacement, place, type Topology } from "../../provider/placement";
import { randomInstance } from "../support/random-instance";

const instanceSeed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
// PROP_RUNS / PROP_SEED widen the search when hunting a bug; the default run stays fixed.
const RUNS = Number(process.env.PROP_RUNS ?? 100);
const fcSeed = (fallback: number) => Number(process.env.PROP_SEED ?? fallback);

/** Every host and backend twice as big, usage unchanged. */
function doubled(t: Topology): Topology {
  return {
    ...t,
    hosts: t.hosts.map((h) => ({ ...h, vcpus: h.vcpus * 2, ramMb: h.ramMb * 2, diskGb: h.diskGb * 2 })),
    storageBackends: t.storageBackends.map((b) => ({ ...b, capacityGb: b.capacityGb * 2 })),
  };
}

describe("engine properties (seeded random instances)", () => {
  it("a placement fed back as the current one stays put: no moves, same spots, same cost", () => {
    let placed = 0;
    fc.assert(
      fc.property(instanceSeed, (seed) => {
        const { spec, topology } = randomInstance(seed, 10, 6);
        const r = place({ spec, topology, seed });
        if (!r.placed) return;
        placed++;
        const again = place({ spec, topology, seed, current: r.placement, currentIsCounted: false });
        expect(again.placed, `seed ${seed}`).toBe(true);
        if (!again.placed) return;
        expect(again.moves, `seed ${seed}`).toEqual([]);
        expect(again.placement, `seed ${seed}`).toEqual(r.placement);
        expect(again.cost, `seed ${seed}`).toBe(r.cost);
      }),
      { numRuns: RUNS, seed: fcSeed(7001) },
    );
    expect(placed).toBeGreaterThan(RUNS / 4);
  });

  it("more room never turns a placement into a refusal, nor raises the cost", () => {
    fc.assert(
      fc.property(instanceSeed, (seed) => {
        const { spec, topology } = randomInstance(seed, 10, 6);
        const r = place({ spec, topology, seed });
        if (!r.placed) return;
        const roomier = doubled(topology);
        const big = place({ spec, topology: roomier, seed });
        expect(big.placed, `seed ${seed}`).toBe(true);
        if (!big.placed) return;
        expect(big.cost, `seed ${seed}`).toBeLessThanOrEqual(r.cost);
        expect(evaluatePlacement(spec, roomier, big.placement).hardViolations, `seed ${seed}`).toEqual([]);
      }),
      { numRuns: RUNS, seed: fcSeed(7002) },
    );
  });

  it("soft rules decide the cost, never whether a placement exists", () => {
    // Proximity stays: it is soft inside its scope, but its scope is a hard bound.
    fc.assert(
      fc.property(instanceSeed, (seed) => {
        const { spec, topology } = randomInstance(seed, 10, 6);
        const hardOnly = {
          ...spec,
          groupings: spec.groupings.filter((g) => g.enforcement === "hard" || g.rule === "proximity"),
        };
        const r = place({ spec, topology, seed });
        const h = place({ spec: hardOnly, topology, seed });
        expect(r.placed, `seed ${seed}`).toBe(h.placed);
        if (r.placed && h.placed) expect(h.cost, `seed ${seed}`).toBeLessThanOrEqual(r.cost);
      }),
      { numRuns: RUNS, seed: fcSeed(7003) },
    );
  });
});
