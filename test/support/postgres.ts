// A real PostgreSQL for the tests, from Debian's packages: a temp cluster (initdb), one postgres on a
// unix socket in a temp directory (no TCP port, so nothing else on the machine can reach it or
// collide with it), stopped and removed after. PostgreSQL refuses to run as root: as root, its
// commands run as the `postgres` user (the package creates it), else `nobody`, through runuser.
//
// No PostgreSQL on the machine is a failure with the one line that says what to install, never a skip.
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Client } from "pg";

export const POSTGRES_MISSING =
  "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or $PG_BIN): apt-get install postgresql";

export interface TestPostgres {
  /** The superuser's URL of a database (over the socket; `password` is sent but not checked: trust auth). */
  url(database: string, password?: string): string;
  /** A new, empty database; returns its URL. */
  createDatabase(name: string, password?: string): Promise<string>;
  stop(): Promise<void>;
}

/** The directory of initdb, pg_ctl and postgres: $PG_BIN, or Debian's newest /usr/lib/postgresql/N/bin. */
export function postgresBin(): string {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv) {
    if (existsSync(path.join(fromEnv, "initdb"))) return fromEnv;
    throw new Error(`${POSTGRES_MISSING} (PG_BIN=${fromEnv} has no initdb)`);
  }
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(path.join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error(POSTGRES_MISSING);
  return path.join(root, versions[0] as string, "bin");
}

/** Who runs PostgreSQL's commands: this user, or (as root) an unprivileged one. */
function runAs(): { prefix: string[]; uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return { prefix: [] };
  for (const user of ["postgres", "nobody"]) {
    const id = spawnSync("id", ["-u", user], { encoding: "utf8" });
    if (id.status !== 0) continue;
    const gid = spawnSync("id", ["-g", user], { encoding: "utf8" });
    return { prefix: ["runuser", "-u", user, "--"], uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  throw new Error("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as");
}

function run(prefix: string[], command: string, args: string[]): void {
  const [file, ...rest] = [...prefix, command, ...args] as [string, ...string[]];
  try {
    execFileSync(file, rest, { stdio: ["ignore", "pipe", "pipe"], cwd: "/" });
  } catch (e) {
    const err = e as { stderr?: Buffer; stdout?: Buffer; message: string };
    throw new Error(
      `${path.basename(command)} failed: ${String(err.stderr ?? "") || String(err.stdout ?? "") || err.message}`,
    );
  }
}

/** initdb, then postgres on a socket in a temp directory; resolves once it accepts connections. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  const as = runAs();
  const dir = mkdtempSync(path.join(tmpdir(), "vcluster-pg-"));
  if (as.uid !== undefined) chownSync(dir, as.uid, as.gid ?? as.uid);
  const data = path.join(dir, "data");
  const stopCluster = () => {
    try {
      run(as.prefix, path.join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
    } catch {
      // Not running (a failed start).
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run(as.prefix, path.join(bin, "initdb"), [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "--encoding=UTF8",
      "--locale=C",
      "--no-sync",
    ]);
    // Durability is not what these tests are about: no fsync, like initdb's --no-sync.
    const options = `-k ${dir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
    run(as.prefix, path.join(bin, "pg_ctl"), [
      "-D",
      data,
      "-o",
      options,
      "-l",
      path.join(dir, "log"),
      "-w",
      "-t",
      "60",
      "start",
    ]);
  } catch (e) {
    stopCluster();
    throw e;
  }
  const url = (database: string, password?: string) =>
    `postgresql://postgres${password ? `:${encodeURIComponent(password)}` : ""}@localhost/${database}?host=${dir}`;
  return {
    url,
    async createDatabase(name, password) {
      const admin = new Client({ connectionString: url("postgres") });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      } finally {
        await admin.end();
      }
      return url(name, password);
    },
    async stop() {
      stopCluster();
    },
  };
}
