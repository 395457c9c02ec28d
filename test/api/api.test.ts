// The REST API end to end: real HTTP on 127.0.0.1, a real server over a temp simulated cloud and a
// temp SQLite file. The blueprint's two use cases go POST -> GET until ACTIVE -> DELETE -> 404, and
// what the cloud holds is checked beside what the API says.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedCloud } from "../../provider/backends/simulated";
import {
  blueprintNamed,
  call,
  onCloud,
  removeTempDirs,
  serveOnTempCloud,
  specFile,
  type TestServer,
  waitFor,
} from "../support/api";

let server: TestServer;
let cloud: SimulatedCloud;

beforeAll(async () => {
  ({ server, cloud } = await serveOnTempCloud());
});

afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

describe("the blueprint's use cases, through the API", () => {
  it.each([
    ["blueprint-usecase-1.json", ["db-server-1"], ["db-vol-1"]],
    ["blueprint-usecase-2.json", ["db-server-1", "db-server-2"], ["db-vol-1", "db-vol-2"]],
  ])("%s: POST -> BUILD -> ACTIVE -> DELETE -> 404", async (file, servers, volumes) => {
    const created = await call(server.url, "POST", "/v2/tenant-a/vclusters", specFile(file));
    expect(created.status).toBe(202);
    const vc = created.body.vcluster;
    expect(vc).toMatchObject({ name: "new-virtual-cluster", status: "BUILD", tenant_id: "tenant-a" });
    expect(vc.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.headers.get("location")).toBe(`${server.url}/v2/tenant-a/vclusters/${vc.id}`);
    expect(vc.operation).toMatchObject({ action: "create", status: "running" });
    expect(vc.operation.request_id).toBe(created.headers.get("x-openstack-request-id"));

    const active = (await waitFor(server.url, "tenant-a", vc.id, ["ACTIVE", "ERROR"])).body.vcluster;
    expect(active.fault).toBeUndefined();
    expect(active.status).toBe("ACTIVE");
    expect(active.operation).toMatchObject({ action: "create", status: "succeeded" });
    expect(active.members.map((m: { name: string }) => m.name)).toEqual([...servers, ...volumes].sort());
    for (const m of active.members) {
      expect(m.id).toEqual(expect.any(String));
      expect(m.status).toBe(m.type === "server" ? "ACTIVE" : "in-use");
      expect(m.zone).toEqual(expect.any(String));
      if (m.type === "server") expect([m.rack, m.host]).toEqual([expect.any(String), expect.any(String)]);
      else expect(m.backend).toEqual(expect.any(String));
    }
    // Use case 1 of the blueprint: the volume is attached to its server, on its host's backend or zone.
    const byName = Object.fromEntries(active.members.map((m: { name: string }) => [m.name, m]));
    expect(byName["db-vol-1"].attached_to).toBe("db-server-1");
    expect(byName["db-vol-1"].zone).toBe(byName["db-server-1"].zone);
    if (servers.length === 2) expect(byName["db-server-1"].host).not.toBe(byName["db-server-2"].host);
    expect(active.soft_violations).toEqual([]);
    expect(await onCloud(cloud, vc.id)).toMatchObject({ servers, volumes });

    const deleted = await call(server.url, "DELETE", `/v2/tenant-a/vclusters/${vc.id}`);
    expect(deleted.status).toBe(202);
    expect(deleted.text).toBe("");
    await waitFor(server.url, "tenant-a", vc.id, ["gone"]);
    const gone = await call(server.url, "GET", `/v2/tenant-a/vclusters/${vc.id}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toEqual({ itemNotFound: { code: 404, message: `vcluster ${vc.id} could not be found` } });
    expect(await onCloud(cloud, vc.id)).toEqual({ servers: [], volumes: [], groups: 0 });
  });
});

describe("tenants", () => {
  it("another tenant's cluster is a 404 everywhere, and missing from its list", async () => {
    const created = await call(server.url, "POST", "/v2/tenant-a/vclusters", blueprintNamed("a-only"));
    const id = created.body.vcluster.id;
    await waitFor(server.url, "tenant-a", id, ["ACTIVE"]);
    const body = blueprintNamed("a-only");
    for (const [method, payload] of [
      ["GET", undefined],
      ["PUT", body],
      ["DELETE", undefined],
    ] as const) {
      const r = await call(server.url, method, `/v2/tenant-b/vclusters/${id}`, payload);
      expect(r.status, method).toBe(404);
      expect(r.body.itemNotFound.code).toBe(404);
    }
    const listB = await call(server.url, "GET", "/v2/tenant-b/vclusters");
    expect(listB.body.vclusters.map((c: { id: string }) => c.id)).not.toContain(id);
    // A's cluster is untouched by B's attempts.
    const a = await call(server.url, "GET", `/v2/tenant-a/vclusters/${id}`);
    expect(a.body.vcluster.status).toBe("ACTIVE");
    await call(server.url, "DELETE", `/v2/tenant-a/vclusters/${id}`);
    await waitFor(server.url, "tenant-a", id, ["gone"]);
  });

  it("names are kept verbatim, SQL metacharacters and all; two clusters may share a name", async () => {
    const name = `x'); DROP TABLE clusters; -- "%_\\ ünï`;
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await call(server.url, "POST", "/v2/tenant-c/vclusters", blueprintNamed(name));
      expect(r.status).toBe(202);
      expect(r.body.vcluster.name).toBe(name);
      ids.push(r.body.vcluster.id);
    }
    for (const id of ids) {
      const done = await waitFor(server.url, "tenant-c", id, ["ACTIVE", "ERROR"]);
      expect(done.body.vcluster).toMatchObject({ name, status: "ACTIVE" });
    }
    const list = await call(server.url, "GET", "/v2/tenant-c/vclusters");
    expect(list.body.vclusters.filter((c: { name: string }) => c.name === name)).toHaveLength(2);
    // Each cluster owns its own objects on the cloud: the name is not their identity there.
    for (const id of ids) expect((await onCloud(cloud, id)).servers).toEqual(["db-server-1"]);
    for (const id of ids) await call(server.url, "DELETE", `/v2/tenant-c/vclusters/${id}`);
    for (const id of ids) await waitFor(server.url, "tenant-c", id, ["gone"]);
  });
});

