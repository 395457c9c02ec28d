// Which backend an operation runs with. With `--noauth` (the simulated cloud) every project shares one
// backend. With Keystone, each operation acts for its caller through the trust it was started with
// (delegation.ts): a backend authenticated with a token scoped to that trust, so members are created
// in the caller's project, owned by it, counted against its quota. Those backends are kept in a small
// cache keyed by trust id, shared by whatever runs under one trust, closed when the operation is done
// (retire) or after a while unused, and never more than `maxOpen` at once beyond what is in use.
import { BackendError } from "../backends/backend";
import type { BackendSelection } from "../backends/select";

/** Who an operation acts for: its project, and the trust its caller gave (Keystone only). */
export interface Actor {
  tenantId: string;
  trustId?: string;
}

export interface ApiBackends {
  /** The cloud's identity recorded with a project's new clusters. */
  backendIdFor(tenantId: string): string;
  /** Runs `fn` with a backend acting for `actor`. */
  use<T>(actor: Actor, fn: (selection: BackendSelection) => Promise<T>): Promise<T>;
  /** The trust's operation is over: close its backend once nothing uses it. */
  retire(trustId: string): Promise<void>;
  /** Backends open now. */
  readonly open: number;
  close(): Promise<void>;
}

/** `--noauth`: one backend for every project; closed with the server. */
export function sharedBackend(selection: BackendSelection): ApiBackends {
  return {
    backendIdFor: () => selection.backendId,
    use: (_actor, fn) => fn(selection),
    retire: async () => {},
    open: 1,
    close: () => selection.backend.close(),
  };
}

export interface TrustBackendsOptions {
  backendIdFor(tenantId: string): string;
  /** Connects a backend acting through `trustId`; its backendId must be `expected`. */
  open(trustId: string, tenantId: string, expected: string): Promise<BackendSelection>;
  /** Close a backend unused for this long (default 60 s). */
  idleMs?: number;
  /** Idle backends kept at most (default 32; the least recently used is closed first). */
  maxIdle?: number;
}

interface Slot {
  selection: Promise<BackendSelection>;
  users: number;
  retired: boolean;
  timer?: NodeJS.Timeout;
}

/** Keystone: a backend per trust, cached while in use and briefly after. */
export class TrustBackends implements ApiBackends {
  private readonly slots = new Map<string, Slot>();
  private readonly idleMs: number;
  private readonly maxIdle: number;
  private closed = false;

  constructor(private readonly opts: TrustBackendsOptions) {
    this.idleMs = opts.idleMs ?? 60_000;
    this.maxIdle = opts.maxIdle ?? 32;
  }

  get open(): number {
    return this.slots.size;
  }

  backendIdFor(tenantId: string): string {
    return this.opts.backendIdFor(tenantId);
  }

  async use<T>(actor: Actor, fn: (selection: BackendSelection) => Promise<T>): Promise<T> {
    const trustId = actor.trustId;
    if (!trustId) {
      throw new BackendError(
        "forbidden",
        "this operation carries no Keystone trust (it was started by a server running with --noauth), so nothing can act for its project; hint: repeat the request (PUT the same spec, or DELETE) with a token",
      );
    }
    if (this.closed) throw new BackendError("unavailable", "the server is stopping");
    let slot = this.slots.get(trustId);
    if (!slot) {
      const expected = this.opts.backendIdFor(actor.tenantId);
      slot = { selection: this.opts.open(trustId, actor.tenantId, expected), users: 0, retired: false };
      this.slots.set(trustId, slot);
    }
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.users++;
    const mine = slot;
    try {
      const selection = await mine.selection.catch((e: unknown) => {
        // Not cached: the next operation under this trust tries again.
        if (this.slots.get(trustId) === mine) this.slots.delete(trustId);
        throw e;
      });
      return await fn(selection);
    } finally {
      mine.users--;
      if (mine.users === 0 && this.slots.get(trustId) === mine) this.idle(trustId, mine);
    }
  }

  private idle(trustId: string, slot: Slot): void {
    if (slot.retired || this.closed) {
      void this.drop(trustId, slot);
      return;
    }
    // Most recently idled last.
    this.slots.delete(trustId);
    this.slots.set(trustId, slot);
    slot.timer = setTimeout(() => void this.drop(trustId, slot), this.idleMs);
    slot.timer.unref();
    // Bounded: beyond maxIdle idle backends, the least recently idled goes first.
    const idle = [...this.slots.entries()].filter(([, s]) => s.users === 0);
    for (const [id, s] of idle.slice(0, Math.max(0, idle.length - this.maxIdle))) void this.drop(id, s);
  }

  private async drop(trustId: string, slot: Slot): Promise<void> {
    if (slot.timer) clearTimeout(slot.timer);
    if (this.slots.get(trustId) !== slot || slot.users > 0) return;
    this.slots.delete(trustId);
    await slot.selection.then((s) => s.backend.close()).catch(() => {});
  }

  async retire(trustId: string): Promise<void> {
    const slot = this.slots.get(trustId);
    if (!slot) return;
    slot.retired = true;
    if (slot.users === 0) await this.drop(trustId, slot);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.slots.entries()];
    for (const [, s] of all) if (s.timer) clearTimeout(s.timer);
    this.slots.clear();
    await Promise.all(all.map(([, s]) => s.selection.then((sel) => sel.backend.close()).catch(() => {})));
  }
}
