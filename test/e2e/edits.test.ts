// Edits of a built cluster's inputs under the real engine: a program whose server takes its key_name and
// a metadata value from stack config, and whose other server its networks. `pulumi preview` shows, under
// the VCluster resource, one line per member that changes (the rebuild a key change needs as a warning:
// the root disk is wiped; a network attached in place as info); `up` makes the edit as one update of the
// resource, the server keeps its id, the other member is untouched.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterOps, Program, type RunResult, type SimObject, VCLUSTER_TYPE } from "./harness";

const PROGRAM = `// Written by test/e2e/edits.test.ts: web-1's key and role, web-2's networks come from stack config.
import * as pulumi from "@pulumi/pulumi";
import { VCluster } from "pulumi-openstack-vcluster";

const config = new pulumi.Config();
const cluster = new VCluster("edits", {
  instances: [
    {
      name: "web-1",
      type: "server",
      spec: {
        imageRef: "debian-12",
        flavorRef: "m1.small",
        keyName: config.require("keyName"),
        metadata: { role: config.require("role") },
      },
    },
    {
      name: "web-2",
      type: "server",
      spec: { imageRef: "debian-12", flavorRef: "m1.small", networks: config.requireObject<string[]>("networks") },
    },
  ],
  groupings: [{ name: "apart", membersRef: ["web-1", "web-2"], spec: { rule: "anti-affinity" } }],
});

export const clusterName = cluster.clusterName;
export const members = cluster.members;
`;

const REPLACING = ["replace", "create-replacement", "delete-replaced", "discard-replaced"];

interface SimServer extends SimObject {
  keyName?: string;
}

/** The diagnostics the engine showed under the VCluster resource, as "severity: message" lines. */
function resourceDiagnostics(r: RunResult): string[] {
  return r.events
    .flatMap((e) => {
      const d = e.diagnosticEvent;
      return d?.urn?.includes(VCLUSTER_TYPE) ? [d] : [];
    })
    .flatMap((d) =>
      d.message
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "")
        .map((l) => `${d.severity}: ${l}`),
    );
}

describe("edits of key_name and metadata under pulumi", () => {
  let p: Program;
  let name: string;

  beforeAll(async () => {
    p = await Program.start("blueprint-use-case-1");
    fs.writeFileSync(path.join(p.dir, "index.ts"), PROGRAM);
    await p.ok(["config", "set", "keyName", "deploy-1"]);
    await p.ok(["config", "set", "role", "web"]);
    await p.ok(["config", "set", "networks", '["net-a"]']);
    await p.ok(["up", "--yes"]);
    const out = JSON.parse((await p.ok(["stack", "output", "--json"])).output) as { clusterName: string };
    name = out.clusterName;
  });
  afterAll(async () => {
    await p?.ok(["destroy", "--yes"]).catch(() => undefined);
    await p?.dispose();
  });

  it("preview shows one line per changed member under the resource, the rebuild a warning; up makes it in place", async () => {
    const before = (await p.sim()).servers as SimServer[];
    const id = (m: string, xs: SimServer[]) => xs.find((s) => s.metadata["vcluster:member"] === m)?.id;
    await p.ok(["config", "set", "keyName", "deploy-2"]);
    await p.ok(["config", "set", "role", "db"]);

    const preview = await p.ok(["preview", "--diff"]);
    expect(clusterOps(preview)).toEqual(["update"]);
    const line = `cluster "${name}": server "web-1": rebuild (root disk is wiped): keyName "deploy-1" → "deploy-2"; metadata: "role" "web" → "db"`;
    // A diagnostic of the VCluster resource, a warning (a destructive step), shown as one.
    expect(resourceDiagnostics(preview)).toEqual([`warning: ${line}`]);
    expect(preview.output).toContain(`warning: ${line}`);
    // Only the changed member has a line.
    expect(resourceDiagnostics(preview).filter((l) => l.includes('server "web-2"'))).toEqual([]);
    // Nothing changed yet.
    expect(((await p.sim()).servers as SimServer[]).map((s) => [s.id, s.metadata.role])).toEqual(
      before.map((s) => [s.id, s.metadata.role]),
    );

    const up = await p.ok(["up", "--yes"]);
    expect(clusterOps(up)).toEqual(["update"]);
    expect(clusterOps(up)).not.toEqual(expect.arrayContaining(REPLACING));
    const after = (await p.sim()).servers as SimServer[];
    const web1 = after.find((s) => s.metadata["vcluster:member"] === "web-1");
    expect(web1?.metadata.role).toBe("db");
    expect(web1?.keyName).toBe("deploy-2");
    expect(id("web-1", after)).toBe(id("web-1", before));
    expect(id("web-2", after)).toBe(id("web-2", before));

    const again = await p.ok(["preview", "--expect-no-changes"]);
    expect(clusterOps(again)).toEqual(["same"]);
  });

  it("a network added is attached in place: an info line at preview, the server keeps its id", async () => {
    const web2 = (xs: SimServer[]) => xs.find((s) => s.metadata["vcluster:member"] === "web-2");
    const before = web2((await p.sim()).servers as SimServer[]);
    await p.ok(["config", "set", "networks", '["net-a","net-b"]']);
    const preview = await p.ok(["preview", "--diff"]);
    expect(clusterOps(preview)).toEqual(["update"]);
    expect(resourceDiagnostics(preview)).toEqual([`info: cluster "${name}": server "web-2": networks: attach "net-b"`]);
    const up = await p.ok(["up", "--yes"]);
    expect(clusterOps(up)).toEqual(["update"]);
    const after = web2((await p.sim()).servers as SimServer[]);
    expect(after?.id).toBe(before?.id);
    // The stack's outputs: its addresses on both networks, the new one last.
    const out = JSON.parse((await p.ok(["stack", "output", "--json"])).output) as {
      members: Record<string, { addresses?: Record<string, unknown> }>;
    };
    expect(Object.keys(out.members["web-2"]?.addresses ?? {})).toEqual(["net-a", "net-b"]);
    expect(clusterOps(await p.ok(["preview", "--expect-no-changes"]))).toEqual(["same"]);
  });
});
