// Hostile input, generated: specs, topologies and files of every kind, built to break the
// readers (random bytes, deep nesting, huge numbers, broken Unicode, keys such as __proto__ and
// constructor, YAML's anchors, tags and documents). Whatever comes in, the answer is a spec (or
// topology) or a list of issues, each with a stable code, a path and a one-line message; files
// that can't be read throw only the one-line file error. Nothing throws anything else, nothing
// takes long: every input is bounded, and every call is timed.
//
// `npm test` runs ~200 cases per property with a fixed seed. A long run (CI, nightly):
//   HOSTILE_RUNS=20000 npx vitest run --config test/vitest.config.ts test/clusterspec/hostile.test.ts
// (HOSTILE_SEED=<n> picks another seed; a failure prints its seed and counterexample.)

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import {
  formatIssues,
  ISSUE_CODES,
  loadSpecFile,
  parseSpecText,
  SpecFileError,
  type SpecIssue,
  UNKNOWN,
  validateParsed,
  validateSpec,
} from "../../provider/clusterspec";
import { loadTopologyFile, TopologyFileError, validateTopology } from "../../provider/clusterspec/topology-file";

const RUNS = Number(process.env.HOSTILE_RUNS ?? 200);
const SEED = Number(process.env.HOSTILE_SEED ?? 20_251_201);
/** One call taking longer than this is a hang (generous: CI machines are shared). */
const HANG_MS = Number(process.env.HOSTILE_HANG_MS ?? 5_000);
const TIMEOUT = 60_000 + RUNS * 60;
const OPTIONS = { numRuns: RUNS, seed: SEED, endOnFailure: true } as const;

const CODES = new Set<string>(ISSUE_CODES);
const BREAKS = /[\n\r\u2028\u2029]/;
/** A stack frame ("at f (file.js:1:2)") or a code frame (a caret line under the source). */
const TRACE = /\bat \S+ \(.*:\d+:\d+\)|\n\s*\^|^\s*\^+\s*$/;

