import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadSpecFile, parseSpecText, SpecFileError } from "../../provider/clusterspec";
import { codes } from "../support/clusterspec";

const fixtures = join(__dirname, "..", "fixtures", "specs");

describe("parseSpecText: JSON", () => {
  it("parses what JSON.parse parses, to the same value", () => {
    const text = '{"a": [1, -2.5e3, true, false, null, "x\\n\\u00e9\\ud83d\\ude80"], "b": {"c": {}}, "d": []}';
    expect(parseSpecText(text, "json")).toEqual({ value: JSON.parse(text), issues: [] });
  });

  it("keeps __proto__ as data", () => {
    const { value } = parseSpecText('{"__proto__": {"polluted": 1}}', "json");
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value as object)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ['{"a": 1,}', "line 1, column 9: trailing comma before }", "remove the last comma"],
    [
      '{"a": 1\n "b": 2}',
      'line 2, column 2: expected "," or "}" after the value of "a", found "\\""',
      "separate entries with commas",
    ],
    ["{'a': 1}", 'line 1, column 2: expected a key in double quotes, found "\'"', 'write keys as "key": value'],
    [
      '{"a": 1} // note',
      "line 1, column 10: comments are not allowed in JSON",
      "remove the comment, or write the spec as YAML",
    ],
    [
      '{"a": [1, 2',
      'line 1, column 12: expected "," or "]" after an array entry, found the end of the text',
      "the text ends early: check for a missing ]",
    ],
    ['{"a": x}', 'line 1, column 7: expected a value, found "x"', "quote strings with double quotes"],
    ['{"a": 01}', 'line 1, column 7: invalid number "01"', undefined],
    [
      '{"a": "b\nc"}',
      "line 1, column 9: a line break or control character inside a string",
      "write it escaped, e.g. \\n",
    ],
    [
      '{"a": 1}}',
      'line 1, column 9: unexpected "}" after the end of the document',
      "a JSON file holds exactly one value; check for an extra } or ]",
    ],
    ["   ", "the file is empty", "write a cluster spec"],
  ])("reports %j with line and column", (text, message, hint) => {
    const result = parseSpecText(text, "json");
    expect(result.value).toBeUndefined();
    expect(result.issues).toEqual([{ code: "invalid_json", path: "", message, ...(hint ? { hint } : {}) }]);
  });

  it("refuses nesting beyond 512 levels without overflowing the stack", () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    expect(parseSpecText(deep, "json").issues[0]?.message).toMatch(/nested more than 512 levels/);
  });

  it("reports every repeated key with its path and lines, keeping the last value as JSON.parse would", () => {
    const text = '{\n "a": {\n  "x": 1,\n  "x": 2,\n  "x": 3\n },\n "b": [{"k": 1, "k": 2}]\n}';
    const result = parseSpecText(text, "json");
    expect(result.value).toEqual({ a: { x: 3 }, b: [{ k: 2 }] });
    expect(result.issues).toEqual([
      {
        code: "duplicate_key",
        path: "a.x",
        message: 'key "x" occurs 3 times in "a" (lines 3, 4 and 5); only the last one would be kept',
        hint: 'keep only one "x"',
      },
      {
        code: "duplicate_key",
        path: "b[0].k",
        message: 'key "k" occurs 2 times in "b[0]" (at 7:9 and 7:17); only the last one would be kept',
        hint: 'keep only one "k"',
      },
    ]);
  });
});

