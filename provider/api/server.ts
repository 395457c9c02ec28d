// The blueprint's REST API (`openstack-vcluster serve`): POST/GET/PUT/DELETE
// /v2/{tenant_id}/vclusters[/{id}] and a dry run, over the same lifecycle as `pulumi up`.
//
// Requests are answered at once; creates, updates and deletes run in the background
// (operations.ts) and are recorded in an embedded SQLite file (store.ts), so a server that stops
// or crashes resumes them at its next start. One server per database file: the file is locked
// while it runs (a crashed holder's lock is taken over at once).
//
// Who calls (auth.ts): with Keystone (an OpenStack cloud), every request's X-Auth-Token is validated at
// Keystone (cached briefly, token-cache.ts), the URL's tenant_id must be the token's project, and the
// work acts for the caller through a Keystone trust (delegation.ts), with a backend per trust
// (backends.ts). With `--noauth` (the simulated cloud only), the URL's tenant_id is the project and
// every project shares the one backend.
import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import * as path from "node:path";
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from "fastify";
import { BackendError } from "../backends/backend";
import { resolveOpenStackConfig } from "../backends/openstack/config";
import { OpenStackConfigError } from "../backends/openstack/config-error";
import { KeystoneIdentity, KeystoneIdentityError } from "../backends/openstack/identity";
import { type BackendSelection, chooseBackendKind, NoCloudConfiguredError, selectBackend } from "../backends/select";
import { acquireFileLock, LockTimeoutError } from "../backends/simulated";
import type { Release } from "../backends/simulated/file-lock";
import { ClusterController, LifecycleError } from "../lifecycle";
import { escapeControls, quote } from "../model/text";
import { type Authenticator, keystoneAuth, NOAUTH_WARNING, noAuth, type Principal, tokenOf } from "./auth";
import { type ApiBackends, sharedBackend } from "./backends";
import { specFromBody } from "./body";
import { type BackendOpener, DEFAULT_TRUST_LIFETIME_MS, type Delegation, keystoneDelegation } from "./delegation";
import { ApiError, badRequest, conflict, faultBody, notFound } from "./errors";
import { MAX_BODY_BYTES, MAX_LIMIT, openApiDocument } from "./openapi";
import { type ApiLog, cloudSpec, OperationRunner, renamer } from "./operations";
import { type ClusterRecord, Store } from "./store";
import { DEFAULT_TOKEN_TTL_MS, type TokenCacheOptions } from "./token-cache";
import { clusterSummary, clusterView, dryRunView, versionView } from "./views";

export interface ServerOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8788; 0 picks a free one). */
  port?: number;
  /**
   * Trust every request and take the URL's tenant_id as the project (the simulated cloud only). Without
   * it: Keystone tokens, on the OpenStack cloud `config` or the environment names (cloud, OS_CLOUD, OS_*).
   */
  noauth: boolean;
  /** The SQLite database file (created if absent). */
  db: string;
  /** Which cloud, as the command's flags give it: selectBackend's keys (backend, simulatedDir, simulatedTopology, …). */
  config?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
  /** Relative paths (db, simulated cloud) resolve from here (default process.cwd()). */
  cwd?: string;
  /** Where notices, warnings and progress of failures go (default stderr). */
  log?: ApiLog;
  /** How long close() waits for running operations (default 30 s); those still running resume at the next start. */
  drainTimeoutMs?: number;
  /** Cloud operations in flight per cluster operation (default 10). */
  concurrency?: number;
  timeouts?: { serverMs?: number; volumeMs?: number; deleteMs?: number };
  /** Keystone: the validated-token cache (default 4096 entries, 60 s). */
  tokenCache?: TokenCacheOptions;
  /** Keystone: how long a trust lives at most (default 24 h; each operation deletes its own when done). */
  trustLifetimeMs?: number;
  /** Keystone: how a backend acting for a caller connects (tests put the simulated cloud behind it). */
  openBackend?: BackendOpener;
}

export interface RunningServer {
  /** http://host:port */
  url: string;
  /** Stop accepting, let running operations finish (bounded), close the database. */
  close(): Promise<void>;
}

export const DEFAULT_PORT = 8788;
const DEFAULT_DRAIN_MS = 30_000;
/** The longest path segment read (a tenant id is at most 64 characters, a vcluster id 36). */
const MAX_PARAM_LENGTH = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const VERSION: string = (require("pulumi-openstack-vcluster/package.json") as { version: string }).version;

function stderrLog(_level: "info" | "warn", message: string): void {
  process.stderr.write(message.endsWith("\n") ? message : `${message}\n`);
}

/** Databases this process serves (the file lock queues callers of one process instead of refusing them). */
const serving = new Set<string>();

function inUse(file: string, holder: string): Error {
  return new Error(
    `the database ${file} is in use by another openstack-vcluster serve (${holder}); hint: stop that one, or use another --db`,
  );
}

