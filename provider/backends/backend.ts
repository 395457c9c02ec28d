// The one interface every cloud backend implements (simulated, openstack). Shaped after
// Nova/Cinder so the lifecycle controller speaks one language: asynchronous creates that
// return at once (poll get* for BUILD -> ACTIVE / creating -> available), "not found" as
// `undefined` on reads and as success on deletes, metadata tags on every object so a
// retry after a crash can adopt what exists.
import type { BackendKind, PlacementMode, ServerGroupPolicy } from "../model/state";
import type { Topology } from "../model/topology";

export type { BackendKind, PlacementMode, ServerGroupPolicy };

/** Metadata keys stamped on every object the product creates. */
export const TAG_CLUSTER = "vcluster:cluster";
export const TAG_MEMBER = "vcluster:member";
/** For server groups: the grouping they implement. */
export const TAG_GROUPING = "vcluster:grouping";

export interface Discovery {
  mode: PlacementMode;
  /** pinned: the full inventory with usage. delegated: zones as hosts-less shells (hosts may be empty) and flavors. */
  topology: Topology;
  /** Zones the tenant can use (delegated mode places on these). */
  zones: string[];
  /** Remaining quota; absent fields are unlimited. */
  quota?: { instances?: number; vcpus?: number; ramMb?: number; volumes?: number; gigabytes?: number };
}

export interface ServerGroupCreate {
  name: string;
  policy: ServerGroupPolicy;
  /** anti-affinity only (Nova 2.64+ `rules.max_server_per_host`). */
  maxServerPerHost?: number;
  metadata: Record<string, string>;
}

export interface ServerGroupInfo {
  id: string;
  name: string;
  policy: ServerGroupPolicy;
  maxServerPerHost?: number;
  members: string[];
  metadata: Record<string, string>;
}

export interface ServerCreate {
  name: string;
  imageRef: string;
  flavorRef: string;
  zone?: string;
  /** pinned mode: exact host (Nova 2.74 `host`). */
  host?: string;
  serverGroupId?: string;
  /** Nova scheduler hints: server ids that must share / must not share a host. */
  sameHost?: string[];
  differentHost?: string[];
  networks?: string[];
  keyName?: string;
  securityGroups?: string[];
  userData?: string;
  metadata: Record<string, string>;
}

/** Nova-like server states we act on. Anything else is reported as is. */
export type ServerStatus =
  | "BUILD"
  | "ACTIVE"
  | "ERROR"
  | "RESIZE"
  | "VERIFY_RESIZE"
  | "REBUILD"
  | "SHUTOFF"
  | (string & {});

export interface ServerInfo {
  id: string;
  name: string;
  status: ServerStatus;
  /** Nova's fault message when status is ERROR ("No valid host was found. ..."). */
  fault?: string;
  flavorRef: string;
  imageRef: string;
  zone?: string;
  /** Real host name: visible to admins only. */
  host?: string;
  /** Opaque per-project host id: equal for servers on one host. Visible to every tenant. */
  hostId?: string;
  metadata: Record<string, string>;
  /** Volume ids attached to this server. */
  volumes: string[];
}

export interface VolumeCreate {
  name: string;
  sizeGb: number;
  volumeType?: string;
  zone?: string;
  /** pinned mode: exact storage backend (pool). */
  backend?: string;
  /** Cinder scheduler hints. */
  sameBackendAs?: string[];
  differentBackendFrom?: string[];
  localToServer?: string;
  metadata: Record<string, string>;
}

export type VolumeStatus =
  | "creating"
  | "available"
  | "attaching"
  | "in-use"
  | "detaching"
  | "error"
  | "deleting"
  | (string & {});

export interface VolumeInfo {
  id: string;
  name: string;
  status: VolumeStatus;
  fault?: string;
  sizeGb: number;
  volumeType?: string;
  zone?: string;
  /** Storage backend (pool): visible to admins only. */
  backend?: string;
  /** Server ids this volume is attached to. */
  attachedTo: string[];
  metadata: Record<string, string>;
}

/** Errors every backend throws, with a stable code. Never carries a credential. */
export type BackendErrorCode =
  | "not_found"
  | "conflict"
  | "quota_exceeded"
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "unavailable"
  | "timeout"
  | "internal";

export class BackendError extends Error {
  readonly code: BackendErrorCode;
  /** Whether retrying the same call may succeed (5xx, 429, connection errors). */
  readonly retryable: boolean;
  constructor(code: BackendErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BackendError";
    this.code = code;
    this.retryable = options?.retryable ?? (code === "unavailable" || code === "timeout");
  }
}

export interface Backend {
  readonly kind: BackendKind;
  /** A short description for messages ("simulated cloud in ./.vcluster", "openstack cloud 'prod' region RegionOne"). */
  readonly description: string;
  /** How often the controller should poll a changing object (ms); the simulated cloud is fast, Nova is not. */
  readonly pollIntervalMs: number;

  discover(): Promise<Discovery>;

  /**
   * Image references (names or ids) that a server can't be booted from, each with why ("does not
   * exist", "names 2 images: use its id"); empty when all are fine. Checked before anything is made,
   * so a typo fails `pulumi preview` instead of a half-built cluster.
   */
  imageProblems(refs: string[]): Promise<Record<string, string>>;

  createServerGroup(req: ServerGroupCreate): Promise<ServerGroupInfo>;
  getServerGroup(id: string): Promise<ServerGroupInfo | undefined>;
  /** Server groups whose metadata contains every given tag. */
  findServerGroups(tags: Record<string, string>): Promise<ServerGroupInfo[]>;
  deleteServerGroup(id: string): Promise<void>;

  /** Returns at once with status BUILD (or ERROR); poll getServer. */
  createServer(req: ServerCreate): Promise<ServerInfo>;
  getServer(id: string): Promise<ServerInfo | undefined>;
  /** Servers whose metadata contains every given tag. */
  findServers(tags: Record<string, string>): Promise<ServerInfo[]>;
  /** Starts deletion; poll getServer until undefined. Not found is success. */
  deleteServer(id: string): Promise<void>;
  /** Resize to a new flavor and confirm it (status goes RESIZE -> ACTIVE). */
  resizeServer(id: string, flavorRef: string): Promise<void>;
  /** Rebuild with a new image (status goes REBUILD -> ACTIVE). */
  rebuildServer(id: string, imageRef: string): Promise<void>;

  createVolume(req: VolumeCreate): Promise<VolumeInfo>;
  getVolume(id: string): Promise<VolumeInfo | undefined>;
  findVolumes(tags: Record<string, string>): Promise<VolumeInfo[]>;
  /** Grow a volume (Cinder extend); shrinking is refused with bad_request. */
  extendVolume(id: string, sizeGb: number): Promise<void>;
  /** Starts deletion; poll getVolume until undefined. Not found is success. */
  deleteVolume(id: string): Promise<void>;

  /** Attach through Nova; the volume goes attaching -> in-use. Attaching an already attached pair is success. */
  attachVolume(serverId: string, volumeId: string): Promise<void>;
  /** Detach; not attached / not found is success. */
  detachVolume(serverId: string, volumeId: string): Promise<void>;

  /** Release pools, timers. */
  close(): Promise<void>;
}
