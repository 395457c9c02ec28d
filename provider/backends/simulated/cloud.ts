// The simulated cloud: a full Backend on the local disk, with no server to run. It behaves like
// Nova/Cinder where the product depends on it: asynchronous builds, capacity accounting, server
// group semantics, ERROR with Nova's "No valid host" fault, 404 after delete, quotas, and faults
// and latency on request. State lives in `<dir>/cloud.json`; every call locks the directory, reads,
// settles what the clock has finished, mutates, and writes atomically (see store.ts).
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pLimit from "p-limit";
import { findFlavor, type Topology } from "../../placement/topology";
import {
  type Backend,
  BackendError,
  type Discovery,
  type ServerCreate,
  type ServerGroupCreate,
  type ServerGroupInfo,
  type ServerGroupPolicy,
  type ServerInfo,
  TAG_MEMBER,
  type VolumeCreate,
  type VolumeInfo,
} from "../backend";
import { DEFAULT_IMAGES, defaultSimulatedTopology } from "./default-topology";
import {
  type BackendOp,
  type Fault,
  faultMatches,
  parseFaults,
  type StoredFault,
  validateFault,
  validateFaults,
} from "./faults";
import { backendUsage, backendZone, hostUsage, scheduleServer, scheduleVolume } from "./scheduler";
import {
  type CloudSnapshot,
  type CloudState,
  isOwnFile,
  type Quota,
  readState,
  type ServerRecord,
  SIM_STATE_VERSION,
  statePath,
  type VolumeRecord,
  withLock,
  writeStateAtomically,
} from "./store";

/**
 * Faults to add to the stored plan when a process opens a cloud: a JSON array of Fault, e.g.
 * `OPENSTACK_VCLUSTER_SIM_FAULTS='[{"kind":"server-error","member":"db-1"}]' pulumi up`. Lets a demo
 * make a separate process (the Pulumi provider, the command) hit a fault. Added once per process and
 * cloud directory, not at every open: the provider opens the cloud for each step of one run.
 */
export const SIM_FAULTS_ENV = "OPENSTACK_VCLUSTER_SIM_FAULTS";

/** (directory, variable value) pairs this process has already added to a plan. */
const envFaultsApplied = new Set<string>();

export interface LatencyModel {
  /** Added to every API call (outside the lock). Default 0. */
  perCallMs?: number;
  /** BUILD -> ACTIVE, and REBUILD -> ACTIVE. Default 40. */
  serverBuildMs?: number;
  /** creating -> available, extending -> back. Default 20. */
  volumeCreateMs?: number;
  /** attaching -> in-use, detaching -> available. Default 10. */
  attachMs?: number;
  /** The window between a delete and the 404. Default 10. */
  deleteMs?: number;
  /** RESIZE -> ACTIVE. Default 40. */
  resizeMs?: number;
  /** Max API calls of this instance in flight; more wait. Default unlimited. */
  concurrency?: number;
}

export interface SimulatedCloudOptions {
  /** State directory; created if absent. */
  dir: string;
  /** Used only when the directory holds no cloud yet; else the stored one wins. */
  topology?: Topology;
  /** Known images, likewise only for a new cloud. Default debian-12, ubuntu-24.04, cirros. */
  images?: string[];
  /** admin: pinned mode, real hosts visible. tenant: delegated mode, zones only, `hostId` instead of `host`. */
  view?: "admin" | "tenant";
  latency?: LatencyModel;
  /** Added to the stored fault plan. */
  faults?: Fault[];
  /** Replaces the stored quota (limits; absent fields are unlimited). */
  quota?: Quota;
  /** Clock; default Date.now. Tests may pass a fake one. */
  now?: () => number;
  /** Where to read `OPENSTACK_VCLUSTER_SIM_FAULTS` from; default process.env. */
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_LATENCY: Required<Omit<LatencyModel, "concurrency">> = {
  perCallMs: 0,
  serverBuildMs: 40,
  volumeCreateMs: 20,
  attachMs: 10,
  deleteMs: 10,
  resizeMs: 40,
};

const POLICIES: readonly ServerGroupPolicy[] = ["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"];

/** Ops that start a transition: a slow fault stretches the transition instead of the call. */
const TRANSITION_OPS: ReadonlySet<BackendOp> = new Set<BackendOp>([
  "createServer",
  "deleteServer",
  "resizeServer",
  "rebuildServer",
  "createVolume",
  "deleteVolume",
  "extendVolume",
  "attachVolume",
  "detachVolume",
]);

/** What an operation sees inside the lock. */
interface Tx {
  state: CloudState;
  now: number;
  /** Extra ms from a matching slow fault (consumed). */
  slow(obj?: { name: string; metadata: Record<string, string> }): number;
}

type Named = { name: string; metadata: Record<string, string> };

export class SimulatedCloud implements Backend {
  readonly kind = "simulated" as const;
  readonly description: string;
  readonly pollIntervalMs: number;
  readonly dir: string;
  readonly view: "admin" | "tenant";
  /** Stable, non-secret identity of this cloud (made when its directory was first used). */
  cloudId = "";
  private readonly latency: Required<Omit<LatencyModel, "concurrency">>;
  private readonly now: () => number;
  private readonly limit: <T>(fn: () => Promise<T>) => Promise<T>;