/** The database can be served by one server at a time. */
async function lockDatabase(file: string): Promise<Release> {
  if (file === ":memory:") return async () => {};
  if (serving.has(file)) throw inUse(file, `pid ${process.pid}, this process`);
  serving.add(file);
  try {
    const release = await acquireFileLock(`${file}.lock`, { purpose: "openstack-vcluster serve", timeoutMs: 1_000 });
    return async () => {
      serving.delete(file);
      await release();
    };
  } catch (e) {
    serving.delete(file);
    if (!(e instanceof LockTimeoutError)) throw e;
    throw inUse(file, `pid ${e.holder.pid} on "${e.holder.host}"`);
  }
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log ?? stderrLog;
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const config = opts.config ?? {};
  const cleanup: (() => Promise<void> | void)[] = [];
  const undo = async () => {
    for (const fn of cleanup.reverse()) await Promise.resolve(fn()).catch(() => {});
  };
  let auth: Authenticator;
  let backends: ApiBackends;
  let delegation: Delegation | undefined;
  let shared: BackendSelection | undefined;
  try {
    if (opts.noauth) {
      // noauth: the simulated cloud only (on OpenStack, every project would act with this server's credentials).
      const select = { defaultToSimulated: true };
      if (chooseBackendKind(config, env, select) !== "simulated") {
        throw new Error(
          "--noauth serves the simulated cloud only, and OpenStack was selected (--backend, OS_CLOUD or OS_AUTH_URL): every project would act with this server's credentials; hint: add --backend simulated, or drop --noauth to authenticate with Keystone",
        );
      }
      log("warn", NOAUTH_WARNING);
      shared = await selectBackend(config, env, cwd, select);
      if (shared.notice) log("info", shared.notice);
      auth = noAuth();
      backends = sharedBackend(shared);
      cleanup.push(() => backends.close());
    } else {
      const keystone = await startKeystone(opts, config, env, cwd, log);
      cleanup.push(() => keystone.identity.close());
      auth = keystone.auth;
      delegation = keystone.delegation;
      backends = keystone.delegation.backends;
      cleanup.push(() => backends.close());
    }
  } catch (e) {
    await undo();
    throw e;
  }
  try {
    const dbFile = opts.db === ":memory:" ? opts.db : path.resolve(cwd, opts.db);
    cleanup.push(await lockDatabase(dbFile));
    const store = Store.open(dbFile);
    cleanup.push(() => store.close());
    const served = shared ? shared.backendId : backends.backendIdFor("<project>");
    for (const other of store.clustersElsewhere((id, tenant) => id === backends.backendIdFor(tenant))) {
      log(
        "warn",
        `openstack-vcluster serve: ${other.count} cluster(s) in ${dbFile} were built on ${other.backendId}, not on the cloud served now (${served}): they can be listed and shown, not changed; hint: serve that cloud to change or delete them`,
      );
    }
    const runner = new OperationRunner(store, backends, {
      log,
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
      ...(delegation
        ? { deleteTrust: delegation.deleteTrust, trustLifetimeMs: opts.trustLifetimeMs ?? DEFAULT_TRUST_LIFETIME_MS }
        : {}),
    });
    const app = buildApp({ auth, store, runner, backends, ...(delegation ? { delegation } : {}), log });
    const address = await app.listen({ host: opts.host ?? "127.0.0.1", port: opts.port ?? DEFAULT_PORT });
    cleanup.push(() => app.close());
    const url = address.replace(/\/$/, "");
    const resumed = runner.resumeAll();
    if (resumed > 0)
      log("info", `openstack-vcluster serve: resuming ${resumed} operation(s) a previous server left running`);
    const trusts = runner.sweepTrusts();
    if (trusts > 0)
      log(
        "info",
        `openstack-vcluster serve: deleting ${trusts} Keystone trust(s) of operations a previous server ended`,
      );

    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        await app.close();
        const drainMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_MS;
        const left = runner.size;
        if (left > 0)
          log("info", `openstack-vcluster serve: waiting up to ${drainMs / 1000} s for ${left} operation(s) to finish`);
        if (!(await runner.drain(drainMs))) {
          log(
            "warn",
            `openstack-vcluster serve: ${runner.size} operation(s) still running after ${drainMs / 1000} s; they are recorded as running and resume at the next start`,
          );
        }
        cleanup.pop(); // app.close() is done
        await undo();
      })();
      return closing;
    };
    return { url, close };
  } catch (e) {
    await undo();
    throw e;
  }
}

