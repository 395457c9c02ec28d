// The OpenStack backend: the Backend interface over Nova, Cinder, Glance and Placement.

import { setTimeout as sleep } from "node:timers/promises";
import { stripUrlCredentials } from "../../model/text";
import {
  type Backend,
  BackendError,
  type CloudLocks,
  type Discovery,
  type RebuildOptions,
  type ServerCreate,
  type ServerGroupCreate,
  type ServerGroupInfo,
  type ServerInfo,
  TAG_CLUSTER,
  type VolumeCreate,
  type VolumeInfo,
} from "../backend";
import { CinderClient, GlanceClient, PlacementClient } from "./cinder-client";
import { KeypairLocks } from "./cluster-marker";
import type { OpenStackConfig } from "./config";
import { readCaBundle } from "./config-error";
import { availableZones, flavorsFrom, hostZonesFrom, pinnedTopology, quotaFrom } from "./discovery";
import { HttpClient, type HttpOptions } from "./http";
import { at } from "./nova";
import { NovaClient } from "./nova-client";
import { Session } from "./session";

/** Nova and Glance take an image id as is; anything else is looked up by name. */
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export interface ConnectOptions {
  /** undici options and test hooks (MockAgent, sleep). */
  http?: HttpOptions;
  /** Poll interval for resize confirmation and the controller (ms). */
  pollIntervalMs?: number;
  /** Deadline for a resize to reach VERIFY_RESIZE, and for a detached port to go (ms). */
  resizeTimeoutMs?: number;
  now?: () => number;
}

export class OpenStackBackend implements Backend {
  readonly kind = "openstack" as const;
  readonly description: string;
  /** One line for the user about a setting not used as written (credentials in a URL), to show once. */
  readonly notice: string | undefined;
  readonly pollIntervalMs: number;
  readonly nova: NovaClient;
  readonly cinder: CinderClient;
  /** Runs from several machines on one cluster are serialized by a Nova keypair per cluster (cluster-marker.ts). */
  readonly cloudLocks: CloudLocks;
  private readonly glance: GlanceClient;
  /** The cluster of each server and volume this backend has shown: what a batched read lists. */
  private readonly clusters = new ClusterOf();
  private readonly placement: PlacementClient;

  private constructor(
    private readonly cfg: OpenStackConfig,
    private readonly session: Session,
    private readonly opts: ConnectOptions,
  ) {
    const cloud = cfg.cloudName ? ` '${cfg.cloudName}'` : "";
    this.description = `openstack cloud${cloud}${cfg.region ? ` region ${cfg.region}` : ""}`;
    this.notice = cfg.notice;
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.nova = new NovaClient(session, cfg.networks);
    this.cinder = new CinderClient(session);
    this.cloudLocks = new KeypairLocks(this.nova, () => session.projectId(), cfg.cloudName);
    this.glance = new GlanceClient(session);
    this.placement = new PlacementClient(session);
  }

  /** Authenticates and negotiates the compute microversion, so bad credentials fail here, not mid-create. */
  static async connect(cfg: OpenStackConfig, opts: ConnectOptions = {}): Promise<OpenStackBackend> {
    const ca = readCaBundle(cfg);
    const http = new HttpClient({ ...(ca ? { ca } : {}), insecure: cfg.insecure, ...opts.http });
    const session = new Session(cfg, http, opts.now);
    const backend = new OpenStackBackend(cfg, session, opts);
    try {
      await backend.nova.microversion();
    } catch (err) {
      await session.close();
      throw err;
    }
    return backend;
  }

  /**
   * Non-secret identity of the cloud and project, for the cluster's state: Keystone's URL (or the
   * compute endpoint without Keystone), the project the token is scoped to, and the region. The same
   * project reached with other credentials (password, application credential) is the same cloud.
   * It goes into the state file, outputs and messages: a URL's `user:password@` never does (a config
   * not read through resolveOpenStackConfig may still carry one).
   */
  async identity(): Promise<string> {
    const where = "authUrl" in this.cfg.auth ? this.cfg.auth.authUrl : (this.cfg.endpointOverrides.compute ?? "noauth");
    const project = (await this.session.projectId()) ?? "unscoped";
    return `openstack:${stripUrlCredentials(where).replace(/\/+$/, "")}|project=${project}|region=${this.cfg.region ?? ""}`;
  }

  async imageProblems(refs: string[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const ref of refs) {
      const problem = await this.glance.problem(ref);
      if (problem !== undefined) out[ref] = problem;
    }
    return out;
  }

