// What the product remembers about a built cluster: the Pulumi resource's outputs (beside its
// inputs), and what the command keeps for `show`/`destroy`. Plain JSON only (it goes into the
// Pulumi state file). Never a credential. Versioned: code of a later release must read state
// written by an earlier one (Pulumi runs `delete`/`read` with the stored provider).
import type { Placement, SoftViolation } from "./placement";

export type BackendKind = "simulated" | "openstack";

/**
 * pinned: the backend sees hosts and backends; the engine places every member and asks for exact hosts.
 * delegated: zones only; host-level rules go to Nova server groups and hints.
 */
export type PlacementMode = "pinned" | "delegated";

export type ServerGroupPolicy = "affinity" | "anti-affinity" | "soft-affinity" | "soft-anti-affinity";

export const STATE_VERSION = 1;

/** Status used for a member that should exist but was not found on the backend. */
export const MISSING = "MISSING";

/**
 * A server's addresses on one network, as the cloud lists them (Nova `addresses`, each entry's
 * `OS-EXT-IPS:type`): IPv4 and IPv6 alike, in the cloud's order.
 */
export interface NetworkAddresses {
  fixed: string[];
  floating: string[];
}

export interface MemberState {
  name: string;
  type: "server" | "volume";
  /** Backend id; "" if the member was never created or is missing. */
  id: string;
  /** Backend status (ACTIVE, ERROR, available, in-use, ...) or MISSING. */
  status: string;
  zone?: string;
  rack?: string;
  /** Real host (admin/pinned view) where visible. */
  host?: string;
  /** Nova's per-project host id (tenant view). */
  hostId?: string;
  /** Volumes: the storage backend (pool) where visible. */
  backend?: string;
  /** Servers: id of the Nova server group it was created in. */
  serverGroup?: string;
  /** What was applied, to diff against the spec. */
  flavorRef?: string;
  imageRef?: string;
  sizeGb?: number;
  volumeType?: string;
  /** Volumes: name of the server member it is attached to. */
  attachedTo?: string;
  /**
   * Servers: fixed and floating IPs by network name (a map: Pulumi's state keeps no key order). Absent
   * where the cloud doesn't say (no address read yet).
   */
  addresses?: Record<string, NetworkAddresses>;
  /**
   * Servers: where to reach it: its first floating IPv4 address, else its first fixed one, networks in
   * the order the cloud lists them (Nova: the order of the server's ports, as asked in `networks`).
   */
  accessIpV4?: string;
  /** Servers: the ids of its network ports (Neutron), in the cloud's order. */
  ports?: string[];
  /** Volumes: the device its server sees it as (`/dev/vdb`), while attached, where the cloud says. */
  device?: string;
  fault?: string;
  /**
   * Edits of the member an update was asked for but did not finish ("user_data", "networks", …: the
   * spec's fields as Nova names them): the next apply makes them, even though the inputs it is given
   * then look unchanged (Pulumi records a failed update's new inputs).
   */
  pending?: string[];
  /** With "metadata" pending: keys that update was to delete (the next apply deletes them). */
  staleMetadataKeys?: string[];
}

export interface ServerGroupState {
  /** The grouping this Nova server group implements. */
  grouping: string;
  id: string;
  policy: ServerGroupPolicy;
  maxServerPerHost?: number;
}

export interface BrokenRule {
  grouping?: string;
  members: string[];
  message: string;
}

export interface ClusterState {
  stateVersion: number;
  clusterName: string;
  backendKind: BackendKind;
  /** Non-secret identity of the cloud (simulated: its directory; openstack: auth URL + project + region). A change replaces the cluster. */
  backendId: string;
  mode: PlacementMode;
  members: Record<string, MemberState>;
  serverGroups: Record<string, ServerGroupState>;
  /** Where the engine placed members (the plan), by member name. */
  placement: Placement;
  softViolations: SoftViolation[];
  /** Hard rules found broken at the last verify/refresh (should be empty). */
  brokenRules: BrokenRule[];
  /** Members found missing at the last refresh; the next apply recreates them. */
  missing: string[];
}

/** Every key of ClusterState, in output order: the compiler fails here when ClusterState grows. */
export const STATE_KEYS = Object.keys({
  stateVersion: true,
  clusterName: true,
  backendKind: true,
  backendId: true,
  mode: true,
  members: true,
  serverGroups: true,
  placement: true,
  softViolations: true,
  brokenRules: true,
  missing: true,
} satisfies Record<keyof ClusterState, true>) as (keyof ClusterState)[];
