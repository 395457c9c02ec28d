// Where the REST service's records live: an embedded SQLite file (node:sqlite; the default, one server
// per file) or a PostgreSQL database (the `pg` package; several replicas). store.ts writes its SQL once,
// with `?` placeholders, against the small Db interface here; each adapter turns it into its own
// dialect: PostgreSQL gets `$1, $2, …`, row locks (`FOR UPDATE`) and the database's clock; SQLite gets
// BEGIN IMMEDIATE (one writer at a time locks the whole file, so row locks are no-ops) and its own
// clock. Both create or migrate the schema when opened.
//
// SQLite calls are synchronous; here they run one unit at a time on a promise chain per file, so a
// transaction's statements never interleave with another request's on the one connection, and two
// connections to one file in one process never wait for each other's lock on the one thread.

import { mkdirSync } from "node:fs";
import * as path from "node:path";
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { Pool, type PoolClient } from "pg";
import {
  openDatabase,
  type Row,
  rollbackQuietly,
  SQLITE_BUSY,
  SQLITE_LOCKED,
  Statements,
  sqliteCode,
  transaction,
} from "../model/sqlite";

export type { Row };
export type Param = string | number | null;

/** Statements of one unit of work (a transaction, or a single statement outside one). */
export interface Tx {
  one(sql: string, ...params: Param[]): Promise<Row | undefined>;
  all(sql: string, ...params: Param[]): Promise<Row[]>;
  /** How many rows the statement changed. */
  run(sql: string, ...params: Param[]): Promise<number>;
}

export interface Db extends Tx {
  readonly dialect: "sqlite" | "postgres";
  /** For messages: the file, or the URL without its password. */
  readonly where: string;
  /** SQL for the database's clock in ms since the epoch (leases are timed by it: one clock for every replica). */
  readonly nowMs: string;
  /** Appended to a SELECT inside a transaction to lock its rows (PostgreSQL); SQLite's BEGIN IMMEDIATE already has. */
  readonly forUpdate: string;
  /** Like forUpdate, skipping rows another transaction holds (claims: two replicas never wait for each other). */
  readonly forUpdateSkipLocked: string;
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A `postgres://` or `postgresql://` URL selects PostgreSQL; anything else is a SQLite file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(database);
}