  /**
   * Nova reports a server's image by id while a spec may name it: the id each ref means, for the
   * controller to compare by identity. An id stands for itself; a name that matches no image or
   * several is left out (the controller then compares it as written, and the image check refuses it).
   */
  async imageIds(refs: string[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const ref of refs) {
      if (UUID.test(ref)) {
        out[ref] = ref.toLowerCase();
        continue;
      }
      try {
        out[ref] = (await this.glance.imageId(ref)).toLowerCase();
      } catch (err) {
        if (!(err instanceof BackendError && err.code === "bad_request")) throw err;
      }
    }
    return out;
  }

  async discover(): Promise<Discovery> {
    const [hypervisors, flavors, novaLimits, cinderLimits] = await Promise.all([
      this.nova.hypervisors(),
      this.nova.flavors(),
      this.nova.limits(),
      this.cinder.limits().catch(() => undefined),
    ]);
    const quota = quotaFrom(novaLimits, cinderLimits);
    if (hypervisors === undefined) {
      // Not an admin: zones only; Nova places hosts, guided by server groups and hints.
      const zones = availableZones(await this.nova.zones(false));
      return {
        mode: "delegated",
        topology: { flavors: flavorsFrom(flavors), hosts: [], storageBackends: [] },
        zones,
        ...(quota ? { quota } : {}),
      };
    }
    const v = await this.nova.microversion();
    const [zoneDetail, aggregates, pools, volumeHostZones, providers] = await Promise.all([
      this.nova.zones(true),
      this.nova.aggregates(),
      this.cinder.pools().catch(() => undefined),
      this.cinder.volumeServiceZones().catch(() => ({})),
      // From 2.88 hypervisors no longer report capacity and usage: Placement has them.
      at(v, 88) ? this.placement.inventories() : Promise.resolve([]),
    ]);
    const zones = availableZones(zoneDetail);
    const topology = pinnedTopology({
      hypervisors,
      providers,
      hostZones: hostZonesFrom(zoneDetail),
      aggregates,
      rackKey: this.cfg.rackKey,
      pools: pools ?? [],
      volumeHostZones,
      flavors,
      defaultZone: zones[0] ?? "nova",
    });
    return { mode: "pinned", topology, zones, ...(quota ? { quota } : {}) };
  }

  createServerGroup(req: ServerGroupCreate): Promise<ServerGroupInfo> {
    return this.nova.createServerGroup(req);
  }
  getServerGroup(id: string): Promise<ServerGroupInfo | undefined> {
    return this.nova.getServerGroup(id);
  }
  findServerGroups(tags: Record<string, string>): Promise<ServerGroupInfo[]> {
    return this.nova.findServerGroups(tags);
  }
  deleteServerGroup(id: string): Promise<void> {
    return this.nova.deleteServerGroup(id);
  }

  async createServer(req: ServerCreate): Promise<ServerInfo> {
    return this.clusters.seen(await this.nova.createServer(req, (name) => this.glance.imageId(name)));
  }
  async getServer(id: string): Promise<ServerInfo | undefined> {
    return this.clusters.seen(await this.nova.getServer(id), id);
  }
  /**
   * One list of the cluster's servers by name (the product names them `<cluster>-<member>`; Nova's
   * `name` filter is a regular expression): for ids of servers of one cluster this backend has shown.
   * One that isn't listed (gone, or renamed) is read on its own; other ids are read one by one.
   */
  getServers(ids: readonly string[]): Promise<(ServerInfo | undefined)[]> {
    return this.clusters.readAll(
      ids,
      (cluster) => this.nova.listServersNamed(`^${escapeRegExp(cluster)}-`),
      (id) => this.getServer(id),
    );
  }
  async findServers(tags: Record<string, string>): Promise<ServerInfo[]> {
    return (await this.nova.findServers(tags)).map((s) => this.clusters.seen(s));
  }
  /** From Nova's os-interface: this backend doesn't talk to Neutron itself. */
  serverPorts(id: string): Promise<string[] | undefined> {
    return this.nova.interfaces(id);
  }
  deleteServer(id: string): Promise<void> {
    return this.nova.deleteServer(id);
  }

