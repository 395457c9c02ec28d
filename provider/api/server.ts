// The blueprint's REST API (`openstack-vcluster serve`): POST/GET/PUT/DELETE
// /v2/{tenant_id}/vclusters[/{id}] and a dry run, over the same lifecycle as `pulumi up`.
//
// Requests are answered at once; creates, updates and deletes run in the background
// (operations.ts) and are recorded in an embedded SQLite file (store.ts), so a server that stops
// or crashes resumes them at its next start. One server per database file: the file is locked
// while it runs (a crashed holder's lock is taken over at once).
//
// This slice authenticates with `--noauth` only, on the simulated cloud; auth.ts is the seam where
// Keystone token validation goes.
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import Fastify, { type FastifyError, type FastifyRequest } from "fastify";
import { type BackendSelection, chooseBackendKind, selectBackend } from "../backends/select";
import { acquireFileLock, LockTimeoutError } from "../backends/simulated";
import type { Release } from "../backends/simulated/file-lock";
import { ClusterController, LifecycleError } from "../lifecycle";
import { quote } from "../model/text";
import { type Authenticator, NOAUTH_WARNING, noAuth } from "./auth";
import { specFromBody } from "./body";
import { ApiError, badRequest, conflict, faultBody, notFound } from "./errors";
import { MAX_BODY_BYTES, MAX_LIMIT, openApiDocument } from "./openapi";
import { type ApiLog, cloudSpec, OperationRunner, renamer } from "./operations";
import { type ClusterRecord, Store } from "./store";
import { clusterSummary, clusterView, dryRunView, versionView } from "./views";

export interface ServerOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8788; 0 picks a free one). */
  port?: number;
  /** Trust every request and take the URL's tenant_id as the project. Required in this release (simulated cloud only). */
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
}

export interface RunningServer {
  /** http://host:port */
  url: string;
  /** Stop accepting, let running operations finish (bounded), close the database. */
  close(): Promise<void>;
}

