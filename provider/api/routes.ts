// The routes of the REST API (buildApp): Nova's version documents, the vclusters collection and its
// members, the dry run, OpenAPI, and errors in Nova's shape with a request id on every answer.
// server.ts starts and stops the service around them.
import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from "fastify";
import { BackendError } from "../backends/backend";
import type { BackendSelection } from "../backends/select";
import { ClusterController, LifecycleError } from "../lifecycle";
import { escapeControls, quote } from "../model/text";
import { type Authenticator, type Principal, tokenOf } from "./auth";
import type { ApiBackends } from "./backends";
import { specFromBody } from "./body";
import { databaseUnavailable } from "./database";
import type { Delegation } from "./delegation";
import { ApiError, badRequest, conflict, faultBody, notFound } from "./errors";
import type { Leases } from "./leases";
import type { ApiLog } from "./log";
import { MAX_BODY_BYTES, MAX_LIMIT, openApiDocument } from "./openapi";
import { cloudSpec, type OperationRunner, renamer } from "./operations";
import type { ClusterRecord } from "./records";
import type { Store } from "./store";
import { clusterSummary, clusterView, dryRunView, versionView } from "./views";

/** The longest path segment read (a tenant id is at most 64 characters, a vcluster id 36). */
const MAX_PARAM_LENGTH = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const VERSION: string = (require("pulumi-openstack-vcluster/package.json") as { version: string }).version;

export interface AppDeps {
  auth: Authenticator;
  store: Store;
  runner: OperationRunner;
  /** This server's leases: every operation it starts is leased to it. */
  leases: Leases;
  backends: ApiBackends;
  /** Keystone: trusts for the work, the caller's own backend for dry runs. */
  delegation?: Delegation;
  log: ApiLog;
}

type Params = { tenant_id: string; vcluster_id?: string };