  private constructor(dir: string, options: SimulatedCloudOptions) {
    this.dir = dir;
    this.view = options.view ?? "admin";
    this.latency = { ...DEFAULT_LATENCY, ...definedOnly(options.latency ?? {}) };
    this.now = options.now ?? Date.now;
    const concurrency = options.latency?.concurrency;
    const limiter = concurrency === undefined ? undefined : pLimit(Math.max(1, Math.floor(concurrency)));
    this.limit = limiter ? (fn) => limiter(fn) : (fn) => fn();
    this.description = `simulated cloud in "${dir}" (${this.view} view)`;
    // Fast enough for tests, slow enough not to spin on the lock.
    this.pollIntervalMs = Math.max(5, Math.min(50, Math.round(this.latency.attachMs || 20)));
  }

  static async open(options: SimulatedCloudOptions): Promise<SimulatedCloud> {
    const dir = path.resolve(options.dir);
    await fs.mkdir(dir, { recursive: true });
    const faults = validateFaults(options.faults ?? [], "simulated cloud faults");
    const env = (options.env ?? process.env)[SIM_FAULTS_ENV];
    const envKey = `${dir}\0${env}`;
    const fromEnv = env !== undefined && env.trim() !== "" && !envFaultsApplied.has(envKey);
    if (fromEnv) faults.push(...parseFaults(env, SIM_FAULTS_ENV));
    const cloud = new SimulatedCloud(dir, options);
    await withLock(dir, async () => {
      let state = await readState(dir);
      let changed = false;
      if (!state) {
        const topology = structuredClone(options.topology ?? defaultSimulatedTopology());
        checkTopology(topology, dir);
        state = {
          version: SIM_STATE_VERSION,
          cloudId: randomUUID(),
          createdAt: cloud.now(),
          projectSalt: randomBytes(8).toString("hex"),
          topology,
          images: [...(options.images ?? DEFAULT_IMAGES)],
          servers: [],
          volumes: [],
          serverGroups: [],
          faults: [],
          nextFaultId: 1,
          calls: {},
        };
        changed = true;
      }
      if (options.quota !== undefined) {
        state.quota = { ...options.quota };
        changed = true;
      }
      for (const f of faults) addFault(state, f);
      cloud.cloudId = state.cloudId;
      if (changed || faults.length > 0) await writeStateAtomically(dir, state);
    });
    if (fromEnv) envFaultsApplied.add(envKey);
    return cloud;
  }

