// Waiting on an asynchronous object as a small declared state machine (after terraform's
// StateChangeConf): pending statuses keep polling, target statuses end the wait, failure
// statuses fail it with the backend's fault, anything else is unexpected. One helper used by
// every create, resize, attach and delete. A wait that lasts says so: every PROGRESS_EVERY_MS it
// reports what it waits for and what it sees, so a stuck wait is never silent.
import type { ServerInfo, VolumeInfo } from "../backends/backend";

/** How often a wait that hasn't ended reports what it waits for. */
export const PROGRESS_EVERY_MS = 15_000;

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
  /** What the object shows beside its status, for progress and timeout messages ("flavor m1.tiny"). */
  show?: (obj: T) => string;
  /**
   * In a target status, the object shows what it had before the action. Once it has been seen in a
   * pending status, that means the action was undone (Nova puts a server it found no host to resize
   * to back in ACTIVE with its old flavor): the wait fails instead of waiting for what can't come.
   */
  reverted?: (obj: T) => boolean;
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
  /**
   * Poll every `intervalMs`, never slower, on the clock's grid (at multiples of it): every wait polls
   * at the same moments, so a backend that reads many objects in one call reads them together.
   */
  steady?: boolean;
  signal?: AbortSignal;
  /** Told what the wait is waiting for, every `progressEveryMs` while it lasts. */
  progress?: (message: string) => void;
  /** Default PROGRESS_EVERY_MS. */
  progressEveryMs?: number;
  /**
   * The whole operation's end (Pulumi's customTimeouts): the wait ends by then at the latest, whatever
   * `timeoutMs` allows; `name` says which limit ran out ("customTimeouts.create (30m)").
   */
  deadline?: { at: number; name: string };
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
  const start = Date.now();
  const own = start + opts.timeoutMs;
  // The operation's deadline, when it comes first, decides (and its name is what the message gives).
  const operation = opts.deadline !== undefined && opts.deadline.at < own ? opts.deadline : undefined;
  const deadline = operation?.at ?? own;
  const every = Math.max(1, opts.progressEveryMs ?? PROGRESS_EVERY_MS);
  let nextProgress = start + every;
  let interval = Math.max(1, opts.intervalMs);
  let last = "(not read yet)";
  let moved = false;
  for (;;) {
    if (opts.signal?.aborted) throw new WaitError("aborted", `${opts.what}: stopped waiting (another step failed)`);
    const obj = await opts.read();
    if (obj === undefined) {
      if (machine.gone) return undefined;
      throw new WaitError("vanished", `${opts.what} disappeared while waiting for it to become ${machine.goal}`);
    }
    const status = opts.status(obj);
    const shown = machine.show?.(obj);
    last = shown ? `${status}, ${shown}` : status;
    if (!machine.gone) {
      if (machine.failure.includes(status)) {
        const fault = opts.fault?.(obj);
        throw new WaitError("failed", `${opts.what} went to ${status}${fault ? `: ${fault}` : ""}`);
      }
      if (machine.target.includes(status) && (machine.done?.(obj) ?? true)) return obj;
      if (!machine.pending.includes(status) && !machine.target.includes(status)) {
        throw new WaitError("unexpected", `${opts.what} is ${status}, expected ${machine.goal}`);
      }
      if (machine.pending.includes(status)) moved = true;
      else if (moved && machine.reverted?.(obj)) {
        const fault = opts.fault?.(obj);
        throw new WaitError(
          "failed",
          `${opts.what} went back to ${last} instead of becoming ${machine.goal}: the cloud undid the change${fault ? ` (${fault})` : ""}`,
        );
      }
    }
    const now = Date.now();
    const left = deadline - now;
    if (left <= 0) {
      throw new WaitError(
        "timeout",
        operation
          ? `${opts.what} did not become ${machine.goal} within the operation's ${operation.name} (still ${last})`
          : `${opts.what} did not become ${machine.goal} within ${formatDuration(opts.timeoutMs)} (still ${last})`,
      );
    }
    if (opts.progress && now >= nextProgress) {
      opts.progress(
        `${opts.what}: waiting for ${machine.goal}, now ${last} (${formatElapsed(now - start)}${operation ? `; the operation's ${operation.name} ends in ${formatElapsed(operation.at - now)}` : ` of ${formatDuration(opts.timeoutMs)}`})`,
      );
      while (nextProgress <= now) nextProgress += every;
    }
    if (opts.steady) await sleep(Math.min(interval - (Date.now() % interval), left), opts.signal);
    else {
      await sleep(Math.min(interval, left), opts.signal);
      interval = Math.min(opts.maxIntervalMs, Math.ceil(interval * 1.25));
    }
  }
}

