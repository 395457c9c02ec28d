// The JSON Schemas shipped for editors (sdk/schema/): what the code generates is what is committed,
// and an independent validator (ajv) agrees with validate on every fixture the schema can judge.
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { loadSpecFile } from "../../provider/clusterspec";
import { jsonSchemaText, type SchemaName } from "../../provider/clusterspec/json-schema";
import { loadTopologyFile } from "../../provider/clusterspec/topology-file";
import { cli } from "../support/cli";

const ROOT = path.resolve(__dirname, "../..");
const FILES: Record<SchemaName, string> = {
  spec: "sdk/schema/vcluster.schema.json",
  topology: "sdk/schema/topology.schema.json",
};

function compile(name: SchemaName) {
  // strict: a keyword ajv doesn't know is an error, not silently ignored.
  return new Ajv2020({ strict: true, allErrors: true }).compile(
    JSON.parse(readFileSync(path.join(ROOT, FILES[name]), "utf8")),
  );
}

function read(file: string): unknown {
  const text = readFileSync(file, "utf8");
  return /\.ya?ml$/.test(file) ? parseYaml(text) : JSON.parse(text);
}

const fixtures = (dir: string) =>
  readdirSync(path.join(ROOT, "test/fixtures", dir))
    .sort()
    .map((f) => path.join(ROOT, "test/fixtures", dir, f));

/** Fixtures validate refuses for what a schema can't see, and why: grouping names used twice. */
const BEYOND_A_SCHEMA: Record<string, string> = {
  "blueprint-example-2-as-published.json": "duplicate_grouping",
};

describe.each(Object.keys(FILES) as SchemaName[])("the %s schema", (name) => {
  it("is the committed file, byte for byte", () => {
    const committed = readFileSync(path.join(ROOT, FILES[name]), "utf8");
    const refresh = `npm run build && npm run --silent vcluster -- schema ${name} > ${FILES[name]}`;
    expect(jsonSchemaText(name) === committed, `${FILES[name]} is out of date: refresh it with \`${refresh}\``).toBe(
      true,
    );
  });

  it("is what `openstack-vcluster schema` prints", async () => {
    const r = await cli(["schema", name], ROOT);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(jsonSchemaText(name));
  });

  it("is a valid JSON Schema (2020-12) that ajv compiles in strict mode", () => {
    expect(() => compile(name)).not.toThrow();
  });
});

describe("every fixture: ajv and validate agree", () => {
  const spec = compile("spec");
  it.each(fixtures("specs").map((f) => [path.basename(f), f]))("spec %s", (base, file) => {
    const result = loadSpecFile(file);
    const valid = spec(read(file));
    const beyond = BEYOND_A_SCHEMA[base];
    if (beyond !== undefined) {
      // Refused by validate for what the schema can't express; the shape itself is right.
      expect(result.issues.map((i) => i.code)).toContain(beyond);
      expect(valid, JSON.stringify(spec.errors)).toBe(true);
      return;
    }
    expect(valid, JSON.stringify(spec.errors)).toBe(result.issues.length === 0);
  });

  const topology = compile("topology");
  it.each(fixtures("topologies").map((f) => [path.basename(f), f]))("topology %s", (_base, file) => {
    const result = loadTopologyFile(file);
    expect(topology(read(file)), JSON.stringify(topology.errors)).toBe(result.issues.length === 0);
  });
});

describe("what the schema refuses, validate refuses too", () => {
  const spec = compile("spec");
  const base = { name: "c", instances: [{ name: "a", type: "server", spec: { imageRef: "i", flavorRef: "f" } }] };
  it.each([
    ["a misspelled field", { ...base, instance: [] }],
    ["a server without flavorRef", { ...base, instances: [{ name: "a", type: "server", spec: { imageRef: "i" } }] }],
    ["no instances", { ...base, instances: [] }],
    ["no name", { instances: base.instances }],
    ["an unknown rule", { ...base, groupings: [{ name: "g", membersRef: ["a", "a"], spec: { rule: "near" } }] }],
    ["a size of 0", { ...base, instances: [{ name: "v", type: "volume", spec: { size: 0 } }] }],
    ["a name of 256 characters", { ...base, name: "x".repeat(256) }],
    [
      "a size as a string in the args form",
      { ...base, instances: [{ name: "v", type: "volume", spec: { size: "10" } }] },
    ],
  ])("%s", (_what, value) => {
    expect(spec(value)).toBe(false);
  });

  it.each([
    [
      "Nova's spellings",
      {
        ...base,
        instances: [
          {
            ...base.instances[0],
            spec: { imageRef: "i", flavorRef: "f", key_name: "k", security_groups: ["s"], user_data: "u" },
          },
        ],
      },
    ],
    [
      "the blueprint form, a size as a string, block-storage",
      {
        vcluster: {
          name: "c",
          instances: [{ name: "v", type: "block-storage", spec: { size: "10", volume_type: "" } }],
        },
      },
    ],
  ])("accepted: %s", (_what, value) => {
    expect(spec(value), JSON.stringify(spec.errors)).toBe(true);
  });
});
