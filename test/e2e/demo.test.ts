// Edits under the real engine: the demo program reads its size and flavor from stack config, so a
// member added and a flavor changed are `pulumi config set` + `pulumi up`. Both must update the one
// VCluster in place (the engine's op is "update", never a replacement), keeping untouched members
// where they are. And `npm run demo` itself, as the README's first command.
import { spawn } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { REPO } from "../tools/pulumi-env.js";
import { clusterOps, type ExportedResource, Program, type SimView } from "./harness";

const REPLACING = ["replace", "create-replacement", "delete-replaced", "discard-replaced"];

function serverIds(view: SimView): Record<string, string> {
  return Object.fromEntries(view.servers.map((s) => [s.metadata["vcluster:member"] ?? s.name, s.id]));
}

function memberFlavor(c: ExportedResource | undefined, member: string): unknown {
  const members = c?.outputs?.members as Record<string, { flavorRef?: string }> | undefined;
  return members?.[member]?.flavorRef;
}

describe("edits to a running cluster", () => {
  let p: Program;

  beforeAll(async () => {
    p = await Program.start("demo");
    await p.ok(["config", "set", "appCount", "3"]);
    await p.ok(["up", "--yes"]);
  });
  afterAll(async () => {
    await p?.ok(["destroy", "--yes"]).catch(() => undefined);
    await p?.dispose();
  });

  it("the program's stack outputs carry what the resource returned (cluster name, placement, members)", async () => {
    // `export const placement = cluster.placement` is how users read where things went.
    const r = await p.ok(["stack", "output", "--json"]);
    const outputs = JSON.parse(r.output) as Record<string, unknown>;
    expect(outputs.clusterName).toBe("vcluster-demo-e2e-demo");
    expect(Object.keys((outputs.placement ?? {}) as object).sort()).toEqual(
      ["app-1", "app-2", "app-3", "db-1", "db-1-data", "db-2", "db-2-data"].sort(),
    );
    expect(Object.keys((outputs.members ?? {}) as object)).toHaveLength(7);
  });

  it("a member added: preview shows an update, up adds it and keeps every other member", async () => {
    const before = serverIds(await p.sim());
    await p.ok(["config", "set", "appCount", "4"]);

    const preview = await p.ok(["preview", "--diff"]);
    expect(clusterOps(preview)).toEqual(["update"]);
    expect(preview.output).toContain("app-4");

    const up = await p.ok(["up", "--yes"]);
    expect(clusterOps(up)).toEqual(["update"]);
    expect(clusterOps(up)).not.toEqual(expect.arrayContaining(REPLACING));
    const after = serverIds(await p.sim());
    expect(Object.keys(after).sort()).toEqual([...Object.keys(before), "app-4"].sort());
    for (const [member, id] of Object.entries(before)) expect(after[member]).toBe(id);
  });

  it("a flavor changed: up updates the cluster in place, the servers get the new flavor", async () => {
    await p.ok(["config", "set", "appFlavor", "m1.medium"]);
    const up = await p.ok(["up", "--yes"]);
    expect(clusterOps(up)).toEqual(["update"]);
    const { clusters } = await p.exportState();
    expect(clusters).toHaveLength(1);
    for (const m of ["app-1", "app-2", "app-3", "app-4"]) expect(memberFlavor(clusters[0], m)).toBe("m1.medium");
    expect(memberFlavor(clusters[0], "db-1")).toBe("m1.large");
  });

  it("then a second up changes nothing", async () => {
    const r = await p.ok(["up", "--yes", "--expect-no-changes"]);
    expect(clusterOps(r)).toEqual(["same"]);
  });

  it("a stack pointed at another cloud fails preview and up naming both clouds; nothing is replaced or orphaned", async () => {
    const before = serverIds(await p.sim());
    await p.ok(["config", "set", "openstack-vcluster:simulatedDir", "elsewhere"]);
    for (const args of [["preview"], ["up", "--yes"]]) {
      const r = await p.pulumi(args);
      expect(r.code, r.output).not.toBe(0);
      expect(r.output).toMatch(
        /cluster "vcluster-demo-e2e-demo" lives on simulated cloud "simulated:[^"]+", but this stack is now configured for simulated cloud/,
      );
      expect(clusterOps(r)).not.toEqual(expect.arrayContaining(REPLACING));
    }
    expect(serverIds(await p.sim())).toEqual(before);
    // refresh runs the provider as the state recorded it (the cluster's own cloud): it finds every member.
    await p.ok(["refresh", "--yes"]);
    const { clusters } = await p.exportState();
    expect(clusters[0]?.outputs?.missing).toEqual([]);
    await p.ok(["config", "rm", "openstack-vcluster:simulatedDir"]);
    const r = await p.ok(["preview", "--expect-no-changes"]);
    expect(clusterOps(r)).toEqual(["same"]);
  });
});

describe("npm run demo", () => {
  it("brings the demo up, shows the placement tree, and tears it down", async () => {
    const cliDir = inject("pulumiCliDir");
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
      // The demo finds the CLI itself (cached by now); PATH only needs Node 22 first, as npm would set it.
      const child = spawn(process.execPath, [path.join(REPO, "examples", "demo", "run.js")], {
        cwd: REPO,
        env: { ...process.env, PATH: `${path.join(REPO, "node_modules", ".bin")}:${process.env.PATH ?? ""}` },
      });
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      child.stderr.on("data", (d) => {
        out += d;
      });
      child.on("close", (c) => resolve({ code: c ?? 1, output: out }));
    });
    expect(cliDir).not.toBe("");
    expect(code, output).toBe(0);
    for (const m of ["app-1", "app-2", "app-3", "db-1", "db-2", "db-1-data", "db-2-data"]) expect(output).toContain(m);
    expect(output).toContain("pulumi destroy --yes");
    expect(output).toContain("the demo cluster is gone");
  });
});