describe("list", () => {
  it("pages newest first with limit and marker, and links the next page", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await call(server.url, "POST", "/v2/tenant-l/vclusters", blueprintNamed(`list-${i}`));
      ids.push(r.body.vcluster.id);
    }
    const page1 = await call(server.url, "GET", "/v2/tenant-l/vclusters?limit=2");
    expect(page1.status).toBe(200);
    expect(page1.body.vclusters.map((c: { name: string }) => c.name)).toEqual(["list-2", "list-1"]);
    expect(page1.body.vclusters[0]).toEqual({
      id: ids[2],
      name: "list-2",
      status: expect.stringMatching(/^(BUILD|ACTIVE)$/),
      links: [{ rel: "self", href: `${server.url}/v2/tenant-l/vclusters/${ids[2]}` }],
    });
    const next = page1.body.vclusters_links[0];
    expect(next.rel).toBe("next");
    const page2 = await call(server.url, "GET", next.href.slice(server.url.length));
    expect(page2.body.vclusters.map((c: { name: string }) => c.name)).toEqual(["list-0"]);
    expect(page2.body.vclusters_links).toBeUndefined();

    const badMarker = await call(
      server.url,
      "GET",
      `/v2/tenant-l/vclusters?marker=${ids[0]?.replace(/^./, (c) => (c === "f" ? "e" : "f"))}`,
    );
    expect(badMarker.status).toBe(400);
    expect(badMarker.body.badRequest.message).toMatch(/^marker ".+" not found/);
    // A marker of another tenant is as unknown as a made-up one.
    expect((await call(server.url, "GET", `/v2/tenant-x/vclusters?marker=${ids[0]}`)).status).toBe(400);
    expect((await call(server.url, "GET", "/v2/tenant-l/vclusters?limit=-1")).status).toBe(400);
    for (const id of ids) await waitFor(server.url, "tenant-l", id, ["ACTIVE"]);
    for (const id of ids) await call(server.url, "DELETE", `/v2/tenant-l/vclusters/${id}`);
    for (const id of ids) await waitFor(server.url, "tenant-l", id, ["gone"]);
  });
});