  /** Removes a cloud's directory; refuses if it holds anything but the cloud's own files. */
  static async destroyDir(dir: string): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
      throw e;
    }
    const foreign = names.filter((n) => !isOwnFile(n)).sort();
    if (foreign.length > 0) {
      throw new Error(
        `"${dir}" is not only a simulated cloud: it also holds ${foreign.map((n) => `"${n}"`).join(", ")}; hint: remove those first, or delete the directory by hand`,
      );
    }
    await fs.rm(dir, { recursive: true, force: true });
  }

  // ---- test and command helpers (not counted as API calls) ----

  async injectFault(f: Fault): Promise<void> {
    const fault = validateFault(f, "injectFault");
    await this.transact((tx) => addFault(tx.state, fault));
  }

  async clearFaults(): Promise<void> {
    await this.transact((tx) => {
      tx.state.faults = [];
    });
  }

  /** How many times `op` was called on this cloud (by any process) since it was created or reset. */
  async callCount(op: BackendOp): Promise<number> {
    return this.transact((tx) => tx.state.calls[op] ?? 0, false);
  }

  /** Everything, as plain JSON, with finished transitions applied. */
  async snapshot(): Promise<CloudSnapshot> {
    return this.transact((tx) => structuredClone(tx.state));
  }

  /** Deletes every server, volume, group and fault, and the call counters; keeps topology, images, quota. */
  async reset(): Promise<void> {
    await this.transact((tx) => {
      Object.assign(tx.state, { servers: [], volumes: [], serverGroups: [], faults: [], calls: {} });
    });
  }

  async close(): Promise<void> {
    // Nothing persistent is held between calls: the lock is taken per call.
  }

  // ---- Backend ----

  discover(): Promise<Discovery> {
    return this.call("discover", ({ state }) => {
      const zones = [...new Set(state.topology.hosts.map((h) => h.zone))].sort();
      const quota = remainingQuota(state);
      const base = { zones, ...(quota ? { quota } : {}) };
      if (this.view === "tenant") {
        return {
          mode: "delegated",
          topology: { flavors: structuredClone(state.topology.flavors), hosts: [], storageBackends: [] },
          ...base,
        };
      }
      const used = hostUsage(state);
      const bUsed = backendUsage(state);
      const topology = structuredClone(state.topology);
      for (const h of topology.hosts) h.used = { ...(used.get(h.name) ?? { vcpus: 0, ramMb: 0, diskGb: 0 }) };
      for (const b of topology.storageBackends) b.usedGb = bUsed.get(b.name) ?? 0;
      return { mode: "pinned", topology, ...base };
    });
  }

  imageProblems(refs: string[]): Promise<Record<string, string>> {
    return this.call("imageProblems", ({ state }) => {
      const out: Record<string, string> = {};
      for (const ref of refs) {
        if (!state.images.includes(ref)) out[ref] = `does not exist (known images: ${state.images.join(", ")})`;
      }
      return out;
    });
  }

  createServerGroup(req: ServerGroupCreate): Promise<ServerGroupInfo> {
    return this.call("createServerGroup", ({ state }) => {
      if (!POLICIES.includes(req.policy)) {
        throw new BackendError(
          "bad_request",
          `Invalid server group policy "${req.policy}"; use one of ${POLICIES.join(", ")}.`,
        );
      }
      if (req.maxServerPerHost !== undefined) {
        if (req.policy !== "anti-affinity") {
          throw new BackendError(
            "bad_request",
            `max_server_per_host applies only to the "anti-affinity" policy, not "${req.policy}".`,
          );
        }
        if (!Number.isInteger(req.maxServerPerHost) || req.maxServerPerHost < 1) {
          throw new BackendError(
            "bad_request",
            `max_server_per_host must be a positive integer, not ${req.maxServerPerHost}.`,
          );
        }
      }
      const group = {
        id: randomUUID(),
        name: req.name,
        policy: req.policy,
        ...(req.maxServerPerHost !== undefined ? { maxServerPerHost: req.maxServerPerHost } : {}),
        members: [],
        metadata: { ...req.metadata },
      };
      state.serverGroups.push(group);
      return structuredClone(group);
    });
  }

  getServerGroup(id: string): Promise<ServerGroupInfo | undefined> {
    return this.call("getServerGroup", ({ state }) => {
      const g = state.serverGroups.find((x) => x.id === id);
      return g && structuredClone(g);
    });
  }

  findServerGroups(tags: Record<string, string>): Promise<ServerGroupInfo[]> {
    return this.call("findServerGroups", ({ state }) =>
      state.serverGroups
        .filter((g) => hasTags(g.metadata, tags))
        .sort(byNameThenId)
        .map((g) => structuredClone(g)),
    );
  }

  deleteServerGroup(id: string): Promise<void> {
    return this.call("deleteServerGroup", ({ state }) => {
      state.serverGroups = state.serverGroups.filter((g) => g.id !== id);
    });
  }

  createServer(req: ServerCreate): Promise<ServerInfo> {
    return this.call("createServer", (tx) => {
      const { state, now } = tx;
      if (req.host !== undefined && this.view === "tenant") {
        throw new BackendError(
          "forbidden",
          "Policy doesn't allow compute:servers:create:requested_destination to be performed.",
        );
      }
      const flavor = findFlavor(state.topology.flavors, req.flavorRef);
      if (!flavor) throw unknownRef("Flavor", req.flavorRef, Object.keys(state.topology.flavors));
      if (!state.images.includes(req.imageRef)) throw unknownRef("Image", req.imageRef, state.images);
      const zones = new Set(state.topology.hosts.map((h) => h.zone));
      if (req.zone !== undefined && !zones.has(req.zone)) throw unknownRef("Availability zone", req.zone, [...zones]);
      if (req.host !== undefined && !state.topology.hosts.some((h) => h.name === req.host)) {
        throw unknownRef(
          "Compute host",
          req.host,
          state.topology.hosts.map((h) => h.name),
        );
      }
      const group =
        req.serverGroupId === undefined ? undefined : state.serverGroups.find((g) => g.id === req.serverGroupId);
      if (req.serverGroupId !== undefined && !group) {
        throw new BackendError("bad_request", `Server group "${req.serverGroupId}" could not be found.`);
      }
      checkQuota(state, { instances: 1, vcpus: flavor.vcpus, ramMb: flavor.ramMb });

      const named = { name: req.name, metadata: req.metadata };
      const ignorePlacement = takeMatching(state, "ignore-placement", named) !== undefined;
      const placed = scheduleServer(state, {
        flavor,
        ...(req.zone !== undefined ? { zone: req.zone } : {}),
        ...(req.host !== undefined ? { host: req.host } : {}),
        ...(group ? { group } : {}),
        ...(req.sameHost ? { sameHost: req.sameHost } : {}),
        ...(req.differentHost ? { differentHost: req.differentHost } : {}),
        ignorePlacement,
      });
      const server: ServerRecord = {
        id: randomUUID(),
        name: req.name,
        status: "BUILD",
        flavorRef: req.flavorRef,
        imageRef: req.imageRef,
        metadata: { ...req.metadata },
        createdAt: now,
      };
      if (group) {
        server.groupId = group.id;
        group.members.push(server.id);
      }
      if (placed.ok) {
        const host = placed.value;
        const buildError = takeMatching(state, "server-error", named);
        Object.assign(server, {
          zone: host.zone,
          host: host.name,
          claim: { host: host.name, ...pickResources(flavor) },
        });
        server.pending = {
          kind: "build",
          at: now + this.latency.serverBuildMs + tx.slow(named),
          outcome: buildError ? "ERROR" : "ACTIVE",
          ...(buildError
            ? { fault: buildError.fault ?? `Build of instance ${server.id} aborted: injected fault.` }
            : {}),
        };
      } else {
        // Like Nova: the server exists, in ERROR, holding nothing.
        Object.assign(server, { status: "ERROR", fault: placed.fault, ...(req.zone ? { zone: req.zone } : {}) });
      }
      state.servers.push(server);
      return this.serverInfo(state, server);
    });
  }

  getServer(id: string): Promise<ServerInfo | undefined> {
    return this.call("getServer", ({ state }) => {
      const s = state.servers.find((x) => x.id === id);
      return s && this.serverInfo(state, s);
    });
  }

  findServers(tags: Record<string, string>): Promise<ServerInfo[]> {
    return this.call("findServers", ({ state }) =>
      state.servers
        .filter((s) => hasTags(s.metadata, tags))
        .sort(byNameThenId)
        .map((s) => this.serverInfo(state, s)),
    );
  }

  deleteServer(id: string): Promise<void> {
    return this.call("deleteServer", (tx) => {
      const s = tx.state.servers.find((x) => x.id === id);
      if (!s || s.pending?.kind === "delete") return;
      s.pending = { kind: "delete", at: tx.now + this.latency.deleteMs + tx.slow(s) };
    });
  }

  resizeServer(id: string, flavorRef: string): Promise<void> {
    return this.call("resizeServer", (tx) => {
      const { state } = tx;
      const s = mustServer(state, id);
      const flavor = findFlavor(state.topology.flavors, flavorRef);
      if (!flavor) throw unknownRef("Flavor", flavorRef, Object.keys(state.topology.flavors));
      requireServerStatus(s, "resize", ["ACTIVE", "SHUTOFF"]);
      if (flavorRef === s.flavorRef) {
        throw new BackendError(
          "bad_request",
          `Server "${s.name}" already has flavor "${flavorRef}"; a resize must change the flavor.`,
        );
      }
      const old = findFlavor(state.topology.flavors, s.flavorRef) ?? { vcpus: 0, ramMb: 0, diskGb: 0 };
      checkQuota(state, { vcpus: flavor.vcpus - old.vcpus, ramMb: flavor.ramMb - old.ramMb });
      const group = state.serverGroups.find((g) => g.id === s.groupId);
      const base = { selfId: s.id, flavor, ...(s.zone ? { zone: s.zone } : {}), ...(group ? { group } : {}) };
      // Nova tries the current host first when allowed, then any host that keeps the group's policy.
      let placed = s.host ? scheduleServer(state, { ...base, host: s.host }) : undefined;
      if (!placed?.ok) placed = scheduleServer(state, base);
      if (!placed.ok) {
        throw new BackendError("conflict", `Server "${s.name}" cannot be resized to "${flavorRef}": ${placed.fault}`);
      }
      const host = placed.value;
      Object.assign(s, { status: "RESIZE", host: host.name, zone: host.zone });
      s.claim = { host: host.name, ...pickResources(flavor) };
      s.pending = { kind: "resize", at: tx.now + this.latency.resizeMs + tx.slow(s), flavorRef };
    });
  }

  rebuildServer(id: string, imageRef: string): Promise<void> {
    return this.call("rebuildServer", (tx) => {
      const s = mustServer(tx.state, id);
      if (!tx.state.images.includes(imageRef)) throw unknownRef("Image", imageRef, tx.state.images);
      requireServerStatus(s, "rebuild", ["ACTIVE", "SHUTOFF"]);
      s.status = "REBUILD";
      s.pending = { kind: "rebuild", at: tx.now + this.latency.serverBuildMs + tx.slow(s), imageRef };
    });
  }

  createVolume(req: VolumeCreate): Promise<VolumeInfo> {
    return this.call("createVolume", (tx) => {
      const { state, now } = tx;
      if (!Number.isInteger(req.sizeGb) || req.sizeGb < 1) {
        throw new BackendError("bad_request", `Volume size must be a positive whole number of GB, not ${req.sizeGb}.`);
      }
      if (req.backend !== undefined && this.view === "tenant") {
        throw new BackendError("forbidden", "Policy doesn't allow choosing a storage backend (pool) for a volume.");
      }
      const zones = new Set(state.topology.storageBackends.map((b) => backendZone(state, b)));
      if (req.zone !== undefined && !zones.has(req.zone)) {
        throw unknownRef(
          "Availability zone",
          req.zone,
          [...zones].filter((z) => z !== undefined),
        );
      }
      if (req.backend !== undefined && !state.topology.storageBackends.some((b) => b.name === req.backend)) {
        throw unknownRef(
          "Storage backend",
          req.backend,
          state.topology.storageBackends.map((b) => b.name),
        );
      }
      const type = req.volumeType;
      if (
        type !== undefined &&
        !state.topology.storageBackends.some((b) => !b.volumeTypes || b.volumeTypes.includes(type))
      ) {
        throw new BackendError("bad_request", `Volume type "${type}" could not be found.`);
      }
      if (req.localToServer !== undefined && !state.servers.some((s) => s.id === req.localToServer)) {
        throw new BackendError(
          "bad_request",
          `Server "${req.localToServer}" in the local_to_instance hint could not be found.`,
        );
      }
      checkQuota(state, { volumes: 1, gigabytes: req.sizeGb });

      const named = { name: req.name, metadata: req.metadata };
      const fail = takeMatching(state, "volume-error", named);
      const placed = scheduleVolume(state, {
        sizeGb: req.sizeGb,
        ...pickDefined(req, [
          "volumeType",
          "zone",
          "backend",
          "sameBackendAs",
          "differentBackendFrom",
          "localToServer",
        ]),
      });
      const volume: VolumeRecord = {
        id: randomUUID(),
        name: req.name,
        status: "creating",
        sizeGb: req.sizeGb,
        ...(type !== undefined ? { volumeType: type } : {}),
        attachedTo: [],
        metadata: { ...req.metadata },
        createdAt: now,
      };
      if (placed.ok) {
        const zone = req.zone ?? backendZone(state, placed.value);
        Object.assign(volume, { backend: placed.value.name, ...(zone !== undefined ? { zone } : {}) });
        volume.pending = {
          kind: "create",
          at: now + this.latency.volumeCreateMs + tx.slow(named),
          outcome: fail ? "error" : "available",
          ...(fail ? { fault: "Volume creation failed: injected fault." } : {}),
        };
      } else {
        Object.assign(volume, { status: "error", fault: placed.fault, ...(req.zone ? { zone: req.zone } : {}) });
      }
      state.volumes.push(volume);
      return this.volumeInfo(volume);
    });
  }

  getVolume(id: string): Promise<VolumeInfo | undefined> {
    return this.call("getVolume", ({ state }) => {
      const v = state.volumes.find((x) => x.id === id);
      return v && this.volumeInfo(v);
    });
  }

  findVolumes(tags: Record<string, string>): Promise<VolumeInfo[]> {
    return this.call("findVolumes", ({ state }) =>
      state.volumes
        .filter((v) => hasTags(v.metadata, tags))
        .sort(byNameThenId)
        .map((v) => this.volumeInfo(v)),
    );
  }

  extendVolume(id: string, sizeGb: number): Promise<void> {
    return this.call("extendVolume", (tx) => {
      const { state } = tx;
      const v = mustVolume(state, id);
      if (!Number.isInteger(sizeGb) || sizeGb <= v.sizeGb) {
        throw new BackendError(
          "bad_request",
          `New size for extend must be greater than the current size of volume "${v.name}" (${v.sizeGb} GB), not ${sizeGb}.`,
        );
      }
      if (v.status !== "available" && v.status !== "in-use") {
        throw new BackendError(
          "conflict",
          `Volume "${v.name}" is ${v.status}; it can be extended when available or in-use.`,
        );
      }
      checkQuota(state, { gigabytes: sizeGb - v.sizeGb });
      const b = state.topology.storageBackends.find((x) => x.name === v.backend);
      const free = b ? b.capacityGb - (backendUsage(state, v.id).get(b.name) ?? 0) : 0;
      if (!b || free < sizeGb) {
        throw new BackendError(
          "conflict",
          `Volume "${v.name}" cannot grow to ${sizeGb} GB: its backend has ${free} GB free.`,
        );
      }
      v.pending = { kind: "extend", at: tx.now + this.latency.volumeCreateMs + tx.slow(v), back: v.status };
      Object.assign(v, { sizeGb, status: "extending" });
    });
  }

  deleteVolume(id: string): Promise<void> {
    return this.call("deleteVolume", (tx) => {
      const v = tx.state.volumes.find((x) => x.id === id);
      if (!v || v.pending?.kind === "delete") return;
      if (v.attachedTo.length > 0 || (v.status !== "available" && v.status !== "error")) {
        throw new BackendError(
          "conflict",
          `Volume "${v.name}" is ${v.status}; it must be available or error, and not attached, to be deleted.`,
        );
      }
      v.status = "deleting";
      v.pending = { kind: "delete", at: tx.now + this.latency.deleteMs + tx.slow(v) };
    });
  }

  attachVolume(serverId: string, volumeId: string): Promise<void> {
    return this.call("attachVolume", (tx) => {
      const { state } = tx;
      const s = mustServer(state, serverId);
      const v = mustVolume(state, volumeId);
      if (v.attachedTo.includes(s.id) && v.pending?.kind !== "detach") return;
      if (v.attachedTo.length > 0) {
        throw new BackendError("conflict", `Volume "${v.name}" is already attached to another server.`);
      }
      if (v.status !== "available") {
        throw new BackendError("conflict", `Volume "${v.name}" is ${v.status}; it must be available to be attached.`);
      }
      requireServerStatus(s, "attach a volume to", ["ACTIVE", "SHUTOFF"]);
      if (s.zone !== undefined && v.zone !== undefined && s.zone !== v.zone) {
        throw new BackendError(
          "bad_request",
          `Server "${s.name}" (zone "${s.zone}") and volume "${v.name}" (zone "${v.zone}") are not in the same availability zone.`,
        );
      }
      v.attachedTo = [s.id];
      v.status = "attaching";
      v.pending = { kind: "attach", at: tx.now + this.latency.attachMs + tx.slow(v), serverId: s.id };
    });
  }

  detachVolume(serverId: string, volumeId: string): Promise<void> {
    return this.call("detachVolume", (tx) => {
      const v = tx.state.volumes.find((x) => x.id === volumeId);
      if (!v?.attachedTo.includes(serverId) || v.pending?.kind === "detach") return;
      if (v.status === "attaching") {
        throw new BackendError("conflict", `Volume "${v.name}" is still attaching; detach it once it is in-use.`);
      }
      v.status = "detaching";
      v.pending = { kind: "detach", at: tx.now + this.latency.attachMs + tx.slow(v), serverId };
    });
  }

  // ---- internals ----

  private serverInfo(state: CloudState, s: ServerRecord): ServerInfo {
    const info: ServerInfo = {
      id: s.id,
      name: s.name,
      status: s.status,
      flavorRef: s.flavorRef,
      imageRef: s.imageRef,
      metadata: { ...s.metadata },
      volumes: state.volumes.filter((v) => v.attachedTo.includes(s.id)).map((v) => v.id),
    };
    if (s.fault !== undefined) info.fault = s.fault;
    if (s.zone !== undefined) info.zone = s.zone;
    if (s.host !== undefined) {
      if (this.view === "admin") info.host = s.host;
      info.hostId = createHash("sha224").update(`${state.projectSalt}:${s.host}`).digest("hex");
    }
    return info;
  }

  private volumeInfo(v: VolumeRecord): VolumeInfo {
    const info: VolumeInfo = {
      id: v.id,
      name: v.name,
      status: v.status,
      sizeGb: v.sizeGb,
      attachedTo: [...v.attachedTo],
      metadata: { ...v.metadata },
    };
    if (v.fault !== undefined) info.fault = v.fault;
    if (v.volumeType !== undefined) info.volumeType = v.volumeType;
    if (v.zone !== undefined) info.zone = v.zone;
    if (v.backend !== undefined && this.view === "admin") info.backend = v.backend;
    return info;
  }

  /** Lock, read, settle, run `fn`, write (if `write`), unlock. */
  private async transact<T>(fn: (tx: Tx) => T, write = true): Promise<T> {
    return withLock(this.dir, async () => {
      const state = await this.load();
      const now = this.now();
      settle(state, now);
      const result = fn({ state, now, slow: () => 0 });
      if (write) await writeStateAtomically(this.dir, state);
      return result;
    });
  }

  /** One API call: latency, counting, injected errors and delays, and rollback of a failed mutation. */
  private call<T>(op: BackendOp, fn: (tx: Tx) => T): Promise<T> {
    return this.limit(async () => {
      if (this.latency.perCallMs > 0) await sleep(this.latency.perCallMs);
      let delayMs = 0;
      const outcome = await withLock(this.dir, async () => {
        const base = await this.load();
        const now = this.now();
        settle(base, now);
        base.calls[op] = (base.calls[op] ?? 0) + 1;
        const injected = takeError(base, op);
        if (injected) {
          await writeStateAtomically(this.dir, base);
          return { error: injected } as const;
        }
        // The operation works on a copy, so one that throws halfway leaves nothing half-done.
        const work = structuredClone(base);
        const slow = (obj?: Named): number => takeSlow(work, op, obj);
        try {
          const value = fn({ state: work, now, slow });
          if (!TRANSITION_OPS.has(op)) delayMs = takeSlow(work, op, undefined);
          await writeStateAtomically(this.dir, work);
          return { value } as const;
        } catch (e) {
          await writeStateAtomically(this.dir, base);
          throw e;
        }
      });
      if (delayMs > 0) await sleep(delayMs);
      if ("error" in outcome) throw outcome.error;
      return outcome.value;
    });
  }

  private async load(): Promise<CloudState> {
    const state = await readState(this.dir);
    if (!state) {
      throw new BackendError(
        "not_found",
        `simulated cloud in "${this.dir}": ${path.basename(statePath(this.dir))} is gone; hint: open the cloud again to create it`,
      );
    }
    return state;
  }
}

