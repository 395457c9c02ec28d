// The REST service's records: clusters, their operations and progress, and each cluster's
// ClusterState as JSON (the same record `pulumi up` keeps in its stack), in an embedded SQLite file or
// a PostgreSQL database (database.ts: one SQL text, two dialects, the same records in both). Every
// change is one transaction; every value is a bound parameter, never SQL text. "One operation at a
// time per cluster" is a unique index, so even a bug above this layer (or two replicas) can't start two.
//
// Each running operation is owned by one server through its lease (operation_leases: owner, expires
// at, by the database's clock): the server renews it while it works (leases.ts), and only the owner
// may record progress or the outcome. A server takes over (claims) an operation whose lease expired:
// its owner crashed, hung, or handed it over on its way out.
//
// A cluster row is kept after its delete finished (deleted_at set; every read filters it out), so
// the operations that built and removed it stay on record.
//
// With Keystone, an operation records the id of the trust its work acts through (delegation.ts) and
// when that trust was deleted; never a token.
import type { ClusterSpec } from "../model/cluster";
import type { ClusterState } from "../model/state";
import { type Db, openDb, type Param, type Row } from "./database";
import type {
  Claimed,
  ClusterRecord,
  ClusterStatus,
  Fault,
  LeaseGrant,
  OperationAction,
  OperationOutcome,
  OperationRecord,
  StartRefusal,
} from "./records";
import { BATCH, marks, now, operationOf, parse, str } from "./records";

export class Store {
  private closed = false;

  private constructor(private readonly db: Db) {}

  /**
   * Opens (or creates) the records' database: a `postgres://` URL, or a SQLite file. Creates or
   * migrates the schema; refuses one written by a newer release.
   */
  static async open(database: string): Promise<Store> {
    return new Store(await openDb(database));
  }

  /** The database for messages (a PostgreSQL URL without its password). */
  get where(): string {
    return this.db.where;
  }

