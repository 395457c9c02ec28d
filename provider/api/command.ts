// `openstack-vcluster serve`: the REST API in the foreground until SIGINT or SIGTERM, then a
// graceful close (running operations finish, bounded; the database is closed). Returns the exit
// code like every command: 0 after a clean stop, 3 when the server can't start.
//
// Without --noauth it serves the OpenStack cloud named by --cloud or OS_CLOUD (or the OS_* variables),
// validating every caller's Keystone token with the service user's own credentials from there.
import * as path from "node:path";
import type { Io } from "../cli/io";
import { DEFAULT_PORT, type RunningServer, startServer } from "./server";

export interface ServeFlags {
  /** host:port, [v6]:port, or a port alone. */
  listen?: string;
  noauth?: boolean;
  /** The clouds.yaml entry of the cloud (default OS_CLOUD, or the OS_* variables). */
  cloud?: string;
  db?: string;
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

/** Runs until `stop` is aborted (default: SIGINT or SIGTERM). */
export async function serveCommand(io: Io, flags: ServeFlags, stop?: AbortSignal): Promise<number> {
  const listen = parseListen(flags.listen ?? DEFAULT_LISTEN);
  if (!listen) {
    io.err(`openstack-vcluster serve: --listen ${JSON.stringify(flags.listen)} is not host:port (e.g. 127.0.0.1:8788)`);
    return 3;
  }
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
  const db = path.resolve(io.cwd, flags.db ?? DEFAULT_DB);
  let server: RunningServer;
  try {
    server = await startServer({
      ...listen,
      noauth,
      db,
      config,
      env: io.env,
      cwd: io.cwd,
      log: (_level, message) => io.err(message),
      ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
    });
  } catch (error) {
    io.err(`openstack-vcluster serve: ${error instanceof Error ? error.message : String(error)}`);
    return 3;
  }
  io.err(`openstack-vcluster serve: listening on ${server.url} (records in ${path.relative(io.cwd, db) || db})`);
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
  io.err("openstack-vcluster serve: stopping: no new requests; running operations may finish (up to 30 s)");
  await server.close();
  io.err("openstack-vcluster serve: stopped");
  return 0;
}
