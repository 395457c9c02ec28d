// The backend as the controller calls it: every call goes through one concurrency limit (changes
// before reads when calls queue: a create that waits delays its whole chain, a poll that waits
// doesn't), and idempotent calls (reads, deletes, attach/detach) are retried when the backend says a retry may
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
import { copyPlain } from "../model/records";

const ATTEMPTS = 3;
const MAX_BACKOFF_MS = 2000;

/**
 * Whether the layer that raised the error already applied its own retries to it (the OpenStack HTTP
 * client's HttpError sets `retryHandled`): retrying it here would multiply the attempts.
 */
function retriedBelow(e: BackendError): boolean {
  return (e as { retryHandled?: unknown }).retryHandled === true;
}

/** At most `max` calls in flight; of the calls waiting for a slot, changes go before reads. */
class Slots {
  private inFlight = 0;
  private readonly waiting = { change: [] as (() => void)[], read: [] as (() => void)[] };
  constructor(readonly max: number) {}

  async run<T>(fn: () => Promise<T>, read: boolean): Promise<T> {
    if (this.inFlight < this.max) this.inFlight++;
    // Handed the slot of a call that ended (next()).
    else await new Promise<void>((resolve) => this.waiting[read ? "read" : "change"].push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.change.shift() ?? this.waiting.read.shift();
      if (next) next();
      else this.inFlight--;
    }
  }
}

/** At most this many objects in one batched read (Nova's and Cinder's default page). */
const MAX_BATCH = 1000;

type Pending<T> = { resolve: (value: T | undefined) => void; reject: (e: unknown) => void }[];

/**
 * Reads of one kind asked for in one turn of the event loop, sent together: one call of the
 * backend's batched read (getServers) for two ids or more, the single read for one. Every wait that
 * polls at the same tick (waits poll on a shared clock grid when the backend reads in batches) costs
 * the cloud one call, not one per object.
 */
class ReadBatch<T> {
  private queue = new Map<string, Pending<T>>();
  constructor(
    private readonly one: (id: string) => Promise<T | undefined>,
    private readonly many: (ids: string[]) => Promise<(T | undefined)[]>,
  ) {}

  read(id: string): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      if (this.queue.size === 0) setImmediate(() => this.flush());
      const waiting = this.queue.get(id);
      if (waiting) waiting.push({ resolve, reject });
      else this.queue.set(id, [{ resolve, reject }]);
    });
  }

  private flush(): void {
    const batch = [...this.queue];
    this.queue = new Map();
    for (let i = 0; i < batch.length; i += MAX_BATCH) {
      const part = batch.slice(i, i + MAX_BATCH);
      const [first] = part;
      const answer =
        part.length === 1 && first ? this.one(first[0]).then((v) => [v]) : this.many(part.map(([id]) => id));
      answer.then(
        (values) => {
          part.forEach(([, waiting], k) => {
            const value = values[k];
            // Each reader gets its own copy: one may keep what it read while another changes its own.
            waiting.forEach((w, j) => {
              w.resolve(j === 0 || value === undefined ? value : copyPlain(value));
            });
          });
        },
        (e) => {
          for (const [, waiting] of part) for (const w of waiting) w.reject(e);
        },
      );
    }
  }
}

export class Ops {
  private readonly slots: Slots;
  private readonly serverReads?: ReadBatch<ServerInfo>;
  private readonly volumeReads?: ReadBatch<VolumeInfo>;
  /**
   * What a create just returned, for the poll that follows it in the same turn of the event loop:
   * that read can't show anything newer (OpenStack's create has just read the server itself).
   */
  private readonly justMade = new Map<string, ServerInfo | VolumeInfo>();

  constructor(
    readonly backend: Backend,
    concurrency: number,
  ) {
    this.slots = new Slots(Math.max(1, concurrency));
    const { getServers, getVolumes } = backend;
    if (getServers)
      this.serverReads = new ReadBatch(
        (id) => this.run(() => backend.getServer(id), true, true),
        (ids) => this.run(() => getServers.call(backend, ids), true, true),
      );
    if (getVolumes)
      this.volumeReads = new ReadBatch(
        (id) => this.run(() => backend.getVolume(id), true, true),
        (ids) => this.run(() => getVolumes.call(backend, ids), true, true),
      );
  }

