// `openstack-vcluster --endpoint URL apply|show|destroy|list`: the command, in this process, against a
// real `serve --noauth` on a temp simulated cloud. What it prints and its exit codes are the local
// command's; the cluster the service builds is on the cloud once, tagged with its id.
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedCloud } from "../../provider/backends/simulated";
import { call, onCloud, removeTempDirs, SPECS, serveOnTempCloud, type TestServer, tempDir } from "../support/api";
import { cli } from "../support/cli";

let server: TestServer;
let cloud: SimulatedCloud;
let dir: string;
const TENANT = "endpoint-tenant";

beforeAll(async () => {
  ({ server, cloud } = await serveOnTempCloud());
  dir = tempDir();
});

afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

function remote(args: string[], env: NodeJS.ProcessEnv = {}) {
  return cli(["--endpoint", server.url, "--project", TENANT, ...args], dir, env);
}

function writeSpec(file: string, value: unknown): string {
  const p = path.join(dir, file);
  writeFileSync(p, typeof value === "string" ? value : JSON.stringify(value, null, 2));
  return p;
}

describe("--endpoint", () => {
  it("apply creates through the service (POST, then GET until ACTIVE), show and list see it, destroy deletes it (DELETE, then 404)", async () => {
    const spec = path.join(SPECS, "blueprint-usecase-1.json");
    const applied = await remote(["apply", spec]);
    expect(applied.stderr).toMatch(
      /cluster "new-virtual-cluster" \([0-9a-f-]{36}\): create accepted by the service at/,
    );
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/^cluster "new-virtual-cluster" \([0-9a-f-]{36}\) ACTIVE at the service at/);
    expect(applied.stdout).toMatch(/db-server-1\s+server\s+ACTIVE/);
    expect(applied.stdout).toMatch(/db-vol-1\s+volume\s+in-use\s+.*attached to db-server-1/);
    const id = /\(([0-9a-f-]{36})\)/.exec(applied.stdout)?.[1] as string;
    expect(await onCloud(cloud, id)).toMatchObject({ servers: ["db-server-1"], volumes: ["db-vol-1"] });
    // Not in this directory's state: the service holds it.
    const local = await cli(["show", "new-virtual-cluster"], dir);
    expect(local.code).toBe(3);

    const listed = await remote(["list"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`new-virtual-cluster  ACTIVE    ${id}`);
    const asJson = await remote(["list", "--json"]);
    expect(JSON.parse(asJson.stdout).vclusters).toEqual([expect.objectContaining({ id, status: "ACTIVE" })]);

    for (const target of ["new-virtual-cluster", id, spec]) {
      const shown = await remote(["show", target]);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toContain(`cluster "new-virtual-cluster" (${id}) ACTIVE`);
    }
    const shownJson = await remote(["show", id, "--json"]);
    expect(JSON.parse(shownJson.stdout)).toMatchObject({ id, status: "ACTIVE", tenant_id: TENANT });

    // Applied again: an update of the same cluster (PUT), not a second one.
    const again = await remote(["apply", spec]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`(${id}): update accepted`);
    expect(await onCloud(cloud, id)).toMatchObject({ servers: ["db-server-1"], volumes: ["db-vol-1"] });

    const destroyed = await remote(["destroy", "new-virtual-cluster"]);
    expect(destroyed.code).toBe(0);
    expect(destroyed.stdout).toContain('cluster "new-virtual-cluster" destroyed');
    expect((await call(server.url, "GET", `/v2/${TENANT}/vclusters/${id}`)).status).toBe(404);
    expect(await onCloud(cloud, id)).toEqual({ servers: [], volumes: [], groups: 0 });
    expect((await remote(["list"])).stdout).toContain(`no clusters in project ${TENANT}`);
  });

  it("a YAML spec in the args form goes as it was written", async () => {
    const file = writeSpec(
      "args.yaml",
      "name: yaml-one\ninstances:\n  - name: web-1\n    type: server\n    spec: { imageRef: debian-12, flavorRef: m1.small }\n",
    );
    const r = await remote(["apply", file]);
    expect(r.stderr + r.stdout).toContain('cluster "yaml-one"');
    expect(r.code).toBe(0);
    expect((await remote(["destroy", "yaml-one"])).code).toBe(0);
  });

  // The blueprint form attaches a volume that shares a hard affinity with exactly one server; the args
  // form doesn't. The file goes in its own form, so the service builds what a local apply builds.
  describe("the same spec file through --endpoint and locally gives the same cluster", () => {
    const usecase = JSON.parse(readFileSync(path.join(SPECS, "blueprint-usecase-1.json"), "utf8")).vcluster;
    const yaml = [
      "name: same-yaml",
      "instances:",
      "  - { name: db-server-1, type: server, spec: { imageRef: xxx-yyy-zzz, flavorRef: 123-456-789 } }",
      '  - { name: db-vol-1, type: volume, spec: { size: 10, volume_type: "" } }',
      "groupings:",
      "  - { name: group-1, membersRef: [db-server-1, db-vol-1], spec: { rule: affinity } }",
      "",
    ].join("\n");
    it.each([
      [
        "blueprint form (JSON): the volume attached",
        "same-blueprint.json",
        { vcluster: { ...usecase, name: "same-blueprint" } },
        "db-server-1",
      ],
      ["args form (JSON): the volume not attached", "same-args.json", { ...usecase, name: "same-args" }, undefined],
      ["args form (YAML): the volume not attached", "same-yaml.yaml", yaml, undefined],
    ])("%s", async (_what, file, content, attachedTo) => {
      const spec = writeSpec(file, content);
      const viaService = await remote(["apply", spec, "--json"]);
      expect(viaService.code).toBe(0);
      const view = JSON.parse(viaService.stdout) as { members: { name: string; type: string; attached_to?: string }[] };
      const local = await cli(["apply", spec, "--sim-dir", server.simDir, "--json"], dir);
      expect(local.code, local.stderr).toBe(0);
      const state = JSON.parse(local.stdout) as { members: Record<string, { type: string; attachedTo?: string }> };
      const fromService = view.members.map((m) => ({ name: m.name, type: m.type, attachedTo: m.attached_to }));
      const fromLocal = Object.entries(state.members)
        .map(([name, m]) => ({ name, type: m.type, attachedTo: m.attachedTo }))
        .sort((a, b) => a.name.localeCompare(b.name));
      expect(fromService).toEqual(fromLocal);
      expect(fromService.find((m) => m.name === "db-vol-1")?.attachedTo).toBe(attachedTo);
      const name = file.replace(/\.\w+$/, "");
      expect((await remote(["destroy", name])).code).toBe(0);
      expect((await cli(["destroy", name, "--sim-dir", server.simDir, "--yes"], dir)).code).toBe(0);
    });
  });

  it("an invalid spec is exit 1 with the local command's messages, and nothing is sent", async () => {
    const file = writeSpec("bad.json", { vcluster: { name: "bad", instances: [{ name: "a", type: "servr" }] } });
    const r = await remote(["apply", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.json: \d+ problems?/);
    expect((await remote(["list"])).stdout).not.toContain("bad");
  });

  it("an unplaceable cluster is exit 2 with the explanation, as the local command prints it", async () => {
    // Make it unplaceable: far more anti-affine servers than the small topology has hosts.
    const instances = Array.from({ length: 40 }, (_, i) => ({
      name: `s${i}`,
      type: "server",
      spec: { imageRef: "debian-12", flavorRef: "m1.small" },
    }));
    const file = writeSpec("huge.json", {
      vcluster: {
        name: "too-big",
        instances,
        groupings: [{ name: "apart", membersRef: instances.map((i) => i.name), spec: { rule: "anti-affinity" } }],
      },
    });
    const r = await remote(["apply", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/hint: /);
    expect(r.stderr).toMatch(/anti-affinity|apart/);
    // --dry-run asks the service's dry run: the same answer, nothing made.
    const dry = await remote(["apply", file, "--dry-run"]);
    expect(dry.code).toBe(2);
    // The ERROR cluster is there to see, then to delete.
    const shown = await remote(["show", "too-big"]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("ERROR");
    expect((await remote(["destroy", "too-big"])).code).toBe(0);
  });

  it("apply --dry-run places and creates nothing", async () => {
    const r = await remote(["apply", path.join(SPECS, "blueprint-usecase-2.json"), "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/would be placed by the service at .* \(nothing changed\)/);
    expect((await remote(["list"])).stdout).toContain("no clusters");
  });

  it("errors of the service are shown with their message (exit 3): unknown cluster, bad project", async () => {
    const missing = await remote(["show", "no-such-cluster"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('cluster "no-such-cluster": nothing found in project');
    const gone = await remote(["destroy", "00000000-0000-4000-8000-000000000000"]);
    expect(gone.code).toBe(3);
    const bad = await cli(["--endpoint", server.url, "--project", "a/b", "list"], dir);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/openstack-vcluster: tenant id "a\/b" is not valid/);
  });

  it("usage: no project and no cloud, a bad URL, a service not there, list without --endpoint (exit 3)", async () => {
    const none = await cli(["--endpoint", server.url, "list"], dir);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/--project ID or OS_PROJECT_ID/);
    const fromEnv = await cli(["--endpoint", server.url, "list"], dir, { OS_PROJECT_ID: TENANT });
    expect(fromEnv.code).toBe(0);
    const badUrl = await remote(["--endpoint", "ftp://x", "list"]);
    expect(badUrl.code).toBe(3);
    const down = await cli(["--endpoint", "http://127.0.0.1:9", "--project", TENANT, "list"], dir);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/can't be reached .*hint: check --endpoint/);
    const local = await cli(["list"], dir);
    expect(local.code).toBe(3);
    expect(local.stderr).toMatch(/list asks a service: give --endpoint URL/);
  });
});
