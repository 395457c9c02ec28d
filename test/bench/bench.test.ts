// The benchmark's quick mode must produce every figure (never judged on values: no timing
// assertions). Runs in-process on reduced instances and a 10-member cluster.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type BenchResults, parseArgs, report, runBench } from "./main";

const dir = mkdtempSync(path.join(tmpdir(), "bench-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const isNumber = (x: unknown) => typeof x === "number" && !Number.isNaN(x);

describe("npm run bench -- all --quick", () => {
  it("writes a JSON file with every figure of every suite", async () => {
    const out = path.join(dir, "quick.json");
    const ran = await runBench({ ...parseArgs(["all", "--quick", "--out", out]), log: () => {} });
    const json = JSON.parse(readFileSync(out, "utf8")) as BenchResults;
    expect(json.meta).toMatchObject({ suite: "all", quick: true, seeds: 2 });
    expect(json.meta.loadBefore).toHaveLength(3);

    const cells = json.placement?.cells ?? [];
    expect([...new Set(cells.map((c) => c.family))]).toEqual(["F1", "F2", "F3", "F4", "F5", "F6"]);
    for (const c of cells) {
      expect(c.seeds.length, c.cell).toBe(2);
      for (const s of c.solvers) {
        expect(isNumber(s.p50Ms) && isNumber(s.p99Ms), `${c.cell} ${s.solver}`).toBe(true);
        expect(
          s.runs.every((r) => isNumber(r.ms)),
          `${c.cell} ${s.solver}`,
        ).toBe(true);
      }
      if (c.family !== "F6") {
        expect(c.solvers.map((s) => s.solver)[0]).toBe("engine");
        expect(c.solvers.length, c.cell).toBeGreaterThan(1);
        expect(c.hostsLowerBound.every(isNumber), c.cell).toBe(true);
      } else {
        expect(c.causes?.length, c.cell).toBe(2);
      }
    }
    for (const f of ["F1", "F2"]) {
      expect(
        cells.filter((c) => c.family === f).every((c) => (c.exact ?? []).length === 2),
        f,
      ).toBe(true);
    }
    expect(cells.find((c) => c.family === "F5")?.peakMemoryMb?.every(isNumber)).toBe(true);
    // Where the time goes: every engine run has its phases; pack runs beside spread where hosts count.
    for (const c of cells) {
      for (const s of c.solvers.filter((x) => x.solver.startsWith("engine")))
        for (const k of ["compile", "bounds", "search", "explain"] as const)
          expect(isNumber(s.phases?.[k]), `${c.cell} ${s.solver} ${k}`).toBe(true);
    }
    expect(cells.filter((c) => c.family === "F3").every((c) => c.solvers.some((s) => s.solver === "engine-pack"))).toBe(
      true,
    );
    const curve = json.placement?.curve;
    expect(curve?.points.length).toBe(2);
    for (const p of curve?.points ?? []) expect(isNumber(p.p50Ms) && isNumber(p.peakMemoryMb)).toBe(true);
    expect(isNumber(curve?.timeExponent)).toBe(true);
    expect(json.placement?.targets.map((t) => t.id)).toEqual([
      "F1-time",
      "F1-objective",
      "F2-time",
      "F2-feasible",
      "F2-hosts",
      "F3-time",
      "F3-hosts",
      "F3-vs-nova",
      "F3-hosts-optimum",
      "F4-time",
      "F4-hard",
      "F4-vs-nova",
      "F5-time",
      "F5-memory",
      "F6-bound-time",
      "F6-other-time",
      "F6-minimal",
      "F6-no-false-unplaceable",
    ]);
    for (const t of json.placement?.targets ?? []) expect(t.measured, t.id).not.toMatch(/NaN|undefined/);

    const rows = json.provision?.rows ?? [];
    expect(rows.map((r) => r.members)).toEqual([10]);
    for (const r of rows) {
      for (const k of [
        "createMs",
        "createLowerBoundMs",
        "destroyMs",
        "destroyLowerBoundMs",
        "sequentialModelMs",
      ] as const)
        expect(isNumber(r[k]), k).toBe(true);
    }
    expect(isNumber(json.provision?.checkDiff?.totalMs)).toBe(true);

    // The REST service under load (quick: 20 connections, 1 s, 10 concurrent creates).
    for (const k of ["list", "describe", "createAccepted"] as const)
      expect(isNumber(json.api?.[k].p99Ms), k).toBe(true);
    expect(json.api?.concurrentCreates.clusters).toBe(10);

    // Validating large specs (quick: 1,000 members, as YAML and as JSON; the success path).
    const validate = json.validate?.rows ?? [];
    expect(validate.map((r) => `${r.members} ${r.format}`)).toEqual(["1000 yaml", "1000 json"]);
    for (const r of validate) {
      expect(r.valid, `${r.format}: ${r.runs[0]?.output}`).toBe(true);
      for (const k of ["p50Ms", "p50CpuMs", "peakGrowthMb", "fileMb"] as const) expect(isNumber(r[k]), k).toBe(true);
      for (const k of ["readMs", "parseMs", "validateMs", "contradictionsMs"] as const)
        expect(isNumber(r.phases[k]), k).toBe(true);
    }

    const text = report(ran);
    expect(text).toContain("Targets");
    expect(text).toContain("Provisioning");
    expect(text).toContain("Validating large specs");
  }, 300_000);

  it("rejects an unknown argument with the usage", () => {
    expect(() => parseArgs(["everything"])).toThrowErrorMatchingInlineSnapshot(
      `[Error: bench: unknown argument "everything"; use placement|provision|api|validate|all [--quick] [--seeds N] [--out file.json] [--highs-limit S], or cloud [--members N]]`,
    );
  });
});
