// The simulated cloud: a full Backend on the local disk, with no server to run. It behaves like
// Nova/Cinder where the product depends on it: asynchronous builds, capacity accounting, server
// group semantics, ERROR with Nova's "No valid host" fault, 404 after delete, quotas, and faults
// and latency on request. State lives in `<dir>/cloud.db` (SQLite, database.ts); every call is one
// transaction: it settles what the clock has finished, runs, and writes the rows it changed.
import { randomBytes, randomUUID } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { definedOnly } from "../../model/records";
import type { Topology } from "../../model/topology";
import type {
  Backend,
  Discovery,
  RebuildOptions,
  ServerCreate,
  ServerGroupCreate,
  ServerGroupInfo,
  ServerInfo,
  VolumeCreate,
  VolumeInfo,
} from "../backend";
import { ApiSlots } from "./api-slots";
import { checkTopology } from "./checks";
import { DEFAULT_LATENCY, type Latency, type LatencyModel, settle } from "./clock";
import { CloudDatabase, defaultLog } from "./database";
import { DEFAULT_IMAGES, defaultSimulatedTopology } from "./default-topology";
import * as edits from "./edits";
import { addFault, type Named, TRANSITION_OPS, takeError, takeSlow } from "./fault-plan";
import { type BackendOp, type Fault, validateFault, validateFaults } from "./faults";
import { indexOf } from "./indexes";
import type { OpEnv, Tx, View } from "./op";
import {
  addProcessFaults,
  envFaultsFor,
  forgetProcessFaults,
  keepProcessFaults,
  withProcessFaults,
} from "./process-faults";
import { remainingQuota } from "./quota";
import { type RecreateOutcome, recreateCloud } from "./recreate";
import { backendUsage, hostUsage } from "./scheduler";
import { createServer, createServerGroup, deleteServer, rebuildServer, resizeServer, serverInfo } from "./servers";
import {
  type CloudSnapshot,
  type CloudState,
  cloudStateExists,
  isOwnFile,
  type Quota,
  SIM_STATE_VERSION,
} from "./store";
import { own, plain } from "./tracking";
import { byNameThenId, hasTags } from "./util";
import { attachVolume, createVolume, deleteVolume, detachVolume, extendVolume, volumeInfo } from "./volumes";

export type { RecreateOutcome } from "./recreate";

/**
 * A read whose answer is built field by field for the caller (serverInfo, volumeInfo copy what they
 * show): nothing of the state is in it to detach, so a list of a thousand skips that walk.
 */
const FRESH = true;

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
  /** Where the one line saying an earlier release's cloud.json was migrated goes; default stderr. */
  log?: (line: string) => void;
}