// ---- pure helpers over the state ----

/** Applies every transition whose time has come. */
export function settle(state: CloudState, now: number): void {
  const goneServers = new Set<string>();
  for (const s of state.servers) {
    const p = s.pending;
    if (!p || p.at > now) continue;
    delete s.pending;
    switch (p.kind) {
      case "build":
        s.status = p.outcome;
        if (p.outcome === "ERROR") {
          // A failed build gives its host back, like Nova after the last reschedule.
          s.fault = p.fault ?? "Build failed.";
          delete s.claim;
          delete s.host;
        }
        break;
      case "resize":
        Object.assign(s, { status: "ACTIVE", flavorRef: p.flavorRef });
        break;
      case "rebuild":
        Object.assign(s, { status: "ACTIVE", imageRef: p.imageRef });
        break;
      case "delete":
        goneServers.add(s.id);
        break;
    }
  }
  if (goneServers.size > 0) {
    state.servers = state.servers.filter((s) => !goneServers.has(s.id));
    for (const g of state.serverGroups) g.members = g.members.filter((id) => !goneServers.has(id));
    // Nova detaches a deleted server's volumes.
    for (const v of state.volumes) {
      if (!v.attachedTo.some((id) => goneServers.has(id))) continue;
      v.attachedTo = v.attachedTo.filter((id) => !goneServers.has(id));
      if (v.pending?.kind === "attach" || v.pending?.kind === "detach") delete v.pending;
      if (v.attachedTo.length === 0 && ["attaching", "in-use", "detaching"].includes(v.status)) v.status = "available";
    }
  }
  const goneVolumes = new Set<string>();
  for (const v of state.volumes) {
    const p = v.pending;
    if (!p || p.at > now) continue;
    delete v.pending;
    switch (p.kind) {
      case "create":
        v.status = p.outcome;
        if (p.fault !== undefined) v.fault = p.fault;
        break;
      case "attach":
        v.status = "in-use";
        break;
      case "detach":
        v.attachedTo = v.attachedTo.filter((id) => id !== p.serverId);
        v.status = v.attachedTo.length > 0 ? "in-use" : "available";
        break;
      case "extend":
        v.status = p.back;
        break;
      case "delete":
        goneVolumes.add(v.id);
        break;
    }
  }
  if (goneVolumes.size > 0) state.volumes = state.volumes.filter((v) => !goneVolumes.has(v.id));
}

