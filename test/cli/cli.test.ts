// The command as users run it: real files, exit codes and output. Most cases run the command
// in-process through `run(argv, io)` (what the binary calls); the smoke tests at the end spawn the
// built binary itself, so the wrapper, stdout/stderr and the process exit code are proven too.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli as runIn, spawned as spawnIn } from "../support/cli";
import { projectSimState } from "../support/sim-state";

const ROOT = path.resolve(__dirname, "../..");
const SPECS = path.join(ROOT, "test/fixtures/specs");
const TOPOLOGIES = path.join(ROOT, "test/fixtures/topologies");

const cli = (args: string[], cwd = ROOT, env: NodeJS.ProcessEnv = {}) => runIn(args, cwd, env);
const spawned = (args: string[], cwd = ROOT, env: NodeJS.ProcessEnv = {}) => spawnIn(args, cwd, env);

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "vcluster-cli-"));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("--help", () => {
  it.each([
    [[]],
    [["validate"]],
    [["plan"]],
    [["apply"]],
    [["show"]],
    [["destroy"]],
    [["sim"]],
    [["sim", "show"]],
    [["sim", "reset"]],
  ])("%j --help explains itself", async (args) => {
    const r = await cli([...args, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: openstack-vcluster/);
    expect(r.stderr).toBe("");
  });

  it("no arguments prints the help and exits 3", async () => {
    const r = await cli([]);
    expect(r.code).toBe(3);
    expect(r.stdout + r.stderr).toContain("Usage: openstack-vcluster");
  });

  it("an unknown command or flag is a usage error (3)", async () => {
    expect((await cli(["frobnicate"])).code).toBe(3);
    const r = await cli(["validate", "x.json", "--jsn"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("unknown option '--jsn'");
  });
});

describe("validate", () => {
  it.each(["blueprint-usecase-1.json", "blueprint-usecase-2.json", "three-tier.yaml"])(
    "%s is valid (exit 0)",
    async (file) => {
      const r = await cli(["validate", path.join(SPECS, file)]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^cluster ".+" is valid: \d+ members/);
    },
  );

  it("the blueprint's example 2 as published is rejected, naming both groupings called group-1", async () => {
    const r = await cli(["validate", path.join(SPECS, "blueprint-example-2-as-published.json"), "--json"]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as {
      error: { exitCode: number; kind: string; issues: { code: string; path: string; message: string }[] };
    };
    expect(out.error).toMatchObject({ exitCode: 1, kind: "invalid_spec" });
    const dup = out.error.issues.find((i) => i.code === "duplicate_grouping");
    expect(dup?.message).toContain("vcluster.groupings[0]");
    expect(dup?.message).toContain("vcluster.groupings[1]");
  });

  it("repeated keys are reported with their lines, in human form on stderr", async () => {
    const r = await cli(["validate", path.join(SPECS, "blueprint-example-1-repeated-keys.json")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/key "instance" occurs 2 times/);
    expect(r.stderr).toContain("hint: write an array");
  });

  it("--json of a valid spec", async () => {
    const r = await cli(["validate", path.join(SPECS, "three-tier.yaml"), "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ valid: true, issues: [] });
  });

  it("a missing file is one line, exit 3", async () => {
    const r = await cli(["validate", "nope.json"]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("nope.json");
  });

  it("a directory is one line, exit 3", async () => {
    const r = await cli(["validate", SPECS]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("garbage is an invalid spec (1) with a line and column, never a stack trace", async () => {
    const file = path.join(work, "garbage.json");
    writeFileSync(file, '{"instances": [ {"name": "a",, } ]}');
    const r = await cli(["validate", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/line 1/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("plan", () => {
  const small = path.join(TOPOLOGIES, "small.json");

  it("places the three-tier example and prints the tree zone -> rack -> host -> members", async () => {
    const r = await cli(["plan", path.join(SPECS, "three-tier.yaml"), "--topology", small]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/zone az\d\n\s+rack r\d\n\s+host /);
    for (const m of ["lb-1", "app-3", "db-vol-2"]) expect(r.stdout).toContain(m);
  });

  it.each([
    ["blueprint-usecase-1.json", 2],
    ["blueprint-usecase-2.json", 4],
  ])("the blueprint's %s places, its flavorRef matching a flavor by id", async (file, members) => {
    const r = await cli(["plan", path.join(SPECS, file), "--topology", small, "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { placement: Record<string, { type: string; host?: string }> };
    expect(Object.keys(out.placement)).toHaveLength(members);
    // Use case 1 is "one volume attached to one server": the volume sits on its server's host.
    expect(out.placement["db-vol-1"]?.host).toBe(out.placement["db-server-1"]?.host);
  });

  it("an unknown flavor is the one problem reported, not the rules it makes look impossible", async () => {
    const topology = path.join(work, "no-ids.json");
    const t = JSON.parse(readFileSync(small, "utf8")) as { flavors: Record<string, { id?: string }> };
    for (const f of Object.values(t.flavors)) delete f.id;
    writeFileSync(topology, JSON.stringify(t));
    const r = await cli(["plan", path.join(SPECS, "blueprint-usecase-2.json"), "--topology", topology, "--json"]);
    // A flavor the cloud doesn't have is refused as an image it doesn't have is (exit 1), not "unplaceable".
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { error: { kind: string; issues: { code: string }[]; explanation?: unknown } };
    expect(out.error.kind).toBe("refused");
    expect(out.error.issues.map((c) => c.code)).toEqual(["unknown_flavor"]);
    expect(out.error.explanation).toBeUndefined();
  });

  it("--json gives the placement of every member", async () => {
    const r = await cli(["plan", path.join(SPECS, "three-tier.yaml"), "--topology", small, "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      placed: boolean;
      placement: Record<string, { type: string; zone: string }>;
      softViolations: unknown[];
      cost: number;
    };
    expect(out.placed).toBe(true);
    expect(Object.keys(out.placement)).toHaveLength(11);
    expect(out.placement["db-1"]).toMatchObject({
      type: "server",
      zone: expect.any(String),
      rack: expect.any(String),
      host: expect.any(String),
    });
    expect(out.placement["db-vol-1"]).toMatchObject({ type: "volume", backend: expect.any(String) });
    expect(typeof out.cost).toBe("number");
  });

  it("--html writes the placement as a map, escaping the user's names", async () => {
    const spec = path.join(work, "html.json");
    writeFileSync(
      spec,
      JSON.stringify({
        name: "<b>",
        instances: [
          { name: "web<1>", type: "server", spec: { imageRef: "debian-12", flavorRef: "m1.small" } },
          { name: "web&2", type: "server", spec: { imageRef: "debian-12", flavorRef: "m1.small" } },
        ],
        groupings: [{ name: "apart", membersRef: ["web<1>", "web&2"], spec: { rule: "anti-affinity" } }],
      }),
    );
    const html = path.join(work, "map.html");
    const r = await cli(["plan", spec, "--topology", small, "--html", html]);
    expect(r.code).toBe(0);
    const page = readFileSync(html, "utf8");
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain("web&lt;1&gt;");
    expect(page).toContain("web&amp;2");
    expect(page).not.toContain("web<1>");
    expect(page).toContain("zone az3");
    const bad = await cli(["plan", spec, "--topology", small, "--html", path.join(work, "no/such/dir/map.html")]);
    expect(bad.code).toBe(3);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("the same seed gives the same plan", async () => {
    const a = await cli(["plan", path.join(SPECS, "three-tier.yaml"), "--topology", small, "--json", "--seed", "7"]);
    const b = await cli(["plan", path.join(SPECS, "three-tier.yaml"), "--topology", small, "--json", "--seed", "7"]);
    expect(a.stdout).toBe(b.stdout);
  });

  it("an unplaceable cluster exits 2 with an explanation", async () => {
    const spec = path.join(work, "too-wide.json");
    writeFileSync(
      spec,
      JSON.stringify({
        name: "wide",
        instances: Array.from({ length: 7 }, (_, i) => ({
          name: `s${i}`,
          type: "server",
          spec: { imageRef: "debian-12", flavorRef: "m1.small" },
        })),
        groupings: [
          {
            name: "apart",
            membersRef: ["s0", "s1", "s2", "s3", "s4", "s5", "s6"],
            spec: { rule: "anti-affinity", scope: "rack" },
          },
        ],
      }),
    );
    const human = await cli(["plan", spec, "--topology", small]);
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(/^cluster "wide" can't be placed: /);
    expect(human.stderr).toContain('"apart"');
    const r = await cli(["plan", spec, "--topology", small, "--json"]);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as {
      error: {
        exitCode: number;
        kind: string;
        explanation: { summary: string; causes: { code: string; groupings: string[]; hint: string }[] };
      };
    };
    expect(out.error).toMatchObject({ exitCode: 2, kind: "unplaceable" });
    expect(out.error.explanation.causes[0]).toMatchObject({ code: "anti_affinity_domains", groupings: ["apart"] });
    expect(out.error.explanation.causes[0]?.hint).toBeTruthy();
  });

  it("an invalid spec exits 1 before the topology is read", async () => {
    const r = await cli([
      "plan",
      path.join(SPECS, "blueprint-example-2-as-published.json"),
      "--topology",
      "missing.json",
    ]);
    expect(r.code).toBe(1);
  });

  it("without --topology it plans on the cloud (the simulated one here, said in one line) and creates nothing", async () => {
    const dir = mkdtempSync(path.join(work, "plan-live-"));
    const r = await cli(["plan", path.join(SPECS, "three-tier.yaml")], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('cluster "shop": placed 11 members');
    expect(r.stderr).toContain("using the simulated cloud in .openstack-vcluster/sim");
    const cloud = JSON.parse((await cli(["sim", "show", "--json"], dir)).stdout) as { servers: unknown[] };
    expect(cloud.servers).toEqual([]);
  });

  it("usage errors exit 3: a missing topology, a bad seed", async () => {
    const missing = await cli(["plan", path.join(SPECS, "three-tier.yaml"), "--topology", "missing.json"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect((await cli(["plan", path.join(SPECS, "three-tier.yaml"), "--topology", small, "--seed", "-1"])).code).toBe(
      3,
    );
  });
});

describe("apply, show, destroy on the simulated cloud kept in the current directory", () => {
  it("builds, shows, survives an out-of-band delete, and destroys to an empty cloud", async () => {
    const dir = mkdtempSync(path.join(work, "cluster-"));
    const spec = path.join(SPECS, "three-tier.yaml");
    const applied = await cli(["apply", spec], dir);
    expect(applied.stderr).toContain("using the simulated cloud in .openstack-vcluster/sim");
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/db-vol-1\s+volume\s+in-use/);

    const again = await cli(["apply", spec, "--json"], dir);
    expect(again.code).toBe(0);
    const state = JSON.parse(again.stdout) as { members: Record<string, { id: string; status: string }> };
    expect(Object.values(state.members).every((m) => m.status === "ACTIVE" || m.status === "in-use")).toBe(true);

    const tree = await cli(["sim", "show"], dir);
    expect(tree.code).toBe(0);
    expect(tree.stdout).toContain('member "app-2"');

    const shown = await cli(["show", "shop"], dir);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("lb-2");

    const destroyed = await cli(["destroy", spec], dir);
    expect(destroyed.code).toBe(0);
    const cloud = JSON.parse((await cli(["sim", "show", "--json"], dir)).stdout) as {
      servers: unknown[];
      volumes: unknown[];
      serverGroups: unknown[];
    };
    expect(cloud.servers).toEqual([]);
    expect(cloud.volumes).toEqual([]);
    expect(cloud.serverGroups).toEqual([]);
    expect(JSON.stringify(projectSimState(dir))).not.toContain("shop-");
  });

  it("an unplaceable cluster exits 2 and creates nothing", async () => {
    const dir = mkdtempSync(path.join(work, "cluster-"));
    const spec = path.join(dir, "wide.json");
    // Four servers apart by zone: unplaceable on the default three-zone simulated cloud.
    copyFileSync(path.join(SPECS, "four-zones-apart.json"), spec);
    const r = await cli(["apply", spec], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cluster "wide" can\'t be placed');
    const cloud = JSON.parse((await cli(["sim", "show", "--json"], dir)).stdout) as { servers: unknown[] };
    expect(cloud.servers).toEqual([]);
  });

  it("show and destroy refuse a cluster's state from another cloud, instead of calling it missing or sweeping there", async () => {
    const dir = mkdtempSync(path.join(work, "cluster-"));
    const spec = path.join(SPECS, "three-tier.yaml");
    const topo = ["--sim-topology", path.join(TOPOLOGIES, "small.json")];
    expect((await cli(["apply", spec, "--sim-dir", "cloud-a", ...topo], dir)).code).toBe(0);
    for (const command of ["show", "destroy"]) {
      const r = await cli([command, spec, "--sim-dir", "cloud-b", ...topo], dir);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/cluster "shop" was built on simulated:\S+, not on simulated:\S+: select that cloud/);
    }
    expect((await cli(["destroy", spec, "--sim-dir", "cloud-a"], dir)).code).toBe(0);
  });

  it("show of a cluster never applied here is a one-line usage error", async () => {
    const dir = mkdtempSync(path.join(work, "cluster-"));
    const r = await cli(["show", "ghost"], dir);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('cluster "ghost" has no state');
  });

  it("an OpenStack cloud in the environment is not silently replaced by the simulated one", async () => {
    const dir = mkdtempSync(path.join(work, "cluster-"));
    const r = await cli(["apply", path.join(SPECS, "three-tier.yaml")], dir, { OS_CLOUD: "nowhere" });
    expect(r.code).toBe(3);
    expect(r.stderr).not.toContain("using the simulated cloud");
  });
});

describe("the built binary, spawned (smoke)", () => {
  it("prints its help on stdout and exits 0", async () => {
    const r = await spawned(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("openstack-vcluster");
  });

  it("an invalid spec exits 1 with the problems on stderr", async () => {
    const file = path.join(work, "garbage-smoke.json");
    writeFileSync(file, '{"vcluster": {"name": "x", "instances": [{"name": "a", "type": "nope"}]}}');
    const r = await spawned(["validate", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("instances[0].type");
    expect(r.stdout).toBe("");
  });

  it("plan of an unplaceable cluster exits 2, and a placeable one prints the tree on stdout", async () => {
    const small = path.join(TOPOLOGIES, "small.json");
    const ok = await spawned(["plan", path.join(SPECS, "three-tier.yaml"), "--topology", small]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("zone az1");
    const wide = path.join(work, "wide-smoke.json");
    const instances = Array.from({ length: 40 }, (_, i) => ({
      name: `w${i}`,
      type: "server",
      spec: { imageRef: "debian-12", flavorRef: "m1.small" },
    }));
    const groupings = [{ name: "apart", membersRef: instances.map((i) => i.name), spec: { rule: "anti-affinity" } }];
    writeFileSync(wide, JSON.stringify({ vcluster: { name: "wide", instances, groupings } }));
    const r = await spawned(["plan", wide, "--topology", small]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cluster "wide" can\'t be placed');
  });
});
