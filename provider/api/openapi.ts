// The OpenAPI 3.1 document served at /openapi.json, generated from the same zod schemas the spec
// layer validates with and the API renders with (views.ts). The request body is the spec file's own
// JSON Schema (clusterspec/json-schema.ts, which editors get too): the blueprint form or the args
// form, every field each takes, so the two can't drift. The spec layer checks more than a schema can
// say (names, references, contradictions); those problems come back as 400 with `issues`.
import { z } from "zod";
import { JSON_SCHEMAS } from "../clusterspec/json-schema";
import { FAULT_NAMES } from "./errors";
import {
  clusterListSchema,
  clusterViewSchema,
  dryRunViewSchema,
  linkSchema,
  memberViewSchema,
  versionSchema,
} from "./views";

/** The largest request body, in bytes (413 above it). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** The most clusters one list page holds. */
export const MAX_LIMIT = 1000;

/** The spec file's schema as a schema of the document (its own `$schema` and title are the file's). */
function requestBodySchema(): Record<string, unknown> {
  const { $schema: _schema, title: _title, ...spec } = JSON_SCHEMAS.spec();
  return {
    ...spec,
    description:
      'A cluster spec, as a spec file holds it: the blueprint form {"vcluster": {...}} or the args form {"name", "instances", ...}, read as the command reads them (only the blueprint form attaches a volume that shares a hard affinity grouping with exactly one server).',
  };
}

const issueSchema = z.object({
  code: z
    .string()
    .describe("stable: invalid_json, duplicate_key, unknown_field, unknown_member, affinity_vs_anti_affinity, …"),
  path: z.string().describe("where in the body, e.g. vcluster.groupings[1].name"),
  message: z.string(),
  hint: z.string().optional(),
  line: z.number().int().optional(),
  column: z.number().int().optional(),
});

const faultBodySchema = z.object({
  code: z.number().int(),
  message: z.string(),
  issues: z.array(issueSchema).optional(),
});

/** A response's schema, as the API renders it. */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: "output", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function json(schemaName: string, description: string, extraHeaders: Record<string, unknown> = {}) {
  return {
    description,
    headers: { "x-openstack-request-id": { $ref: "#/components/headers/RequestId" }, ...extraHeaders },
    content: { "application/json": { schema: ref(schemaName) } },
  };
}

function fault(description: string) {
  return json("Fault", description);
}