export const DEFAULT_PORT = 8788;
const DEFAULT_DRAIN_MS = 30_000;
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
  if (!opts.noauth) {
    throw new Error(
      "Keystone token validation is not implemented yet: run `serve --noauth` on the simulated cloud (every request is trusted; the URL's tenant_id is the project)",
    );
  }
  const auth: Authenticator = noAuth();

  // noauth: the simulated cloud only (on OpenStack, every project would act with this server's credentials).
  const config = opts.config ?? {};
  const select = { defaultToSimulated: true };
  if (chooseBackendKind(config, env, select) !== "simulated") {
    throw new Error(
      "--noauth serves the simulated cloud only, and OpenStack was selected (--backend, OS_CLOUD or OS_AUTH_URL): every project would act with this server's credentials; hint: add --backend simulated",
    );
  }
  log("warn", NOAUTH_WARNING);
  const selection = await selectBackend(config, env, cwd, select);
  if (selection.notice) log("info", selection.notice);
  const cleanup: (() => Promise<void> | void)[] = [() => selection.backend.close()];
  const undo = async () => {
    for (const fn of cleanup.reverse()) await Promise.resolve(fn()).catch(() => {});
  };
  try {
    const dbFile = opts.db === ":memory:" ? opts.db : path.resolve(cwd, opts.db);
    cleanup.push(await lockDatabase(dbFile));
    const store = Store.open(dbFile);
    cleanup.push(() => store.close());
    for (const other of store.clustersElsewhere(selection.backendId)) {
      log(
        "warn",
        `openstack-vcluster serve: ${other.count} cluster(s) in ${dbFile} were built on ${other.backendId}, not on the cloud served now (${selection.backendId}): they can be listed and shown, not changed; hint: serve that cloud to change or delete them`,
      );
    }
    const runner = new OperationRunner(store, selection, {
      log,
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
    });
    const app = buildApp({ auth, store, runner, selection, log });
    const address = await app.listen({ host: opts.host ?? "127.0.0.1", port: opts.port ?? DEFAULT_PORT });
    cleanup.push(() => app.close());
    const url = address.replace(/\/$/, "");
    const resumed = runner.resumeAll();
    if (resumed > 0)
      log("info", `openstack-vcluster serve: resuming ${resumed} operation(s) a previous server left running`);

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

interface AppDeps {
  auth: Authenticator;
  store: Store;
  runner: OperationRunner;
  selection: BackendSelection;
  log: ApiLog;
}

type Params = { tenant_id: string; vcluster_id?: string };

function baseUrl(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

export function buildApp(deps: AppDeps) {
  const { auth, store, runner, selection, log } = deps;
  const app = Fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    genReqId: () => `req-${randomUUID()}`,
    requestIdHeader: false,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
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
    reply.code(404).send(faultBody(404, `no such resource: ${req.method} ${req.url.split("?")[0]}`));
  });

  app.setErrorHandler((error: FastifyError, req, reply) => {
    if (error instanceof ApiError) return reply.code(error.status).send(error.body());
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

  async function projectOf(req: FastifyRequest<{ Params: Params }>): Promise<string> {
    const tenantId = req.params.tenant_id;
    const principal = await auth.authenticate({ headers: req.headers, tenantId });
    if (principal.projectId !== tenantId && !principal.isAdmin) {
      // Nova's answer when the URL names another project than the token.
      throw badRequest(
        `the URL's project ${quote(tenantId)} is not the project of the token (${quote(principal.projectId)})`,
      );
    }
    return tenantId;
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
    if (cluster.backendId !== selection.backendId) {
      throw conflict(
        `cluster ${quote(cluster.name)} was built on ${cluster.backendId}, and this server serves ${selection.backendId}; hint: serve that cloud to change it`,
      );
    }
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
    const tenantId = await projectOf(req);
    const limit = parseLimit(req.query.limit);
    const marker = req.query.marker;
    if (marker !== undefined && (typeof marker !== "string" || !UUID.test(marker))) {
      throw badRequest(`marker ${quote(String(marker))} not found; hint: use the id of the last cluster of a page`);
    }
    const clusters = store.listClusters(tenantId, { limit, ...(marker !== undefined ? { marker } : {}) });
    if (!clusters) throw badRequest(`marker ${quote(marker as string)} not found`);
    const base = baseUrl(req);
    const last = clusters[clusters.length - 1];
    return {
      vclusters: clusters.map((c) => clusterSummary(c, base)),
      ...(last && clusters.length === limit
        ? {
            vclusters_links: [
              {
                rel: "next",
                href: `${base}/v2/${encodeURIComponent(tenantId)}/vclusters?limit=${limit}&marker=${last.id}`,
              },
            ],
          }
        : {}),
    };
  });

  app.post<{ Params: Params }>("/v2/:tenant_id/vclusters", async (req, reply) => {
    const tenantId = await projectOf(req);
    const spec = specFromBody(req.body);
    const cluster = store.createCluster({
      id: randomUUID(),
      operationId: randomUUID(),
      tenantId,
      backendId: selection.backendId,
      spec,
      requestId: req.id,
    });
    runner.launch(cluster, cluster.operation as NonNullable<ClusterRecord["operation"]>);
    const view = clusterView(cluster, baseUrl(req));
    return reply.code(202).header("location", view.links[0]?.href).send({ vcluster: view });
  });

  app.post<{ Params: Params }>("/v2/:tenant_id/vclusters/dry-run", async (req) => {
    await projectOf(req);
    const spec = specFromBody(req.body);
    const probe = `dry-run-${randomUUID()}`;
    const controller = new ClusterController(selection.backend, { backendId: selection.backendId });
    try {
      const plan = await controller.plan(cloudSpec(spec, probe));
      return dryRunView(spec.name, plan, renamer(probe, spec.name));
    } catch (e) {
      if (e instanceof LifecycleError && (e.code === "backend" || e.code === "timeout")) {
        throw new ApiError(503, renamer(probe, spec.name)(e.message));
      }
      throw e;
    }
  });

  app.get<{ Params: Params }>("/v2/:tenant_id/vclusters/:vcluster_id", async (req) => {
    const tenantId = await projectOf(req);
    return { vcluster: clusterView(found(tenantId, clusterIdOf(req)), baseUrl(req)) };
  });

  app.put<{ Params: Params }>("/v2/:tenant_id/vclusters/:vcluster_id", async (req, reply) => {
    const tenantId = await projectOf(req);
    const id = clusterIdOf(req);
    const spec = specFromBody(req.body);
    const current = found(tenantId, id);
    sameCloud(current);
    const started = store.startOperation({
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
    const tenantId = await projectOf(req);
    const id = clusterIdOf(req);
    const current = found(tenantId, id);
    sameCloud(current);
    const started = store.startOperation({
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

function parseLimit(value: unknown): number {
  if (value === undefined) return MAX_LIMIT;
  if (typeof value !== "string" || !/^\d{1,9}$/.test(value)) {
    throw badRequest(`limit ${quote(String(value))} is not valid; hint: a whole number from 0 to ${MAX_LIMIT}`);
  }
  return Math.min(Number(value), MAX_LIMIT);
}