function addFault(state: CloudState, f: Fault): void {
  const stored: StoredFault = { ...f, id: state.nextFaultId++, left: f.times ?? 1 };
  if (f.kind === "error") stored.baseCount = state.calls[f.op] ?? 0;
  state.faults.push(stored);
}

function consume(state: CloudState, f: StoredFault): void {
  f.left -= 1;
  if (f.left <= 0) state.faults = state.faults.filter((x) => x.id !== f.id);
}

/** An error fault due on this call (the call is already counted), consumed, as the error to throw. */
function takeError(state: CloudState, op: BackendOp): BackendError | undefined {
  const count = state.calls[op] ?? 0;
  const f = state.faults.find((x) => x.kind === "error" && x.op === op && count >= (x.baseCount ?? 0) + (x.nth ?? 1));
  if (f?.kind !== "error") return undefined;
  consume(state, f);
  const code = f.code ?? "unavailable";
  return new BackendError(code, f.message ?? `Simulated ${code} error on ${op} (injected fault).`);
}

function takeMatching<K extends "server-error" | "volume-error" | "ignore-placement">(
  state: CloudState,
  kind: K,
  obj: Named,
): Extract<StoredFault, { kind: K }> | undefined {
  const f = state.faults.find(
    (x): x is Extract<StoredFault, { kind: K }> => x.kind === kind && faultMatches(x, obj, TAG_MEMBER),
  );
  if (f) consume(state, f);
  return f;
}

