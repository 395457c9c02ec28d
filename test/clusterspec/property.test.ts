import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findContradictions, parseSpecText, sortIssues, UNKNOWN, validateSpec } from "../../provider/clusterspec";
import { cluster, grouping, server, volume } from "./builders";

type Json = unknown;

/** A valid args-form spec: servers and volumes, groupings over existing members, no contradictions guaranteed. */
const validSpec = fc
  .record({
    servers: fc.integer({ min: 2, max: 6 }),
    volumes: fc.integer({ min: 0, max: 3 }),
    groupings: fc.array(
      fc.record({
        rule: fc.constantFrom("affinity", "anti-affinity", "proximity"),
        scope: fc.constantFrom(undefined, "host", "rack", "zone"),
        enforcement: fc.constantFrom(undefined, "hard", "soft"),
        picks: fc.uniqueArray(fc.integer({ min: 0, max: 5 }), { minLength: 2, maxLength: 4 }),
      }),
      { maxLength: 4 },
    ),
  })
  .map(({ servers, volumes, groupings }) => {
    const names = Array.from({ length: servers }, (_, i) => `s${i}`);
    const instances = [...names.map((n) => server(n)), ...Array.from({ length: volumes }, (_, i) => volume(`v${i}`))];
    const membersOf = (picks: number[]) => {
      const chosen = [...new Set(picks.map((p) => names[p % servers] as string))];
      return chosen.length >= 2 ? chosen : ["s0", "s1"];
    };
    const gs = groupings.map((g, i) =>
      grouping(
        `g${i}`,
        membersOf(g.picks),
        Object.fromEntries(
          Object.entries({ rule: g.rule, scope: g.scope, enforcement: g.enforcement }).filter(
            ([, v]) => v !== undefined,
          ),
        ),
      ),
    );
    return cluster(instances, gs);
  });

/** Replace, delete or duplicate something at a random spot of a JSON value. */
function mutate(value: Json, path: number[], replacement: Json, kind: number): Json {
  if (value === null || typeof value !== "object") return replacement;
  const entries: [string | number, Json][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  if (entries.length === 0) return replacement;
  const [step, ...rest] = path;
  const idx = (step ?? 0) % entries.length;
  const [key, child] = entries[idx] as [string | number, Json];
  if (rest.length === 0 || child === null || typeof child !== "object") {
    if (Array.isArray(value)) {
      const copy = [...value];
      if (kind === 0) copy.splice(idx, 1);
      else if (kind === 1) copy.splice(idx, 0, copy[idx]);
      else copy[idx] = replacement;
      return copy;
    }
    const copy: Record<string, Json> = { ...(value as Record<string, Json>) };
    if (kind === 0) delete copy[key as string];
    else if (kind === 1) copy[`${String(key)}x`] = child;
    else copy[key as string] = replacement;
    return copy;
  }
  const next = mutate(child, rest, replacement, kind);
  if (Array.isArray(value)) return value.map((v, i) => (i === idx ? next : v));
  return { ...(value as Record<string, Json>), [key]: next };
}

const weird = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(UNKNOWN, Number.NaN, Number.POSITIVE_INFINITY, -0, 1e308, "", " x ", "\u0000", "attach:x", [], {}),
);

function assertWellFormed(result: ReturnType<typeof validateSpec>): void {
  expect(Array.isArray(result.issues)).toBe(true);
  expect(result.issues).toEqual(sortIssues(result.issues));
  for (const i of result.issues) {
    expect(typeof i.code).toBe("string");
    expect(typeof i.path).toBe("string");
    expect(i.message).not.toMatch(/\n|at .*\.ts:\d+/);
  }
  if (result.spec) expect(result.issues).toEqual([]);
}

describe("validateSpec never throws", () => {
  it("on arbitrary JSON values, in both forms, with and without tolerateUnknowns", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), fc.boolean(), (value, wrap, tolerate) => {
        const result = validateSpec(wrap ? { vcluster: value } : value, { tolerateUnknowns: tolerate });
        assertWellFormed(result);
      }),
      { numRuns: 500 },
    );
  });

  it("on arbitrary values shaped like a spec", () => {
    fc.assert(
      fc.property(
        fc.record(
          { name: weird, instances: fc.array(weird, { maxLength: 5 }), groupings: weird },
          { requiredKeys: [] },
        ),
        (value) => assertWellFormed(validateSpec(value)),
      ),
      { numRuns: 300 },
    );
  });

  it("on mutated valid specs; whatever validates has no contradictions", () => {
    fc.assert(
      fc.property(
        validSpec,
        fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
        weird,
        fc.integer({ min: 0, max: 2 }),
        fc.boolean(),
        (spec, path, replacement, kind, tolerate) => {
          const mutated = mutate(spec, path, replacement, kind);
          const result = validateSpec(mutated, { tolerateUnknowns: tolerate });
          assertWellFormed(result);
          if (result.spec) expect(findContradictions(result.spec)).toEqual([]);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("valid specs without anti-affinity always validate", () => {
    fc.assert(
      fc.property(validSpec, (spec) => {
        const groupings = (spec.groupings as { spec: { rule: string } }[]).filter(
          (g) => g.spec.rule !== "anti-affinity",
        );
        const result = validateSpec({ ...spec, groupings });
        expect(result.issues).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});

describe("parseSpecText never throws", () => {
  it("on arbitrary text, as JSON and as YAML", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        for (const format of ["json", "yaml"] as const) {
          const result = parseSpecText(text, format);
          expect(Array.isArray(result.issues)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("agrees with JSON.parse on everything JSON.stringify writes", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        const result = parseSpecText(text, "json");
        expect(result.issues).toEqual([]);
        expect(result.value).toEqual(JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  it("rejects exactly what JSON.parse rejects (for duplicate-free text)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (text) => {
        let ok = true;
        try {
          JSON.parse(text);
        } catch {
          ok = false;
        }
        const result = parseSpecText(text, "json");
        if (text.trim() === "") expect(result.value).toBeUndefined();
        else expect(result.value !== undefined).toBe(ok);
      }),
      { numRuns: 1000 },
    );
  });
});