  get dialect(): "sqlite" | "postgres" {
    return this.db.dialect;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private async latestOperation(tx: Pick<Db, "one">, clusterId: string): Promise<OperationRecord | undefined> {
    const row = await tx.one("SELECT * FROM operations WHERE cluster_id = ? ORDER BY seq DESC LIMIT 1", clusterId);
    return row ? operationOf(row) : undefined;
  }

  private async clusterOf(tx: Pick<Db, "one">, row: Row, withOperation: boolean): Promise<ClusterRecord> {
    const state = parse<ClusterState>(row.state_json);
    const fault = parse<Fault>(row.fault_json);
    const operation = withOperation ? await this.latestOperation(tx, str(row.id)) : undefined;
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

  /** A new running operation and its lease. */
  private async insertOperation(
    tx: Pick<Db, "run">,
    input: {
      id: string;
      clusterId: string;
      action: OperationAction;
      spec: ClusterSpec | undefined;
      requestId: string;
      trustId: string | undefined;
      lease: LeaseGrant;
    },
    at: string,
  ): Promise<void> {
    await tx.run(
      `INSERT INTO operations (id, cluster_id, action, status, spec_json, request_id, trust_id, created_at, updated_at)
       VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)`,
      input.id,
      input.clusterId,
      input.action,
      input.spec ? JSON.stringify(input.spec) : null,
      input.requestId,
      input.trustId ?? null,
      at,
      at,
    );
    await tx.run(
      `INSERT INTO operation_leases (operation_id, owner, expires_at) VALUES (?, ?, ${this.db.nowMs} + ?)`,
      input.id,
      input.lease.owner,
      input.lease.leaseMs,
    );
  }

  /** A new cluster and its create operation, leased to `lease.owner`, in one transaction. */
  createCluster(input: {
    id: string;
    operationId: string;
    tenantId: string;
    backendId: string;
    spec: ClusterSpec;
    requestId: string;
    trustId?: string;
    lease: LeaseGrant;
  }): Promise<ClusterRecord> {
    const at = now();
    return this.db.transaction(async (tx) => {
      await tx.run(
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
      await this.insertOperation(
        tx,
        {
          id: input.operationId,
          clusterId: input.id,
          action: "create",
          spec: input.spec,
          requestId: input.requestId,
          trustId: input.trustId,
          lease: input.lease,
        },
        at,
      );
      return this.clusterOf(tx, (await tx.one("SELECT * FROM clusters WHERE id = ?", input.id)) as Row, true);
    });
  }

  /** A cluster of this tenant (of any: `anyTenant`, for admins) that is not deleted, or undefined. */
  async getCluster(
    tenantId: string,
    id: string,
    opts: { anyTenant?: boolean } = {},
  ): Promise<ClusterRecord | undefined> {
    const row = opts.anyTenant
      ? await this.db.one("SELECT * FROM clusters WHERE id = ? AND deleted_at IS NULL", id)
      : await this.db.one("SELECT * FROM clusters WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL", id, tenantId);
    return row ? this.clusterOf(this.db, row, true) : undefined;
  }

  /**
   * Starts an update or a delete, leased to `lease.owner`: refused when the cluster is not this
   * tenant's (or gone), or while another operation on it runs (on any server: the cluster's row is
   * locked while this decides). An update records the new spec (and name) as the one asked for.
   */
  startOperation(input: {
    tenantId: string;
    clusterId: string;
    operationId: string;
    action: "update" | "delete";
    spec?: ClusterSpec;
    requestId: string;
    trustId?: string;
    lease: LeaseGrant;
  }): Promise<ClusterRecord | StartRefusal> {
    const at = now();
    return this.db.transaction(async (tx) => {
      const row = await tx.one(
        `SELECT * FROM clusters WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL${this.db.forUpdate}`,
        input.clusterId,
        input.tenantId,
      );
      if (!row) return { refused: "not_found" } as const;
      const running = await tx.one(
        "SELECT * FROM operations WHERE cluster_id = ? AND status = 'running' LIMIT 1",
        input.clusterId,
      );
      if (running) return { refused: "busy", running: operationOf(running) } as const;
      await this.insertOperation(
        tx,
        {
          id: input.operationId,
          clusterId: input.clusterId,
          action: input.action,
          spec: input.spec,
          requestId: input.requestId,
          trustId: input.trustId,
          lease: input.lease,
        },
        at,
      );
      if (input.action === "update" && input.spec) {
        await tx.run(
          "UPDATE clusters SET status = 'BUILD', name = ?, spec_json = ?, updated_at = ? WHERE id = ?",
          input.spec.name,
          JSON.stringify(input.spec),
          at,
          input.clusterId,
        );
      } else {
        await tx.run("UPDATE clusters SET status = 'DELETING', updated_at = ? WHERE id = ?", at, input.clusterId);
      }
      return this.clusterOf(tx, (await tx.one("SELECT * FROM clusters WHERE id = ?", input.clusterId)) as Row, true);
    });
  }

  /**
   * A page of the tenant's clusters (every tenant's: `allTenants`, for admins), newest first, after
   * `marker` (a cluster id of this tenant, possibly deleted since). `undefined` when the marker is not
   * one of the tenant's clusters.
   */
  async listClusters(
    tenantId: string,
    opts: { limit: number; marker?: string; allTenants?: boolean },
  ): Promise<ClusterRecord[] | undefined> {
    const all = opts.allTenants === true;
    let before = Number.MAX_SAFE_INTEGER;
    if (opts.marker !== undefined) {
      const m = all
        ? await this.db.one("SELECT seq FROM clusters WHERE id = ?", opts.marker)
        : await this.db.one("SELECT seq FROM clusters WHERE id = ? AND tenant_id = ?", opts.marker, tenantId);
      if (!m) return undefined;
      before = Number(m.seq);
    }
    const rows = all
      ? await this.db.all(
          "SELECT * FROM clusters WHERE deleted_at IS NULL AND seq < ? ORDER BY seq DESC LIMIT ?",
          before,
          opts.limit,
        )
      : await this.db.all(
          "SELECT * FROM clusters WHERE tenant_id = ? AND deleted_at IS NULL AND seq < ? ORDER BY seq DESC LIMIT ?",
          tenantId,
          before,
          opts.limit,
        );
    return Promise.all(rows.map((row) => this.clusterOf(this.db, row, false)));
  }

  /**
   * The operation's last progress line; written only while `owner` holds its lease. A U+0000 in it
   * is kept as U+FFFD (SQLite would cut the text there, PostgreSQL refuse it).
   */
  async recordProgress(operationId: string, message: string, owner: string): Promise<void> {
    await this.db.run(
      `UPDATE operations SET progress = ?, updated_at = ? WHERE id = ? AND status = 'running'
       AND EXISTS (SELECT 1 FROM operation_leases l WHERE l.operation_id = operations.id AND l.owner = ?)`,
      message.replaceAll("\u0000", "\uFFFD"),
      now(),
      operationId,
      owner,
    );
  }

  /**
   * Ends an operation and records what it left: the cluster's new state, its fault, or its deletion;
   * and drops its lease. Only while `owner` holds the lease: false (nothing written) when another
   * server took the operation over.
   */
  finishOperation(operationId: string, outcome: OperationOutcome, owner: string): Promise<boolean> {
    const at = now();
    return this.db.transaction(async (tx) => {
      // The operation's row first, then its lease: the order claims take them in (no deadlock).
      const op = await tx.one(
        `SELECT cluster_id, spec_json FROM operations WHERE id = ?${this.db.forUpdate}`,
        operationId,
      );
      if (!op) return false;
      const held = await tx.run(
        "DELETE FROM operation_leases WHERE operation_id = ? AND owner = ?",
        operationId,
        owner,
      );
      if (held === 0) return false;
      const clusterId = str(op.cluster_id);
      // A state written by a create or update was applied from its spec (a delete's keeps the one before).
      const applied = typeof op.spec_json === "string" ? op.spec_json : null;
      await tx.run(
        "UPDATE operations SET status = ?, fault_json = ?, updated_at = ?, finished_at = ? WHERE id = ?",
        outcome.ok ? "succeeded" : "failed",
        outcome.ok ? null : JSON.stringify(outcome.fault),
        at,
        at,
        operationId,
      );
      if ("deleted" in outcome) {
        await tx.run("UPDATE clusters SET deleted_at = ?, updated_at = ? WHERE id = ?", at, at, clusterId);
      } else if (outcome.ok) {
        await tx.run(
          `UPDATE clusters SET status = 'ACTIVE', state_json = ?, applied_spec_json = COALESCE(?, applied_spec_json),
           fault_json = NULL, updated_at = ? WHERE id = ?`,
          JSON.stringify(outcome.state),
          applied,
          at,
          clusterId,
        );
      } else if (outcome.state) {
        await tx.run(
          `UPDATE clusters SET status = 'ERROR', state_json = ?, applied_spec_json = COALESCE(?, applied_spec_json),
           fault_json = ?, updated_at = ? WHERE id = ?`,
          JSON.stringify(outcome.state),
          applied,
          JSON.stringify(outcome.fault),
          at,
          clusterId,
        );
      } else {
        await tx.run(
          "UPDATE clusters SET status = 'ERROR', fault_json = ?, updated_at = ? WHERE id = ?",
          JSON.stringify(outcome.fault),
          at,
          clusterId,
        );
      }
      return true;
    });
  }

  /**
   * Takes over running operations, oldest first: those whose lease expired (or that have none: an
   * older release left them), or every one when `all` (the caller knows no other server uses the
   * database). `accept` decides, per operation, whether this server can run it; those it refuses are
   * left as they are and returned apart. Two servers claiming at once never get the same operation.
   */
  claimOperations(
    lease: LeaseGrant,
    opts: { all: boolean; accept: (cluster: ClusterRecord) => boolean },
  ): Promise<{ claimed: Claimed[]; refused: Claimed[] }> {
    return this.db.transaction(async (tx) => {
      const expired = opts.all ? "" : ` AND (l.operation_id IS NULL OR l.expires_at < ${this.db.nowMs})`;
      const rows = await tx.all(
        `SELECT o.*, l.owner AS lease_owner FROM operations o
         JOIN clusters c ON c.id = o.cluster_id
         LEFT JOIN operation_leases l ON l.operation_id = o.id
         WHERE o.status = 'running' AND c.deleted_at IS NULL${expired}
         ORDER BY o.seq${this.db.forUpdateSkipLocked}`,
      );
      const claimed: Claimed[] = [];
      const refused: Claimed[] = [];
      for (const row of rows) {
        const operation = operationOf(row);
        const cluster = await this.clusterOf(
          tx,
          (await tx.one("SELECT * FROM clusters WHERE id = ?", operation.clusterId)) as Row,
          false,
        );
        const previous = typeof row.lease_owner === "string" ? { previousOwner: row.lease_owner } : {};
        if (!opts.accept(cluster)) {
          refused.push({ operation, cluster, ...previous });
          continue;
        }
        const taken = await tx.run(
          `INSERT INTO operation_leases (operation_id, owner, expires_at) VALUES (?, ?, ${this.db.nowMs} + ?)
           ON CONFLICT (operation_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at${
             opts.all ? "" : ` WHERE operation_leases.expires_at < ${this.db.nowMs}`
           }`,
          operation.id,
          lease.owner,
          lease.leaseMs,
        );
        if (taken > 0) claimed.push({ operation, cluster, ...previous });
      }
      return { claimed, refused };
    });
  }

  /**
   * Extends `owner`'s leases on these operations to now + leaseMs; returns those it still holds
   * (an operation missing from the answer was taken over, or has ended).
   */
  async renewLeases(lease: LeaseGrant, operationIds: readonly string[]): Promise<Set<string>> {
    const held = new Set<string>();
    for (let i = 0; i < operationIds.length; i += BATCH) {
      const ids = operationIds.slice(i, i + BATCH);
      const rows = await this.db.all(
        `UPDATE operation_leases SET expires_at = ${this.db.nowMs} + ?
         WHERE owner = ? AND operation_id IN (${marks(ids.length)}) RETURNING operation_id`,
        lease.leaseMs,
        lease.owner,
        ...ids,
      );
      for (const row of rows) held.add(str(row.operation_id));
    }
    return held;
  }

  /** `owner` gives these operations up: their leases expire now, for another server to claim at once. */
  async releaseLeases(owner: string, operationIds: readonly string[]): Promise<void> {
    for (let i = 0; i < operationIds.length; i += BATCH) {
      const ids = operationIds.slice(i, i + BATCH);
      await this.db.run(
        `UPDATE operation_leases SET expires_at = 0 WHERE owner = ? AND operation_id IN (${marks(ids.length)})`,
        owner,
        ...(ids as Param[]),
      );
    }
  }

  /** How many live clusters were built on another cloud than `serves` accepts, by cloud. */
  async clustersElsewhere(
    serves: (backendId: string, tenantId: string) => boolean,
  ): Promise<{ backendId: string; count: number }[]> {
    const counts = new Map<string, number>();
    for (const row of await this.db.all(
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
  async trustsToDelete(): Promise<{ trustId: string; finishedAt: string }[]> {
    return (
      await this.db.all(
        `SELECT trust_id, MAX(finished_at) AS finished_at FROM operations
         WHERE trust_id IS NOT NULL AND trust_deleted_at IS NULL AND status <> 'running'
         GROUP BY trust_id ORDER BY trust_id`,
      )
    ).map((row) => ({ trustId: str(row.trust_id), finishedAt: str(row.finished_at) }));
  }

  /** The trust is deleted (or unusable): no operation needs it any more. */
  async trustDeleted(trustId: string): Promise<void> {
    await this.db.run("UPDATE operations SET trust_deleted_at = ? WHERE trust_id = ?", now(), trustId);
  }

  /**
   * The cluster's recorded state and the spec it was applied from (the previous inputs of the next
   * update, as Pulumi keeps a resource's), read when an operation starts its work.
   */
  async appliedOf(clusterId: string): Promise<{ state?: ClusterState; spec?: ClusterSpec }> {
    const row = await this.db.one("SELECT state_json, applied_spec_json FROM clusters WHERE id = ?", clusterId);
    const state = parse<ClusterState>(row?.state_json);
    const spec = parse<ClusterSpec>(row?.applied_spec_json);
    return { ...(state ? { state } : {}), ...(spec ? { spec } : {}) };
  }
}
