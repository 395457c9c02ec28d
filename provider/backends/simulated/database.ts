// The simulated cloud's database: `<dir>/cloud.db`, SQLite through node:sqlite (../../model/sqlite.ts).
//
// One row per server, volume, server group and stored fault (its JSON, and for servers and volumes
// the time of their pending transition, indexed, so the clock finds what is due without a scan),
// one per meta value (topology, images, quota, the cloud's id, ...) and per call counter. WAL mode;
// every call is one transaction (BEGIN IMMEDIATE: processes sharing the cloud — the command, the
// Pulumi provider, the REST server — take turns, and a process killed mid-call leaves the last
// committed state, never half a call).
//
// Calls of one process that arrive together share one transaction (group-commit.ts).
//
// Each process keeps the state in memory between calls (one connection and one cache per
// directory), checked against a generation number at the start of every transaction: when another
// process wrote since, only the rows it wrote (their generation is newer) and what it removed (a
// tombstone table) are read. A call then writes only the rows it changed (tracking.ts), so its cost
// does not grow with the number of objects in the cloud.
//
// The file itself (schema, a new database, migrating cloud.json, a connection) is db-file.ts.
import { existsSync } from "node:fs";
import * as path from "node:path";
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import {
  type Row,
  rollbackQuietly,
  SQLITE_CORRUPT,
  SQLITE_NOTADB,
  Statements,
  sqliteCode,
  tryBeginImmediate,
} from "../../model/sqlite";
import { BackendError } from "../backend";
import { connect, defaultLog, dueOf, ensureDatabase, fileIdentity, type OpenInit, persisted, TABLES } from "./db-file";
import { VERIFY, WrittenCheck } from "./db-verify";
import { GroupCommit, type Outcome } from "./group-commit";
import { type CloudState, CloudStateError, LEGACY_STATE_FILE, SIM_STATE_VERSION, STATE_FILE, statePath } from "./store";
import { type Changes, COLLECTIONS, type Collection, hasChanges, type Id, recordId, TrackedState } from "./tracking";

export { defaultLog, installDatabase, keepAside, type OpenInit, withStructureLock } from "./db-file";

/** A call waits this long for another process's transaction before failing "unavailable". */
const BUSY_GIVE_UP_MS = 120_000;
/** Tombstones kept for caches of other processes to catch up; older ones make such a cache reload. */
const TOMBSTONES_KEPT = 20_000;
/** Meta keys in the order a snapshot shows them; others follow. */
const META_FIRST = ["version", "cloudId", "createdAt", "projectSalt", "topology", "images", "quota"];

/** What one transaction sees: the state as operations use it, and the clock's index. */
export interface DbTx {
  readonly state: CloudState;
  /** Servers and volumes whose pending transition is due at `now` (from the index). */
  due(now: number): { servers: CloudState["servers"]; volumes: CloudState["volumes"] };
  /** From here, `rollback` undoes what the transaction changes. */
  checkpoint(): void;
  rollback(): void;
  /** A plain copy of everything. */
  snapshot(): CloudState;
}

interface DueQueries {
  at(now: number): ReturnType<DbTx["due"]>;
  forget(): void;
}

/** Rows this process read and wrote (for tests: a call's cost, in rows). */
export interface DbStats {
  transactions: number;
  fullLoads: number;
  rowsRead: number;
  rowsWritten: number;
}

/** One connection per directory and process, shared by every SimulatedCloud on it. */
const shared = new Map<string, CloudDatabase>();

