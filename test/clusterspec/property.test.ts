import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ClusterSpec,
  findContradictions,
  ISSUE_CODES,
  type IssueCode,
  parseSpecText,
  type SpecIssue,
  sortIssues,
  UNKNOWN,
  validateSpec,
} from "../../provider/clusterspec";
import { hasPath, type PathSegment, valueAt } from "../../provider/clusterspec/paths";
import { cluster, grouping, server, volume } from "../support/clusterspec";

type Json = unknown;

/** A valid args-form spec: servers and volumes, groupings over existing members, no contradictions guaranteed. */
const validSpec = fc
  .record({
    servers: fc.integer({ min: 2, max: 6 }),
    // Each volume optionally attached to a server (by index).
    volumes: fc.array(fc.option(fc.nat(), { nil: undefined }), { maxLength: 3 }),
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
    const instances = [
      ...names.map((n) => server(n)),
      ...volumes.map((to, i) => volume(`v${i}`, to === undefined ? {} : { attachTo: names[to % servers] })),
    ];
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

/** A dot path as issues write it (`vcluster.instances[2].spec["odd key"]`) back into segments. */
function parsePath(path: string): PathSegment[] {
  const out: PathSegment[] = [];
  let i = 0;
  while (i < path.length) {
    if (path[i] === "[" && path[i + 1] === '"') {
      // A quoted key: the shortest JSON string followed by "]".
      let end = path.indexOf('"]', i + 2);
      for (;;) {
        if (end < 0) throw new Error(`bad path ${JSON.stringify(path)}`);
        try {
          out.push(JSON.parse(path.slice(i + 1, end + 1)) as string);
          break;
        } catch {
          end = path.indexOf('"]', end + 1);
        }
      }
      i = end + 2;
    } else if (path[i] === "[") {
      const end = path.indexOf("]", i);
      out.push(Number(path.slice(i + 1, end)));
      i = end + 1;
    } else {
      const m = /^\.?([A-Za-z_$][\w$-]*)/.exec(path.slice(i));
      if (!m || (i === 0) !== !m[0].startsWith(".")) throw new Error(`bad path ${JSON.stringify(path)}`);
      out.push(m[1] as string);
      i += m[0].length;
    }
  }
  return out;
}

/**
 * Where an issue points is in the input: the value it names exists, or, for a missing field, the
 * object it is missing from does.
 */
function pointsInto(input: unknown, issue: SpecIssue): boolean {
  const at = parsePath(issue.path);
  if (hasPath(input, at)) return true;
  if (issue.code !== "missing_field" || at.length === 0) return false;
  const parent = valueAt(input, at.slice(0, -1));
  return parent !== null && typeof parent === "object" && !Array.isArray(parent);
}

const CODES = new Set<string>(ISSUE_CODES);

function assertIssue(issue: SpecIssue, input: unknown, codes: ReadonlySet<string> = CODES): void {
  const at = `${issue.code} at ${JSON.stringify(issue.path)}`;
  expect(codes.has(issue.code), at).toBe(true);
  expect(pointsInto(input, issue), `${at} doesn't point into the input`).toBe(true);
  expect(issue.message.trim(), at).not.toBe("");
  expect(issue.message, at).not.toMatch(/\n|at .*\.ts:\d+/);
  if (issue.hint !== undefined) expect(issue.hint.trim(), at).not.toBe("");
}

/** Sorted issues, each well-formed; a spec exactly when there is nothing wrong and nothing unknown. */
function assertWellFormed(result: ReturnType<typeof validateSpec>, input: unknown, tolerate = false): void {
  expect(result.issues).toEqual(sortIssues(result.issues));
  for (const i of result.issues) assertIssue(i, input);
  if (!tolerate) expect(result.hasUnknowns).toBe(false);
  expect(result.spec !== undefined).toBe(result.issues.length === 0 && !result.hasUnknowns);
}

/** A normalized spec written back in the args form, every default spelled out. */
function toArgs(spec: ClusterSpec): Record<string, unknown> {
  const defined = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return cluster(
    spec.members.map((m) =>
      m.type === "server"
        ? server(
            m.name,
            defined({
              imageRef: m.imageRef,
              flavorRef: m.flavorRef,
              zone: m.zone,
              networks: m.networks,
              key_name: m.keyName,
              security_groups: m.securityGroups,
              user_data: m.userData,
              metadata: m.metadata,
            }),
          )
        : volume(
            m.name,
            defined({
              size: m.sizeGb,
              volume_type: m.volumeType,
              zone: m.zone,
              attachTo: m.attachTo,
              metadata: m.metadata,
            }),
          ),
    ),
    spec.groupings
      .filter((g) => !g.implied)
      .map((g) =>
        grouping(g.name, g.members, {
          rule: g.rule,
          scope: g.scope,
          enforcement: g.enforcement,
          weight: g.weight,
          ...(g.rule === "anti-affinity" ? { maxPerDomain: g.maxPerDomain } : {}),
        }),
      ),
    spec.name,
  );
}

describe("the path check the properties use", () => {
  const input = { vcluster: { instances: [{ spec: { "odd key": 1, zone: "z" } }] } };
  it.each([
    { path: "", code: "invalid_type", ok: true },
    { path: "vcluster.instances[0].spec.zone", code: "invalid_value", ok: true },
    { path: 'vcluster.instances[0].spec["odd key"]', code: "unknown_field", ok: true },
    { path: "vcluster.instances[0].spec.size", code: "missing_field", ok: true },
    { path: "vcluster.instances[0].spec.size", code: "invalid_type", ok: false },
    { path: "vcluster.instances[1]", code: "invalid_type", ok: false },
    { path: "vcluster.instances[0].spec.zone.x", code: "missing_field", ok: false },
    { path: "instances[0]", code: "invalid_type", ok: false },
  ] as const)("$path ($code): $ok", ({ path, code, ok }) => {
    expect(pointsInto(input, { code, path, message: "m" })).toBe(ok);
  });
});

// Fixed seeds: a failure names its seed and counterexample, and every run checks the same cases.
describe("validateSpec never throws; every issue has a known code, a path into the input and a message", () => {
  it("on arbitrary JSON values, in both forms, with and without tolerateUnknowns", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), fc.boolean(), (value, wrap, tolerate) => {
        const input = wrap ? { vcluster: value } : value;
        assertWellFormed(validateSpec(input, { tolerateUnknowns: tolerate }), input, tolerate);
      }),
      { numRuns: 500, seed: 101 },
    );
  });

  it("on arbitrary values shaped like a spec", () => {
    fc.assert(
      fc.property(
        fc.record(
          { name: weird, instances: fc.array(weird, { maxLength: 5 }), groupings: weird },
          { requiredKeys: [] },
        ),
        fc.boolean(),
        (value, tolerate) => assertWellFormed(validateSpec(value, { tolerateUnknowns: tolerate }), value, tolerate),
      ),
      { numRuns: 300, seed: 102 },
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
        fc.boolean(),
        (spec, path, replacement, kind, tolerate, wrap) => {
          const mutated = mutate(wrap ? { vcluster: spec } : spec, path, replacement, kind);
          const result = validateSpec(mutated, { tolerateUnknowns: tolerate });
          assertWellFormed(result, mutated, tolerate);
          if (result.spec) expect(findContradictions(result.spec)).toEqual([]);
        },
      ),
      { numRuns: 1000, seed: 103 },
    );
  });

  it("valid specs without anti-affinity always validate, to members and groupings as written", () => {
    fc.assert(
      fc.property(validSpec, (spec) => {
        const groupings = (spec.groupings as { spec: { rule: string } }[]).filter(
          (g) => g.spec.rule !== "anti-affinity",
        );
        const result = validateSpec({ ...spec, groupings });
        expect(result.issues).toEqual([]);
        const written = (spec.instances as { name: string }[]).map((i) => i.name);
        expect(result.spec?.members.map((m) => m.name)).toEqual(written);
        const attached = result.spec?.members.filter((m) => m.type === "volume" && m.attachTo !== undefined) ?? [];
        expect(result.spec?.groupings.map((g) => g.name)).toEqual([
          ...groupings.map((g) => (g as unknown as { name: string }).name),
          ...attached.map((v) => `attach:${v.name}`),
        ]);
      }),
      { numRuns: 200, seed: 104 },
    );
  });
});