  async resizeServer(id: string, flavorRef: string): Promise<void> {
    const flavorId = await this.nova.flavorId(flavorRef);
    const before = await this.nova.getServer(id);
    if (before && (await this.nova.isFlavor(before.flavorRef, flavorId))) {
      // Nova refuses a resize to the flavor a server has; and its ACTIVE could never be told from the end of one.
      throw new BackendError("bad_request", `nova: server ${id} already has flavor "${flavorRef}"`);
    }
    await this.nova.action(id, { resize: { flavorRef: flavorId } });
    const deadline = this.now() + (this.opts.resizeTimeoutMs ?? 600_000);
    for (;;) {
      const s = await this.nova.getServer(id);
      if (!s) throw new BackendError("not_found", `nova: server ${id} disappeared during resize`);
      if (s.status === "VERIFY_RESIZE") break;
      if (s.status === "ERROR") {
        throw new BackendError("internal", `nova: resize of server ${id} failed${s.fault ? `: ${s.fault}` : ""}`);
      }
      // A cloud with resize_confirm_window may confirm by itself. Nova shows the flavor's name (2.47+),
      // the caller may have given its id: compare flavors, not strings.
      if (s.status === "ACTIVE" && (await this.nova.isFlavor(s.flavorRef, flavorId))) return;
      // Nova shows RESIZE from the moment it accepts a resize: ACTIVE with another flavor is a resize that
      // was undone (no host could take the new flavor), not one still to start. Waiting would never end.
      if (s.status === "ACTIVE") {
        throw new BackendError(
          "conflict",
          `nova: the resize of server ${id} to flavor "${flavorRef}" did not happen: it is ACTIVE with flavor "${s.flavorRef}" again (no host could take it? see its instance actions)`,
        );
      }
      if (this.now() > deadline) {
        throw new BackendError("timeout", `nova: server ${id} did not reach VERIFY_RESIZE (status ${s.status})`);
      }
      await sleep(this.pollIntervalMs);
    }
    await this.nova.action(id, { confirmResize: null });
  }

  async rebuildServer(id: string, imageRef: string, options: RebuildOptions = {}): Promise<void> {
    const image = UUID.test(imageRef) ? imageRef : await this.glance.imageId(imageRef);
    await this.nova.rebuild(id, image, options);
  }

  updateServerMetadata(id: string, set: Record<string, string>, remove: string[]): Promise<void> {
    return this.nova.updateMetadata(id, set, remove);
  }

  async addSecurityGroup(serverId: string, group: string): Promise<void> {
    try {
      await this.nova.addSecurityGroup(serverId, group);
    } catch (err) {
      // Already on the server (Nova: 400 "already associated") is success; anything else is not.
      if (err instanceof BackendError && (err.code === "bad_request" || err.code === "conflict")) {
        const s = await this.nova.getServer(serverId);
        if (s?.securityGroups?.includes(group)) return;
      }
      throw err;
    }
  }

  async removeSecurityGroup(serverId: string, group: string): Promise<void> {
    try {
      await this.nova.removeSecurityGroup(serverId, group);
    } catch (err) {
      // Not on the server (400), or no such group at all (404): it is not there, which is what was asked.
      if (err instanceof BackendError && ["bad_request", "conflict", "not_found"].includes(err.code)) {
        const s = await this.nova.getServer(serverId);
        if (s && !s.securityGroups?.includes(group)) return;
      }
      throw err;
    }
  }

  async attachNetwork(serverId: string, network: string): Promise<void> {
    const ports = await this.nova.interfaceAttachments(serverId);
    if (ports === undefined) throw new BackendError("not_found", `nova: server ${serverId} does not exist`);
    if (ports.some((p) => p.network === network)) return;
    await this.nova.attachInterface(serverId, network);
  }

  /**
   * Nova unplugs a port after it answers: this waits until os-interface no longer lists it, then until
   * the server no longer shows its addresses (Nova's network info cache catches up a little later,
   * and a read before then would put the dropped network in the member's outputs).
   */
  async detachNetwork(serverId: string, network: string): Promise<void> {
    const onIt = async () => (await this.nova.interfaceAttachments(serverId))?.filter((p) => p.network === network);
    const ports = await onIt();
    if (!ports || ports.length === 0) return;
    for (const p of ports) await this.nova.detachInterface(serverId, p.port);
    const deadline = this.now() + (this.opts.resizeTimeoutMs ?? 600_000);
    for (;;) {
      await sleep(this.pollIntervalMs);
      const left = await onIt();
      if (!left || left.length === 0) break;
      if (this.now() > deadline) {
        throw new BackendError(
          "timeout",
          `nova: server ${serverId} still has port ${left.map((p) => p.port).join(", ")} on network ${network} after detaching it`,
        );
      }
    }
    const gone = new Set(ports.flatMap((p) => p.fixedIps));
    while (gone.size > 0) {
      const s = await this.nova.getServer(serverId);
      const shown = Object.values(s?.addresses ?? {}).flatMap((a) => a.fixed.filter((ip) => gone.has(ip)));
      if (shown.length === 0) return;
      if (this.now() > deadline) {
        throw new BackendError(
          "timeout",
          `nova: server ${serverId} still shows ${shown.join(", ")} of network ${network} after its port was detached (Nova's network info cache did not catch up)`,
        );
      }
      await sleep(this.pollIntervalMs);
    }
  }

