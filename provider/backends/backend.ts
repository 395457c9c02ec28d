// The one interface every cloud backend implements (simulated, openstack). Shaped after
// Nova/Cinder so the lifecycle controller speaks one language: asynchronous creates that
// return at once (poll get* for BUILD -> ACTIVE / creating -> available), "not found" as
// `undefined` on reads and as success on deletes, metadata tags on every object so a
// retry after a crash can adopt what exists.
import type { BackendKind, NetworkAddresses, PlacementMode, ServerGroupPolicy } from "../model/state";
import type { Topology } from "../model/topology";

export type { BackendKind, NetworkAddresses, PlacementMode, ServerGroupPolicy };

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
  /** The keypair it was booted (or last rebuilt) with; null: none. Absent: the backend doesn't say. */
  keyName?: string | null;
  /**
   * Names of the security groups on its ports, sorted, each once; [] for a server with no port that
   * has any (no network, or port security off). Absent: the backend doesn't say.
   */
  securityGroups?: string[];
  /**
   * Its addresses by network name, networks in the cloud's order (Nova `addresses`, `OS-EXT-IPS:type`
   * fixed/floating); {} for a server on no network. Absent: the backend doesn't say.
   */
  addresses?: Record<string, NetworkAddresses>;
  /** Ids of its ports. Absent: not read (see Backend.serverPorts). */
  ports?: string[];
}

/**
 * What a rebuild sets besides the image (Nova rebuild: `key_name` from 2.54, `user_data` from 2.57).
 * Absent: kept as it is; null: removed. The root disk is wiped whatever changes.
 */
export interface RebuildOptions {
  keyName?: string | null;
  userData?: string | null;
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
  | "retyping"
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
  /** While attached: the device its server sees it as (`/dev/vdb`, Cinder's attachment `device`), where shown. */
  device?: string;
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

/** Who holds a cluster's lock: the run's machine and process, since when, doing what. */
export interface ClusterLockHolder {
  host: string;
  /** 0 when the marker can't be read (not written by this product): holder unknown. */
  pid: number;
  /** When it took the lock (ms since the epoch). */
  since: number;
  /** "pulumi up (create)", "openstack-vcluster apply", … */
  purpose: string;
  /** Random per take: tells this run's marker from another one's. */
  token: string;
}

/**
 * One marker per cluster on the cloud itself, atomic to create and seen by every machine that uses
 * the cloud (cluster-lock.ts takes it after the machine's own lock file, and releases it).
 */
export interface CloudLocks {
  /** What the marker is, for messages (`Nova keypair "vcluster-lock-…"`). */
  describe(clusterName: string): Promise<string>;
  /** Creates the marker naming `holder`; false when one exists (of two creates at once, exactly one wins). */
  create(clusterName: string, holder: ClusterLockHolder): Promise<boolean>;
  /** The marker's holder, or undefined when there is none. */
  read(clusterName: string): Promise<ClusterLockHolder | undefined>;
  /** Deletes the marker; none is success. */
  remove(clusterName: string): Promise<void>;
  /** The command-line arguments that select this cloud (`["--cloud", "prod"]`), for the unlock hint. */
  readonly selectArgs: readonly string[];
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
  /**
   * Many servers by id in one call (a list request filtered by id), in the order asked; undefined
   * where one is gone. Optional: the controller polls a backend without it one server at a time.
   */
  getServers?(ids: readonly string[]): Promise<(ServerInfo | undefined)[]>;
  /** Servers whose metadata contains every given tag. */
  findServers(tags: Record<string, string>): Promise<ServerInfo[]>;
  /** Starts deletion; poll getServer until undefined. Not found is success. */
  deleteServer(id: string): Promise<void>;
  /** Resize to a new flavor and confirm it (status goes RESIZE -> ACTIVE). */
  resizeServer(id: string, flavorRef: string): Promise<void>;
  /** Rebuild with an image, the same or a new one (status goes REBUILD -> ACTIVE); wipes the root disk. */
  rebuildServer(id: string, imageRef: string, options?: RebuildOptions): Promise<void>;
  /**
   * Sets the metadata keys of `set` (others stay as they are) and deletes those of `remove` (one that
   * isn't there is success): Nova `POST /servers/{id}/metadata`, `DELETE …/metadata/{key}`.
   */
  updateServerMetadata(id: string, set: Record<string, string>, remove: string[]): Promise<void>;
  /** Adds a security group to every port of the server (Nova action addSecurityGroup); at once. */
  addSecurityGroup(serverId: string, group: string): Promise<void>;
  /** Removes a security group from the server's ports (removeSecurityGroup); not there is success. */
  removeSecurityGroup(serverId: string, group: string): Promise<void>;
  /**
   * Puts the server on a network (an id, as ServerCreate.networks): one new port there, listed after
   * its others (Nova `POST /servers/{id}/os-interface` with `net_id`), plugged when this returns. A
   * server already on the network is left as it is: success. The new port has the project's default
   * security group only (Nova's), whatever the server's others have.
   */
  attachNetwork(serverId: string, network: string): Promise<void>;
  /**
   * Takes the server off a network: every port of it there (Nova `DELETE …/os-interface/{port_id}`),
   * gone when this returns. Not on it (or no such server) is success.
   */
  detachNetwork(serverId: string, network: string): Promise<void>;

  createVolume(req: VolumeCreate): Promise<VolumeInfo>;
  getVolume(id: string): Promise<VolumeInfo | undefined>;
  /** Many volumes by id in one call, as getServers. Optional. */
  getVolumes?(ids: readonly string[]): Promise<(VolumeInfo | undefined)[]>;
  findVolumes(tags: Record<string, string>): Promise<VolumeInfo[]>;
  /** Grow a volume (Cinder extend); shrinking is refused with bad_request. */
  extendVolume(id: string, sizeGb: number): Promise<void>;
  /**
   * Change a volume's type (Cinder `os-retype`, migration_policy on-demand: the data moves to another
   * backend when its own can't hold the type). Status goes retyping -> back; poll getVolume.
   */
  retypeVolume(id: string, volumeType: string): Promise<void>;
  /** Sets and deletes metadata keys of a volume, as updateServerMetadata does (Cinder metadata API). */
  updateVolumeMetadata(id: string, set: Record<string, string>, remove: string[]): Promise<void>;
  /** Starts deletion; poll getVolume until undefined. Not found is success. */
  deleteVolume(id: string): Promise<void>;

  /** Attach through Nova; the volume goes attaching -> in-use. Attaching an already attached pair is success. */
  attachVolume(serverId: string, volumeId: string): Promise<void>;
  /** Detach; not attached / not found is success. */
  detachVolume(serverId: string, volumeId: string): Promise<void>;

  /**
   * The ids of a server's ports, for a backend whose getServer doesn't show them (OpenStack: Nova
   * `os-interface`); read once per member when the cluster's state is built, never while waiting.
   * Undefined: can't be told (no such API, not allowed); not found is undefined too.
   */
  serverPorts?(serverId: string): Promise<string[] | undefined>;

  /**
   * The cluster's lock on the cloud, for clouds used from several machines: a lock file on one
   * machine can't serialize them. Absent on the simulated cloud, whose lock files every user shares.
   */
  readonly cloudLocks?: CloudLocks;

  /** Release pools, timers. */
  close(): Promise<void>;
}
