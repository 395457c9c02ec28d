// The simulated cloud's database file (database.ts works with it): its schema, a new one built in a
// temp file and linked into place (no process ever sees a half-made database), an earlier release's
// cloud.json migrated that way, a connection whose schema is checked, a file that can't be read kept
// aside. Making, migrating and replacing the file hold a lock on the directory; calls don't.
import { randomBytes } from "node:crypto";
import { existsSync, linkSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import * as path from "node:path";
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { openDatabase, type Row, SQLITE_CORRUPT, SQLITE_NOTADB, sqliteCode, transaction } from "../../model/sqlite";
import { BackendError } from "../backend";
import { acquireFileLock, LockTimeoutError } from "./file-lock";
import {
  BROKEN_INFIX,
  type CloudState,
  CloudStateError,
  LEGACY_STATE_FILE,
  MIGRATED_SUFFIX,
  readLegacyState,
  STATE_FILE,
  STRUCTURE_LOCK,
  statePath,
} from "./store";
import { COLLECTIONS, type Collection, recordId } from "./tracking";

const SCHEMA_VERSION = 1;
const WHAT = "the simulated cloud";
/**
 * A commit is in the WAL before it returns, so the kill of any process loses nothing; the OS writes
 * it to disk soon after (a power loss may roll back the last calls, never corrupt the file).
 */
const SYNCHRONOUS = "NORMAL";
const WAL_CHECKPOINT_PAGES = 8192;

export const TABLES: Record<Collection, { table: string; due: boolean; idType: "TEXT" | "INTEGER" }> = {
  servers: { table: "servers", due: true, idType: "TEXT" },
  volumes: { table: "volumes", due: true, idType: "TEXT" },
  serverGroups: { table: "server_groups", due: false, idType: "TEXT" },
  faults: { table: "faults", due: false, idType: "INTEGER" },
};

const SCHEMA = [
  "CREATE TABLE clock (one INTEGER PRIMARY KEY CHECK (one = 1), gen INTEGER NOT NULL, floor INTEGER NOT NULL)",
  "CREATE TABLE meta (key TEXT PRIMARY KEY, json TEXT NOT NULL, gen INTEGER NOT NULL)",
  "CREATE TABLE calls (op TEXT PRIMARY KEY, n INTEGER NOT NULL, gen INTEGER NOT NULL)",
  "CREATE TABLE removed (tbl TEXT NOT NULL, id TEXT NOT NULL, gen INTEGER NOT NULL)",
  "CREATE INDEX removed_by_gen ON removed (gen)",
  "CREATE INDEX meta_by_gen ON meta (gen)",
  "CREATE INDEX calls_by_gen ON calls (gen)",
  ...Object.values(TABLES).flatMap(({ table, due, idType }) => [
    `CREATE TABLE ${table} (seq INTEGER PRIMARY KEY, id ${idType} NOT NULL UNIQUE, json TEXT NOT NULL,${due ? " due REAL," : ""} gen INTEGER NOT NULL)`,
    `CREATE INDEX ${table}_by_gen ON ${table} (gen)`,
    ...(due ? [`CREATE INDEX ${table}_by_due ON ${table} (due) WHERE due IS NOT NULL`] : []),
  ]),
];

/** Faults with negative ids are this process's own (process-faults.ts): never stored. */
export function persisted(coll: Collection, record: Record<PropertyKey, unknown>): boolean {
  return coll !== "faults" || (typeof record.id === "number" && record.id >= 0);
}

export interface OpenInit {
  /** The state of a new cloud (only called when the directory has none). */
  fresh: () => CloudState;
  /** Where the one line about a migration goes. */
  log: (line: string) => void;
}

export function defaultLog(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function dueOf(t: Record<PropertyKey, unknown>): number | null {
  const at = (t.pending as { at?: unknown } | undefined)?.at;
  return typeof at === "number" ? at : null;
}

/** dev:ino of a file, or undefined when it is missing. */
export function fileIdentity(file: string): string | undefined {
  try {
    const s = statSync(file);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** A connection to an existing database, its schema checked. */
export function connect(dir: string, file: string): DatabaseSync {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (e) {
    throw new CloudStateError(dir, "unreadable", `can't be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (size === 0) throw new CloudStateError(dir, "unreadable", "is empty");
  let db: DatabaseSync | undefined;
  try {
    db = openDatabase(file, { what: WHAT, synchronous: SYNCHRONOUS, busyTimeoutMs: 5_000 });
    const version = Number((db.prepare("PRAGMA user_version").get() as Row).user_version);
    if (version > SCHEMA_VERSION) {
      throw new CloudStateError(
        dir,
        "version",
        `has schema version ${version}, which this release does not read (expected ${SCHEMA_VERSION}); hint: use the release that wrote it`,
      );
    }
    const tables = new Set(
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Row[]).map((r) => String(r.name)),
    );
    if (tables.size === 0) throw new CloudStateError(dir, "unreadable", "is empty");
    if (
      !["clock", "meta", "calls", "removed", ...Object.values(TABLES).map((t) => t.table)].every((t) => tables.has(t))
    ) {
      throw new CloudStateError(dir, "unreadable", "is not a simulated cloud's state");
    }
    // Calls wait for each other's transactions without blocking the event loop (beginImmediate retries).
    db.exec("PRAGMA busy_timeout = 20");
    // Copying the WAL back into the file (with an fsync) stalls the commit that triggers it, and with
    // it every call of the process, for ~15 ms; SQLite's default does it every 1,000 pages (4 MB),
    // which a 1,000-member cluster writes in a few dozen transactions. 8,192 pages makes it rare; the
    // WAL file may then grow to 32 MB, and is folded in when the last connection closes.
    db.exec(`PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    return db;
  } catch (e) {
    try {
      db?.close();
    } catch {
      // Not open.
    }
    if (e instanceof CloudStateError) throw e;
    const code = sqliteCode(e);
    if (code === SQLITE_NOTADB || code === SQLITE_CORRUPT) {
      throw new CloudStateError(dir, "unreadable", `is not a SQLite database (${(e as Error).message})`);
    }
    throw e;
  }
}

/** Runs `fn` holding the directory's structure lock (creating, migrating or replacing the database). */
export async function withStructureLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  let release: () => Promise<void>;
  try {
    release = await acquireFileLock(path.join(dir, STRUCTURE_LOCK), {
      purpose: "creating or migrating a simulated cloud's database",
      staleMs: 30_000,
      timeoutMs: 120_000,
    });
  } catch (e) {
    if (!(e instanceof LockTimeoutError)) throw e;
    throw new BackendError(
      "unavailable",
      `simulated cloud in "${dir}": pid ${e.holder.pid} has held ${STRUCTURE_LOCK} for over 2 minutes; hint: stop that process if it hangs`,
      { cause: e },
    );
  }
  try {
    return await fn();
  } finally {
    await release();
  }
}

/** Makes the directory's database when it has none: from cloud.json when there is one, else fresh. */
export async function ensureDatabase(dir: string, init: OpenInit): Promise<void> {
  if (existsSync(statePath(dir))) return;
  await withStructureLock(dir, async () => {
    if (existsSync(statePath(dir))) return;
    const legacy = await readLegacyState(dir);
    installDatabase(dir, legacy ?? init.fresh());
    if (legacy) {
      renameSync(path.join(dir, LEGACY_STATE_FILE), path.join(dir, `${LEGACY_STATE_FILE}${MIGRATED_SUFFIX}`));
      init.log(
        `openstack-vcluster: simulated cloud in "${dir}": moved its state from ${LEGACY_STATE_FILE} into the database ${STATE_FILE}; the old file is kept as ${LEGACY_STATE_FILE}${MIGRATED_SUFFIX}`,
      );
    }
  });
}

/**
 * Writes `state` as the directory's new database: built in a temp file, then linked into place
 * (an existing database is never overwritten). Call holding the structure lock, with no database there.
 */
export function installDatabase(dir: string, state: CloudState): void {
  const target = statePath(dir);
  // SQLite files of a database that is gone would be read as this one's: they go first, with
  // temp files of a build that never finished (every build holds the lock).
  for (const name of readdirSync(dir)) {
    if (
      name === `${STATE_FILE}-wal` ||
      name === `${STATE_FILE}-shm` ||
      name === `${STATE_FILE}-journal` ||
      (name.startsWith(`${STATE_FILE}.`) && /\.tmp(-journal)?$/.test(name))
    ) {
      rmSync(path.join(dir, name), { force: true });
    }
  }
  const tmp = `${target}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const db = openDatabase(tmp, { what: WHAT, wal: false, synchronous: "FULL" });
  try {
    transaction(db, () => {
      for (const sql of SCHEMA) db.exec(sql);
      fill(db, state);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    });
  } finally {
    db.close();
  }
  try {
    linkSync(tmp, target);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function fill(db: DatabaseSync, state: CloudState): void {
  const gen = 1;
  const s = state as unknown as Record<string, unknown>;
  db.prepare("INSERT INTO clock (one, gen, floor) VALUES (1, ?, 0)").run(gen);
  const meta = db.prepare("INSERT INTO meta (key, json, gen) VALUES (?, ?, ?)");
  for (const [key, value] of Object.entries(s)) {
    if ((COLLECTIONS as readonly string[]).includes(key) || key === "calls" || value === undefined) continue;
    meta.run(key, JSON.stringify(value), gen);
  }
  for (const coll of COLLECTIONS) {
    const { table, due } = TABLES[coll];
    const insert = db.prepare(
      due
        ? `INSERT INTO ${table} (id, json, due, gen) VALUES (?, ?, ?, ?)`
        : `INSERT INTO ${table} (id, json, gen) VALUES (?, ?, ?)`,
    );
    for (const r of (s[coll] as Record<PropertyKey, unknown>[] | undefined) ?? []) {
      if (!persisted(coll, r)) continue;
      const id = recordId(coll, r) as SQLInputValue;
      if (due) insert.run(id, JSON.stringify(r), dueOf(r), gen);
      else insert.run(id, JSON.stringify(r), gen);
    }
  }
  const calls = db.prepare("INSERT INTO calls (op, n, gen) VALUES (?, ?, ?)");
  for (const [op, n] of Object.entries(state.calls ?? {})) if (typeof n === "number") calls.run(op, n, gen);
}

/** Moves a state file that can't be read aside as `<file>.broken-<time>` (with SQLite's files); returns its new path. */
export function keepAside(dir: string, name: string): string {
  const kept = path.join(dir, `${name}${BROKEN_INFIX}${new Date().toISOString().replace(/[:.]/g, "-")}`);
  renameSync(path.join(dir, name), kept);
  for (const suffix of ["-wal", "-shm", "-journal"]) {
    if (existsSync(path.join(dir, `${name}${suffix}`)))
      renameSync(path.join(dir, `${name}${suffix}`), `${kept}${suffix}`);
  }
  return kept;
}