export class CloudDatabase {
  readonly file: string;
  readonly stats: DbStats = { transactions: 0, fullLoads: 0, rowsRead: 0, rowsWritten: 0 };
  private db: DatabaseSync;
  private st: Statements;
  private identity: string;
  private cache: { tracked: TrackedState; gen: number } | undefined;
  private refs = 0;
  private connected = true;
  /** In tests: the cache checked against what was written after every commit (db-verify.ts). */
  private readonly check = VERIFY ? new WrittenCheck() : undefined;
  private readonly commits = new GroupCommit<DbTx>(
    {
      tryBegin: async () => {
        await this.checkFile();
        try {
          return tryBeginImmediate(this.db);
        } catch (e) {
          throw this.translate(e);
        }
      },
      busy: () =>
        new BackendError(
          "unavailable",
          `simulated cloud in "${this.dir}": another process has held ${STATE_FILE}'s write lock for over 2 minutes; hint: stop that process if it hangs`,
        ),
      run: (fns) => this.inTransaction(fns),
    },
    BUSY_GIVE_UP_MS,
  );

  private constructor(readonly dir: string) {
    this.file = statePath(dir);
    this.identity = fileIdentity(this.file) ?? "";
    this.db = connect(dir, this.file);
    this.st = new Statements(this.db);
  }

  /** The database of `dir`, made (or migrated from cloud.json) when there is none. */
  static async open(dir: string, init: OpenInit): Promise<CloudDatabase> {
    let cdb = shared.get(dir);
    if (cdb && fileIdentity(cdb.file) !== cdb.identity) {
      cdb.dispose();
      cdb = undefined;
    }
    if (!cdb) {
      await ensureDatabase(dir, init);
      // Another open of the same directory may have connected meanwhile: one connection per process.
      cdb = shared.get(dir);
      if (!cdb) {
        cdb = new CloudDatabase(dir);
        shared.set(dir, cdb);
        closeAtExit();
      }
    }
    cdb.refs++;
    return cdb;
  }

  /**
   * What the database of `dir` holds, read on a connection of its own without settling the clock
   * or counting a call (tests, tools). CloudStateError when it can't be read.
   */
  static read(dir: string): CloudState {
    const cdb = new CloudDatabase(path.resolve(dir));
    try {
      // One read transaction: every table as of one commit.
      cdb.db.exec("BEGIN");
      return cdb.loadAll().snapshot();
    } finally {
      rollbackQuietly(cdb.db);
      cdb.closeConnection();
    }
  }

  /** This process's open database of `dir`, if any (tests read its stats). */
  static shared(dir: string): CloudDatabase | undefined {
    return shared.get(path.resolve(dir));
  }

  /** Closes this process's connection to `dir` (its file is about to be replaced or removed). */
  static forget(dir: string): void {
    shared.get(dir)?.dispose();
  }

  /** One user less; the last one closes the connection (SQLite then folds the WAL into the file). */
  release(): void {
    this.refs--;
    if (this.refs <= 0) this.dispose();
  }

  /**
   * Runs `fn` on the current state in a transaction (shared with the calls that arrive with it), and
   * writes what it changed. `fn` runs synchronously; an exception from it undoes what it changed
   * since its last checkpoint (DbTx.checkpoint; without one, everything) and fails this call alone.
   */
  transaction<T>(fn: (tx: DbTx) => T): Promise<T> {
    return this.commits.add(fn);
  }

  // ---- internals ----

  private inTransaction(fns: ((tx: DbTx) => unknown)[]): Outcome[] {
    try {
      this.stats.transactions++;
      const cache = this.refresh();
      const tracked = cache.tracked;
      tracked.begin();
      const due = this.dueQueries(tracked);
      const tx = this.txOf(tracked, due);
      const outcomes = fns.map((fn): Outcome => {
        tracked.checkpoint();
        try {
          return { value: fn(tx) };
        } catch (e) {
          tracked.rollback();
          due.forget();
          return { error: this.translate(e) };
        }
      });
      const changes = tracked.finish();
      if (hasChanges(changes)) this.write(cache, changes);
      this.db.exec("COMMIT");
      this.verify(tracked);
      return outcomes;
    } catch (e) {
      rollbackQuietly(this.db);
      // The cache may hold changes the database does not: read it again next time.
      this.cache = undefined;
      throw this.translate(e);
    }
  }