const dir = mkdtempSync(join(tmpdir(), "hostile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the long run reports. */
const stats = { inputs: 0, crashes: 0, hangs: 0, slowestMs: 0, specs: 0, topologies: 0, issues: 0, fileErrors: 0 };
afterAll(() => {
  if (process.env.HOSTILE_RUNS) {
    console.log(
      `hostile: ${stats.inputs} inputs, ${stats.crashes} crashes, ${stats.hangs} hangs (over ${HANG_MS} ms), slowest ${Math.round(stats.slowestMs)} ms; answers: ${stats.specs} specs, ${stats.topologies} topologies, ${stats.issues} issues, ${stats.fileErrors} file errors; seed ${SEED}`,
    );
  }
});

/** Runs one call: counts it, times it, and turns anything thrown into a counted crash. */
function timed<T>(what: string, call: () => T): T {
  stats.inputs++;
  const started = performance.now();
  try {
    return call();
  } catch (error) {
    if (error instanceof SpecFileError || error instanceof TopologyFileError) stats.fileErrors++;
    else stats.crashes++;
    throw error;
  } finally {
    const ms = performance.now() - started;
    stats.slowestMs = Math.max(stats.slowestMs, ms);
    if (ms > HANG_MS) {
      stats.hangs++;
      // Reported after the fact: the call did end, but no input may take this long.
      expect.fail(`${what} took ${Math.round(ms)} ms`);
    }
  }
}

function expectOneLine(text: string, what: string): void {
  expect(typeof text, what).toBe("string");
  expect(text.length, `${what} is empty`).toBeGreaterThan(0);
  expect(text, `${what} is not one line`).not.toMatch(BREAKS);
  expect(text, `${what} has a trace`).not.toMatch(TRACE);
  expect(() => encodeURIComponent(text), `${what} is not well-formed`).not.toThrow();
}

function expectIssue(issue: SpecIssue): void {
  expect(CODES.has(issue.code), `unknown code ${issue.code}`).toBe(true);
  expect(typeof issue.path).toBe("string");
  expect(issue.path).not.toMatch(/[\n\r]/);
  expectOneLine(issue.message, `message of ${issue.code} at ${JSON.stringify(issue.path)}`);
  if (issue.hint !== undefined) expectOneLine(issue.hint, `hint of ${issue.code}`);
}

/** Either a result or issues, every issue well formed, and printed one line each. */
function expectAnswer(result: { issues: SpecIssue[] }, value: unknown): void {
  expect(Array.isArray(result.issues)).toBe(true);
  if (value !== undefined) expect(result.issues).toEqual([]);
  else expect(result.issues.length, "no result and no issue").toBeGreaterThan(0);
  for (const issue of result.issues) expectIssue(issue);
  if (result.issues.length > 0) expect(formatIssues(result.issues).split("\n")).toHaveLength(result.issues.length);
  stats.issues += result.issues.length;
}

/** A spec that came out has names every later step can use (in URLs, in the cloud's metadata). */
function expectUsableSpec(spec: { name: string; members: { name: string }[]; groupings: { name: string }[] }): void {
  for (const n of [spec.name, ...spec.members.map((m) => m.name), ...spec.groupings.map((g) => g.name)]) {
    expect(() => encodeURIComponent(n)).not.toThrow();
    expect(n).not.toMatch(/\p{Cc}/u);
  }
}

function checkSpecResult(result: ReturnType<typeof validateSpec>): void {
  expectAnswer(result, result.spec);
  if (result.spec) {
    stats.specs++;
    expectUsableSpec(result.spec);
  }
}

// ---------------------------------------------------------------------------------------------
// Generators

/** Strings that have broken parsers and printers before. */
const EDGE_STRINGS = [
  "",
  " ",
  "\t",
  "\u0000",
  "a\u0000b",
  "\n",
  "a\r\nb",
  "\u001b[31m",
  "\u007f",
  "\u0085",
  "\u2028",
  "\u2029",
  "\u202e",
  "\u200f",
  "\ufeff",
  "\ud800",
  "\udfff",
  "a\ud800",
  "\udc00a",
  "\ud83d\ude80",
  "e\u0301",
  "\u{10ffff}",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "__defineGetter__",
  "then",
  "length",
  "0",
  "-1",
  "1e309",
  "NaN",
  "Infinity",
  "null",
  "true",
  "~",
  "*a",
  "&a",
  "!!binary",
  "%YAML 1.2",
  "---",
  "...",
  "? x",
  "- x",
  "{",
  "[",
  '"',
  "'",
  "\\",
  "#",
  ": ",
  "attach:x",
  "x".repeat(256),
  "é".repeat(200),
  "m1.small",
  "debian-12",
  "az1",
];

const SPEC_KEYS = [
  "name",
  "instances",
  "groupings",
  "vcluster",
  "type",
  "spec",
  "imageRef",
  "flavorRef",
  "zone",
  "networks",
  "key_name",
  "security_groups",
  "user_data",
  "metadata",
  "size",
  "volume_type",
  "attachTo",
  "membersRef",
  "rule",
  "scope",
  "enforcement",
  "weight",
  "maxPerDomain",
];
const TOPOLOGY_KEYS = [
  "flavors",
  "hosts",
  "storageBackends",
  "vcpus",
  "ramMb",
  "diskGb",
  "id",
  "rack",
  "used",
  "host",
  "capacityGb",
  "usedGb",
  "volumeTypes",
];

const edgeString = fc.constantFrom(...EDGE_STRINGS);
const anyString = fc.oneof(
  { weight: 3, arbitrary: edgeString },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.integer({ min: 0xd7f0, max: 0xe010 }).map((c) => String.fromCharCode(c)),
      maxLength: 6,
    }),
  },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }) },
);
const hostileKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SPEC_KEYS, ...TOPOLOGY_KEYS, "__proto__", "constructor", "prototype") },
  { weight: 2, arbitrary: anyString },
);
const hostileNumber = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    1,
    -1,
    2,
    10,
    100,
    0.5,
    2 ** 31,
    2 ** 53,
    2 ** 53 + 2,
    1e21,
    1e308,
    -1e308,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
  ),
  fc.integer({ min: -5, max: 200_000 }),
  fc.double(),
);

/** Any value, keys included, hostile at every level. */
const hostileValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    anyString,
    hostileNumber,
    fc.constantFrom(null, true, false, UNKNOWN),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(hostileKey, tie("value"), { maxKeys: 5 }),
  ),
})).value;

const NAMES = ["a", "b", "c", "db-1", "web-1", "v1"];
/** Mostly what belongs there, sometimes anything. */
const maybe = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 6, arbitrary: arb }, { weight: 1, arbitrary: hostileValue as fc.Arbitrary<unknown> });
const nameOrHostile = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: anyString },
);

