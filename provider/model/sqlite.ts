// The small database layer shared by the product's embedded SQLite files (node:sqlite, Node 22.13+):
// loading the module without Node's "experimental" notice on stderr, opening a file in WAL mode with
// the same pragmas everywhere, a cache of prepared statements, and one transaction per unit of work
// (BEGIN IMMEDIATE: a second process on the same file waits for the write lock instead of
// interleaving, and never hits a busy error halfway through a transaction).
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";

export type Sqlite = typeof import("node:sqlite");
export type Row = Record<string, unknown>;

/** SQLite's primary result codes this product tells apart (`errcode` of a node:sqlite error). */
export const SQLITE_BUSY = 5;
export const SQLITE_LOCKED = 6;
export const SQLITE_CORRUPT = 11;
export const SQLITE_NOTADB = 26;

let loaded: Sqlite | undefined;

/**
 * node:sqlite, loaded on first use. Node 22 prints an ExperimentalWarning when the module loads;
 * that one notice is dropped (a command's stderr is for its own messages), every other warning
 * passes. `what` names the user of the database for the error on a Node.js without it.
 */
export function sqlite(what: string): Sqlite {
  if (loaded) return loaded;
  const emit = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === "string" ? warning : warning.message;
    const type = typeof rest[0] === "string" ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    const name = typeof warning === "string" ? type : warning.name;
    if (name === "ExperimentalWarning" && /SQLite/i.test(text)) return;
    return (emit as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    const mod = process.getBuiltinModule?.("node:sqlite") as Sqlite | undefined;
    if (!mod) throw new Error("no node:sqlite");
    loaded = mod;
    return mod;
  } catch {
    throw new Error(
      `${what} keeps its records with node:sqlite, which this Node.js (${process.version}) lacks; hint: run it with Node 22.13 or newer`,
    );
  } finally {
    process.emitWarning = emit;
  }
}

export interface OpenOptions {
  /** Who uses the database, for the error on an old Node.js ("the simulated cloud"). */
  what: string;
  /**
   * FULL: every commit is on disk before it returns (survives power loss). NORMAL (WAL): a commit
   * survives the crash or kill of any process at once, and the OS writes it out soon after; a power
   * loss may roll back the last commits, never corrupt the file. Default FULL.
   */
  synchronous?: "FULL" | "NORMAL";
  /** How long SQLite itself waits for another connection's lock before saying "busy". Default 10 s. */
  busyTimeoutMs?: number;
  /** Switch the file to WAL (readers never wait for the writer). Default true. */
  wal?: boolean;
}

/** Opens (or creates) a database file with the product's pragmas; the caller checks its schema. */
export function openDatabase(file: string, options: OpenOptions): DatabaseSync {
  const { DatabaseSync } = sqlite(options.what);
  const db = new DatabaseSync(file);
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 10_000))}`);
    if (options.wal !== false) db.exec("PRAGMA journal_mode = WAL");
    db.exec(`PRAGMA synchronous = ${options.synchronous ?? "FULL"}`);
    db.exec("PRAGMA foreign_keys = ON");
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/** SQLite's result code of an error thrown by node:sqlite, or undefined for any other error. */
export function sqliteCode(e: unknown): number | undefined {
  const code = (e as { errcode?: unknown } | null)?.errcode;
  // Extended codes carry the primary one in their low byte (SQLITE_BUSY_SNAPSHOT is 517).
  return typeof code === "number" ? code & 0xff : undefined;
}

/** Prepared statements of one connection, each prepared once. */
export class Statements {
  private readonly cache = new Map<string, StatementSync>();
  constructor(readonly db: DatabaseSync) {}

  st(sql: string): StatementSync {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  run(sql: string, ...params: SQLInputValue[]): void {
    this.st(sql).run(...params);
  }

  one(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.st(sql).get(...params) as Row | undefined;
  }

  all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.st(sql).all(...params) as Row[];
  }

  clear(): void {
    this.cache.clear();
  }
}

/** One transaction: all of fn's writes, or none. fn must not await. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = fn();
    db.exec("COMMIT");
    return result;
  } catch (e) {
    rollbackQuietly(db);
    throw e;
  }
}

export function rollbackQuietly(db: DatabaseSync): void {
  try {
    if (db.isTransaction) db.exec("ROLLBACK");
  } catch {
    // Already rolled back by SQLite itself.
  }
}

/**
 * Begins a write transaction if no other connection holds the write lock (after SQLite's own short
 * busy wait); false when one does. The caller runs its transaction in the same synchronous stretch
 * (no await between this and COMMIT: another call on the connection would find it in a transaction)
 * and, on false, waits without blocking the event loop and tries again.
 */
export function tryBeginImmediate(db: DatabaseSync): boolean {
  try {
    db.exec("BEGIN IMMEDIATE");
    return true;
  } catch (e) {
    const code = sqliteCode(e);
    if (code === SQLITE_BUSY || code === SQLITE_LOCKED) return false;
    throw e;
  }
}

/** The pause before the `attempt`-th retry of a busy database (1, 2, 4, ... up to 50 ms, jittered). */
export function busyBackoffMs(attempt: number): number {
  const base = Math.min(2 ** attempt, 50);
  return base + Math.random() * base;
}