  private txOf(tracked: TrackedState, due: DueQueries): DbTx {
    return {
      state: tracked.state,
      due: (now) => due.at(now),
      checkpoint: () => tracked.checkpoint(),
      rollback: () => {
        tracked.rollback();
        due.forget();
      },
      snapshot: () => tracked.snapshot(),
    };
  }

  /**
   * What is due, for each call of one transaction. The due times in the database are those of the
   * transaction's start (it writes at its end), so a later call asks only for what came due since the
   * call before it: the rest was settled by that call (unless it was undone: `forget` asks for all).
   */
  private dueQueries(tracked: TrackedState): DueQueries {
    let since = Number.NEGATIVE_INFINITY;
    const ids = (coll: "servers" | "volumes", now: number): string[] => {
      const rows = this.st.all(
        `SELECT id FROM ${TABLES[coll].table} WHERE due IS NOT NULL AND due <= ? AND due > ?`,
        now,
        since,
      );
      this.stats.rowsRead += rows.length;
      return rows.map((r) => String(r.id));
    };
    return {
      at: (now) => {
        const due = {
          servers: tracked.records("servers", ids("servers", now)) as CloudState["servers"],
          volumes: tracked.records("volumes", ids("volumes", now)) as CloudState["volumes"],
        };
        since = Math.max(since, now);
        return due;
      },
      forget: () => {
        since = Number.NEGATIVE_INFINITY;
      },
    };
  }

  /** The cache, brought up to date with what other connections wrote (inside the transaction). */
  private refresh(): { tracked: TrackedState; gen: number } {
    const clock = this.st.one("SELECT gen, floor FROM clock WHERE one = 1");
    if (!clock) throw new CloudStateError(this.dir, "unreadable", "is not a simulated cloud's state (no clock)");
    const gen = Number(clock.gen);
    if (this.cache && this.cache.gen === gen) return this.cache;
    if (!this.cache || this.cache.gen < Number(clock.floor)) {
      this.cache = { tracked: this.loadAll(), gen };
      return this.cache;
    }
    const since = this.cache.gen;
    const tracked = this.cache.tracked;
    const removed = new Map<string, Set<string>>();
    for (const r of this.rows("SELECT tbl, id FROM removed WHERE gen > ?", since)) {
      const tbl = String(r.tbl);
      const ids = removed.get(tbl) ?? new Set<string>();
      removed.set(tbl, ids);
      ids.add(String(r.id));
    }
    for (const coll of COLLECTIONS) {
      const { table, idType } = TABLES[coll];
      const gone = removed.get(table);
      if (gone)
        tracked.removeRecords(coll, new Set<Id>([...gone].map((id) => (idType === "INTEGER" ? Number(id) : id))));
      for (const r of this.rows(`SELECT json FROM ${table} WHERE gen > ? ORDER BY seq`, since)) {
        const value = this.parse(r.json, table);
        tracked.putRecord(coll, value);
        this.check?.record(tracked, coll, value, String(r.json));
      }
    }
    for (const key of removed.get("meta") ?? []) tracked.removeMeta(key);
    for (const r of this.rows("SELECT key, json FROM meta WHERE gen > ?", since)) {
      tracked.putMeta(String(r.key), this.parse(r.json, "meta"));
      this.check?.metaValue(String(r.key), String(r.json));
    }
    const calls = tracked.calls();
    for (const op of removed.get("calls") ?? []) delete calls[op];
    for (const r of this.rows("SELECT op, n FROM calls WHERE gen > ?", since)) calls[String(r.op)] = Number(r.n);
    this.cache.gen = gen;
    return this.cache;
  }

