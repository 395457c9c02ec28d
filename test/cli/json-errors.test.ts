// With --json every command prints one JSON document on stdout, also when it fails:
// {"error": {exitCode, kind, message, issues, ...}} with the exit code unchanged and the human text
// still on stderr. In-process through run(argv, io), and once through the built binary.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/build";
import { cli, type Result, spawned } from "../support/cli";

const ROOT = path.resolve(__dirname, "../..");
const SPECS = path.join(ROOT, "test/fixtures/specs");
const SMALL = path.join(ROOT, "test/fixtures/topologies/small.json");

interface ErrorDoc {
  error: {
    exitCode: number;
    kind: string;
    message: string;
    issues: { code: string; path: string; message: string; hint?: string; members?: string[] }[];
    explanation?: { summary: string; causes: { code: string }[] };
  };
}

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "vcluster-json-errors-"));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** The one document on stdout: the whole of it parses, and it is an error with the run's exit code. */
function errorOf(r: Result, code: number, kind: string): ErrorDoc["error"] {
  expect(r.code, r.stderr).toBe(code);
  const doc = JSON.parse(r.stdout) as ErrorDoc;
  expect(Object.keys(doc)).toEqual(["error"]);
  expect(doc.error).toMatchObject({ exitCode: code, kind });
  expect(doc.error.message).not.toBe("");
  expect(doc.error.message).not.toContain("\n");
  expect(Array.isArray(doc.error.issues)).toBe(true);
  return doc.error;
}

describe("--json failures are one JSON document on stdout", () => {
  it("a missing spec file: kind file, exit 3, the human line still on stderr", async () => {
    const r = await cli(["validate", "nope.json", "--json"], work);
    const e = errorOf(r, 3, "file");
    expect(e.message).toContain("nope.json");
    expect(r.stderr).toContain("nope.json");
  });

  it("an invalid spec: every problem in issues, with code, path, message and hint", async () => {
    const r = await cli(["plan", path.join(SPECS, "blueprint-example-2-as-published.json"), "--json"], work);
    const e = errorOf(r, 1, "invalid_spec");
    const dup = e.issues.find((i) => i.code === "duplicate_grouping");
    expect(dup).toMatchObject({ path: "vcluster.groupings[1].name", hint: expect.any(String) });
    expect(r.stderr).toContain("problem");
  });

  it("an unplaceable spec: the explanation and its causes as issues, exit 2", async () => {
    const r = await cli(["plan", path.join(SPECS, "four-zones-apart.json"), "--topology", SMALL, "--json"], work);
    const e = errorOf(r, 2, "unplaceable");
    expect(e.explanation?.summary).toBe(e.message);
    expect(e.issues.map((i) => i.code)).toEqual(e.explanation?.causes.map((c) => c.code));
    expect(e.issues[0]?.hint).toBeTruthy();
  });

  it("a topology with problems: kind invalid_topology, exit 3", async () => {
    const topology = path.join(work, "bad-topology.json");
    writeFileSync(topology, JSON.stringify({ flavors: {}, hosts: [{ name: "h1" }] }));
    const r = await cli(["plan", path.join(SPECS, "three-tier.yaml"), "--topology", topology, "--json"], work);
    const e = errorOf(r, 3, "invalid_topology");
    expect(e.issues.length).toBeGreaterThan(0);
    expect(e.issues[0]?.path).toMatch(/^hosts\[0\]/);
  });

  it.each([
    [["plan", "--json"], "missing required argument"],
    [["validate", "x.json", "--json", "--bogus"], "unknown option"],
    [["plan", "x.json", "--json", "--seed", "-1"], "seed"],
    [["destroy", "c", "--json"], "unknown option"],
  ])("a usage error from argument parsing, %j: kind usage, exit 3", async (argv, words) => {
    const r = await cli(argv, work);
    const e = errorOf(r, 3, "usage");
    expect(e.message).toContain(words);
    expect(r.stderr).toContain(words);
  });

  it("show of a cluster with no state here: kind state, exit 3", async () => {
    const r = await cli(["show", "nothing-here", "--json", "--backend", "simulated"], work);
    const e = errorOf(r, 3, "state");
    expect(e.message).toContain('cluster "nothing-here" has no state');
  });

  it("list without --endpoint, and an --endpoint that is not a URL: kind usage", async () => {
    errorOf(await cli(["list", "--json"], work), 3, "usage");
    errorOf(await cli(["--endpoint", "not a url", "list", "--json"], work), 3, "usage");
  });

  it("apply of an image and a flavor the cloud doesn't have: both in issues, exit 1, nothing made", async () => {
    const dir = mkdtempSync(path.join(work, "apply-"));
    const spec = path.join(dir, "typos.json");
    writeFileSync(
      spec,
      JSON.stringify({
        name: "typos",
        instances: [
          { name: "a", type: "server", spec: { imageRef: "no-such-image", flavorRef: "m1.small" } },
          { name: "b", type: "server", spec: { imageRef: "cirros", flavorRef: "m9.huge" } },
        ],
      }),
    );
    const r = await cli(["apply", spec, "--json", "--backend", "simulated"], dir);
    const e = errorOf(r, 1, "refused");
    expect(e.issues.map((i) => [i.code, i.members])).toEqual([
      ["unknown_image", ["a"]],
      ["unknown_flavor", ["b"]],
    ]);
    const cloud = JSON.parse((await cli(["sim", "show", "--json"], dir)).stdout) as { servers: unknown[] };
    expect(cloud.servers).toEqual([]);
  });

  it("a success is the command's own document, unchanged", async () => {
    const r = await cli(["validate", path.join(SPECS, "three-tier.yaml"), "--json"], work);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ valid: true, issues: [] });
  });

  it("the user's names in an error document are escaped as in every other document", async () => {
    const r = await cli(["validate", path.join(work, "evil\u202e.json"), "--json"], work);
    errorOf(r, 3, "file");
    expect(r.stdout).not.toContain("\u202e");
    expect(r.stdout).toContain("\\u202e");
  });
});

describe("the built binary", () => {
  beforeAll(async () => {
    await ensureBuilt();
  }, 300_000);

  it("prints the error document on stdout and exits with the code it names", async () => {
    const r = await spawned(["plan", path.join(SPECS, "four-zones-apart.json"), "--topology", SMALL, "--json"], work);
    const e = errorOf(r, 2, "unplaceable");
    expect(e.explanation?.causes.length).toBeGreaterThan(0);
    const usage = await spawned(["plan", "--json"], work);
    errorOf(usage, 3, "usage");
  });
});
