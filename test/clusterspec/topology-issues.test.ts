// Topology files are reported as specs are: dot paths, line and column for syntax, "did you
// mean" for misspelled fields, the user's names quoted, repeated keys caught (JSON.parse would
// keep the last one silently), one YAML document, and never zod's own text.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadTopologyFile, validateTopology } from "../../provider/clusterspec/topology-file";

const dir = mkdtempSync(join(tmpdir(), "topology-issues-"));
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const host = { name: "h1", zone: "az1", rack: "r1", vcpus: 8, ramMb: 8192, diskGb: 100 };

describe("shape problems read like spec problems", () => {
  it("misspelled fields get a did-you-mean, missing ones a clear line, wrong types the value seen", () => {
    const { topology, issues } = validateTopology({
      flavors: { "m1.small": { vcpu: 1, ramMb: 2048, diskGb: 20 } },
      hosts: [{ name: "h1", zone: "az1", vcpus: "8", ramMb: 8192, diskGb: 100 }],
      storageBackend: [],
    });
    expect(topology).toBeUndefined();
    expect(issues).toEqual([
      {
        code: "unknown_field",
        path: 'flavors["m1.small"].vcpu',
        message: 'unknown field "vcpu"',
        hint: 'did you mean "vcpus"?',
      },
      {
        code: "missing_field",
        path: 'flavors["m1.small"].vcpus',
        message: 'missing required field "vcpus"',
      },
      { code: "missing_field", path: "hosts[0].rack", message: 'missing required field "rack"' },
      {
        code: "invalid_type",
        path: "hosts[0].vcpus",
        message: '"vcpus" must be a number, got the string "8"',
        hint: "write it as a number, without quotes: 8",
      },
      {
        code: "unknown_field",
        path: "storageBackend",
        message: 'unknown field "storageBackend"',
        hint: 'did you mean "storageBackends"?',
      },
    ]);
    for (const i of issues) expect(i.message).not.toMatch(/Invalid input|expected .* received/);
  });

  it("names follow the spec's rules: no control characters, well-formed, no surrounding spaces", () => {
    const { issues } = validateTopology({
      flavors: {},
      hosts: [
        { ...host, name: "h\n1" },
        { ...host, name: "h2\ud800" },
        { ...host, name: " h3" },
      ],
    });
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'hosts[0].name: "name" must not contain control characters (line breaks, tabs, …)',
      'hosts[1].name: "name" is not well-formed Unicode: a lone surrogate \\ud800 at character 3',
      'hosts[2].name: "name" must not start or end with whitespace',
    ]);
  });

  it('"__proto__" can\'t name a flavor (it would vanish without a word), a host or a backend', () => {
    const flavors = JSON.parse(
      '{"__proto__": {"vcpus": 1, "ramMb": 1, "diskGb": 1}, "m1": {"vcpus": 1, "ramMb": 1, "diskGb": 1}}',
    );
    const { topology, issues } = validateTopology({
      flavors,
      hosts: [{ ...host, name: "__proto__" }],
      storageBackends: [{ name: "__proto__", zone: "az1", capacityGb: 1 }],
    });
    expect(topology).toBeUndefined();
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'flavors.__proto__: flavor name "__proto__" is reserved: objects keyed by name can\'t hold it',
      'hosts[0].name: host name "__proto__" is reserved: objects keyed by name can\'t hold it',
      'storageBackends[0].name: backend name "__proto__" is reserved: objects keyed by name can\'t hold it',
    ]);
  });

  it("a topology that isn't an object says so", () => {
    expect(validateTopology([]).issues).toEqual([
      { code: "invalid_type", path: "", message: "the topology must be an object, got an array" },
    ]);
  });
});

describe("topology files", () => {
  it("JSON syntax errors name the file, the line and the column", () => {
    const path = write("broken.json", '{\n  "flavors": {},\n  "hosts": [,]\n}');
    expect(loadTopologyFile(path).issues).toEqual([
      {
        code: "invalid_json",
        path: "",
        message: `topology file "${path}": line 3, column 13: expected a value, found ","`,
        hint: "remove the extra comma",
      },
    ]);
  });

  it("YAML syntax errors name the file, the line and the column", () => {
    const path = write("broken.yaml", "flavors: {}\nhosts: [\n");
    const [issue] = loadTopologyFile(path).issues;
    expect(issue?.code).toBe("invalid_yaml");
    expect(issue?.message).toMatch(new RegExp(`^topology file "${path}": line \\d+, column \\d+: `));
  });

  it("repeated keys are caught in JSON, with their lines, as in specs", () => {
    const path = write(
      "dup.json",
      '{\n  "flavors": {},\n  "hosts": [\n    {"name": "h1", "zone": "az1", "rack": "r1", "vcpus": 8, "vcpus": 16, "ramMb": 1, "diskGb": 1}\n  ]\n}',
    );
    const { topology, issues } = loadTopologyFile(path);
    expect(topology).toBeUndefined();
    expect(issues).toEqual([
      {
        code: "duplicate_key",
        path: "hosts[0].vcpus",
        message: 'key "vcpus" occurs 2 times in "hosts[0]" (at 4:49 and 4:61); only the last one would be kept',
        hint: 'keep only one "vcpus"',
      },
    ]);
  });

  it("repeated keys are caught in YAML too", () => {
    const path = write(
      "dup.yaml",
      "flavors: {}\nhosts:\n  - {name: h1, zone: az1, rack: r1, vcpus: 8, ramMb: 1, diskGb: 1}\nhosts: []\n",
    );
    const { topology, issues } = loadTopologyFile(path);
    expect(topology).toBeUndefined();
    expect(issues.map((i) => [i.code, i.path, i.message])).toEqual([
      [
        "duplicate_key",
        "hosts",
        'key "hosts" occurs 2 times in the top-level object (lines 2 and 4); only the last one would be kept',
      ],
    ]);
  });

  it("a topology is one YAML document", () => {
    const path = write("two.yaml", "flavors: {}\nhosts: []\n---\nflavors: {}\nhosts: []\n");
    expect(loadTopologyFile(path).issues).toEqual([
      {
        code: "invalid_yaml",
        path: "",
        message: `topology file "${path}": a topology is one YAML document; found 2 (starting on lines 1, 3)`,
        hint: "remove the `---` lines that separate them, or put each in its own file",
      },
    ]);
  });

  it("an empty file says so", () => {
    const path = write("empty.json", " \n");
    expect(loadTopologyFile(path).issues.map((i) => i.message)).toEqual([`topology file "${path}": the file is empty`]);
  });

  it("a UTF-16 topology is named as such", () => {
    const path = join(dir, "wide.json");
    writeFileSync(
      path,
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"flavors": {}, "hosts": []}', "utf16le")]),
    );
    expect(loadTopologyFile(path).issues[0]?.message).toBe(
      `topology file "${path}": the file is UTF-16 text (little-endian, with a byte order mark); it must be UTF-8`,
    );
  });
});
