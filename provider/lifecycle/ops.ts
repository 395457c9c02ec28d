// The backend as the controller calls it: every call goes through one concurrency limit, and
// idempotent calls (reads, deletes, attach/detach) are retried when the backend says a retry may
// succeed. Creates, resizes, rebuilds and extends are never retried blindly: a failed create is
// handled by rollback, and a later apply adopts whatever did get made.
//
// One owner per failure. A transient HTTP failure is retried by the OpenStack HTTP client alone (at
// most 1 + its maxRetries sends) and arrives here marked `retryHandled`: Ops does not retry it again.
// Ops retries, at most ATTEMPTS calls in all, only retryable errors no layer below has retried:
// - the simulated cloud's, e.g. an injected "unavailable" fault (its 503): the cloud has no transport
//   and must fail each faulted call exactly as injected (its tests count calls), so Ops is the one
//   place its transient errors are retried, as the HTTP client is for OpenStack's;
// - OpenStack failures the HTTP client won't resend because a POST may have reached the server (a 500
//   or a reset on an attach), where Ops knows the call is idempotent.
import pLimit = require("p-limit");

import {
  type Backend,
  BackendError,
  type RebuildOptions,
  type ServerCreate,
  type ServerGroupCreate,
  type ServerGroupInfo,
  type ServerInfo,
  type VolumeCreate,
  type VolumeInfo,
} from "../backends/backend";

const ATTEMPTS = 3;
const MAX_BACKOFF_MS = 2000;

/**
 * Whether the layer that raised the error already applied its own retries to it (the OpenStack HTTP
 * client's HttpError sets `retryHandled`): retrying it here would multiply the attempts.
 */
function retriedBelow(e: BackendError): boolean {
  return (e as { retryHandled?: unknown }).retryHandled === true;
}

export class Ops {
  private readonly limit: pLimit.Limit;
  constructor(
    readonly backend: Backend,
    concurrency: number,
  ) {
    this.limit = pLimit(Math.max(1, concurrency));
  }

  private async run<T>(fn: () => Promise<T>, idempotent: boolean): Promise<T> {
    let delay = Math.max(1, this.backend.pollIntervalMs);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.limit(fn);
      } catch (e) {
        if (!idempotent || attempt >= ATTEMPTS || !(e instanceof BackendError) || !e.retryable) throw e;
        if (retriedBelow(e)) throw e;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(MAX_BACKOFF_MS, delay * 2);
    }
  }

  discover() {
    return this.run(() => this.backend.discover(), true);
  }
  createServerGroup(req: ServerGroupCreate): Promise<ServerGroupInfo> {
    return this.run(() => this.backend.createServerGroup(req), false);
  }
  getServerGroup(id: string): Promise<ServerGroupInfo | undefined> {
    return this.run(() => this.backend.getServerGroup(id), true);
  }
  findServerGroups(tags: Record<string, string>): Promise<ServerGroupInfo[]> {
    return this.run(() => this.backend.findServerGroups(tags), true);
  }
  deleteServerGroup(id: string): Promise<void> {
    return this.run(() => this.backend.deleteServerGroup(id), true);
  }
  createServer(req: ServerCreate): Promise<ServerInfo> {
    return this.run(() => this.backend.createServer(req), false);
  }
  getServer(id: string): Promise<ServerInfo | undefined> {
    return this.run(() => this.backend.getServer(id), true);
  }
  findServers(tags: Record<string, string>): Promise<ServerInfo[]> {
    return this.run(() => this.backend.findServers(tags), true);
  }
  deleteServer(id: string): Promise<void> {
    return this.run(() => this.backend.deleteServer(id), true);
  }
  resizeServer(id: string, flavorRef: string): Promise<void> {
    return this.run(() => this.backend.resizeServer(id, flavorRef), false);
  }
  rebuildServer(id: string, imageRef: string, options?: RebuildOptions): Promise<void> {
    return this.run(() => this.backend.rebuildServer(id, imageRef, options), false);
  }
  // Setting metadata and adding or removing a group are idempotent: a retry finds them made.
  updateServerMetadata(id: string, set: Record<string, string>, remove: string[]): Promise<void> {
    return this.run(() => this.backend.updateServerMetadata(id, set, remove), true);
  }
  addSecurityGroup(serverId: string, group: string): Promise<void> {
    return this.run(() => this.backend.addSecurityGroup(serverId, group), true);
  }
  removeSecurityGroup(serverId: string, group: string): Promise<void> {
    return this.run(() => this.backend.removeSecurityGroup(serverId, group), true);
  }
  retypeVolume(id: string, volumeType: string): Promise<void> {
    return this.run(() => this.backend.retypeVolume(id, volumeType), false);
  }
  updateVolumeMetadata(id: string, set: Record<string, string>, remove: string[]): Promise<void> {
    return this.run(() => this.backend.updateVolumeMetadata(id, set, remove), true);
  }
  createVolume(req: VolumeCreate): Promise<VolumeInfo> {
    return this.run(() => this.backend.createVolume(req), false);
  }
  getVolume(id: string): Promise<VolumeInfo | undefined> {
    return this.run(() => this.backend.getVolume(id), true);
  }
  findVolumes(tags: Record<string, string>): Promise<VolumeInfo[]> {
    return this.run(() => this.backend.findVolumes(tags), true);
  }
  extendVolume(id: string, sizeGb: number): Promise<void> {
    return this.run(() => this.backend.extendVolume(id, sizeGb), false);
  }
  deleteVolume(id: string): Promise<void> {
    return this.run(() => this.backend.deleteVolume(id), true);
  }
  attachVolume(serverId: string, volumeId: string): Promise<void> {
    return this.run(() => this.backend.attachVolume(serverId, volumeId), true);
  }
  detachVolume(serverId: string, volumeId: string): Promise<void> {
    return this.run(() => this.backend.detachVolume(serverId, volumeId), true);
  }
  /** A server's port ids where the backend reads them apart (Backend.serverPorts); undefined: it doesn't. */
  serverPorts(serverId: string): Promise<string[] | undefined> {
    const read = this.backend.serverPorts?.bind(this.backend);
    return read ? this.run(() => read(serverId), true) : Promise.resolve(undefined);
  }
}