  private loadAll(): TrackedState {
    this.stats.fullLoads++;
    const meta = new Map<string, unknown>();
    for (const r of this.rows("SELECT key, json FROM meta")) meta.set(String(r.key), this.parse(r.json, "meta"));
    const state: Record<string, unknown> = {};
    for (const key of META_FIRST) if (meta.has(key)) state[key] = meta.get(key);
    const jsons = new Map<Collection, string[]>();
    const records = new Map<Collection, Record<PropertyKey, unknown>[]>();
    for (const coll of COLLECTIONS) {
      const rows = this.rows(`SELECT json FROM ${TABLES[coll].table} ORDER BY seq`);
      jsons.set(
        coll,
        rows.map((r) => String(r.json)),
      );
      records.set(
        coll,
        rows.map((r) => this.parse(r.json, TABLES[coll].table)),
      );
      state[coll] = records.get(coll);
    }
    for (const [key, value] of meta) if (!(key in state)) state[key] = value;
    const calls: Record<string, number> = {};
    for (const r of this.rows("SELECT op, n FROM calls ORDER BY op")) calls[String(r.op)] = Number(r.n);
    state.calls = calls;
    const s = state as unknown as CloudState;
    if (s.version !== SIM_STATE_VERSION) {
      throw new CloudStateError(
        this.dir,
        "version",
        `has state version ${JSON.stringify(s.version)}, which this release does not read (expected ${SIM_STATE_VERSION})`,
      );
    }
    if (typeof s.cloudId !== "string" || !Array.isArray(s.topology?.hosts) || !Array.isArray(s.images)) {
      throw new CloudStateError(this.dir, "unreadable", "is not a simulated cloud's state (meta values are missing)");
    }
    s.nextFaultId ??= 1;
    const tracked = new TrackedState(s, persisted);
    this.check?.loaded(tracked, records, jsons);
    return tracked;
  }

  private write(cache: { tracked: TrackedState; gen: number }, changes: Changes): void {
    const gen = cache.gen + 1;
    const { tracked } = cache;
    let n = 0;
    for (const coll of COLLECTIONS) {
      const { table, due } = TABLES[coll];
      const upsert = due
        ? `INSERT INTO ${table} (id, json, due, gen) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET json = excluded.json, due = excluded.due, gen = excluded.gen`
        : `INSERT INTO ${table} (id, json, gen) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET json = excluded.json, gen = excluded.gen`;
      for (const t of changes.upserts.get(coll) ?? []) {
        const json = JSON.stringify(t);
        const id = recordId(coll, t) as SQLInputValue;
        if (due) this.st.run(upsert, id, json, dueOf(t), gen);
        else this.st.run(upsert, id, json, gen);
        this.check?.written(t, json);
        n++;
      }
      for (const id of changes.removes.get(coll) ?? []) {
        this.st.run(`DELETE FROM ${table} WHERE id = ?`, id);
        this.tombstone(table, id, gen);
        n += 2;
      }
    }
    for (const key of changes.meta.set) {
      const json = JSON.stringify(tracked.meta(key));
      this.st.run(
        "INSERT INTO meta (key, json, gen) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET json = excluded.json, gen = excluded.gen",
        key,
        json,
        gen,
      );
      this.check?.metaValue(key, json);
      n++;
    }
    for (const key of changes.meta.remove) {
      this.st.run("DELETE FROM meta WHERE key = ?", key);
      this.tombstone("meta", key, gen);
      this.check?.metaValue(key, undefined);
      n += 2;
    }
    const calls = tracked.calls();
    if (changes.calls.replaceAll) {
      for (const r of this.rows("SELECT op FROM calls")) {
        const op = String(r.op);
        if (calls[op] !== undefined) continue;
        this.st.run("DELETE FROM calls WHERE op = ?", op);
        this.tombstone("calls", op, gen);
        n += 2;
      }
    }
    for (const op of changes.calls.set) {
      const count = calls[op];
      if (count === undefined) {
        this.st.run("DELETE FROM calls WHERE op = ?", op);
        this.tombstone("calls", op, gen);
      } else {
        this.st.run(
          "INSERT INTO calls (op, n, gen) VALUES (?, ?, ?) ON CONFLICT (op) DO UPDATE SET n = excluded.n, gen = excluded.gen",
          op,
          count,
          gen,
        );
      }
      n++;
    }
    this.st.run("UPDATE clock SET gen = ? WHERE one = 1", gen);
    this.stats.rowsWritten += n + 1;
    if (gen % 1024 === 0) this.pruneTombstones();
    cache.gen = gen;
  }