function takeSlow(state: CloudState, op: BackendOp, obj: Named | undefined): number {
  const f = state.faults.find(
    (x) =>
      x.kind === "slow" &&
      (x.op === undefined ? TRANSITION_OPS.has(op) : x.op === op) &&
      (x.member === undefined || (obj !== undefined && faultMatches(x, obj, TAG_MEMBER))),
  );
  if (f?.kind !== "slow") return 0;
  consume(state, f);
  return f.ms;
}

function quotaUsage(state: CloudState): Required<Quota> {
  const u = { instances: 0, vcpus: 0, ramMb: 0, volumes: 0, gigabytes: 0 };
  for (const s of state.servers) {
    if (s.pending?.kind === "delete") continue;
    const flavorRef = s.pending?.kind === "resize" ? s.pending.flavorRef : s.flavorRef;
    const f = findFlavor(state.topology.flavors, flavorRef);
    u.instances += 1;
    u.vcpus += f?.vcpus ?? 0;
    u.ramMb += f?.ramMb ?? 0;
  }
  for (const v of state.volumes) {
    if (v.pending?.kind === "delete") continue;
    u.volumes += 1;
    u.gigabytes += v.sizeGb;
  }
  return u;
}

function remainingQuota(state: CloudState): Discovery["quota"] | undefined {
  const q = state.quota;
  if (!q) return undefined;
  const used = quotaUsage(state);
  const out: NonNullable<Discovery["quota"]> = {};
  for (const k of Object.keys(q) as (keyof Quota)[]) {
    const limit = q[k];
    if (limit !== undefined) out[k] = Math.max(0, limit - used[k]);
  }
  return out;
}