/** The URL as it may be shown: its password (and any password parameter) replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    for (const key of [...u.searchParams.keys()]) {
      if (/pass|secret|key/i.test(key)) u.searchParams.set(key, "***");
    }
    return u.toString();
  } catch {
    return "(a PostgreSQL URL that can't be parsed)";
  }
}

/** The schema as this release knows it; `{{seq}}` is the dialect's auto-increment key. */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS clusters (
  seq {{seq}},
  id TEXT NOT NULL UNIQUE,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  backend_id TEXT NOT NULL,
  status TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  state_json TEXT,
  applied_spec_json TEXT,
  fault_json TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS clusters_by_tenant ON clusters (tenant_id, deleted_at, seq);
CREATE TABLE IF NOT EXISTS operations (
  seq {{seq}},
  id TEXT NOT NULL UNIQUE,
  cluster_id TEXT NOT NULL REFERENCES clusters (id),
  action TEXT NOT NULL,
  status TEXT NOT NULL,
  spec_json TEXT,
  progress TEXT,
  fault_json TEXT,
  request_id TEXT NOT NULL,
  trust_id TEXT,
  trust_deleted_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  finished_at TEXT
);
CREATE INDEX IF NOT EXISTS operations_by_cluster ON operations (cluster_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS one_running_operation ON operations (cluster_id) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS operation_leases (
  operation_id TEXT PRIMARY KEY REFERENCES operations (id),
  owner TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_by_owner ON operation_leases (owner);
`;

/**
 * 2: operations.trust_id and trust_deleted_at (Keystone trusts).
 * 3: operation_leases (each running operation owned by one server; PostgreSQL starts here).
 * 4: clusters.applied_spec_json (the spec the recorded state was applied from: the next update's
 *    previous inputs).
 */
export const SCHEMA_VERSION = 4;

/** Columns added since schema 1 (SQLite) or 3 (PostgreSQL), for databases written by an older release. */
const ADDED_COLUMNS: { table: string; column: string; type: string; since: number }[] = [
  { table: "operations", column: "trust_id", type: "TEXT", since: 2 },
  { table: "operations", column: "trust_deleted_at", type: "TEXT", since: 2 },
  { table: "clusters", column: "applied_spec_json", type: "TEXT", since: 4 },
];

/**
 * Schema 4 on a database written before it: each cluster's applied spec is its last successful
 * create or update's (a failed one's partial state can't be told apart here: the next update then
 * compares with the spec before it, which at worst repeats an edit that failed one made).
 */
const BACKFILL_APPLIED_SPEC = `UPDATE clusters SET applied_spec_json = (
  SELECT o.spec_json FROM operations o
  WHERE o.cluster_id = clusters.id AND o.status = 'succeeded' AND o.spec_json IS NOT NULL
  ORDER BY o.seq DESC LIMIT 1
) WHERE applied_spec_json IS NULL AND state_json IS NOT NULL`;

function newerSchema(where: string, version: number, other: string): Error {
  return new Error(
    `the database ${where} was written by a newer release (schema ${version}, this one knows ${SCHEMA_VERSION}); hint: run that release, or ${other}`,
  );
}

// ---- SQLite ----

/** Per file: the tail of its units of work in this process. */
const chains = new Map<string, Promise<unknown>>();

class SqliteDb implements Db {
  readonly dialect = "sqlite" as const;
  readonly nowMs = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";
  readonly forUpdate = "";
  readonly forUpdateSkipLocked = "";
  private readonly q: Statements;
  private closed = false;

  constructor(
    private readonly db: DatabaseSync,
    readonly where: string,
  ) {
    this.q = new Statements(db);
  }

  private readonly tx: Tx = {
    one: async (sql, ...params) => this.q.one(sql, ...(params as SQLInputValue[])),
    all: async (sql, ...params) => this.q.all(sql, ...(params as SQLInputValue[])),
    run: async (sql, ...params) => Number(this.q.st(sql).run(...(params as SQLInputValue[])).changes),
  };

  /** Runs `fn` when every earlier unit is done. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = (chains.get(this.where) ?? Promise.resolve()).then(() => {
      if (this.closed) throw new Error(`the database ${this.where} is closed`);
      return fn();
    });
    const tail = result.catch(() => {});
    chains.set(this.where, tail);
    void tail.then(() => {
      if (chains.get(this.where) === tail) chains.delete(this.where);
    });
    return result;
  }

  one(sql: string, ...params: Param[]) {
    return this.serial(() => this.tx.one(sql, ...params));
  }
  all(sql: string, ...params: Param[]) {
    return this.serial(() => this.tx.all(sql, ...params));
  }
  run(sql: string, ...params: Param[]) {
    return this.serial(() => this.tx.run(sql, ...params));
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      // BEGIN IMMEDIATE: a second process on the file waits for the write lock (busy_timeout)
      // instead of failing halfway through.
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const result = await fn(this.tx);
        this.db.exec("COMMIT");
        return result;
      } catch (e) {
        rollbackQuietly(this.db);
        throw e;
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await chains.get(this.where);
    this.closed = true;
    this.q.clear();
    this.db.close();
  }

  static open(file: string): SqliteDb {
    if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = openDatabase(file, { what: "the REST service" });
    try {
      const version = Number((db.prepare("PRAGMA user_version").get() as Row).user_version);
      if (version > SCHEMA_VERSION) throw newerSchema(file, version, "another --db");
      transaction(db, () => {
        db.exec(SCHEMA.replaceAll("{{seq}}", "INTEGER PRIMARY KEY AUTOINCREMENT"));
        for (const { table, column, type } of ADDED_COLUMNS) {
          const has = (db.prepare(`PRAGMA table_info(${table})`).all() as Row[]).some((c) => c.name === column);
          if (!has) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
        }
        if (version < 4) db.exec(BACKFILL_APPLIED_SPEC);
        db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      });
    } catch (e) {
      db.close();
      throw e;
    }
    return new SqliteDb(db, file);
  }
}

// ---- PostgreSQL ----

/** `?` placeholders as PostgreSQL's `$n` (the store's SQL has no `?` inside literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** PostgreSQL's TEXT can't hold U+0000 (JSON escapes it, the store replaces it in free text): a last guard. */
function pgParam(p: Param): Param {
  return typeof p === "string" && p.includes("\u0000") ? p.replaceAll("\u0000", "\uFFFD") : p;
}

function pgTx(client: Pool | PoolClient): Tx {
  const query = async (sql: string, params: Param[]) => client.query(numbered(sql), params.map(pgParam));
  return {
    one: async (sql, ...params) => (await query(sql, params)).rows[0] as Row | undefined,
    all: async (sql, ...params) => (await query(sql, params)).rows as Row[],
    run: async (sql, ...params) => (await query(sql, params)).rowCount ?? 0,
  };
}

/** Deadlock and serialization failures: the transaction is retried (row locks are taken in one order, so rare). */
const RETRIED = new Set(["40P01", "40001"]);

/** A constant key for the advisory lock that serializes schema migrations of replicas starting together. */
const MIGRATION_LOCK = 7_246_118_001;

class PostgresDb implements Db {
  readonly dialect = "postgres" as const;
  readonly nowMs = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";
  readonly forUpdate = " FOR UPDATE";
  readonly forUpdateSkipLocked = " FOR UPDATE OF o SKIP LOCKED";
  private readonly direct: Tx;

  constructor(
    private readonly pool: Pool,
    readonly where: string,
  ) {
    this.direct = pgTx(pool);
  }

  one(sql: string, ...params: Param[]) {
    return this.direct.one(sql, ...params);
  }
  all(sql: string, ...params: Param[]) {
    return this.direct.all(sql, ...params);
  }
  run(sql: string, ...params: Param[]) {
    return this.direct.run(sql, ...params);
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      try {
        await client.query("BEGIN");
        const result = await fn(pgTx(client));
        await client.query("COMMIT");
        return result;
      } catch (e) {
        await client.query("ROLLBACK").catch(() => {});
        if (attempt < 5 && RETRIED.has(String((e as { code?: unknown }).code))) continue;
        throw e;
      } finally {
        client.release();
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  static async open(url: string): Promise<PostgresDb> {
    if (!URL.canParse(url)) {
      throw new Error(
        "the PostgreSQL database URL can't be read as a URL; hint: postgres://user:password@host:5432/database, with special characters in the password percent-encoded",
      );
    }
    const where = redactUrl(url);
    const pool = new Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 10_000 });
    // An idle client's connection dropping (the server restarted) is not this process's end.
    pool.on("error", () => {});
    const db = new PostgresDb(pool, where);
    try {
      await db.transaction(async (tx) => {
        await tx.run(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
        await tx.run("CREATE TABLE IF NOT EXISTS vcluster_schema (version INTEGER NOT NULL)");
        const row = await tx.one("SELECT MAX(version) AS version FROM vcluster_schema");
        const version = Number(row?.version ?? 0);
        if (version > SCHEMA_VERSION) throw newerSchema(where, version, "another --database");
        await tx.run(SCHEMA.replaceAll("{{seq}}", "BIGSERIAL PRIMARY KEY"));
        for (const { table, column, type, since } of ADDED_COLUMNS) {
          if (since > 3) await tx.run(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${column} ${type}`);
        }
        if (version < 4) await tx.run(BACKFILL_APPLIED_SPEC);
        if (version < SCHEMA_VERSION) {
          await tx.run("DELETE FROM vcluster_schema");
          await tx.run("INSERT INTO vcluster_schema (version) VALUES (?)", SCHEMA_VERSION);
        }
      });
    } catch (e) {
      await pool.end().catch(() => {});
      throw new Error(`the PostgreSQL database ${where} can't be used: ${describePgError(e)}`);
    }
    return db;
  }
}