describe("parseSpecText: YAML", () => {
  it("parses YAML", () => {
    expect(parseSpecText("name: c\ninstances:\n  - {name: a, type: server}\n", "yaml")).toEqual({
      value: { name: "c", instances: [{ name: "a", type: "server" }] },
      issues: [],
    });
  });

  it("reports repeated keys with path and lines", () => {
    const text = "vcluster:\n  instances:\n    instance: {name: a}\n    instance: {name: b}\n";
    expect(parseSpecText(text, "yaml").issues).toEqual([
      {
        code: "duplicate_key",
        path: "vcluster.instances.instance",
        message:
          'key "instance" occurs 2 times in "vcluster.instances" (lines 3 and 4); only the last one would be kept',
        hint: 'write an array instead of repeating a key: "instances": [ {...}, {...} ]',
      },
    ]);
  });

  it("reports syntax errors with line and column", () => {
    const [issue] = parseSpecText("a: [1, 2\nb: c\n", "yaml").issues;
    expect(issue?.code).toBe("invalid_yaml");
    expect(issue?.message).toMatch(/^line \d+, column \d+: /);
  });

  it("refuses alias bombs instead of expanding them", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 8; i++)
      lines.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`,
      );
    const result = parseSpecText(lines.join("\n"), "yaml");
    expect(result.value).toBeUndefined();
    expect(codes(result)).toEqual(["invalid_yaml "]);
  });
});

describe("loadSpecFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "spec-"));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const valid = { name: "c", instances: [{ name: "a", type: "server", spec: { imageRef: "i", flavorRef: "f" } }] };

  it("reads .json, .yaml, .yml and files without a known extension", () => {
    expect(loadSpecFile(write("a.json", JSON.stringify(valid))).spec?.name).toBe("c");
    expect(
      loadSpecFile(write("a.yaml", "name: c\ninstances: [{name: a, type: server, spec: {imageRef: i, flavorRef: f}}]"))
        .spec?.name,
    ).toBe("c");
    expect(loadSpecFile(write("a.yml", JSON.stringify(valid))).spec?.name).toBe("c");
    expect(loadSpecFile(write("spec", JSON.stringify(valid))).spec?.name).toBe("c");
    expect(
      loadSpecFile(
        write("spec.txt", "name: c\ninstances: [{name: a, type: server, spec: {imageRef: i, flavorRef: f}}]"),
      ).spec?.name,
    ).toBe("c");
  });

  it("uses the options' name", () => {
    const { name: _n, ...noName } = valid;
    expect(loadSpecFile(write("n.json", JSON.stringify(noName)), { name: "given" }).spec?.name).toBe("given");
  });

  it("reports an unparseable file of unknown format as JSON when it looks like JSON", () => {
    expect(codes(loadSpecFile(write("broken", '{"name": "c",')))).toEqual(["invalid_json "]);
  });

  it.each([
    ["a missing file", () => join(dir, "nope.json"), /^spec file ".*nope\.json": not found$/],
    [
      "a directory",
      () => dir,
      /^spec file ".*": it is a directory, not a regular file \(hint: give the path of a file in it\)$/,
    ],
  ])("throws a one-line SpecFileError for %s", (_what, path, message) => {
    let error: unknown;
    try {
      loadSpecFile(path());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SpecFileError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain("\n");
  });
});

describe("the blueprint's examples", () => {
  it.each(["blueprint-usecase-1.json", "blueprint-usecase-2.json"])("%s validates", (file) => {
    const result = loadSpecFile(join(fixtures, file));
    expect(result.issues).toEqual([]);
    expect(result.spec?.name).toBe("new-virtual-cluster");
  });

  it("use case 1 attaches the volume to the server (the blueprint rule)", () => {
    const spec = loadSpecFile(join(fixtures, "blueprint-usecase-1.json")).spec;
    expect(spec?.members.find((m) => m.name === "db-vol-1")).toEqual({
      type: "volume",
      name: "db-vol-1",
      sizeGb: 10,
      attachTo: "db-server-1",
    });
    expect(spec?.groupings.map((g) => g.name)).toEqual(["group-1", "attach:db-vol-1"]);
  });

  it("example 2 as published is rejected, naming both groupings called group-1", () => {
    const result = loadSpecFile(join(fixtures, "blueprint-example-2-as-published.json"));
    expect(result.spec).toBeUndefined();
    expect(result.issues).toEqual([
      {
        code: "duplicate_grouping",
        path: "vcluster.groupings[1].name",
        message: 'grouping name "group-1" is used by both vcluster.groupings[0] and vcluster.groupings[1]',
        hint: "give each grouping its own name; groupings that share a name are not merged",
        cluster: "new-virtual-cluster",
        names: ["group-1"],
      },
    ]);
  });

  it('example 1 with repeated "instance" keys gives duplicate_key and the array hint', () => {
    const result = loadSpecFile(join(fixtures, "blueprint-example-1-repeated-keys.json"));
    expect(result.spec).toBeUndefined();
    expect(result.issues).toEqual([
      {
        code: "invalid_type",
        path: "vcluster.groupings",
        message: '"groupings" must be an array, got an object',
        hint: 'write an array: "groupings": [ {...}, {...} ]',
        cluster: "new-virtual-cluster",
      },
      {
        code: "duplicate_key",
        path: "vcluster.instances.instance",
        message:
          'key "instance" occurs 2 times in "vcluster.instances" (lines 5 and 10); only the last one would be kept',
        hint: 'write an array instead of repeating a key: "instances": [ {...}, {...} ]',
      },
    ]);
  });

  it("the three-tier YAML validates", () => {
    const result = loadSpecFile(join(fixtures, "three-tier.yaml"));
    expect(result.issues).toEqual([]);
    const spec = result.spec;
    expect(spec?.members.filter((m) => m.type === "server").map((m) => m.type === "server" && m.flavorRef)).toEqual([
      "m1.small",
      "m1.small",
      "m1.medium",
      "m1.medium",
      "m1.medium",
      "m1.large",
      "m1.large",
      "m1.large",
    ]);
    expect(spec?.groupings.filter((g) => g.implied).map((g) => g.members)).toEqual([
      ["db-1", "db-vol-1"],
      ["db-2", "db-vol-2"],
      ["db-3", "db-vol-3"],
    ]);
  });
});
