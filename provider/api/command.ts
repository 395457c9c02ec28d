// `openstack-vcluster serve`: the REST API in the foreground until SIGINT or SIGTERM, then a
// graceful close (running operations finish, bounded; the database is closed). Returns the exit
// code like every command: 0 after a clean stop, 3 when the server can't start.
//
// Without --noauth it serves the OpenStack cloud named by --cloud or OS_CLOUD (or the OS_* variables),
// validating every caller's Keystone token with the service user's own credentials from there.
//
// The records live in a SQLite file (--db, the default) or in PostgreSQL (--database postgres://…,
// or OPENSTACK_VCLUSTER_DATABASE), which several replicas share. Notices and one line per request
// and operation event go to stderr, as text or as JSON lines (--log-format; the command's default is
// JSON when stdout is not a terminal).
import * as path from "node:path";
import type { Io } from "../cli/io";
import { isPostgresUrl, redactUrl } from "./database";
import { LOG_FORMATS, type LogFormat, logLines } from "./log";
import { DEFAULT_PORT, type RunningServer, type ServerOptions, startServer } from "./server";

export interface ServeFlags {
  /** host:port, [v6]:port, or a port alone. */
  listen?: string;
  noauth?: boolean;
  /** The clouds.yaml entry of the cloud (default OS_CLOUD, or the OS_* variables). */
  cloud?: string;
  db?: string;
  /** A PostgreSQL URL (postgres://…) or a SQLite file; wins over `db`. */
  database?: string;
  /** text (default here) or json. */
  logFormat?: string;
  backend?: string;
  simDir?: string;
  simTopology?: string;
  concurrency?: number;
}

export const DEFAULT_DB = path.join(".openstack-vcluster", "api.db");
export const DEFAULT_LISTEN = `127.0.0.1:${DEFAULT_PORT}`;

/** "host:port", "[::1]:port" or "port" into its parts; undefined when it is none of those. */
export function parseListen(value: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] || m[2] || "127.0.0.1", port };
}

/** The environment variable that names the database when --database and --db don't. */
export const DATABASE_ENV = "OPENSTACK_VCLUSTER_DATABASE";

/**
 * Runs until `stop` is aborted (default: SIGINT or SIGTERM). `tuning`: what has no flag (lease and
 * drain times, for tests and embedding).
 */
export async function serveCommand(
  io: Io,
  flags: ServeFlags,
  stop?: AbortSignal,
  tuning: Pick<ServerOptions, "leases" | "drainTimeoutMs"> = {},
): Promise<number> {
  const listen = parseListen(flags.listen ?? DEFAULT_LISTEN);
  if (!listen) {
    io.err(`openstack-vcluster serve: --listen ${JSON.stringify(flags.listen)} is not host:port (e.g. 127.0.0.1:8788)`);
    return 3;
  }
  const format = (flags.logFormat ?? "text") as LogFormat;
  if (!LOG_FORMATS.includes(format)) {
    io.err(
      `openstack-vcluster serve: --log-format ${JSON.stringify(flags.logFormat)} is not one of ${LOG_FORMATS.join(", ")}`,
    );
    return 3;
  }
  const log = logLines((line) => io.err(line), format);
  const noauth = flags.noauth === true;
  if (noauth && flags.cloud) {
    io.err(
      `openstack-vcluster serve: --noauth serves the simulated cloud only, and --cloud ${JSON.stringify(flags.cloud)} names an OpenStack cloud; hint: drop --noauth to authenticate callers with that cloud's Keystone`,
    );
    return 3;
  }
  const config: Record<string, string> = {};
  if (flags.cloud) config.cloud = flags.cloud;
  if (flags.backend) config.backend = flags.backend;
  if (flags.simDir) config.simulatedDir = flags.simDir;
  if (flags.simTopology) config.simulatedTopology = flags.simTopology;
  const database = flags.database ?? (flags.db === undefined ? io.env[DATABASE_ENV] : undefined) ?? flags.db;
  const postgres = database !== undefined && isPostgresUrl(database);
  const db = postgres ? database : path.resolve(io.cwd, database || DEFAULT_DB);
  const shown = postgres ? redactUrl(db) : path.relative(io.cwd, db) || db;
  let server: RunningServer;
  try {
    server = await startServer({
      ...listen,
      noauth,
      db,
      config,
      env: io.env,
      cwd: io.cwd,
      log,
      ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
      ...tuning,
    });
  } catch (error) {
    log("warn", `openstack-vcluster serve: ${error instanceof Error ? error.message : String(error)}`);
    return 3;
  }
  log("info", `openstack-vcluster serve: listening on ${server.url} (records in ${shown})`, {
    event: "listening",
    url: server.url,
    server: server.owner,
  });
  await new Promise<void>((resolve) => {
    if (stop) {
      if (stop.aborted) resolve();
      else stop.addEventListener("abort", () => resolve(), { once: true });
      return;
    }
    const done = () => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
  const drainS = (tuning.drainTimeoutMs ?? 30_000) / 1000;
  log(
    "info",
    `openstack-vcluster serve: stopping: no new requests; running operations may finish (up to ${drainS} s), then the rest is handed over`,
  );
  await server.close();
  log("info", "openstack-vcluster serve: stopped", { event: "stopped" });
  return 0;
}