describe("normalization is idempotent", () => {
  it("a validated spec written back with every default spelled out validates to itself", () => {
    let checked = 0;
    fc.assert(
      fc.property(validSpec, fc.boolean(), (spec, wrap) => {
        const first = validateSpec(wrap ? { vcluster: spec } : spec);
        if (!first.spec) return;
        checked++;
        const again = validateSpec(toArgs(first.spec));
        expect(again.issues).toEqual([]);
        expect(again.spec).toEqual(first.spec);
      }),
      { numRuns: 300, seed: 105 },
    );
    // Most generated specs validate; the property must not hold vacuously.
    expect(checked).toBeGreaterThan(100);
  });

  it("defaults are applied once: scope, enforcement, weight, maxPerDomain", () => {
    fc.assert(
      fc.property(validSpec, (spec) => {
        const result = validateSpec(spec);
        for (const g of result.spec?.groupings ?? []) {
          expect(g.weight).toBeGreaterThanOrEqual(1);
          if (g.rule === "proximity") expect(g.enforcement).toBe("soft");
          if (g.rule !== "anti-affinity") expect(g.maxPerDomain).toBe(1);
          if (g.implied) expect(g).toMatchObject({ rule: "affinity", scope: "zone", enforcement: "hard" });
        }
      }),
      { numRuns: 200, seed: 106 },
    );
  });
});