/**
 * Objects with `shape`'s keys (those in `optional` present half the time); now and then one key
 * is missing, and now and then hostile extra keys (__proto__ among them) are added as data.
 */
function looseObject(shape: Record<string, fc.Arbitrary<unknown>>, optional: string[] = []): fc.Arbitrary<unknown> {
  const keys = Object.keys(shape);
  return fc
    .tuple(
      fc.record(shape, { requiredKeys: keys.filter((k) => !optional.includes(k)) }),
      fc.dictionary(hostileKey, hostileValue, { maxKeys: 2 }),
      fc.integer({ min: 0, max: 9 }),
      fc.nat(),
    )
    .map(([base, extra, roll, pick]) => {
      const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
      if (roll === 1) delete out[keys[pick % keys.length] as string];
      if (roll === 0) {
        for (const [k, v] of Object.entries(extra))
          Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      return out;
    });
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** At least two distinct names (a grouping needs two members), starting at `from`. */
function pickNames(names: string[], n: number, from: number): string[] {
  const count = Math.min(names.length, Math.max(2, n));
  return Array.from({ length: count }, (_, j) => names[(from + j) % names.length] as string);
}

/** Unique member and grouping names, membersRef drawn from the members: specs that can pass. */
function canonical(b: unknown): unknown {
  if (!isObj(b) || !Array.isArray(b.instances)) return b;
  const names: string[] = [];
  const instances = b.instances.map((m, i) => {
    if (!isObj(m)) return m;
    names.push(`m${i}`);
    return { ...m, name: `m${i}` };
  });
  const groupings = Array.isArray(b.groupings)
    ? b.groupings.map((g, k) =>
        isObj(g) && Array.isArray(g.membersRef) && names.length > 0
          ? { ...g, name: `g${k}`, membersRef: pickNames(names, g.membersRef.length, k) }
          : g,
      )
    : b.groupings;
  return { ...b, instances, ...(groupings !== undefined ? { groupings } : {}) };
}

const serverSpec = looseObject(
  {
    imageRef: maybe(fc.constantFrom("debian-12", "ubuntu")),
    flavorRef: maybe(fc.constantFrom("m1.small", "m1.large")),
    zone: maybe(fc.constantFrom("az1", "az2")),
    networks: maybe(fc.array(fc.constantFrom("net", "private"), { maxLength: 2 })),
    metadata: maybe(fc.dictionary(hostileKey, fc.oneof(anyString, hostileValue), { maxKeys: 3 })),
    user_data: maybe(anyString),
  },
  ["zone", "networks", "metadata", "user_data"],
);
const volumeSpec = looseObject(
  {
    size: maybe(fc.oneof(fc.integer({ min: 1, max: 100 }), hostileNumber, fc.constantFrom("10", "010", "1e3"))),
    volume_type: maybe(fc.constantFrom("", "ssd")),
    attachTo: maybe(nameOrHostile),
    zone: maybe(fc.constantFrom("az1", "az2")),
  },
  ["volume_type", "attachTo", "zone"],
);
const instance = fc.oneof(
  {
    weight: 4,
    arbitrary: looseObject({ name: nameOrHostile, type: maybe(fc.constant("server")), spec: maybe(serverSpec) }),
  },
  {
    weight: 2,
    arbitrary: looseObject({
      name: nameOrHostile,
      type: maybe(fc.constantFrom("volume", "block-storage")),
      spec: maybe(volumeSpec),
    }),
  },
  { weight: 1, arbitrary: hostileValue },
);
const grouping = looseObject({
  name: nameOrHostile,
  membersRef: maybe(fc.array(nameOrHostile, { maxLength: 5 })),
  spec: maybe(
    looseObject(
      {
        rule: maybe(fc.constantFrom("affinity", "anti-affinity", "proximity", "Affinity")),
        scope: maybe(fc.constantFrom("host", "rack", "zone")),
        enforcement: maybe(fc.constantFrom("hard", "soft")),
        weight: maybe(fc.oneof(fc.integer({ min: 1, max: 100 }), hostileNumber)),
        maxPerDomain: maybe(fc.oneof(fc.integer({ min: 1, max: 3 }), hostileNumber)),
      },
      ["scope", "enforcement", "weight", "maxPerDomain"],
    ),
  ),
});
const body = fc
  .tuple(
    looseObject(
      {
        name: nameOrHostile,
        instances: maybe(fc.array(instance, { minLength: 2, maxLength: 6 })),
        groupings: maybe(fc.array(grouping, { maxLength: 4 })),
      },
      ["groupings"],
    ),
    fc.integer({ min: 0, max: 2 }),
  )
  .map(([b, roll]) => (roll === 0 ? b : canonical(b)));
/** A valid spec: servers, volumes attached to them, groupings that don't contradict each other. */
const validBody = fc
  .record({
    servers: fc.integer({ min: 2, max: 5 }),
    volumes: fc.integer({ min: 0, max: 3 }),
    groupings: fc.array(
      fc.record({
        rule: fc.constantFrom("affinity", "proximity"),
        scope: fc.constantFrom(undefined, "host", "rack", "zone"),
        enforcement: fc.constantFrom(undefined, "hard", "soft"),
      }),
      { maxLength: 3 },
    ),
    name: fc.constantFrom("shop", "c-1", "zürich-区", "web-🚀"),
  })
  .map(({ servers, volumes, groupings, name }) => {
    const names = Array.from({ length: servers }, (_, i) => `s${i}`);
    return {
      name,
      instances: [
        ...names.map((n) => ({ name: n, type: "server", spec: { imageRef: "debian-12", flavorRef: "m1.small" } })),
        ...Array.from({ length: volumes }, (_, i) => ({
          name: `v${i}`,
          type: "volume",
          spec: { size: 10, attachTo: names[i % servers] },
        })),
      ],
      groupings: groupings.map((g, i) => ({
        name: `g${i}`,
        membersRef: names.slice(0, 2),
        spec: Object.fromEntries(Object.entries(g).filter(([, v]) => v !== undefined)),
      })),
    };
  });

/** Replaces (or removes) the value at a path chosen by `steps` with `replacement`. */
function mutateAt(value: unknown, steps: number[], replacement: unknown, remove: boolean): unknown {
  if (value === null || typeof value !== "object") return replacement;
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  if (keys.length === 0) return replacement;
  const [step = 0, ...rest] = steps;
  const key = keys[step % keys.length] as string | number;
  const child = (value as Record<string | number, unknown>)[key];
  const next =
    rest.length === 0 || child === null || typeof child !== "object"
      ? replacement
      : mutateAt(child, rest, replacement, remove);
  if (Array.isArray(value)) {
    const copy = [...value];
    if (remove && rest.length === 0) copy.splice(key as number, 1);
    else copy[key as number] = next;
    return copy;
  }
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  if (remove && rest.length === 0) delete copy[key as string];
  else
    Object.defineProperty(copy, key as string, { value: next, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** A valid spec with at most one hostile change somewhere: the inputs closest to passing. */
const nearlyValid = fc
  .tuple(validBody, fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), hostileValue, fc.integer({ min: 0, max: 5 }))
  .map(([b, steps, replacement, roll]) => (roll === 0 ? b : mutateAt(b, steps, replacement, roll === 1)));

/** Spec-shaped values, args or blueprint form, hostile anywhere. */
const specValue = fc.oneof(
  { weight: 3, arbitrary: body },
  { weight: 2, arbitrary: body.map((b) => ({ vcluster: b })) },
  { weight: 3, arbitrary: nearlyValid },
  { weight: 1, arbitrary: nearlyValid.map((b) => ({ vcluster: b })) },
  { weight: 1, arbitrary: hostileValue },
);

const count = maybe(fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), hostileNumber));
/** Topology-shaped values, hostile anywhere. */
const topologyValue = fc.oneof(
  {
    weight: 4,
    arbitrary: looseObject({
      flavors: maybe(
        fc.dictionary(hostileKey, looseObject({ vcpus: count, ramMb: count, diskGb: count, id: maybe(anyString) }), {
          maxKeys: 3,
        }),
      ),
      hosts: maybe(
        fc.array(
          looseObject({
            name: nameOrHostile,
            zone: maybe(fc.constantFrom("az1", "az2")),
            rack: maybe(fc.constantFrom("r1", "r2")),
            vcpus: count,
            ramMb: count,
            diskGb: count,
            used: maybe(looseObject({ vcpus: count, ramMb: count, diskGb: count })),
          }),
          { maxLength: 4 },
        ),
      ),
      storageBackends: maybe(
        fc.array(
          looseObject({
            name: nameOrHostile,
            host: maybe(nameOrHostile),
            zone: maybe(fc.constantFrom("az1", "az2")),
            capacityGb: count,
            usedGb: count,
            volumeTypes: maybe(fc.array(anyString, { maxLength: 2 })),
          }),
          { maxLength: 3 },
        ),
      ),
    }),
  },
  { weight: 1, arbitrary: hostileValue },
);

/** Nesting, as deep as 20,000 levels, in each way JSON and YAML can nest. */
const deepText = fc
  .tuple(
    fc.constantFrom("json-array", "json-object", "yaml-flow", "yaml-flow-map", "yaml-dash", "yaml-key", "yaml-indent"),
    fc.integer({ min: 1, max: 20_000 }),
    fc.boolean(),
  )
  .map(([style, depth, closed]) => {
    const n = style === "yaml-indent" ? Math.min(depth, 1_500) : depth;
    switch (style) {
      case "json-array":
        return `${"[".repeat(n)}${closed ? "]".repeat(n) : ""}`;
      case "json-object":
        return `${'{"a":'.repeat(n)}1${closed ? "}".repeat(n) : ""}`;
      case "yaml-flow":
        return `a: ${"[".repeat(n)}${closed ? "]".repeat(n) : ""}`;
      case "yaml-flow-map":
        return `${"{a: ".repeat(n)}1${closed ? "}".repeat(n) : ""}`;
      case "yaml-dash":
        return `${"- ".repeat(n)}x`;
      case "yaml-key":
        return `${"? ".repeat(n)}x`;
      default:
        return Array.from({ length: n }, (_, i) => `${" ".repeat(i)}k:`).join("\n");
    }
  });

/** Numbers as text, past what a double holds. */
const hugeNumberText = fc
  .tuple(fc.integer({ min: 1, max: 2_000 }), fc.constantFrom("", "-", "0.", "1e", "1e-", "-0.", "1.5e+"))
  .map(
    ([n, prefix]) =>
      `{"name": "c", "instances": [{"name": "v", "type": "volume", "spec": {"size": ${prefix}${"9".repeat(n)}}}]}`,
  );

/** Pieces of YAML that exercise the package's rarer paths. */
const YAML_SNIPPETS = [
  "a: &x [1, 2]",
  "b: *x",
  "c: *missing",
  "<<: *x",
  "d: !!binary aGVsbG8=",
  "e: !!set {a, b}",
  "f: !!omap [a: 1]",
  "g: !!timestamp 2001-12-14",
  "h: !custom value",
  "i: !!js/function 'function(){}'",
  "j: !<tag:yaml.org,2002:str> x",
  "%YAML 1.1",
  "%TAG ! tag:example.com,2000:",
  "---",
  "...",
  "k: |\n  text\n  more",
  "l: >-\n  folded",
  "? complex\n: value",
  "? [a, b]\n: value",
  "m: 'single ''quoted'''",
  'n: "double \\u00e9 \\ud800 \\x00"',
  "o:\n\t- tab",
  "p: {a: 1, a: 2}",
  "name: c",
  "instances:",
  "  - name: a",
  "    type: server",
  "    spec: {imageRef: i, flavorRef: f}",
  "groupings: [{name: g, membersRef: [a, a], spec: {rule: affinity}}]",
  "__proto__: {polluted: true}",
  "constructor: {prototype: {x: 1}}",
  "q: 0x1F",
  "r: 1_000",
  "s: .inf",
  "t: -.nan",
  "u: 1e99999",
  "\ufeffv: bom",
  "w: [a, *x, &y b, *y]",
  "x: &z { self: *z }",
];
const yamlText = fc
  .array(fc.constantFrom(...YAML_SNIPPETS), { minLength: 1, maxLength: 12 })
  .chain((lines) => fc.constantFrom("\n", "\r\n").map((eol) => lines.join(eol)));

/** A value written out as JSON or YAML, then maybe cut, or a byte flipped. */
function asText(value: fc.Arbitrary<unknown>): fc.Arbitrary<{ text: string; format: "json" | "yaml" }> {
  return fc
    .tuple(
      value,
      fc.constantFrom("json", "yaml") as fc.Arbitrary<"json" | "yaml">,
      fc.nat(),
      fc.integer({ min: 0, max: 5 }),
      anyString,
    )
    .map(([v, format, at, damage, junk]) => {
      let text: string;
      try {
        text = format === "json" ? (JSON.stringify(v) ?? "null") : YAML.stringify(v);
      } catch {
        text = String(v);
      }
      const i = text.length === 0 ? 0 : at % text.length;
      if (damage === 1) text = text.slice(0, i);
      else if (damage === 2) text = `${text.slice(0, i)}${junk}${text.slice(i + 1)}`;
      return { text, format };
    });
}

const anyText = fc.oneof(
  { weight: 3, arbitrary: asText(specValue) },
  { weight: 1, arbitrary: asText(topologyValue) },
  {
    weight: 2,
    arbitrary: deepText.map((text) => ({
      text,
      format: text.startsWith("a:") || /^[-?{ k]/.test(text) ? ("yaml" as const) : ("json" as const),
    })),
  },
  { weight: 1, arbitrary: hugeNumberText.map((text) => ({ text, format: "json" as const })) },
  { weight: 2, arbitrary: yamlText.map((text) => ({ text, format: "yaml" as const })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.string({ unit: "binary", maxLength: 300 }),
        fc.constantFrom("json", "yaml") as fc.Arbitrary<"json" | "yaml">,
      )
      .map(([text, format]) => ({ text, format })),
  },
);

/** Bytes for a file: text in UTF-8 (maybe with a BOM), re-encoded as UTF-16/32, or random. */
const fileBytes = fc.oneof(
  anyText.map(({ text }) => Buffer.from(text, "utf8")),
  anyText.map(({ text }) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, "utf8")])),
  anyText.map(({ text }) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")])),
  anyText.map(({ text }) => Buffer.from(text, "utf16le")),
  fc.uint8Array({ maxLength: 2_000 }).map((b) => Buffer.from(b)),
  fc.tuple(anyText, fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.nat()).map(([{ text }, junk, at]) => {
    const b = Buffer.from(text, "utf8");
    const i = b.length === 0 ? 0 : at % b.length;
    return Buffer.concat([b.subarray(0, i), Buffer.from(junk), b.subarray(i)]);
  }),
);

// ---------------------------------------------------------------------------------------------
// Properties

describe("hostile input never breaks the readers", () => {
  it(
    "specs as values: validateSpec answers with a spec or well-formed issues",
    () => {
      fc.assert(
        fc.property(specValue, fc.boolean(), (value, tolerate) => {
          const result = timed("validateSpec", () => validateSpec(value, { tolerateUnknowns: tolerate }));
          if (tolerate && result.hasUnknowns) {
            expect(result.spec).toBeUndefined();
            for (const issue of result.issues) expectIssue(issue);
          } else checkSpecResult(result);
        }),
        OPTIONS,
      );
    },
    TIMEOUT,
  );

  it(
    "specs as text: parse, then validate, answers with a spec or well-formed issues",
    () => {
      fc.assert(
        fc.property(anyText, ({ text, format }) => {
          const parsed = timed(`parseSpecText(${format})`, () => parseSpecText(text, format));
          for (const issue of parsed.issues) expectIssue(issue);
          if (parsed.value === undefined) expect(parsed.issues.length).toBeGreaterThan(0);
          const result = timed("validateParsed", () => validateParsed(parsed));
          checkSpecResult(result);
          // Parsing never lets a key reach a prototype.
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
          expect(Object.prototype).not.toHaveProperty("x");
        }),
        OPTIONS,
      );
    },
    TIMEOUT,
  );

  it(
    "topologies as values: validateTopology answers with a topology or well-formed issues",
    () => {
      fc.assert(
        fc.property(topologyValue, (value) => {
          const result = timed("validateTopology", () => validateTopology(value));
          expectAnswer(result, result.topology);
          if (result.topology) stats.topologies++;
          for (const h of result.topology?.hosts ?? []) expect(() => encodeURIComponent(h.name)).not.toThrow();
        }),
        OPTIONS,
      );
    },
    TIMEOUT,
  );

  it(
    "files: any bytes under any extension, as a spec and as a topology",
    () => {
      fc.assert(
        fc.property(fileBytes, fc.constantFrom(".json", ".yaml", ".yml", "", ".txt"), (bytes, ext) => {
          const path = join(dir, `input${ext}`);
          writeFileSync(path, bytes);
          const spec = timed("loadSpecFile", () => loadSpecFile(path));
          checkSpecResult(spec);
          const topology = timed("loadTopologyFile", () => loadTopologyFile(path));
          expectAnswer(topology, topology.topology);
          if (topology.topology) stats.topologies++;
        }),
        OPTIONS,
      );
    },
    TIMEOUT,
  );
});

describe("file kinds: only the one-line file error, never a hang", () => {
  /** Each kind, made once: reading any of them must neither block nor grow. */
  const kinds: [string, () => string][] = [
    ["a missing file", () => join(dir, "missing.json")],
    ["a directory", () => mkdirSync(join(dir, "d.json"), { recursive: true }) ?? join(dir, "d.json")],
    [
      "a named pipe",
      () => {
        const p = join(dir, "pipe.yaml");
        execFileSync("mkfifo", [p]);
        return p;
      },
    ],
    ["/dev/zero", () => "/dev/zero"],
    ["/dev/null", () => "/dev/null"],
    ["/dev/urandom", () => "/dev/urandom"],
    [
      "a dangling symbolic link",
      () => {
        const p = join(dir, "dangling.json");
        symlinkSync(join(dir, "nowhere"), p);
        return p;
      },
    ],
    [
      "a symbolic link loop",
      () => {
        const p = join(dir, "loop.json");
        symlinkSync(p, p);
        return p;
      },
    ],
    ["a path through a file", () => join(__filename, "x.json")],
    ["a path with a NUL byte", () => join(dir, "a\u0000b.json")],
    ["an empty path", () => ""],
    ["a path too long", () => join(dir, `${"x".repeat(5_000)}.json`)],
    ["an empty file", () => writeAndReturn("empty.json", "")],
    ["a BOM alone", () => writeAndReturn("bom.yaml", "\ufeff")],
    ["only `---`", () => writeAndReturn("dashes.yaml", "---\n---\n")],
    ["a comment only", () => writeAndReturn("comment.yaml", "# nothing\n")],
  ];

  function writeAndReturn(name: string, text: string): string {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  }

  it.each(kinds)("%s", (_what, make) => {
    const path = make();
    for (const [load, ErrorClass, prefix] of [
      [loadSpecFile, SpecFileError, "spec file "],
      [loadTopologyFile, TopologyFileError, "topology file "],
    ] as const) {
      let result: { issues: SpecIssue[] } | undefined;
      try {
        result = timed(prefix, () => load(path));
      } catch (error) {
        expect(error).toBeInstanceOf(ErrorClass);
        expectOneLine((error as Error).message, "file error");
        expect((error as Error).message.startsWith(prefix)).toBe(true);
        continue;
      }
      expectAnswer(
        result,
        (result as { spec?: unknown; topology?: unknown }).spec ?? (result as { topology?: unknown }).topology,
      );
    }
  });
});

describe("cases the long run found, kept as examples", () => {
  it.each([
    ['{"name": {"length": {"toString": 1, "valueOf": 1}}, "instances": []}', "json"],
    ['{"name": "c", "instances": {"length": {"valueOf": null, "toString": null}}}', "json"],
    [
      "name: c\ninstances: [{name: a, type: server, spec: {imageRef: i, flavorRef: f}}]\ngroupings: {length: {valueOf: 1, toString: 1}}\n",
      "yaml",
    ],
    [
      "name: c\ninstances:\n  - name: a\n    type: server\n    spec: {imageRef: {length: {toString: 0, valueOf: 0}}, flavorRef: f}\n",
      "yaml",
    ],
  ] as const)("a `length` that can't be compared, where a string or list belongs: %s", (text, format) => {
    const result = timed("validateParsed", () => validateParsed(parseSpecText(text, format)));
    expect(result.spec).toBeUndefined();
    expect(result.issues.map((i) => i.code)).toContain("invalid_type");
    for (const issue of result.issues) expectIssue(issue);
  });

  it("the same in a topology", () => {
    const bad = { length: { valueOf: 1, toString: 1 } };
    const result = validateTopology({
      flavors: {},
      hosts: [{ name: bad, zone: "z", rack: "r", vcpus: 1, ramMb: 1, diskGb: 1 }],
    });
    expect(result.issues.map((i) => `${i.code} ${i.path}`)).toEqual(["invalid_type hosts[0].name"]);
  });

  it("a YAML error that quotes a broken escape (a lone surrogate) prints it as an escape", () => {
    const parsed = parseSpecText('name: a\ninstances: "\\udc0\ud800x"\n', "yaml");
    expect(parsed.issues).toHaveLength(1);
    expectIssue(parsed.issues[0] as SpecIssue);
  });
});