  async createVolume(req: VolumeCreate): Promise<VolumeInfo> {
    return this.clusters.seen(await this.cinder.createVolume(req));
  }
  async getVolume(id: string): Promise<VolumeInfo | undefined> {
    return this.clusters.seen(await this.cinder.getVolume(id), id);
  }
  /** One list of the cluster's volumes (Cinder's `metadata` filter on its tag), as getServers. */
  getVolumes(ids: readonly string[]): Promise<(VolumeInfo | undefined)[]> {
    return this.clusters.readAll(
      ids,
      (cluster) => this.cinder.findVolumes({ [TAG_CLUSTER]: cluster }, true),
      (id) => this.getVolume(id),
    );
  }
  async findVolumes(tags: Record<string, string>): Promise<VolumeInfo[]> {
    return (await this.cinder.findVolumes(tags)).map((v) => this.clusters.seen(v));
  }

  async extendVolume(id: string, sizeGb: number): Promise<void> {
    const v = await this.cinder.getVolume(id);
    if (!v) throw new BackendError("not_found", `cinder: volume ${id} does not exist`);
    if (sizeGb < v.sizeGb) {
      throw new BackendError(
        "bad_request",
        `cinder: volume ${id} is ${v.sizeGb} GB and cannot shrink to ${sizeGb} GB; hint: create a new volume`,
      );
    }
    if (sizeGb === v.sizeGb) return;
    await this.cinder.extendVolume(id, sizeGb);
  }

  retypeVolume(id: string, volumeType: string): Promise<void> {
    return this.cinder.retypeVolume(id, volumeType);
  }

  updateVolumeMetadata(id: string, set: Record<string, string>, remove: string[]): Promise<void> {
    return this.cinder.updateMetadata(id, set, remove);
  }

  deleteVolume(id: string): Promise<void> {
    return this.cinder.deleteVolume(id);
  }

  async attachVolume(serverId: string, volumeId: string): Promise<void> {
    try {
      await this.nova.attachVolume(serverId, volumeId);
    } catch (err) {
      // Attaching an already attached pair is success.
      if (err instanceof BackendError && (err.code === "conflict" || err.code === "bad_request")) {
        const v = await this.cinder.getVolume(volumeId);
        if (v?.attachedTo.includes(serverId)) return;
      }
      throw err;
    }
  }

  async detachVolume(serverId: string, volumeId: string): Promise<void> {
    try {
      await this.nova.detachVolume(serverId, volumeId);
    } catch (err) {
      // "not attached" is success.
      if (err instanceof BackendError && (err.code === "conflict" || err.code === "bad_request")) {
        const v = await this.cinder.getVolume(volumeId);
        if (!v?.attachedTo.includes(serverId)) return;
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.session.close();
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }
}

/** Object id → the cluster its tag names, for every object a backend has shown. */
class ClusterOf {
  private readonly byId = new Map<string, string>();

  /** Notes the object's cluster; a read of `id` that found nothing forgets it (it is gone). */
  seen<T extends { id: string; metadata: Record<string, string> } | undefined>(obj: T, id?: string): T {
    const cluster = obj?.metadata[TAG_CLUSTER];
    if (obj && cluster !== undefined) this.byId.set(obj.id, cluster);
    else if (!obj && id !== undefined) this.byId.delete(id);
    return obj;
  }

  /**
   * The objects by id, from one `list` of their cluster where they share one this backend knows;
   * one the list doesn't show (gone, renamed), or every one when the cloud refuses the list's filter
   * (400) or the ids aren't of one known cluster, is read on its own.
   */
  async readAll<T extends { id: string; metadata: Record<string, string> }>(
    ids: readonly string[],
    list: (cluster: string) => Promise<T[]>,
    one: (id: string) => Promise<T | undefined>,
  ): Promise<(T | undefined)[]> {
    const first = ids[0] === undefined ? undefined : this.byId.get(ids[0]);
    const cluster = first !== undefined && ids.every((id) => this.byId.get(id) === first) ? first : undefined;
    const listed = new Map<string, T>();
    if (cluster !== undefined) {
      try {
        for (const obj of await list(cluster)) listed.set(obj.id, this.seen(obj));
      } catch (e) {
        if (!(e instanceof BackendError && e.code === "bad_request")) throw e;
      }
    }
    return Promise.all(ids.map((id) => listed.get(id) ?? one(id)));
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