const tenantParam = {
  name: "tenant_id",
  in: "path",
  required: true,
  description:
    "the project: the token's own (another one is a 400, as Nova answers); with --noauth any 1 to 64 letters, digits, - or _",
  schema: { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$" },
};
const idParam = {
  name: "vcluster_id",
  in: "path",
  required: true,
  schema: { type: "string", format: "uuid" },
};
const body = {
  required: true,
  content: { "application/json": { schema: ref("VClusterRequest") } },
};
/** What every route under /v2/{tenant_id} may answer before it looks at anything else. */
const authFaults = {
  "400": fault("the URL's project is not the token's"),
  "401": fault("no X-Auth-Token, or Keystone doesn't know the token (expired, revoked, forged)"),
  "503": fault("Keystone or the service's database can't be reached (Retry-After with the database)"),
};
const bodyFaults = {
  "400": fault("invalid JSON (with line and column), a repeated key, or a spec with problems (every one in issues)"),
  "413": fault(`a body larger than ${MAX_BODY_BYTES} bytes`),
  "415": fault("a content type other than application/json"),
};

let cached: Record<string, unknown> | undefined;

/** The document; `serverUrl` is where it was fetched from. */
export function openApiDocument(serverUrl: string, version: string): Record<string, unknown> {
  cached ??= build();
  return { ...cached, info: { ...(cached.info as object), version }, servers: [{ url: serverUrl }] };
}

function build(): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: {
      title: "openstack-vcluster",
      summary:
        "Virtual clusters of Nova servers and Cinder volumes, placed by rules (the Nova blueprint vcluster-api-extension)",
      description:
        'Creates, updates and deletes run in the background after 202, through the same lifecycle as `pulumi up`: placed first, created all-or-nothing, one operation at a time per cluster (409 while one runs). Poll GET until status is ACTIVE or ERROR. Every request under /v2/{tenant_id} carries a Keystone token in X-Auth-Token (except on a server started with --noauth); the work acts for the caller through a Keystone trust. Every response carries x-openstack-request-id. Errors are Nova-shaped: {"<kind>": {"code", "message", "issues"?}}.',
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    // The token, or nothing on a server started with --noauth (the simulated cloud).
    security: [{ keystone: [] }, {}],
    paths: {
      "/": {
        get: {
          summary: "API versions",
          responses: { "200": json("Versions", "the versions this service speaks") },
        },
      },
      "/v2": {
        get: { summary: "This version", responses: { "200": json("VersionDocument", "version v2") } },
      },
      "/openapi.json": {
        get: {
          summary: "This document",
          responses: { "200": { description: "OpenAPI 3.1", content: { "application/json": {} } } },
        },
      },
      "/v2/{tenant_id}/vclusters": {
        parameters: [tenantParam],
        get: {
          summary: "List the project's clusters, newest first",
          parameters: [
            {
              name: "limit",
              in: "query",
              schema: { type: "integer", minimum: 0, maximum: MAX_LIMIT, default: MAX_LIMIT },
            },
            {
              name: "marker",
              in: "query",
              description: "the id of the last cluster of the previous page",
              schema: { type: "string", format: "uuid" },
            },
            {
              name: "all_tenants",
              in: "query",
              description: "every project's clusters (role admin only; 403 otherwise)",
              schema: { type: "string", enum: ["1", "0", "true", "false"] },
            },
          ],
          responses: {
            ...authFaults,
            "200": json("VClusterList", "a page of clusters"),
            "400": fault("a bad limit, marker or all_tenants, or the URL's project is not the token's"),
            "403": fault("all_tenants without the role admin"),
          },
        },
        post: {
          summary: "Create a cluster",
          description:
            "Validates the spec at once (400 with every problem), then places and creates the cluster in the background: all of it, or nothing.",
          requestBody: body,
          responses: {
            ...authFaults,
            "202": json("VClusterResponse", "accepted: status BUILD", {
              Location: { description: "the new cluster", schema: { type: "string" } },
            }),
            ...bodyFaults,
            "403": fault(
              "Keystone refused the trust the work acts through (policy, or a restricted application credential)",
            ),
          },
        },
      },
      "/v2/{tenant_id}/vclusters/dry-run": {
        parameters: [tenantParam],
        post: {
          summary: "Validate and place a cluster without creating anything",
          description:
            "200 either way: `placeable` with the placement and soft violations, or not, with the explanation (causes, hints, per-member counts).",
          requestBody: body,
          responses: {
            ...authFaults,
            "200": json("DryRun", "the placement, or why none exists"),
            ...bodyFaults,
            "503": fault("the cloud, Keystone or the service's database can't be read"),
          },
        },
      },
      "/v2/{tenant_id}/vclusters/{vcluster_id}": {
        parameters: [tenantParam, idParam],
        get: {
          summary: "Show a cluster",
          description:
            "A cluster of the URL's project; with the role admin, any project's cluster by its id (as Nova shows an admin any server), its tenant_id saying whose.",
          responses: {
            ...authFaults,
            "200": json(
              "VClusterResponse",
              "status BUILD, ACTIVE, ERROR (with fault) or DELETING; members where they sit",
            ),
            "404": fault("no such cluster in this project"),
          },
        },
        put: {
          summary: "Update a cluster to a new spec",
          description:
            "As `pulumi up` does: members keep their place unless a rule forces a move; changed members are resized, rebuilt, added or removed in place.",
          requestBody: body,
          responses: {
            ...authFaults,
            "202": json("VClusterResponse", "accepted: status BUILD"),
            ...bodyFaults,
            "403": fault(
              "Keystone refused the trust the work acts through, or an admin asked for another project's cluster",
            ),
            "404": fault("no such cluster in this project"),
            "409": fault("another operation on this cluster is running, or it lives on another cloud"),
          },
        },
        delete: {
          summary: "Delete a cluster",
          description: "Deletes every member and server group and waits until they are gone; then GET answers 404.",
          responses: {
            ...authFaults,
            "403": fault(
              "Keystone refused the trust the work acts through, or an admin asked for another project's cluster",
            ),
            "202": {
              description: "accepted: status DELETING",
              headers: { "x-openstack-request-id": { $ref: "#/components/headers/RequestId" } },
            },
            "404": fault("no such cluster in this project"),
            "409": fault("another operation on this cluster is running, or it lives on another cloud"),
          },
        },
      },
    },
    components: {
      securitySchemes: {
        keystone: {
          type: "apiKey",
          in: "header",
          name: "X-Auth-Token",
          description: "a Keystone token scoped to the URL's project",
        },
      },
      headers: {
        RequestId: { description: "req-<uuid>, also in the server's log", schema: { type: "string" } },
      },
      schemas: {
        VClusterRequest: requestBodySchema(),
        VClusterResponse: jsonSchema(z.object({ vcluster: clusterViewSchema })),
        VCluster: jsonSchema(clusterViewSchema),
        Member: jsonSchema(memberViewSchema),
        VClusterList: jsonSchema(clusterListSchema),
        DryRun: jsonSchema(dryRunViewSchema),
        Link: jsonSchema(linkSchema),
        VersionDocument: jsonSchema(z.object({ version: versionSchema })),
        Versions: jsonSchema(z.object({ versions: z.array(versionSchema) })),
        Fault: {
          type: "object",
          description: `one key naming the fault: ${[...new Set(Object.values(FAULT_NAMES))].join(", ")}`,
          minProperties: 1,
          maxProperties: 1,
          additionalProperties: jsonSchema(faultBodySchema),
        },
      },
    },
  };
}