function freshState(options: Pick<SimulatedCloudOptions, "topology" | "images">, dir: string, now: number): CloudState {
  const topology = structuredClone(options.topology ?? defaultSimulatedTopology());
  checkTopology(topology, dir);
  return {
    version: SIM_STATE_VERSION,
    cloudId: randomUUID(),
    createdAt: now,
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
}

export class SimulatedCloud implements Backend {
  readonly kind = "simulated" as const;
  readonly description: string;
  readonly pollIntervalMs: number;
  readonly dir: string;
  readonly view: View;
  /** Stable, non-secret identity of this cloud (made when its directory was first used). */
  cloudId = "";
  private readonly latency: Latency;
  private readonly env: OpEnv;
  private readonly now: () => number;
  /** The API's concurrency, when the latency model sets one. */
  private readonly slots?: ApiSlots;
  private db!: CloudDatabase;
  private closed = false;

  private constructor(dir: string, options: SimulatedCloudOptions) {
    this.dir = dir;
    this.view = options.view ?? "admin";
    this.latency = { ...DEFAULT_LATENCY, ...definedOnly(options.latency ?? {}) };
    this.now = options.now ?? Date.now;
    const concurrency = options.latency?.concurrency;
    if (concurrency !== undefined) this.slots = new ApiSlots(concurrency, this.latency.perCallMs);
    this.env = { view: this.view, latency: this.latency };
    this.description = `simulated cloud in "${dir}" (${this.view} view)`;
    // A twelfth of the shortest transition, 5 to 50 ms: a wait sees its object done soon after it is.
    const l = this.latency;
    const shortest = Math.min(l.serverBuildMs, l.volumeCreateMs, l.attachMs, l.deleteMs);
    this.pollIntervalMs = Math.max(5, Math.min(50, Math.round(shortest / 12)));
  }

  static async open(options: SimulatedCloudOptions): Promise<SimulatedCloud> {
    const dir = path.resolve(options.dir);
    await fs.mkdir(dir, { recursive: true });
    const faults = validateFaults(options.faults ?? [], "simulated cloud faults");
    const envFaults = envFaultsFor(dir, options.env ?? process.env);
    const cloud = new SimulatedCloud(dir, options);
    const fresh = () => freshState(options, dir, cloud.now());
    cloud.db = await CloudDatabase.open(dir, { fresh, log: options.log ?? defaultLog });
    try {
      await cloud.db.transaction(({ state }) => {
        if (options.quota !== undefined) state.quota = { ...options.quota };
        for (const f of faults) addFault(state, f);
        addProcessFaults(dir, state, envFaults.faults);
        cloud.cloudId = state.cloudId;
      });
    } catch (e) {
      await cloud.close();
      throw e;
    }
    envFaults.taken();
    return cloud;
  }

  /**
   * `sim reset --force`: makes the directory hold a usable, empty cloud whatever it holds now. A
   * readable cloud is reset (same id, topology, images and quota); a missing one is created; an
   * unreadable state file is kept beside it as `<file>.broken-<time>` and a new cloud (new id)
   * takes its place, with `topology` or the default one.
   */
  static async recreate(options: Pick<SimulatedCloudOptions, "dir" | "topology" | "images">): Promise<RecreateOutcome> {
    const dir = path.resolve(options.dir);
    await fs.mkdir(dir, { recursive: true });
    forgetProcessFaults(dir);
    return recreateCloud(dir, () => freshState(options, dir, Date.now()));
  }

  /** Whether the directory holds a cloud's state file (readable or not). */
  static async exists(dir: string): Promise<boolean> {
    return cloudStateExists(path.resolve(dir));
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
    CloudDatabase.forget(path.resolve(dir));
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
    return this.transact((tx) => tx.state.calls[op] ?? 0);
  }

  /** Everything, as plain JSON, with finished transitions applied. */
  async snapshot(): Promise<CloudSnapshot> {
    return this.transact((tx) => plain(tx.state));
  }

  /** Deletes every server, volume, group and fault, and the call counters; keeps topology, images, quota. */
  async reset(): Promise<void> {
    await this.transact((tx) => {
      Object.assign(tx.state, { servers: [], volumes: [], serverGroups: [], faults: [], calls: {} });
    });
  }

  async close(): Promise<void> {
    if (this.closed || !this.db) return;
    this.closed = true;
    this.db.release();
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
          topology: { flavors: plain(state.topology.flavors), hosts: [], storageBackends: [] },
          ...base,
        };
      }
      const used = hostUsage(state);
      const bUsed = backendUsage(state);
      const topology = plain(state.topology);
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
    return this.call("createServerGroup", (tx) => createServerGroup(tx, req));
  }

  getServerGroup(id: string): Promise<ServerGroupInfo | undefined> {
    return this.call("getServerGroup", ({ state }) => {
      const g = indexOf(state).serverGroup(id);
      return g && plain(g);
    });
  }

  findServerGroups(tags: Record<string, string>): Promise<ServerGroupInfo[]> {
    return this.call("findServerGroups", ({ state }) =>
      state.serverGroups
        .filter((g) => hasTags(g.metadata, tags))
        .sort(byNameThenId)
        .map((g) => plain(g)),
    );
  }

  deleteServerGroup(id: string): Promise<void> {
    return this.call("deleteServerGroup", ({ state }) => {
      state.serverGroups = state.serverGroups.filter((g) => g.id !== id);
    });
  }

  createServer(req: ServerCreate): Promise<ServerInfo> {
    return this.call("createServer", (tx) => createServer(tx, this.env, req));
  }

  getServer(id: string): Promise<ServerInfo | undefined> {
    return this.call("getServer", ({ state }) => this.showServer(state, id), FRESH);
  }

  getServers(ids: readonly string[]): Promise<(ServerInfo | undefined)[]> {
    return this.call("getServers", ({ state }) => ids.map((id) => this.showServer(state, id)), FRESH);
  }

  findServers(tags: Record<string, string>): Promise<ServerInfo[]> {
    return this.call(
      "findServers",
      ({ state }) =>
        state.servers
          .filter((s) => hasTags(s.metadata, tags))
          .sort(byNameThenId)
          .map((s) => serverInfo(state, s, this.view)),
      FRESH,
    );
  }

  deleteServer(id: string): Promise<void> {
    return this.call("deleteServer", (tx) => deleteServer(tx, this.env, id));
  }

  resizeServer(id: string, flavorRef: string): Promise<void> {
    return this.call("resizeServer", (tx) => resizeServer(tx, this.env, id, flavorRef));
  }

  rebuildServer(id: string, imageRef: string, options?: RebuildOptions): Promise<void> {
    return this.call("rebuildServer", (tx) => rebuildServer(tx, this.env, id, imageRef, options));
  }
  updateServerMetadata(id: string, set: Record<string, string>, remove: string[]): Promise<void> {
    return this.call("updateServerMetadata", (tx) => edits.updateServerMetadata(tx, id, set, remove));
  }
  addSecurityGroup(serverId: string, group: string): Promise<void> {
    return this.call("addSecurityGroup", (tx) => edits.addSecurityGroup(tx, serverId, group));
  }
  removeSecurityGroup(serverId: string, group: string): Promise<void> {
    return this.call("removeSecurityGroup", (tx) => edits.removeSecurityGroup(tx, serverId, group));
  }
  attachNetwork(serverId: string, network: string): Promise<void> {
    return this.call("attachNetwork", (tx) => edits.attachNetwork(tx, serverId, network));
  }
  detachNetwork(serverId: string, network: string): Promise<void> {
    return this.call("detachNetwork", (tx) => edits.detachNetwork(tx, serverId, network));
  }

  createVolume(req: VolumeCreate): Promise<VolumeInfo> {
    return this.call("createVolume", (tx) => createVolume(tx, this.env, req));
  }

  getVolume(id: string): Promise<VolumeInfo | undefined> {
    return this.call("getVolume", ({ state }) => this.showVolume(state, id), FRESH);
  }

  getVolumes(ids: readonly string[]): Promise<(VolumeInfo | undefined)[]> {
    return this.call("getVolumes", ({ state }) => ids.map((id) => this.showVolume(state, id)), FRESH);
  }

  findVolumes(tags: Record<string, string>): Promise<VolumeInfo[]> {
    return this.call(
      "findVolumes",
      ({ state }) =>
        state.volumes
          .filter((v) => hasTags(v.metadata, tags))
          .sort(byNameThenId)
          .map((v) => volumeInfo(v, this.view)),
      FRESH,
    );
  }

  extendVolume(id: string, sizeGb: number): Promise<void> {
    return this.call("extendVolume", (tx) => extendVolume(tx, this.env, id, sizeGb));
  }
  retypeVolume(id: string, volumeType: string): Promise<void> {
    return this.call("retypeVolume", (tx) => edits.retypeVolume(tx, this.env, id, volumeType));
  }
  updateVolumeMetadata(id: string, set: Record<string, string>, remove: string[]): Promise<void> {
    return this.call("updateVolumeMetadata", (tx) => edits.updateVolumeMetadata(tx, id, set, remove));
  }

  deleteVolume(id: string): Promise<void> {
    return this.call("deleteVolume", (tx) => deleteVolume(tx, this.env, id));
  }

  attachVolume(serverId: string, volumeId: string): Promise<void> {
    return this.call("attachVolume", (tx) => attachVolume(tx, this.env, serverId, volumeId));
  }

  detachVolume(serverId: string, volumeId: string): Promise<void> {
    return this.call("detachVolume", (tx) => detachVolume(tx, this.env, serverId, volumeId));
  }

  // ---- internals ----

  /** A server as a read shows it to this view; undefined when there is none. */
  private showServer(state: CloudState, id: string): ServerInfo | undefined {
    const s = indexOf(state).server(id);
    return s && serverInfo(state, s, this.view);
  }

  private showVolume(state: CloudState, id: string): VolumeInfo | undefined {
    const v = indexOf(state).volume(id);
    return v && volumeInfo(v, this.view);
  }

  /** One transaction: settle, run `fn`, write what changed (helpers: not counted as calls). */
  private transact<T>(fn: (tx: Tx) => T): Promise<T> {
    return this.db.transaction((db) => {
      const state = withProcessFaults(this.dir, db.state);
      const now = this.now();
      settle(state, now, db.due(now));
      const result = own(fn({ state, now, slow: () => 0 }));
      keepProcessFaults(this.dir, state);
      return result;
    });
  }

  /**
   * One API call: latency, counting, injected errors and delays, and rollback of a failed mutation.
   * What it returns leaves the state behind (`own`), unless `fresh`: built anew for the caller.
   */
  private async call<T>(op: BackendOp, fn: (tx: Tx) => T, fresh = false): Promise<T> {
    const window = this.slots?.reserve();
    const wait = window ? window.effectAt - performance.now() : this.latency.perCallMs;
    if (wait > 0) await sleep(wait);
    let delayMs = 0;
    const outcome = await this.db.transaction((db) => {
      const state = withProcessFaults(this.dir, db.state);
      const now = this.now();
      settle(state, now, db.due(now));
      state.calls[op] = (state.calls[op] ?? 0) + 1;
      const injected = takeError(state, op);
      if (injected) {
        keepProcessFaults(this.dir, state);
        return { error: injected as unknown } as const;
      }
      // An operation that throws halfway leaves nothing half-done: what it changed is undone
      // (the call stays counted).
      db.checkpoint();
      try {
        const answer = fn({ state, now, slow: (obj?: Named) => takeSlow(state, op, obj) });
        const value = fresh ? answer : own(answer);
        if (!TRANSITION_OPS.has(op)) delayMs = takeSlow(state, op, undefined);
        keepProcessFaults(this.dir, state);
        return { value } as const;
      } catch (e) {
        db.rollback();
        keepProcessFaults(this.dir, state);
        return { error: e } as const;
      }
    });
    if (delayMs > 0) {
      // The answer comes, and the slot frees, at one moment: a call that waits for the slot takes
      // effect no earlier than this one answers.
      const until = performance.now() + delayMs;
      if (window) this.slots?.holdUntil(window.slot, until);
      await sleep(until - performance.now());
    }
    if ("error" in outcome) throw outcome.error;
    return outcome.value;
  }
}
