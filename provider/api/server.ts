// The blueprint's REST API (`openstack-vcluster serve`): POST/GET/PUT/DELETE
// /v2/{tenant_id}/vclusters[/{id}] and a dry run, over the same lifecycle as `pulumi up`.
//
// Requests are answered at once; creates, updates and deletes run in the background
// (operations.ts) and are recorded in a database (store.ts): an embedded SQLite file by default, or
// PostgreSQL for several replicas behind a load balancer. Each running operation is leased to the
// server running it (leases.ts); a server that crashes or stops leaves it to another one, or to its
// own next start, which resumes it.
//
// One server per SQLite file: the file is locked while it runs (a crashed holder's lock is taken
// over at once), so at its start a server knows that every operation recorded as running is an
// orphan and resumes them all without waiting for their leases to expire. A SQLite file serves one
// host; replicas share a PostgreSQL database, where only leases decide.
//
// Who calls (auth.ts): with Keystone (an OpenStack cloud), every request's X-Auth-Token is validated at
// Keystone (cached briefly, token-cache.ts), the URL's tenant_id must be the token's project, and the
// work acts for the caller through a Keystone trust (delegation.ts), with a backend per trust
// (backends.ts). With `--noauth` (the simulated cloud only), the URL's tenant_id is the project and
// every project shares the one backend. The routes themselves are routes.ts.
import * as path from "node:path";
import { resolveOpenStackConfig } from "../backends/openstack/config";
import { OpenStackConfigError } from "../backends/openstack/config-error";
import { KeystoneIdentity, KeystoneIdentityError } from "../backends/openstack/identity";
import { type BackendSelection, chooseBackendKind, NoCloudConfiguredError, selectBackend } from "../backends/select";
import { acquireFileLock, LockTimeoutError } from "../backends/simulated";
import type { Release } from "../backends/simulated/file-lock";
import { type Authenticator, keystoneAuth, NOAUTH_WARNING, noAuth } from "./auth";
import { type ApiBackends, sharedBackend } from "./backends";
import { isPostgresUrl } from "./database";
import { type BackendOpener, DEFAULT_TRUST_LIFETIME_MS, type Delegation, keystoneDelegation } from "./delegation";
import { Leases, type LeaseTimings } from "./leases";
import type { ApiLog } from "./log";
import { OperationRunner } from "./operations";
import { buildApp } from "./routes";
import { Store } from "./store";
import { DEFAULT_TOKEN_TTL_MS, type TokenCacheOptions } from "./token-cache";

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
  /** The records: a SQLite file (created if absent), or a PostgreSQL URL (`postgres://…`, several replicas). */
  db: string;
  /** Which cloud, as the command's flags give it: selectBackend's keys (backend, simulatedDir, simulatedTopology, …). */
  config?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
  /** Relative paths (db, simulated cloud) resolve from here (default process.cwd()). */
  cwd?: string;
  /** Where notices, warnings and progress of failures go (default stderr). */
  log?: ApiLog;
  /**
   * How long close() waits for running operations (default 30 s); those still running are then
   * stopped and handed over (another server, or the next start, resumes them).
   */
  drainTimeoutMs?: number;
  /** Leases on running operations: their length, how often they are renewed and expired ones looked for. */
  leases?: LeaseTimings;
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
  /** This server's id in the leases it holds (host/pid/random). */
  owner: string;
  /** Stop accepting, let running operations finish (bounded), close the database. */
  close(): Promise<void>;
}

export const DEFAULT_PORT = 8788;
const DEFAULT_DRAIN_MS = 30_000;
/** How long a hand-over waits for stopped work to unwind before the leases are given up. */
const HANDOVER_MS = 5_000;

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
  if (file === ":memory:" || isPostgresUrl(file)) return async () => {};
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
    const dbFile = opts.db === ":memory:" || isPostgresUrl(opts.db) ? opts.db : path.resolve(cwd, opts.db);
    cleanup.push(await lockDatabase(dbFile));
    const store = await Store.open(dbFile);
    cleanup.push(() => store.close());
    const served = shared ? shared.backendId : backends.backendIdFor("<project>");
    for (const other of await store.clustersElsewhere((id, tenant) => id === backends.backendIdFor(tenant))) {
      log(
        "warn",
        `openstack-vcluster serve: ${other.count} cluster(s) in ${store.where} were built on ${other.backendId}, not on the cloud served now (${served}): they can be listed and shown, not changed; hint: serve that cloud to change or delete them`,
      );
    }
    let renewFailing = false;
    const leases = new Leases(
      store,
      opts.leases,
      (id, reason) => runner.onFence(id, reason),
      (e) => {
        // One warning per streak of failures, not one per round.
        if (e === undefined || renewFailing) {
          renewFailing = e !== undefined;
          return;
        }
        renewFailing = true;
        log(
          "warn",
          `openstack-vcluster serve: renewing this server's leases failed (${e instanceof Error ? e.message : String(e)}); operations whose lease can't be renewed in time stop, for another server to take over`,
        );
      },
    );
    cleanup.push(() => leases.stop());
    const runner: OperationRunner = new OperationRunner(store, backends, {
      log,
      leases,
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
      ...(delegation
        ? { deleteTrust: delegation.deleteTrust, trustLifetimeMs: opts.trustLifetimeMs ?? DEFAULT_TRUST_LIFETIME_MS }
        : {}),
    });
    const app = buildApp({ auth, store, runner, leases, backends, ...(delegation ? { delegation } : {}), log });
    const address = await app.listen({ host: opts.host ?? "127.0.0.1", port: opts.port ?? DEFAULT_PORT });
    cleanup.push(() => app.close());
    const url = address.replace(/\/$/, "");
    // A SQLite file is this server's alone (its lock): whatever it finds running is an orphan.
    const resumed = await runner.claim({ all: store.dialect === "sqlite" });
    if (resumed > 0)
      log("info", `openstack-vcluster serve: resuming ${resumed} operation(s) a previous server left running`);
    runner.startClaiming();
    const trusts = await runner.sweepTrusts();
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
          const n = runner.size;
          await runner.handOver(HANDOVER_MS);
          log(
            "warn",
            `openstack-vcluster serve: ${n} operation(s) still running after ${drainMs / 1000} s; they are recorded as running, stopped here and handed over: another server (or the next start) resumes them`,
          );
        } else {
          await runner.handOver(0);
        }
        cleanup.pop(); // app.close() is done
        await undo();
      })();
      return closing;
    };
    return { url, owner: leases.owner, close };
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
