// /openapi.json against what the service really takes and answers: every field the spec schema
// accepts is in its request body (both forms, Nova's spellings too), and real answers of a running
// server, and the spec files the tests use, validate against the document with ajv (JSON Schema
// 2020-12, which OpenAPI 3.1 uses).
import { readFileSync } from "node:fs";
import * as path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ALLOWED_KEYS,
  bodySchema,
  groupingSchema,
  groupingSpecShape,
  SNAKE_CASE_NAMES,
  serverSpecShape,
} from "../../provider/clusterspec/schema";
import { call, removeTempDirs, SPECS, serveOnTempCloud, type TestServer, waitFor } from "../support/api";

let server: TestServer;
// biome-ignore lint/suspicious/noExplicitAny: the document is read field by field
let doc: any;
let ajv: Ajv2020;

beforeAll(async () => {
  ({ server } = await serveOnTempCloud());
  doc = (await call(server.url, "GET", "/openapi.json")).body;
  // The document is a schema resource: its #/components/schemas/… refs resolve inside it.
  ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema(doc, "openapi.json");
});

afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

/** Validates `value` against components.schemas[name]; the errors, empty when valid. */
function check(name: string, value: unknown): unknown[] {
  const validate = ajv.getSchema(`openapi.json#/components/schemas/${name}`);
  if (!validate) throw new Error(`no schema ${name} in the document`);
  return validate(value) ? [] : (validate.errors ?? []);
}

const TENANT = "tenant-doc";
const BASE = `/v2/${TENANT}/vclusters`;

describe("the request body: every field the spec accepts", () => {
  // biome-ignore lint/suspicious/noExplicitAny: JSON Schema objects
  type S = any;
  /** The body of each form: the args form's top level, the blueprint form's "vcluster". */
  function forms(): { args: S; blueprint: S } {
    const branches = doc.components.schemas.VClusterRequest.anyOf as S[];
    const blueprint = branches.find((b) => b.properties?.vcluster)?.properties.vcluster;
    const args = branches.find((b) => !b.properties?.vcluster);
    expect(blueprint).toBeDefined();
    expect(args).toBeDefined();
    return { args, blueprint };
  }
  const specFields = (body: S, type: string) =>
    Object.keys(
      (body.properties.instances.items.oneOf as S[]).find((b) =>
        (b.properties.type.const === undefined ? b.properties.type.enum : [b.properties.type.const]).includes(type),
      ).properties.spec.properties,
    ).sort();

  it.each(["args", "blueprint"] as const)("%s form", (form) => {
    const body = forms()[form];
    expect(Object.keys(body.properties).sort()).toEqual(Object.keys(bodySchema.shape).sort());
    expect(body.properties.placementStrategy.enum).toEqual(["spread", "pack"]);
    expect(specFields(body, "server")).toEqual(
      [...Object.keys(serverSpecShape), ...Object.keys(SNAKE_CASE_NAMES.server)].sort(),
    );
    for (const type of ["volume", "block-storage"]) {
      expect(specFields(body, type)).toEqual(
        [...ALLOWED_KEYS.volumeSpec, ...Object.keys(SNAKE_CASE_NAMES.volume)].sort(),
      );
    }
    const grouping = body.properties.groupings.items;
    expect(Object.keys(grouping.properties).sort()).toEqual(Object.keys(groupingSchema.shape).sort());
    expect(Object.keys(grouping.properties.spec.properties).sort()).toEqual(Object.keys(groupingSpecShape).sort());
  });

  it("the spec files the tests use validate against it; a typo doesn't", () => {
    for (const file of ["blueprint-usecase-1.json", "blueprint-usecase-2.json"]) {
      const spec = JSON.parse(readFileSync(path.join(SPECS, file), "utf8"));
      expect(check("VClusterRequest", spec), file).toEqual([]);
      expect(check("VClusterRequest", spec.vcluster), `${file} in the args form`).toEqual([]);
    }
    const typo = JSON.parse(readFileSync(path.join(SPECS, "blueprint-usecase-1.json"), "utf8"));
    typo.vcluster.placementStrategi = "pack";
    expect(check("VClusterRequest", typo)).not.toEqual([]);
  });
});

describe("real answers validate against the document", () => {
  it("create, show, list, dry run, versions and errors", async () => {
    const spec = JSON.parse(readFileSync(path.join(SPECS, "blueprint-usecase-1.json"), "utf8"));
    spec.vcluster.placementStrategy = "pack";
    const created = await call(server.url, "POST", BASE, spec);
    expect(created.status).toBe(202);
    expect(check("VClusterResponse", created.body)).toEqual([]);
    const id = created.body.vcluster.id;
    const active = await waitFor(server.url, TENANT, id, ["ACTIVE", "ERROR"]);
    expect(active.body.vcluster.status).toBe("ACTIVE");
    expect(active.body.vcluster.members.length).toBeGreaterThan(0);
    expect(check("VClusterResponse", active.body)).toEqual([]);

    const listed = await call(server.url, "GET", `${BASE}?limit=1`);
    expect(listed.body.vclusters_links).toBeDefined();
    expect(check("VClusterList", listed.body)).toEqual([]);

    const dry = await call(server.url, "POST", `${BASE}/dry-run`, spec);
    expect(dry.status).toBe(200);
    expect(check("DryRun", dry.body)).toEqual([]);

    // An unplaceable cluster: ERROR with its explanation.
    const huge = {
      name: "huge",
      instances: [{ name: "big", type: "volume", spec: { size: 1_000_000 } }],
    };
    const failed = await call(server.url, "POST", BASE, huge);
    const error = await waitFor(server.url, TENANT, failed.body.vcluster.id, ["ACTIVE", "ERROR"]);
    expect(error.body.vcluster.status).toBe("ERROR");
    expect(check("VClusterResponse", error.body)).toEqual([]);
    const unplaceable = await call(server.url, "POST", `${BASE}/dry-run`, huge);
    expect(unplaceable.body.dry_run.placeable).toBe(false);
    expect(check("DryRun", unplaceable.body)).toEqual([]);

    expect(check("Versions", (await call(server.url, "GET", "/")).body)).toEqual([]);
    expect(check("VersionDocument", (await call(server.url, "GET", "/v2")).body)).toEqual([]);
    const bad = await call(server.url, "POST", BASE, '{"vcluster": {"name": "x", "name": "y"}}');
    expect(bad.status).toBe(400);
    expect(check("Fault", bad.body)).toEqual([]);
    const missing = await call(server.url, "GET", `${BASE}/00000000-0000-4000-8000-000000000000`);
    expect(missing.status).toBe(404);
    expect(check("Fault", missing.body)).toEqual([]);
  });

  it("an answer with a field the document doesn't have fails: the check is not vacuous", () => {
    expect(check("Link", { rel: "self", href: "x" })).toEqual([]);
    expect(check("Link", { rel: "self" })).not.toEqual([]);
    // A field the document doesn't describe is refused: every field answered must be in it.
    expect(check("Link", { rel: "self", href: "x", title: "t" })).not.toEqual([]);
    expect(check("VClusterList", { vclusters: [{ id: 1 }] })).not.toEqual([]);
  });
});