  /** How many calls are sent at once (the rest wait for a slot). */
  get concurrency(): number {
    return this.slots.max;
  }

  /** Whether reads of many objects cost one call (waits then poll together, at a steady pace). */
  get readsInBatches(): boolean {
    return this.serverReads !== undefined && this.volumeReads !== undefined;
  }

  private async run<T>(fn: () => Promise<T>, idempotent: boolean, read = false): Promise<T> {
    let delay = Math.max(1, this.backend.pollIntervalMs);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.slots.run(fn, read);
      } catch (e) {
        if (!idempotent || attempt >= ATTEMPTS || !(e instanceof BackendError) || !e.retryable) throw e;
        if (retriedBelow(e)) throw e;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(MAX_BACKOFF_MS, delay * 2);
    }
  }

  private made<T extends ServerInfo | VolumeInfo>(info: T): T {
    if (this.justMade.size === 0) setImmediate(() => this.justMade.clear());
    this.justMade.set(info.id, copyPlain(info));
    return info;
  }

  private fresh<T extends ServerInfo | VolumeInfo>(id: string): Promise<T> | undefined {
    const info = this.justMade.get(id);
    if (info === undefined) return undefined;
    this.justMade.delete(id);
    return Promise.resolve(info as T);
  }

  discover() {
    return this.run(() => this.backend.discover(), true, true);
  }
  createServerGroup(req: ServerGroupCreate): Promise<ServerGroupInfo> {
    return this.run(() => this.backend.createServerGroup(req), false);
  }
  getServerGroup(id: string): Promise<ServerGroupInfo | undefined> {
    return this.run(() => this.backend.getServerGroup(id), true, true);
  }
  findServerGroups(tags: Record<string, string>): Promise<ServerGroupInfo[]> {
    return this.run(() => this.backend.findServerGroups(tags), true, true);
  }
  deleteServerGroup(id: string): Promise<void> {
    return this.run(() => this.backend.deleteServerGroup(id), true);
  }
  async createServer(req: ServerCreate): Promise<ServerInfo> {
    return this.made(await this.run(() => this.backend.createServer(req), false));
  }
  getServer(id: string): Promise<ServerInfo | undefined> {
    return (
      this.fresh<ServerInfo>(id) ?? this.serverReads?.read(id) ?? this.run(() => this.backend.getServer(id), true, true)
    );
  }
  findServers(tags: Record<string, string>): Promise<ServerInfo[]> {
    return this.run(() => this.backend.findServers(tags), true, true);
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
  // A server already on (or off) the network is success: a retry finds it made.
  attachNetwork(serverId: string, network: string): Promise<void> {
    return this.run(() => this.backend.attachNetwork(serverId, network), true);
  }
  detachNetwork(serverId: string, network: string): Promise<void> {
    return this.run(() => this.backend.detachNetwork(serverId, network), true);
  }
  retypeVolume(id: string, volumeType: string): Promise<void> {
    return this.run(() => this.backend.retypeVolume(id, volumeType), false);
  }
  updateVolumeMetadata(id: string, set: Record<string, string>, remove: string[]): Promise<void> {
    return this.run(() => this.backend.updateVolumeMetadata(id, set, remove), true);
  }
  async createVolume(req: VolumeCreate): Promise<VolumeInfo> {
    return this.made(await this.run(() => this.backend.createVolume(req), false));
  }
  getVolume(id: string): Promise<VolumeInfo | undefined> {
    return (
      this.fresh<VolumeInfo>(id) ?? this.volumeReads?.read(id) ?? this.run(() => this.backend.getVolume(id), true, true)
    );
  }
  findVolumes(tags: Record<string, string>): Promise<VolumeInfo[]> {
    return this.run(() => this.backend.findVolumes(tags), true, true);
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
    return read ? this.run(() => read(serverId), true, true) : Promise.resolve(undefined);
  }
}