describe("dry run", () => {
  it("places a spec and creates nothing", async () => {
    const before = (await cloud.snapshot()).servers.length;
    const r = await call(server.url, "POST", "/v2/tenant-a/vclusters/dry-run", specFile("blueprint-usecase-2.json"));
    expect(r.status).toBe(200);
    const d = r.body.dry_run;
    expect(d).toMatchObject({ name: "new-virtual-cluster", placeable: true, mode: "pinned", blocking: [] });
    expect(Object.keys(d.placement).sort()).toEqual(["db-server-1", "db-server-2", "db-vol-1", "db-vol-2"]);
    expect(d.placement["db-server-1"].host).not.toBe(d.placement["db-server-2"].host);
    expect((await cloud.snapshot()).servers.length).toBe(before);
  });

  it("explains an unplaceable spec: causes, hints, counts, with the user's cluster name", async () => {
    const body = {
      vcluster: {
        name: "too-wide",
        instances: ["a", "b", "c", "d"].map((n) => ({
          name: n,
          type: "server",
          spec: { imageRef: "cirros", flavorRef: "m1.small" },
        })),
        groupings: [
          { name: "apart", membersRef: ["a", "b", "c", "d"], spec: { rule: "anti-affinity", scope: "zone" } },
        ],
      },
    };
    const r = await call(server.url, "POST", "/v2/tenant-a/vclusters/dry-run", body);
    expect(r.status).toBe(200);
    const d = r.body.dry_run;
    expect(d.placeable).toBe(false);
    expect(d.placement).toBeUndefined();
    expect(d.explanation.summary).toMatch(/^cluster "too-wide" can't be placed: /);
    expect(d.explanation.causes[0]).toMatchObject({
      code: "anti_affinity_domains",
      groupings: ["apart"],
      message: expect.stringContaining('"apart"'),
      hint: expect.any(String),
    });
    expect(JSON.stringify(d)).not.toMatch(/dry-run-[0-9a-f]{8}/);
  });
});

describe("documents", () => {
  it("GET / and GET /v2 are Nova-style version documents", async () => {
    const root = await call(server.url, "GET", "/");
    expect(root.status).toBe(200);
    expect(root.body.versions[0]).toMatchObject({ id: "v2", status: "CURRENT" });
    const v2 = await call(server.url, "GET", "/v2");
    expect(v2.body.version.links).toContainEqual({ rel: "self", href: `${server.url}/v2/` });
    expect(v2.body.version.links).toContainEqual({ rel: "describedby", href: `${server.url}/openapi.json` });
  });

  it("/openapi.json is OpenAPI 3.1 listing every path, with the spec's schema", async () => {
    const r = await call(server.url, "GET", "/openapi.json");
    expect(r.status).toBe(200);
    const doc = r.body;
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.servers).toEqual([{ url: server.url }]);
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/",
      "/openapi.json",
      "/v2",
      "/v2/{tenant_id}/vclusters",
      "/v2/{tenant_id}/vclusters/dry-run",
      "/v2/{tenant_id}/vclusters/{vcluster_id}",
    ]);
    expect(Object.keys(doc.paths["/v2/{tenant_id}/vclusters/{vcluster_id}"]).sort()).toEqual([
      "delete",
      "get",
      "parameters",
      "put",
    ]);
    // The spec's schema, both forms (test/api/openapi.test.ts checks every field).
    const request = doc.components.schemas.VClusterRequest.anyOf.find(
      (b: { properties: Record<string, unknown> }) => b.properties.vcluster,
    );
    const instance = request.properties.vcluster.properties.instances.items.oneOf;
    expect(instance[0].properties.spec.required).toEqual(["imageRef", "flavorRef"]);
    expect(instance[1].properties.type.enum).toEqual(["volume", "block-storage"]);
    const grouping = request.properties.vcluster.properties.groupings.items;
    expect(grouping.properties.spec.properties.rule.enum).toEqual(["affinity", "anti-affinity", "proximity"]);
    // Every $ref resolves.
    for (const m of JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/(\w+)\/(\w+)"/g)) {
      expect(doc.components[m[1] as string]?.[m[2] as string], m[0]).toBeDefined();
    }
  });
});