  private tombstone(tbl: string, id: Id, gen: number): void {
    this.st.run("INSERT INTO removed (tbl, id, gen) VALUES (?, ?, ?)", tbl, String(id), gen);
  }

  /** Keeps the newest tombstones; a cache older than the ones dropped reads everything again. */
  private pruneTombstones(): void {
    const cut = this.st.one("SELECT gen FROM removed ORDER BY gen DESC LIMIT 1 OFFSET ?", TOMBSTONES_KEPT);
    if (!cut) return;
    this.st.run("DELETE FROM removed WHERE gen <= ?", Number(cut.gen));
    this.st.run("UPDATE clock SET floor = ? WHERE one = 1", Number(cut.gen));
  }

  private rows(sql: string, ...params: SQLInputValue[]): Row[] {
    const rows = this.st.all(sql, ...params);
    this.stats.rowsRead += rows.length;
    return rows;
  }

  private parse(json: unknown, table: string): Record<PropertyKey, unknown> {
    try {
      const v = JSON.parse(String(json)) as unknown;
      if (typeof v === "object" && v !== null) return v as Record<PropertyKey, unknown>;
      if (table === "meta") return v as Record<PropertyKey, unknown>;
    } catch {
      // Reported below.
    }
    throw new CloudStateError(this.dir, "unreadable", `holds a damaged row in its ${table} table`);
  }

  /** After a commit, in tests: the cache holds nothing the database doesn't. */
  private verify(tracked: TrackedState): void {
    try {
      this.check?.verify(tracked);
    } catch (e) {
      this.cache = undefined;
      throw e;
    }
  }

  /** Before each transaction: the file is still the one this connection has open. */
  private async checkFile(): Promise<void> {
    const now = fileIdentity(this.file);
    if (now === this.identity && this.connected) return;
    if (now === undefined && !existsSync(path.join(this.dir, LEGACY_STATE_FILE))) {
      throw new BackendError(
        "not_found",
        `simulated cloud in "${this.dir}": ${this.file} is gone, and with it everything the cloud held; hint: restore that file, or run \`openstack-vcluster sim reset --force --sim-dir ${this.dir}\` to start a new, empty cloud`,
      );
    }
    // Replaced (restored from a backup, recreated by `sim reset --force`), or a cloud.json to migrate.
    this.closeConnection();
    this.identity = "";
    if (now === undefined) await ensureDatabase(this.dir, { fresh: () => fail(this.dir), log: defaultLog });
    const identity = fileIdentity(this.file) ?? "";
    this.db = connect(this.dir, this.file);
    this.st = new Statements(this.db);
    this.identity = identity;
    this.connected = true;
    // Used again after its last user closed it: shared again, and closed at exit.
    if (!shared.has(this.dir)) shared.set(this.dir, this);
  }

  private translate(e: unknown): unknown {
    const code = sqliteCode(e);
    if (code === SQLITE_CORRUPT || code === SQLITE_NOTADB) {
      return new CloudStateError(this.dir, "unreadable", `is damaged (SQLite: ${(e as Error).message})`);
    }
    return e;
  }

  private closeConnection(): void {
    this.connected = false;
    this.cache = undefined;
    this.st.clear();
    try {
      this.db.close();
    } catch {
      // Already closed.
    }
  }

  private dispose(): void {
    this.closeConnection();
    if (shared.get(this.dir) === this) shared.delete(this.dir);
  }
}

let exitHook = false;

/** Closes every connection when the process exits, so SQLite folds its WAL into the database file. */
function closeAtExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.once("exit", () => {
    for (const cdb of [...shared.values()]) CloudDatabase.forget(cdb.dir);
  });
}

function fail(dir: string): never {
  throw new BackendError("not_found", `simulated cloud in "${dir}": ${statePath(dir)} is gone`);
}
