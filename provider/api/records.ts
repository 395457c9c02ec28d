// What the REST service records (store.ts keeps it): clusters, their operations, and the leases
// that say which server runs an operation; and how a row of the database reads as one.
import type { ClusterSpec } from "../model/cluster";
import type { Explanation } from "../model/placement";
import type { ClusterState } from "../model/state";
import type { Row } from "./database";

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

/** Who owns an operation and for how long: the owner renews it well within `leaseMs`. */
export interface LeaseGrant {
  owner: string;
  leaseMs: number;
}

/** An operation a server claimed (its lease had expired, or no server holds the database but this one). */
export interface Claimed {
  operation: OperationRecord;
  cluster: ClusterRecord;
  /** The server that held it before, if any. */
  previousOwner?: string;
}

// ---- rows ----

export function now(): string {
  return new Date().toISOString();
}

export function parse<T>(text: unknown): T | undefined {
  return typeof text === "string" ? (JSON.parse(text) as T) : undefined;
}

export function str(v: unknown): string {
  return String(v);
}

/** `?, ?, ?` for an IN list. */
export function marks(n: number): string {
  return Array.from({ length: n }, () => "?").join(", ");
}

/** At most this many ids in one IN list. */
export const BATCH = 500;

export function operationOf(row: Row): OperationRecord {
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
