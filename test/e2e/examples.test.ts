// Every example in examples/ under the real `pulumi` command, on its own simulated cloud: preview shows
// what will be created (or, for the unplaceable one, fails with the explanation and creates nothing),
// up creates it, a second up changes nothing, a member deleted behind Pulumi's back is reported by
// refresh and repaired by up, destroy leaves the cloud empty, and no credential reaches the state.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterOps, EXAMPLES, type ExportedResource, memberNames, Program, type RunResult, summary } from "./harness";

// Given to every stack, in config (as a secret) and in the environment: neither may reach the state.
const CONFIG_SENTINEL = "s3cr3t-sentinel";
const ENV_SENTINEL = "s3cr3t-sentinel2";

const UNPLACEABLE = new Set(["unplaceable"]);
const EXPECTED = ["blueprint-use-case-1", "blueprint-use-case-2", "demo", "inventory", "three-tier", "unplaceable"];

const programs = fs
  .readdirSync(EXAMPLES, { withFileTypes: true })
  .filter((d) => d.isDirectory() && fs.existsSync(path.join(EXAMPLES, d.name, "Pulumi.yaml")))
  .map((d) => d.name)
  .sort();

it("finds every example as a Pulumi program", () => {
  expect(programs).toEqual(expect.arrayContaining(EXPECTED));
});

interface Declared {
  servers: string[];
  volumes: string[];
}

/** The members the program declared, from the VCluster inputs the engine saw (preview's step). */
function declaredMembers(r: RunResult): Declared {
  const out: Declared = { servers: [], volumes: [] };
  for (const e of r.events) {
    const m = e.resourcePreEvent?.metadata as { new?: { inputs?: { instances?: unknown } } } | undefined;
    const instances = m?.new?.inputs?.instances;
    if (!Array.isArray(instances)) continue;
    for (const i of instances as { name: string; type: string }[]) {
      (i.type === "server" ? out.servers : out.volumes).push(i.name);
    }
  }
  return { servers: out.servers.sort(), volumes: out.volumes.sort() };
}

function missingOf(c: ExportedResource | undefined): unknown {
  return c?.outputs?.missing;
}

async function startWithCredentials(example: string): Promise<Program> {
  const p = await Program.start(example, { OS_PASSWORD: ENV_SENTINEL });
  await p.ok(["config", "set", "--secret", "openstack-vcluster:password", CONFIG_SENTINEL]);
  return p;
}

// The engine itself keeps the stack's config, secrets encrypted, as the inputs of the default
// `pulumi-nodejs` provider: ciphertext is fine, the plain value anywhere is not.
async function expectNoCredentialInState(p: Program): Promise<void> {
  const { text } = await p.exportState();
  for (const stored of [text, p.backendFiles()]) {
    expect(stored).not.toContain(CONFIG_SENTINEL);
    expect(stored).not.toContain(ENV_SENTINEL);
  }
}

describe.each(programs.filter((n) => !UNPLACEABLE.has(n)))("example %s", (example) => {
  let p: Program;
  let declared: Declared;

  beforeAll(async () => {
    p = await startWithCredentials(example);
  });
  afterAll(async () => {
    await p?.dispose();
  });

  it("preview shows every member to create, and creates nothing", async () => {
    const r = await p.ok(["preview", "--diff"]);
    expect(clusterOps(r)).toEqual(["create"]);
    declared = declaredMembers(r);
    expect(declared.servers.length + declared.volumes.length).toBeGreaterThan(0);
    for (const name of [...declared.servers, ...declared.volumes]) expect(r.output).toContain(name);
    expect(memberNames(await p.sim())).toEqual({ servers: [], volumes: [] });
  });

  it("up creates every member on the simulated cloud", async () => {
    const r = await p.ok(["up", "--yes"]);
    expect(clusterOps(r)).toEqual(["create"]);
    expect(memberNames(await p.sim())).toEqual(declared);
    await expectNoCredentialInState(p);
  });

  it("a second up changes nothing", async () => {
    const r = await p.ok(["up", "--yes", "--expect-no-changes"]);
    expect(clusterOps(r)).toEqual(["same"]);
  });

  it("refresh reports a server deleted out of band, and up brings it back in place", async () => {
    const victim = declared.servers[0];
    if (victim === undefined) throw new Error(`${example} declares no server`);
    const before = await p.sim();
    await p.deleteServerOutOfBand(victim);
    expect(memberNames(await p.sim()).servers).not.toContain(victim);

    const refreshed = await p.ok(["refresh", "--yes"]);
    expect(summary(refreshed)).toMatchObject({ update: 1 });
    const afterRefresh = await p.exportState();
    expect(missingOf(afterRefresh.clusters[0])).toEqual([victim]);

    const repaired = await p.ok(["up", "--yes"]);
    expect(clusterOps(repaired)).toEqual(["update"]);
    const after = await p.sim();
    expect(memberNames(after)).toEqual(declared);
    // Only the victim is new: every other member kept its id (updated in place, no replacement).
    const ids = (v: typeof before) =>
      v.servers.filter((s) => s.metadata["vcluster:member"] !== victim).map((s) => s.id);
    expect(ids(after).sort()).toEqual(ids(before).sort());
    expect(missingOf((await p.exportState()).clusters[0])).toEqual([]);
  });

  it("destroy leaves the simulated cloud empty and no credential in the state", async () => {
    const r = await p.ok(["destroy", "--yes"]);
    expect(clusterOps(r)).toEqual(["delete"]);
    const view = await p.sim();
    expect(view).toEqual({ servers: [], volumes: [], serverGroups: [] });
    await expectNoCredentialInState(p);
  });
});

describe.each(programs.filter((n) => UNPLACEABLE.has(n)))("example %s", (example) => {
  let p: Program;

  beforeAll(async () => {
    p = await startWithCredentials(example);
  });
  afterAll(async () => {
    await p?.dispose();
  });

  it("preview fails with the explanation, and nothing is created", async () => {
    const r = await p.pulumi(["preview"]);
    expect(r.code).not.toBe(0);
    // The grouping that makes it impossible is named, with a hint, and the user sees no stack trace.
    expect(r.output).toContain("can't be placed");
    expect(r.output).toContain('"one-per-rack"');
    expect(r.output).toContain("hint:");
    expect(r.output).not.toMatch(/^\s+at .+\(.+:\d+:\d+\)$/m);
    expect(await p.sim()).toMatchObject({ servers: [], volumes: [] });
  });

  it("up fails the same way, and still nothing is created", async () => {
    const r = await p.pulumi(["up", "--yes"]);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('"one-per-rack"');
    expect(await p.sim()).toMatchObject({ servers: [], volumes: [] });
    await expectNoCredentialInState(p);
  });
});
