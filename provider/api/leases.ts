// Each running operation is owned by one server through a lease in the database (store.ts): this
// server renews its leases every `renewMs`, each for `leaseMs`, and looks for operations whose lease
// expired every `claimMs` (the caller's claim loop, server.ts).
//
// Fencing: an operation this server may no longer own stops. Its AbortSignal fires when
// - a renewal finds the lease gone (another server took the operation over), or
// - no renewal succeeded for `leaseMs - renewMs` (the database unreachable, or this process stalled):
//   the work stops a whole renewal interval before the lease can expire, so before anyone else may
//   claim it;
// and the backend its work runs with (fenced()) refuses every call from then on; each call also
// checks the deadline itself, so a process that was paused past it (its timer not run yet) stops
// too. The lifecycle controller then fails at its next cloud call, its rollback can't touch the cloud
// either, and the runner writes nothing (the store takes outcomes from the lease's owner only). What
// is left: cloud calls already sent when the work stopped (at most the controller's concurrency, 10)
// may still land after it; the renewal interval of margin is what keeps them ahead of a takeover's
// survey (a process paused while such a call is in flight stretches it).
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Backend } from "../backends/backend";
import { BackendError } from "../backends/backend";
import type { LeaseGrant } from "./records";
import type { Store } from "./store";

export interface LeaseTimings {
  /** How long a lease lasts without renewal (default 15 s). */
  leaseMs?: number;
  /** How often this server renews its leases (default 5 s; well within leaseMs). */
  renewMs?: number;
  /** How often this server looks for operations whose lease expired (default 2 s). */
  claimMs?: number;
}

export const DEFAULT_LEASE: Required<LeaseTimings> = { leaseMs: 15_000, renewMs: 5_000, claimMs: 2_000 };

/** Why an operation's work was stopped. */
export type FenceReason = "lease_lost" | "lease_unrenewed" | "handed_over";

export interface Fence {
  signal: AbortSignal;
  /** Why it was stopped (set once the signal fired). */
  readonly reason: FenceReason | undefined;
  /**
   * Whether the work may go on now: false once stopped, and false (stopping it) once the renewal
   * deadline has passed, even if its timer has not fired yet (a process that was paused).
   */
  live(): boolean;
}

interface Held {
  controller: AbortController;
  reason?: FenceReason;
  timer?: NodeJS.Timeout;
  /** performance.now() after which the work must stop. */
  deadline: number;
}

/** This server's id in lease rows: host, pid and a random part (a restarted process is another owner). */
export function newOwnerId(): string {
  return `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

/** A message for what the lease said, naming the operation. */
export function fenceMessage(reason: FenceReason): string {
  switch (reason) {
    case "lease_lost":
      return "this server's lease on the operation was taken over by another server";
    case "lease_unrenewed":
      return "this server could not renew its lease on the operation in time (database unreachable?)";
    case "handed_over":
      return "this server is stopping and handed the operation over";
  }
}

export class Leases {
  readonly owner: string;
  readonly timings: Required<LeaseTimings>;
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;

  constructor(
    private readonly store: Store,
    timings: LeaseTimings = {},
    private readonly onFence: (operationId: string, reason: FenceReason) => void = () => {},
    /** After each round of renewals: its error, or undefined when it went through. */
    private readonly onRenewal: (error: unknown) => void = () => {},
  ) {
    this.owner = newOwnerId();
    this.timings = {
      ...DEFAULT_LEASE,
      ...Object.fromEntries(Object.entries(timings).filter(([, v]) => v !== undefined)),
    };
    if (this.timings.renewMs * 2 > this.timings.leaseMs) {
      throw new Error(
        `a lease of ${this.timings.leaseMs} ms renewed every ${this.timings.renewMs} ms leaves no margin; hint: renew at most every half of the lease (a third is usual)`,
      );
    }
  }

  /** What the store records with a new or claimed operation. */
  get grant(): LeaseGrant {
    return { owner: this.owner, leaseMs: this.timings.leaseMs };
  }

  /** Operations held now. */
  get ids(): string[] {
    return [...this.held.keys()];
  }

  /** Starts renewing. */
  start(): void {
    this.timer ??= setInterval(() => void this.renew(), this.timings.renewMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const h of this.held.values()) if (h.timer) clearTimeout(h.timer);
  }

  /**
   * Tracks an operation whose lease the store just granted (`grantedAt`: performance.now() taken
   * before the store was asked, so the deadline is never later than the lease's end).
   */
  hold(operationId: string, grantedAt: number): Fence {
    const held: Held = { controller: new AbortController(), deadline: 0 };
    this.held.set(operationId, held);
    this.confirmed(operationId, held, grantedAt);
    return {
      signal: held.controller.signal,
      get reason() {
        return held.reason;
      },
      live: () => {
        if (!held.controller.signal.aborted && performance.now() >= held.deadline) {
          this.fence(operationId, "lease_unrenewed");
        }
        return !held.controller.signal.aborted;
      },
    };
  }

  /** The operation's work ended: no more renewals (its lease row is gone, or lapses). */
  end(operationId: string): void {
    const held = this.held.get(operationId);
    if (held?.timer) clearTimeout(held.timer);
    this.held.delete(operationId);
  }

  /** Stops an operation's work (it no longer renews its lease). */
  fence(operationId: string, reason: FenceReason): void {
    const held = this.held.get(operationId);
    if (!held || held.controller.signal.aborted) return;
    if (held.timer) clearTimeout(held.timer);
    held.reason = reason;
    held.controller.abort(new BackendError("conflict", fenceMessage(reason), { retryable: false }));
    this.onFence(operationId, reason);
  }

  /** A renewal that started at `at` succeeded: the work may go on until `at + leaseMs - renewMs`. */
  private confirmed(operationId: string, held: Held, at: number): void {
    if (held.timer) clearTimeout(held.timer);
    const deadline = at + this.timings.leaseMs - this.timings.renewMs;
    held.deadline = deadline;
    held.timer = setTimeout(
      () => this.fence(operationId, "lease_unrenewed"),
      Math.max(0, deadline - performance.now()),
    );
    held.timer.unref();
  }

  /** One round of renewals (skipped while the previous one is still waiting for the database). */
  async renew(): Promise<void> {
    if (this.renewing) return;
    const live = [...this.held].filter(([, h]) => !h.controller.signal.aborted).map(([id]) => id);
    if (live.length === 0) return;
    this.renewing = true;
    const at = performance.now();
    try {
      const still = await this.store.renewLeases(this.grant, live);
      for (const id of live) {
        const held = this.held.get(id);
        if (!held || held.controller.signal.aborted) continue;
        if (still.has(id)) this.confirmed(id, held, at);
        else this.fence(id, "lease_lost");
      }
      this.onRenewal(undefined);
    } catch (e) {
      // Each operation's deadline fences it if this goes on.
      this.onRenewal(e ?? new Error("renewal failed"));
    } finally {
      this.renewing = false;
    }
  }
}

/**
 * The backend as an operation's work sees it: every call refused once the work is fenced, checked
 * as the call is made (every method of a Backend is asynchronous: a rejected promise), so the
 * controller (and its rollback) stops at its next step. Closing is left to the backend's owner.
 */
export function fenced(backend: Backend, fence: Pick<Fence, "signal" | "live">): Backend {
  const { signal } = fence;
  return new Proxy(backend, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== "function" || key === "close" || key === "constructor") return value;
      return (...args: unknown[]) => {
        if (!fence.live()) return Promise.reject(signal.reason);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
