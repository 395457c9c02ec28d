// Waiting on an asynchronous object as a small declared state machine (after terraform's
// StateChangeConf): pending statuses keep polling, target statuses end the wait, failure
// statuses fail it with the backend's fault, anything else is unexpected. One helper used by
// every create, resize, attach and delete.
import type { ServerInfo, VolumeInfo } from "../backends/backend";

export interface WaitMachine<T> {
  /** What the wait reaches, for messages: "ACTIVE", "gone". */
  goal: string;
  pending: readonly string[];
  target: readonly string[];
  failure: readonly string[];
  /** The object must disappear (read returns undefined); every status is then pending. */
  gone?: boolean;
  /** Extra condition on a target status (e.g. the new flavor is visible); until it holds, keep polling. */
  done?: (obj: T) => boolean;
}

export interface WaitOptions<T> {
  /** `server "db-3"`, for messages. */
  what: string;
  read: () => Promise<T | undefined>;
  status: (obj: T) => string;
  fault?: (obj: T) => string | undefined;
  timeoutMs: number;
  /** First poll interval; grows by a quarter each poll up to `maxIntervalMs`. */
  intervalMs: number;
  maxIntervalMs: number;
  signal?: AbortSignal;
}

export type WaitFailure = "failed" | "timeout" | "vanished" | "unexpected" | "aborted";

export class WaitError extends Error {
  readonly kind: WaitFailure;
  constructor(kind: WaitFailure, message: string) {
    super(message);
    this.name = "WaitError";
    this.kind = kind;
  }
}

export async function waitFor<T>(machine: WaitMachine<T>, opts: WaitOptions<T>): Promise<T | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  let interval = Math.max(1, opts.intervalMs);
  let last = "(not read yet)";
  for (;;) {
    if (opts.signal?.aborted) throw new WaitError("aborted", `${opts.what}: stopped waiting (another step failed)`);
    const obj = await opts.read();
    if (obj === undefined) {
      if (machine.gone) return undefined;
      throw new WaitError("vanished", `${opts.what} disappeared while waiting for it to become ${machine.goal}`);
    }
    const status = opts.status(obj);
    last = status;
    if (!machine.gone) {
      if (machine.failure.includes(status)) {
        const fault = opts.fault?.(obj);
        throw new WaitError("failed", `${opts.what} went to ${status}${fault ? `: ${fault}` : ""}`);
      }
      if (machine.target.includes(status) && (machine.done?.(obj) ?? true)) return obj;
      if (!machine.pending.includes(status) && !machine.target.includes(status)) {
        throw new WaitError("unexpected", `${opts.what} is ${status}, expected ${machine.goal}`);
      }
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new WaitError(
        "timeout",
        `${opts.what} did not become ${machine.goal} within ${formatDuration(opts.timeoutMs)} (still ${last})`,
      );
    }
    await sleep(Math.min(interval, left), opts.signal);
    interval = Math.min(opts.maxIntervalMs, Math.ceil(interval * 1.25));
  }
}

export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

// ---- the machines ----

export const SERVER_ACTIVE: WaitMachine<ServerInfo> = {
  goal: "ACTIVE",
  pending: ["BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE"],
  target: ["ACTIVE"],
  failure: ["ERROR"],
};

export const SERVER_GONE: WaitMachine<ServerInfo> = { goal: "gone", pending: [], target: [], failure: [], gone: true };

export const VOLUME_AVAILABLE: WaitMachine<VolumeInfo> = {
  goal: "available",
  pending: ["creating", "downloading", "extending", "detaching", "attaching", "in-use"],
  target: ["available"],
  failure: ["error", "error_extending"],
};

export const VOLUME_IN_USE: WaitMachine<VolumeInfo> = {
  goal: "in-use",
  pending: ["attaching", "available", "reserved"],
  target: ["in-use"],
  failure: ["error", "error_attaching"],
};

/**
 * Until Cinder will take a delete: it refuses a volume that is still creating, attaching, detaching
 * or extending (400 "Volume status must be available or error…"), which a rollback right after a
 * failed create meets all the time. Error states are deletable.
 */
export const VOLUME_DELETABLE: WaitMachine<VolumeInfo> = {
  goal: "settled (deletable)",
  pending: ["creating", "downloading", "extending", "attaching", "detaching", "reserved"],
  target: [
    "available",
    "in-use",
    "error",
    "error_extending",
    "error_attaching",
    "error_detaching",
    "error_restoring",
    "error_managing",
  ],
  failure: [],
};

export const VOLUME_GONE: WaitMachine<VolumeInfo> = { goal: "gone", pending: [], target: [], failure: [], gone: true };

/** A machine whose target also requires `done` (resize/rebuild/extend/attach/detach visible). */
export function until<T>(machine: WaitMachine<T>, done: (obj: T) => boolean): WaitMachine<T> {
  return { ...machine, done };
}

/** Extend ends where it started: available or in-use with the new size. */
export const VOLUME_SETTLED: WaitMachine<VolumeInfo> = {
  goal: "available or in-use",
  pending: ["extending", "attaching", "detaching", "creating"],
  target: ["available", "in-use"],
  failure: ["error", "error_extending"],
};