function checkQuota(state: CloudState, delta: Partial<Record<keyof Quota, number>>): void {
  const q = state.quota;
  if (!q) return;
  const used = quotaUsage(state);
  for (const k of Object.keys(delta).sort() as (keyof Quota)[]) {
    const want = delta[k] ?? 0;
    const limit = q[k];
    if (limit === undefined || want <= 0 || used[k] + want <= limit) continue;
    throw new BackendError(
      "quota_exceeded",
      `Quota exceeded for ${k}: requested ${want}, but already used ${used[k]} of ${limit}.`,
    );
  }
}

function checkTopology(t: Topology, dir: string): void {
  const problems: string[] = [];
  const hosts = new Set<string>();
  for (const h of t.hosts) {
    if (hosts.has(h.name)) problems.push(`host "${h.name}" appears twice`);
    hosts.add(h.name);
  }
  const backends = new Set<string>();
  for (const b of t.storageBackends) {
    if (backends.has(b.name)) problems.push(`storage backend "${b.name}" appears twice`);
    backends.add(b.name);
    if ((b.host === undefined) === (b.zone === undefined))
      problems.push(`storage backend "${b.name}" must set exactly one of host and zone`);
    if (b.host !== undefined && !hosts.has(b.host))
      problems.push(`storage backend "${b.name}" serves unknown host "${b.host}"`);
  }
  if (problems.length > 0) {
    throw new Error(
      problems
        .sort()
        .map((p) => `simulated cloud in "${dir}": topology: ${p}`)
        .join("\n"),
    );
  }
}

