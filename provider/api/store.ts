// The REST service's records in an embedded SQLite file (node:sqlite, Node 22.13+): clusters, their
// operations and progress, and each cluster's ClusterState as JSON (the same record `pulumi up`
// keeps in its stack). WAL mode; every change is one transaction (BEGIN IMMEDIATE, so a second
// process on the same file waits for the lock instead of interleaving); every value is a bound
// parameter, never SQL text. "One operation at a time per cluster" is a unique index, so even a
// bug above this layer can't start two.
//
// A cluster row is kept after its delete finished (deleted_at set; every read filters it out), so
// the operations that built and removed it stay on record.
//
// With Keystone, an operation records the id of the trust its work acts through (delegation.ts) and
// when that trust was deleted; never a token.
import { mkdirSync } from "node:fs";
import * as path from "node:path";
import type { DatabaseSync } from "node:sqlite";
import type { ClusterSpec } from "../model/cluster";
import type { Explanation } from "../model/placement";
import { openDatabase, type Row, Statements, transaction } from "../model/sqlite";
import type { ClusterState } from "../model/state";

export type ClusterStatus = "BUILD" | "ACTIVE" | "ERROR" | "DELETING";
export type OperationAction = "create" | "update" | "delete";
export type OperationStatus = "running" | "succeeded" | "failed";

/** Why the last operation failed, for the user: the lifecycle's code, its message, causes and hints. */
export interface Fault {
  /** The lifecycle's error code: invalid, unplaceable, create_failed, rollback_failed, update_failed, timeout, backend. */
  code: string;
  message: string;
  causes: string[];
  hints: string[];
  /** Unplaceable: the placement engine's explanation (causes with codes, per-member reason counts). */
  explanation?: Explanation;
}

export interface OperationRecord {
  id: string;
  clusterId: string;
  action: OperationAction;
  status: OperationStatus;
  /** create and update: the spec this operation applies (the cloud-side name is the cluster's id). */
  spec?: ClusterSpec;
  /** The last progress line. */
  progress?: string;
  fault?: Fault;
  requestId: string;
  /** Keystone: the trust the work acts through (its caller's delegation to the service user). */
  trustId?: string;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
}

export interface ClusterRecord {
  id: string;
  tenantId: string;
  /** The user's name, verbatim. */
  name: string;
  /** Non-secret identity of the cloud the cluster lives on. */
  backendId: string;
  /** The spec last asked for (normalized, with the user's name). */
  spec: ClusterSpec;
  /** What exists, as the lifecycle controller last recorded it; absent before the first success. */
  state?: ClusterState;
  status: ClusterStatus;
  fault?: Fault;
  createdAt: string;
  updatedAt: string;
  /** The latest operation. */
  operation?: OperationRecord;
}

/** Why an operation could not start. */
export type StartRefusal = { refused: "not_found" } | { refused: "busy"; running: OperationRecord };

export type OperationOutcome =
  | { ok: true; state: ClusterState }
  | { ok: true; deleted: true }
  | { ok: false; fault: Fault; state?: ClusterState };