/** A pg error as one line, with what to check; never the URL (it may hold the password). */
function describePgError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const message = err.message ?? String(e);
  if (err.code === "ECONNREFUSED" || err.code === "ENOENT") {
    return `${message}; hint: is PostgreSQL running there, and is the host (or socket directory) right?`;
  }
  if (err.code === "28P01" || err.code === "28000") return `${message}; hint: check the user and password in the URL`;
  if (err.code === "3D000") return `${message}; hint: create it first (createdb)`;
  return message;
}

/** PostgreSQL's classes of errors that mean "not now" rather than "wrong": connection (08), resources (53), operator intervention (57). */
const UNAVAILABLE_CLASSES = /^(08|53|57)/;
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "EPIPE",
  "ENOENT",
]);

/**
 * Whether an error of a database call means the database can't be reached or is overloaded (a 503
 * for the caller, who may retry), not a fault of the request or of this code: PostgreSQL down or
 * restarting, a connection lost or not to be had in time, SQLite's file locked beyond its wait.
 */
export function databaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; errcode?: unknown; message?: unknown } | null;
  if (!e) return false;
  const code = typeof e.code === "string" ? e.code : "";
  if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_CLASSES.test(code)) return true;
  if (typeof e.errcode === "number" && [SQLITE_BUSY, SQLITE_LOCKED].includes(sqliteCode(e) ?? -1)) return true;
  const message = typeof e.message === "string" ? e.message : "";
  return /^(Connection terminated|timeout exceeded when trying to connect)/.test(message);
}

/** Opens the records' database: a PostgreSQL URL, or a SQLite file (created if absent). */
export async function openDb(database: string): Promise<Db> {
  return isPostgresUrl(database) ? PostgresDb.open(database) : SqliteDb.open(database);
}