function mustServer(state: CloudState, id: string): ServerRecord {
  const s = state.servers.find((x) => x.id === id);
  if (!s) throw new BackendError("not_found", `Server "${id}" could not be found.`);
  return s;
}

function mustVolume(state: CloudState, id: string): VolumeRecord {
  const v = state.volumes.find((x) => x.id === id);
  if (!v) throw new BackendError("not_found", `Volume "${id}" could not be found.`);
  return v;
}

function requireServerStatus(s: ServerRecord, action: string, ok: string[]): void {
  if (s.pending?.kind === "delete")
    throw new BackendError("conflict", `Cannot ${action} server "${s.name}" while it is being deleted.`);
  if (!ok.includes(s.status)) {
    throw new BackendError(
      "conflict",
      `Cannot ${action} server "${s.name}" while it is ${s.status}; wait until it is ${ok.join(" or ")}.`,
    );
  }
}

function unknownRef(what: string, name: string, known: string[]): BackendError {
  return new BackendError(
    "bad_request",
    `${what} "${name}" could not be found; known: ${[...known].sort().join(", ") || "none"}.`,
  );
}

function hasTags(metadata: Record<string, string>, tags: Record<string, string>): boolean {
  return Object.entries(tags).every(([k, v]) => metadata[k] === v);
}

function byNameThenId(a: { name: string; id: string }, b: { name: string; id: string }): number {
  return a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
}

function pickResources(f: { vcpus: number; ramMb: number; diskGb: number }) {
  return { vcpus: f.vcpus, ramMb: f.ramMb, diskGb: f.diskGb };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function pickDefined<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