function baseUrl(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

export function buildApp(deps: AppDeps) {
  const { auth, store, runner, leases, backends, delegation, log } = deps;
  const app = Fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    genReqId: () => `req-${randomUUID()}`,
    requestIdHeader: false,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    // What the router refuses before any route (a percent-escape that is no UTF-8, an over-long segment)
    // is answered in Nova's shape too.
    frameworkErrors: (error, req, reply) => {
      const tooLong = error.code === "FST_ERR_MAX_PARAM_LENGTH";
      const status = tooLong ? 414 : 400;
      const message = tooLong
        ? `a segment of the URL is longer than ${MAX_PARAM_LENGTH} characters; hint: a tenant id is a Keystone project id, a vcluster id a UUID`
        : "the URL is not valid: it holds a percent-escape that is not UTF-8 text";
      return (reply as unknown as FastifyReply)
        .code(status)
        .header("x-openstack-request-id", req.id)
        .header("content-type", "application/json; charset=utf-8")
        .send(JSON.stringify(faultBody(status, message)));
    },
    // A request HTTP itself can't read (bad header syntax, headers too large, too slow) never reaches a
    // route: answered here, in Nova's shape, and the connection closed.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (error.code === "ECONNRESET" || socket.destroyed || !socket.writable) return;
      const [status, message] =
        error.code === "HPE_HEADER_OVERFLOW"
          ? [431, "the request's headers are too large"]
          : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
            ? [408, "the request was not received in time"]
            : [400, "the request is not valid HTTP"];
      const body = JSON.stringify(faultBody(status, message));
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-openstack-request-id: req-${randomUUID()}\r\nconnection: close\r\n\r\n${body}`,
      );
    },
  });

  // Bodies are read as text and parsed by the spec layer (duplicate keys, line and column).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: MAX_BODY_BYTES }, (_req, body, done) =>
    done(null, body),
  );

  app.addHook("onSend", async (req, reply, payload) => {
    reply.header("x-openstack-request-id", req.id);
    return payload;
  });

  // One line per request: its route template (never the raw URL: a query string can carry anything),
  // the project it was authenticated for and the cluster it named, if any.
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "(no route)";
    const ms = Math.round(reply.elapsedTime * 10) / 10;
    const seen = seenOf(req);
    log("info", `${req.method} ${route} ${reply.statusCode} (${ms} ms, ${req.id})`, {
      event: "request",
      request_id: req.id,
      method: req.method,
      route,
      status: reply.statusCode,
      duration_ms: ms,
      project_id: seen.projectId,
      cluster_id: seen.clusterId,
    });
  });

  app.setNotFoundHandler((req, reply) => {
    const route = req.url.split("?")[0] ?? "";
    const shown = route.length > 200 ? `${route.slice(0, 200)}… (${route.length} characters)` : route;
    reply.code(404).send(faultBody(404, `no such resource: ${escapeControls(`${req.method} ${shown}`)}`));
  });

  app.setErrorHandler((error: FastifyError, req, reply) => {
    if (error instanceof ApiError) {
      if (error.status === 401 && "wwwAuthenticate" in auth) reply.header("www-authenticate", auth.wwwAuthenticate);
      return reply.code(error.status).headers(error.headers).send(error.body());
    }
    switch (error.code) {
      case "FST_ERR_CTP_BODY_TOO_LARGE":
        return reply
          .code(413)
          .send(
            faultBody(
              413,
              `the request body is larger than ${MAX_BODY_BYTES} bytes (1 MiB); hint: a cluster spec that large is best split into several clusters`,
            ),
          );
      case "FST_ERR_CTP_INVALID_MEDIA_TYPE": {
        const type = String(req.headers["content-type"] ?? "none");
        return reply
          .code(415)
          .send(
            faultBody(415, `content type ${quote(type)} is not supported; hint: send the body as application/json`),
          );
      }
    }
    const status = typeof error.statusCode === "number" ? error.statusCode : 500;
    if (status < 500) return reply.code(status).send(faultBody(status, error.message));
    const route = req.routeOptions.url ?? "(no route)";
    if (databaseUnavailable(error)) {
      log(
        "warn",
        `openstack-vcluster serve: the database is unavailable (${error.message}) in ${req.method} ${route} (${req.id})`,
      );
      return reply
        .code(503)
        .header("retry-after", "5")
        .send(faultBody(503, "the service's database is unavailable right now; hint: retry in a few seconds"));
    }
    // The route's template, never the raw URL: a query string can carry anything.
    log(
      "warn",
      `openstack-vcluster serve: internal error in ${req.method} ${route} (${req.id}): ${error.stack ?? error.message}`,
    );
    return reply.code(500).send(faultBody(500, `internal error (request ${req.id}); the server's log has the details`));
  });

  /** Who calls; the URL's project must be the token's (admins too: they list others with all_tenants). */
  async function callerOf(req: FastifyRequest<{ Params: Params }>): Promise<Principal> {
    const tenantId = req.params.tenant_id;
    const principal = await auth.authenticate({ headers: req.headers, tenantId });
    seenOf(req).projectId = principal.projectId;
    if (principal.projectId !== tenantId) {
      // Nova's answer (nova/api/openstack/wsgi.py) when the URL names another project than the token.
      throw badRequest(
        principal.projectId === ""
          ? `Malformed request URL: URL's project_id ${quote(tenantId)} doesn't match Context's project_id: the token is scoped to no project; hint: get a project-scoped token (openstack token issue with --os-project-name)`
          : `Malformed request URL: URL's project_id ${quote(tenantId)} doesn't match Context's project_id ${quote(principal.projectId)}`,
      );
    }
    return principal;
  }

  /** Keystone: a trust from the caller for the work this request starts (undefined with noauth). */
  async function trustFor(req: FastifyRequest, principal: Principal): Promise<string | undefined> {
    if (!delegation) return undefined;
    return delegation.trustFor(tokenOf(req.headers) ?? "", principal);
  }

  /** A trust made for a request that then started nothing: deleted at once, in the background. */
  function dropUnused(trustId: string | undefined): void {
    if (!trustId || !delegation) return;
    delegation.deleteTrust(trustId).catch((e: unknown) => {
      log(
        "warn",
        `openstack-vcluster serve: Keystone trust ${trustId} (made for a request that started nothing) could not be deleted: ${e instanceof Error ? e.message : String(e)}; its trustor can delete it: openstack trust delete ${trustId}`,
      );
    });
  }

  function clusterIdOf(req: FastifyRequest<{ Params: Params }>): string {
    const id = req.params.vcluster_id ?? "";
    if (!UUID.test(id)) throw notFound(`vcluster ${quote(id)} could not be found`);
    seenOf(req).clusterId = id;
    return id;
  }

  /** A cluster lives on the cloud it was built on; this server changes it only there. */
  function sameCloud(cluster: ClusterRecord): void {
    const serving = backends.backendIdFor(cluster.tenantId);
    if (cluster.backendId !== serving) {
      throw conflict(
        `cluster ${quote(cluster.name)} was built on ${cluster.backendId}, and this server serves ${serving}; hint: serve that cloud to change it`,
      );
    }
  }

  /** Starts an update or delete with its trust; a trust the store's refusal leaves unused is deleted. */
  async function startOrDrop(trustId: string | undefined, input: Parameters<Store["startOperation"]>[0]) {
    let started: Awaited<ReturnType<Store["startOperation"]>>;
    try {
      started = await store.startOperation({ ...input, ...(trustId ? { trustId } : {}) });
    } catch (e) {
      dropUnused(trustId);
      throw e;
    }
    if ("refused" in started) dropUnused(trustId);
    return started;
  }

  function busy(cluster: ClusterRecord, running: { action: string; id: string; requestId: string }): ApiError {
    return conflict(
      `cluster ${quote(cluster.name)} is busy: its ${running.action} (operation ${running.id}, request ${running.requestId}) is still running; hint: wait until its status is ACTIVE or ERROR, then retry`,
    );
  }

  // ---- versions and the document ----

  app.get("/", async (req) => ({ versions: [versionView(baseUrl(req))] }));
  app.get("/v2", async (req) => ({ version: versionView(baseUrl(req)) }));
  app.get("/openapi.json", async (req) => openApiDocument(baseUrl(req), VERSION));

  // ---- clusters ----

  app.get<{ Params: Params; Querystring: Record<string, unknown> }>("/v2/:tenant_id/vclusters", async (req) => {
    const principal = await callerOf(req);
    const tenantId = principal.projectId;
    const allTenants = parseAllTenants(req.query.all_tenants);
    if (allTenants && !principal.isAdmin) {
      // Nova's answer to a non-admin's all_tenants (policy os_compute_api:servers:index:get_all_tenants).
      throw new ApiError(
        403,
        "Policy doesn't allow vclusters:index:get_all_tenants to be performed: listing every project's clusters takes the role admin",
      );
    }
    const limit = parseLimit(req.query.limit);
    const marker = req.query.marker;
    if (marker !== undefined && (typeof marker !== "string" || !UUID.test(marker))) {
      throw badRequest(`marker ${quote(String(marker))} not found; hint: use the id of the last cluster of a page`);
    }
    const clusters = await store.listClusters(tenantId, {
      limit,
      allTenants,
      ...(marker !== undefined ? { marker } : {}),
    });
    if (!clusters) throw badRequest(`marker ${quote(marker as string)} not found`);
    const base = baseUrl(req);
    const last = clusters[clusters.length - 1];
    return {
      vclusters: clusters.map((c) => clusterSummary(c, base, allTenants)),
      ...(last && clusters.length === limit
        ? {
            vclusters_links: [
              {
                rel: "next",
                href: `${base}/v2/${encodeURIComponent(tenantId)}/vclusters?limit=${limit}&marker=${last.id}${allTenants ? "&all_tenants=1" : ""}`,
              },
            ],
          }
        : {}),
    };
  });

  app.post<{ Params: Params }>("/v2/:tenant_id/vclusters", async (req, reply) => {
    const principal = await callerOf(req);
    const tenantId = principal.projectId;
    const spec = specFromBody(req.body);
    const trustId = await trustFor(req, principal);
    let cluster: ClusterRecord;
    const grantedAt = performance.now();
    const id = randomUUID();
    seenOf(req).clusterId = id;
    try {
      cluster = await store.createCluster({
        id,
        operationId: randomUUID(),
        tenantId,
        backendId: backends.backendIdFor(tenantId),
        spec,
        requestId: req.id,
        ...(trustId ? { trustId } : {}),
        lease: leases.grant,
      });
    } catch (e) {
      dropUnused(trustId);
      throw e;
    }
    runner.launch(cluster, cluster.operation as NonNullable<ClusterRecord["operation"]>, grantedAt);
    const view = clusterView(cluster, baseUrl(req));
    return reply.code(202).header("location", view.links[0]?.href).send({ vcluster: view });
  });

  app.post<{ Params: Params }>("/v2/:tenant_id/vclusters/dry-run", async (req) => {
    const principal = await callerOf(req);
    const spec = specFromBody(req.body);
    const probe = `dry-run-${randomUUID()}`;
    // Keystone: read the cloud as the caller sees it (its quota, flavors, images), with its own token.
    const run = async (selection: BackendSelection) => {
      const controller = new ClusterController(selection.backend, { backendId: selection.backendId });
      return controller.plan(cloudSpec(spec, probe));
    };
    try {
      let plan: Awaited<ReturnType<typeof run>>;
      if (delegation) {
        const selection = await delegation.openAsCaller(tokenOf(req.headers) ?? "", principal);
        try {
          plan = await run(selection);
        } finally {
          await selection.backend.close();
        }
      } else {
        plan = await backends.use({ tenantId: principal.projectId }, run);
      }
      return dryRunView(spec.name, plan, renamer(probe, spec.name));
    } catch (e) {
      if (e instanceof LifecycleError && (e.code === "backend" || e.code === "timeout")) {
        throw new ApiError(503, renamer(probe, spec.name)(e.message));
      }
      if (e instanceof BackendError && e.retryable) throw new ApiError(503, e.message);
      throw e;
    }
  });

  // An admin may show any project's cluster by its id, as Nova shows an admin any server; for others
  // a cluster of another project is not found.
  app.get<{ Params: Params }>("/v2/:tenant_id/vclusters/:vcluster_id", async (req) => {
    const principal = await callerOf(req);
    const id = clusterIdOf(req);
    const cluster = await store.getCluster(principal.projectId, id, { anyTenant: principal.isAdmin });
    if (!cluster) throw notFound(`vcluster ${id} could not be found`);
    return { vcluster: clusterView(cluster, baseUrl(req), principal.projectId) };
  });

  /** An update or a delete of an existing cluster: one at a time (409), through the caller's trust; 202. */
  async function change(req: FastifyRequest<{ Params: Params }>, action: "update" | "delete") {
    const principal = await callerOf(req);
    const tenantId = principal.projectId;
    const id = clusterIdOf(req);
    const spec = action === "update" ? specFromBody(req.body) : undefined;
    const current = await store.getCluster(tenantId, id, { anyTenant: principal.isAdmin });
    if (!current) throw notFound(`vcluster ${id} could not be found`);
    if (current.tenantId !== tenantId) {
      // Seen by an admin, but changed only from its own project: the work acts through a trust there.
      throw new ApiError(
        403,
        `cluster ${quote(current.name)} belongs to project ${current.tenantId}: it is changed only with a token of that project, whose trust its work acts through; hint: use a token scoped to project ${current.tenantId}`,
      );
    }
    sameCloud(current);
    if (current.operation?.status === "running") throw busy(current, current.operation);
    const trustId = await trustFor(req, principal);
    const grantedAt = performance.now();
    const started = await startOrDrop(trustId, {
      tenantId,
      clusterId: id,
      operationId: randomUUID(),
      action,
      ...(spec ? { spec } : {}),
      requestId: req.id,
      lease: leases.grant,
    });
    if ("refused" in started) {
      if (started.refused === "busy") throw busy(current, started.running);
      throw notFound(`vcluster ${id} could not be found`);
    }
    runner.launch(started, started.operation as NonNullable<ClusterRecord["operation"]>, grantedAt);
    return started;
  }

  app.put<{ Params: Params }>("/v2/:tenant_id/vclusters/:vcluster_id", async (req, reply) => {
    const started = await change(req, "update");
    return reply.code(202).send({ vcluster: clusterView(started, baseUrl(req)) });
  });

  app.delete<{ Params: Params }>("/v2/:tenant_id/vclusters/:vcluster_id", async (req, reply) => {
    await change(req, "delete");
    return reply.code(202).send();
  });

  return app;
}

/** What a request was found to be about, for its log line. */
interface Seen {
  projectId?: string;
  clusterId?: string;
}

const seen = new WeakMap<FastifyRequest, Seen>();

function seenOf(req: FastifyRequest): Seen {
  let s = seen.get(req);
  if (!s) {
    s = {};
    seen.set(req, s);
  }
  return s;
}

/** Nova's reading of all_tenants: present with no value or a true one is true; "0"/"false"/"no" false. */
function parseAllTenants(value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "string") throw badRequest("all_tenants is given more than once");
  if (/^(|1|true|yes|on|y|t)$/i.test(value)) return true;
  if (/^(0|false|no|off|n|f)$/i.test(value)) return false;
  throw badRequest(`all_tenants ${quote(value)} is not valid; hint: all_tenants=1, or leave it out`);
}

function parseLimit(value: unknown): number {
  if (value === undefined) return MAX_LIMIT;
  if (typeof value !== "string" || !/^\d{1,9}$/.test(value)) {
    throw badRequest(`limit ${quote(String(value))} is not valid; hint: a whole number from 0 to ${MAX_LIMIT}`);
  }
  return Math.min(Number(value), MAX_LIMIT);
}