/** Keystone: the service's identity, the token validator, and the trusts its work acts through. */
async function startKeystone(
  opts: ServerOptions,
  config: Record<string, string>,
  env: NodeJS.ProcessEnv,
  cwd: string,
  log: ApiLog,
) {
  const hint =
    "hint: name the OpenStack cloud with --cloud NAME or OS_CLOUD (a clouds.yaml entry with the service user's password), or serve the simulated cloud with --noauth";
  let kind: string;
  try {
    kind = chooseBackendKind(config, env);
  } catch (e) {
    if (e instanceof NoCloudConfiguredError) {
      throw new Error(`callers are authenticated with Keystone, and no OpenStack cloud is configured; ${hint}`);
    }
    throw e;
  }
  if (kind !== "openstack") {
    throw new Error(`callers are authenticated with Keystone, and the simulated cloud has none; ${hint}`);
  }
  let identity: KeystoneIdentity;
  try {
    identity = await KeystoneIdentity.connect(resolveOpenStackConfig(config, env, cwd));
  } catch (e) {
    if (e instanceof OpenStackConfigError || e instanceof KeystoneIdentityError) throw new Error(e.message);
    throw e;
  }
  const auth = keystoneAuth(identity, { ...opts.tokenCache, log });
  const delegation = keystoneDelegation(identity, {
    log,
    ...(opts.openBackend ? { open: opts.openBackend } : {}),
    ...(opts.trustLifetimeMs !== undefined ? { trustLifetimeMs: opts.trustLifetimeMs } : {}),
  });
  const ttl = (opts.tokenCache?.ttlMs ?? DEFAULT_TOKEN_TTL_MS) / 1000;
  log(
    "info",
    `openstack-vcluster serve: Keystone at ${identity.base}: tokens validated by service user ${JSON.stringify(await identity.serviceUserName())} and cached up to ${ttl} s (a revoked token is accepted until then); work acts for each caller through a Keystone trust to that user`,
  );
  return { identity, auth, delegation };
}

interface AppDeps {
  auth: Authenticator;
  store: Store;
  runner: OperationRunner;
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
  const { auth, store, runner, backends, delegation, log } = deps;
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
    log(
      "warn",
      `openstack-vcluster serve: internal error in ${req.method} ${req.url} (${req.id}): ${error.stack ?? error.message}`,
    );
    return reply.code(500).send(faultBody(500, `internal error (request ${req.id}); the server's log has the details`));
  });

  /** Who calls; the URL's project must be the token's (admins too: they list others with all_tenants). */
  async function callerOf(req: FastifyRequest<{ Params: Params }>): Promise<Principal> {
    const tenantId = req.params.tenant_id;
    const principal = await auth.authenticate({ headers: req.headers, tenantId });
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

  async function projectOf(req: FastifyRequest<{ Params: Params }>): Promise<string> {
    return (await callerOf(req)).projectId;
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
    return id;
  }

  function found(tenantId: string, id: string): ClusterRecord {
    const cluster = store.getCluster(tenantId, id);
    if (!cluster) throw notFound(`vcluster ${id} could not be found`);
    return cluster;
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
  function startOrDrop(trustId: string | undefined, input: Parameters<Store["startOperation"]>[0]) {
    let started: ReturnType<Store["startOperation"]>;
    try {
      started = store.startOperation({ ...input, ...(trustId ? { trustId } : {}) });
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
    const clusters = store.listClusters(tenantId, {
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
    try {
      cluster = store.createCluster({
        id: randomUUID(),
        operationId: randomUUID(),
        tenantId,
        backendId: backends.backendIdFor(tenantId),
        spec,
        requestId: req.id,
        ...(trustId ? { trustId } : {}),
      });
    } catch (e) {
      dropUnused(trustId);
      throw e;
    }
    runner.launch(cluster, cluster.operation as NonNullable<ClusterRecord["operation"]>);
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

  app.get<{ Params: Params }>("/v2/:tenant_id/vclusters/:vcluster_id", async (req) => {
    const tenantId = await projectOf(req);
    return { vcluster: clusterView(found(tenantId, clusterIdOf(req)), baseUrl(req)) };
  });

  app.put<{ Params: Params }>("/v2/:tenant_id/vclusters/:vcluster_id", async (req, reply) => {
    const principal = await callerOf(req);
    const tenantId = principal.projectId;
    const id = clusterIdOf(req);
    const spec = specFromBody(req.body);
    const current = found(tenantId, id);
    sameCloud(current);
    if (current.operation?.status === "running") throw busy(current, current.operation);
    const trustId = await trustFor(req, principal);
    const started = startOrDrop(trustId, {
      tenantId,
      clusterId: id,
      operationId: randomUUID(),
      action: "update",
      spec,
      requestId: req.id,
    });
    if ("refused" in started) {
      if (started.refused === "busy") throw busy(current, started.running);
      throw notFound(`vcluster ${id} could not be found`);
    }
    runner.launch(started, started.operation as NonNullable<ClusterRecord["operation"]>);
    return reply.code(202).send({ vcluster: clusterView(started, baseUrl(req)) });
  });

  app.delete<{ Params: Params }>("/v2/:tenant_id/vclusters/:vcluster_id", async (req, reply) => {
    const principal = await callerOf(req);
    const tenantId = principal.projectId;
    const id = clusterIdOf(req);
    const current = found(tenantId, id);
    sameCloud(current);
    if (current.operation?.status === "running") throw busy(current, current.operation);
    const trustId = await trustFor(req, principal);
    const started = startOrDrop(trustId, {
      tenantId,
      clusterId: id,
      operationId: randomUUID(),
      action: "delete",
      requestId: req.id,
    });
    if ("refused" in started) {
      if (started.refused === "busy") throw busy(current, started.running);
      throw notFound(`vcluster ${id} could not be found`);
    }
    runner.launch(started, started.operation as NonNullable<ClusterRecord["operation"]>);
    return reply.code(202).send();
  });

  return app;
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