describe("parseSpecText never throws", () => {
  const PARSE_CODES: Record<"json" | "yaml", ReadonlySet<IssueCode>> = {
    json: new Set(["invalid_json", "duplicate_key"]),
    yaml: new Set(["invalid_yaml", "duplicate_key"]),
  };

  it("on arbitrary text, as JSON and as YAML: a value or a reason, issues of its format pointing into the value", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        for (const format of ["json", "yaml"] as const) {
          const result = parseSpecText(text, format);
          if (result.value === undefined) expect(result.issues.length, format).toBeGreaterThan(0);
          for (const i of result.issues) {
            // Syntax errors are about the text (path ""); repeated keys point at the key in the value.
            assertIssue(i, i.code === "duplicate_key" ? result.value : undefined, PARSE_CODES[format]);
          }
        }
      }),
      { numRuns: 500, seed: 107 },
    );
  });

  it("finds every repeated key, at its path, keeping the last value", () => {
    const key = fc.constantFrom("a", "b", "x y");
    fc.assert(
      fc.property(
        fc.array(fc.tuple(key, fc.integer({ min: -5, max: 5 })), { minLength: 1, maxLength: 5 }),
        fc.constantFrom("json", "yaml") as fc.Arbitrary<"json" | "yaml">,
        (entries, format) => {
          const inner = `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(", ")}}`;
          const text = `{"instances": [${inner}]}`;
          const result = parseSpecText(text, format);
          expect(result.value).toEqual({ instances: [Object.fromEntries(entries)] });
          const repeated = [...new Set(entries.map(([k]) => k))].filter(
            (k) => entries.filter(([e]) => e === k).length > 1,
          );
          const found = result.issues.map((i) => {
            assertIssue(i, result.value, PARSE_CODES[format]);
            return `${i.code} ${i.path}`;
          });
          expect(found.sort()).toEqual(
            repeated.map((k) => `duplicate_key instances[0]${k === "x y" ? '["x y"]' : `.${k}`}`).sort(),
          );
        },
      ),
      { numRuns: 200, seed: 108 },
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
      { numRuns: 500, seed: 109 },
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
      { numRuns: 1000, seed: 110 },
    );
  });
});