/** "45 s", "2 min 5 s": how long something has taken so far. */
export function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  return s % 60 === 0 ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
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

/**
 * A server some earlier run left changing (BUILD after a crash mid-create) until it rests, in
 * whatever status: the caller decides what to do with an ERROR or VERIFY_RESIZE one.
 */
export const SERVER_SETTLED: WaitMachine<ServerInfo> = {
  goal: "settled (no longer building)",
  pending: ["BUILD", "REBUILD", "RESIZE", "MIGRATING", "REBOOT", "HARD_REBOOT", "PASSWORD"],
  target: [
    "ACTIVE",
    "ERROR",
    "SHUTOFF",
    "VERIFY_RESIZE",
    "PAUSED",
    "SUSPENDED",
    "SHELVED",
    "SHELVED_OFFLOADED",
    "RESCUE",
    "UNKNOWN",
  ],
  failure: [],
};

export const SERVER_GONE: WaitMachine<ServerInfo> = { goal: "gone", pending: [], target: [], failure: [], gone: true };

export const VOLUME_AVAILABLE: WaitMachine<VolumeInfo> = {
  goal: "available",
  pending: ["creating", "downloading", "extending", "retyping", "detaching", "attaching", "in-use"],
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
 * Until Cinder will take a delete: it refuses a volume that is still creating, attaching, detaching,
 * extending or retyping (400 "Volume status must be available or error…"), which a rollback right after a
 * failed create meets all the time. Error states are deletable.
 */
export const VOLUME_DELETABLE: WaitMachine<VolumeInfo> = {
  goal: "settled (deletable)",
  pending: ["creating", "downloading", "extending", "retyping", "attaching", "detaching", "reserved"],
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

/** A volume some earlier run left changing (creating, attaching) until it rests, errors included. */
export const VOLUME_AT_REST: WaitMachine<VolumeInfo> = {
  ...VOLUME_DELETABLE,
  goal: "settled (no longer creating or attaching)",
};

export const VOLUME_GONE: WaitMachine<VolumeInfo> = { goal: "gone", pending: [], target: [], failure: [], gone: true };

/**
 * A machine whose target also requires `done` (resize/rebuild/extend/attach/detach visible); `goal`
 * says what that is ("ACTIVE with flavor m1.small"), `show` what the object shows meanwhile.
 */
export function until<T>(
  machine: WaitMachine<T>,
  done: (obj: T) => boolean,
  goal?: string,
  show?: (obj: T) => string,
  reverted?: (obj: T) => boolean,
): WaitMachine<T> {
  return {
    ...machine,
    done,
    ...(goal !== undefined ? { goal } : {}),
    ...(show ? { show } : {}),
    ...(reverted ? { reverted } : {}),
  };
}

/** Extend ends where it started: available or in-use with the new size. */
export const VOLUME_SETTLED: WaitMachine<VolumeInfo> = {
  goal: "available or in-use",
  pending: ["extending", "retyping", "attaching", "detaching", "creating"],
  target: ["available", "in-use"],
  failure: ["error", "error_extending"],
};