/** 2: operations.trust_id and trust_deleted_at (Keystone trusts). */
export const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS clusters (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  backend_id TEXT NOT NULL,
  status TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  state_json TEXT,
  fault_json TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS clusters_by_tenant ON clusters (tenant_id, deleted_at, seq);
CREATE TABLE IF NOT EXISTS operations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
`;

/** Columns added since schema 1, for files written by an older release. */
const ADDED_COLUMNS: { table: string; column: string; type: string }[] = [
  { table: "operations", column: "trust_id", type: "TEXT" },
  { table: "operations", column: "trust_deleted_at", type: "TEXT" },
];

function now(): string {
  return new Date().toISOString();
}

function parse<T>(text: unknown): T | undefined {
  return typeof text === "string" ? (JSON.parse(text) as T) : undefined;
}

function str(v: unknown): string {
  return String(v);
}

export class Store {
  private readonly q: Statements;
  private closed = false;

  private constructor(
    private readonly db: DatabaseSync,
    readonly file: string,
  ) {
    this.q = new Statements(db);
  }

  /** Opens (or creates) the database file; refuses one written by a newer release. */
  static open(file: string): Store {
    if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = openDatabase(file, { what: "the REST service" });
    try {
      const version = Number((db.prepare("PRAGMA user_version").get() as Row).user_version);
      if (version > SCHEMA_VERSION) {
        throw new Error(
          `the database ${file} was written by a newer release (schema ${version}, this one knows ${SCHEMA_VERSION}); hint: run that release, or another --db`,
        );
      }
      transaction(db, () => {
        db.exec(SCHEMA);
        for (const { table, column, type } of ADDED_COLUMNS) {
          const has = (db.prepare(`PRAGMA table_info(${table})`).all() as Row[]).some((c) => c.name === column);
          if (!has) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
        }
        db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      });
    } catch (e) {
      db.close();
      throw e;
    }
    return new Store(db, file);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.q.clear();
    this.db.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private operationOf(row: Row): OperationRecord {
    const spec = parse<ClusterSpec>(row.spec_json);
    const fault = parse<Fault>(row.fault_json);
    return {
      id: str(row.id),
      clusterId: str(row.cluster_id),
      action: str(row.action) as OperationAction,
      status: str(row.status) as OperationStatus,
      ...(spec ? { spec } : {}),
      ...(typeof row.progress === "string" ? { progress: row.progress } : {}),
      ...(fault ? { fault } : {}),
      requestId: str(row.request_id),
      ...(typeof row.trust_id === "string" ? { trustId: row.trust_id } : {}),
      createdAt: str(row.created_at),
      updatedAt: str(row.updated_at),
      ...(typeof row.finished_at === "string" ? { finishedAt: row.finished_at } : {}),
    };
  }

  private latestOperation(clusterId: string): OperationRecord | undefined {
    const row = this.q.one("SELECT * FROM operations WHERE cluster_id = ? ORDER BY seq DESC LIMIT 1", clusterId);
    return row ? this.operationOf(row) : undefined;
  }

  private clusterOf(row: Row, withOperation: boolean): ClusterRecord {
    const state = parse<ClusterState>(row.state_json);
    const fault = parse<Fault>(row.fault_json);
    const operation = withOperation ? this.latestOperation(str(row.id)) : undefined;
    return {
      id: str(row.id),
      tenantId: str(row.tenant_id),
      name: str(row.name),
      backendId: str(row.backend_id),
      spec: parse<ClusterSpec>(row.spec_json) as ClusterSpec,
      ...(state ? { state } : {}),
      status: str(row.status) as ClusterStatus,
      ...(fault ? { fault } : {}),
      createdAt: str(row.created_at),
      updatedAt: str(row.updated_at),
      ...(operation ? { operation } : {}),
    };
  }

  private insertOperation(
    id: string,
    clusterId: string,
    action: OperationAction,
    spec: ClusterSpec | undefined,
    requestId: string,
    trustId: string | undefined,
    at: string,
  ): void {
    this.q.run(
      `INSERT INTO operations (id, cluster_id, action, status, spec_json, request_id, trust_id, created_at, updated_at)
       VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)`,
      id,
      clusterId,
      action,
      spec ? JSON.stringify(spec) : null,
      requestId,
      trustId ?? null,
      at,
      at,
    );
  }

  /** A new cluster and its create operation, in one transaction. */
  createCluster(input: {
    id: string;
    operationId: string;
    tenantId: string;
    backendId: string;
    spec: ClusterSpec;
    requestId: string;
    trustId?: string;
  }): ClusterRecord {
    const at = now();
    return transaction(this.db, () => {
      this.q.run(
        `INSERT INTO clusters (id, tenant_id, name, backend_id, status, spec_json, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'BUILD', ?, ?, ?)`,
        input.id,
        input.tenantId,
        input.spec.name,
        input.backendId,
        JSON.stringify(input.spec),
        at,
        at,
      );
      this.insertOperation(input.operationId, input.id, "create", input.spec, input.requestId, input.trustId, at);
      return this.clusterOf(this.q.one("SELECT * FROM clusters WHERE id = ?", input.id) as Row, true);
    });
  }

  /** A cluster of this tenant that is not deleted, or undefined. */
  getCluster(tenantId: string, id: string): ClusterRecord | undefined {
    const row = this.q.one(
      "SELECT * FROM clusters WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL",
      id,
      tenantId,
    );
    return row ? this.clusterOf(row, true) : undefined;
  }

  /**
   * Starts an update or a delete: refused when the cluster is not this tenant's (or gone), or while
   * another operation on it runs. An update records the new spec (and name) as the one asked for.
   */
  startOperation(input: {
    tenantId: string;
    clusterId: string;
    operationId: string;
    action: "update" | "delete";
    spec?: ClusterSpec;
    requestId: string;
    trustId?: string;
  }): ClusterRecord | StartRefusal {
    const at = now();
    return transaction(this.db, () => {
      const row = this.q.one(
        "SELECT * FROM clusters WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL",
        input.clusterId,
        input.tenantId,
      );
      if (!row) return { refused: "not_found" } as const;
      const running = this.q.one(
        "SELECT * FROM operations WHERE cluster_id = ? AND status = 'running' LIMIT 1",
        input.clusterId,
      );
      if (running) return { refused: "busy", running: this.operationOf(running) } as const;
      this.insertOperation(
        input.operationId,
        input.clusterId,
        input.action,
        input.spec,
        input.requestId,
        input.trustId,
        at,
      );
      if (input.action === "update" && input.spec) {
        this.q.run(
          "UPDATE clusters SET status = 'BUILD', name = ?, spec_json = ?, updated_at = ? WHERE id = ?",
          input.spec.name,
          JSON.stringify(input.spec),
          at,
          input.clusterId,
        );
      } else {
        this.q.run("UPDATE clusters SET status = 'DELETING', updated_at = ? WHERE id = ?", at, input.clusterId);
      }
      return this.clusterOf(this.q.one("SELECT * FROM clusters WHERE id = ?", input.clusterId) as Row, true);
    });
  }

  /**
   * A page of the tenant's clusters (every tenant's: `allTenants`, for admins), newest first, after
   * `marker` (a cluster id of this tenant, possibly deleted since). `undefined` when the marker is not
   * one of the tenant's clusters.
   */
  listClusters(
    tenantId: string,
    opts: { limit: number; marker?: string; allTenants?: boolean },
  ): ClusterRecord[] | undefined {
    const all = opts.allTenants === true;
    let before = Number.MAX_SAFE_INTEGER;
    if (opts.marker !== undefined) {
      const m = all
        ? this.q.one("SELECT seq FROM clusters WHERE id = ?", opts.marker)
        : this.q.one("SELECT seq FROM clusters WHERE id = ? AND tenant_id = ?", opts.marker, tenantId);
      if (!m) return undefined;
      before = Number(m.seq);
    }
    const rows = all
      ? this.q.all(
          "SELECT * FROM clusters WHERE deleted_at IS NULL AND seq < ? ORDER BY seq DESC LIMIT ?",
          before,
          opts.limit,
        )
      : this.q.all(
          "SELECT * FROM clusters WHERE tenant_id = ? AND deleted_at IS NULL AND seq < ? ORDER BY seq DESC LIMIT ?",
          tenantId,
          before,
          opts.limit,
        );
    return rows.map((row) => this.clusterOf(row, false));
  }

  recordProgress(operationId: string, message: string): void {
    const at = now();
    transaction(this.db, () => {
      this.q.run(
        "UPDATE operations SET progress = ?, updated_at = ? WHERE id = ? AND status = 'running'",
        message,
        at,
        operationId,
      );
    });
  }

  /** Ends an operation and records what it left: the cluster's new state, its fault, or its deletion. */
  finishOperation(operationId: string, outcome: OperationOutcome): void {
    const at = now();
    transaction(this.db, () => {
      const op = this.q.one("SELECT cluster_id, action FROM operations WHERE id = ?", operationId);
      if (!op) return;
      const clusterId = str(op.cluster_id);
      this.q.run(
        "UPDATE operations SET status = ?, fault_json = ?, updated_at = ?, finished_at = ? WHERE id = ?",
        outcome.ok ? "succeeded" : "failed",
        outcome.ok ? null : JSON.stringify(outcome.fault),
        at,
        at,
        operationId,
      );
      if ("deleted" in outcome) {
        this.q.run("UPDATE clusters SET deleted_at = ?, updated_at = ? WHERE id = ?", at, at, clusterId);
      } else if (outcome.ok) {
        this.q.run(
          "UPDATE clusters SET status = 'ACTIVE', state_json = ?, fault_json = NULL, updated_at = ? WHERE id = ?",
          JSON.stringify(outcome.state),
          at,
          clusterId,
        );
      } else if (outcome.state) {
        this.q.run(
          "UPDATE clusters SET status = 'ERROR', state_json = ?, fault_json = ?, updated_at = ? WHERE id = ?",
          JSON.stringify(outcome.state),
          JSON.stringify(outcome.fault),
          at,
          clusterId,
        );
      } else {
        this.q.run(
          "UPDATE clusters SET status = 'ERROR', fault_json = ?, updated_at = ? WHERE id = ?",
          JSON.stringify(outcome.fault),
          at,
          clusterId,
        );
      }
    });
  }

  /** Operations a previous server left running (it stopped or crashed mid-way), oldest first, with their clusters. */
  runningOperations(): { operation: OperationRecord; cluster: ClusterRecord }[] {
    return this.q
      .all(
        `SELECT o.* FROM operations o JOIN clusters c ON c.id = o.cluster_id
       WHERE o.status = 'running' AND c.deleted_at IS NULL ORDER BY o.seq`,
      )
      .map((row) => {
        const operation = this.operationOf(row);
        const cluster = this.clusterOf(
          this.q.one("SELECT * FROM clusters WHERE id = ?", operation.clusterId) as Row,
          false,
        );
        return { operation, cluster };
      });
  }

  /** How many live clusters were built on another cloud than `serves` accepts, by cloud. */
  clustersElsewhere(serves: (backendId: string, tenantId: string) => boolean): { backendId: string; count: number }[] {
    const counts = new Map<string, number>();
    for (const row of this.q.all(
      `SELECT backend_id, tenant_id, COUNT(*) AS n FROM clusters WHERE deleted_at IS NULL
       GROUP BY backend_id, tenant_id ORDER BY backend_id`,
    )) {
      const backendId = str(row.backend_id);
      if (serves(backendId, str(row.tenant_id))) continue;
      counts.set(backendId, (counts.get(backendId) ?? 0) + Number(row.n));
    }
    return [...counts].map(([backendId, count]) => ({ backendId, count }));
  }

  /** Trusts of finished operations not deleted yet (a server stopped, or Keystone failed, before it could). */
  trustsToDelete(): { trustId: string; finishedAt: string }[] {
    return this.q
      .all(
        `SELECT trust_id, MAX(finished_at) AS finished_at FROM operations
       WHERE trust_id IS NOT NULL AND trust_deleted_at IS NULL AND status <> 'running'
       GROUP BY trust_id ORDER BY trust_id`,
      )
      .map((row) => ({ trustId: str(row.trust_id), finishedAt: str(row.finished_at) }));
  }

  /** The trust is deleted (or unusable): no operation needs it any more. */
  trustDeleted(trustId: string): void {
    const at = now();
    transaction(this.db, () =>
      this.q.run("UPDATE operations SET trust_deleted_at = ? WHERE trust_id = ?", at, trustId),
    );
  }

  /** The cluster's recorded state, read when an operation starts its work (not when it was asked for). */
  stateOf(clusterId: string): ClusterState | undefined {
    return parse<ClusterState>(this.q.one("SELECT state_json FROM clusters WHERE id = ?", clusterId)?.state_json);
  }
}
