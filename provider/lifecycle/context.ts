// What the lifecycle steps share: the controller's context (backend, ops, deadlines, log) and the
// state of one apply run, plus the phase runner every step of an apply goes through.
import type { Backend, ServerInfo, VolumeInfo } from "../backends/backend";
import type { Placement } from "../model/placement";
import type { ControllerOptions } from "./controller";
import { describeError } from "./errors";
import type { EditField } from "./inputs";
import type { Ops } from "./ops";
import type { Prepared } from "./prepare";
import type { Progress } from "./progress";
import { WaitError } from "./wait";

/** The controller's collaborators, passed to each step instead of `this`. */
export interface Ctx {
  backend: Backend;
  ops: Ops;
  timeouts: { serverMs: number; volumeMs: number; deleteMs: number };
  log: (level: "info" | "warn", message: string) => void;
  /** Progress as data, when the caller listens (ControllerOptions.onProgress). */
  progress?: Progress;
  options: ControllerOptions;
  /** The running operation's end (Pulumi's customTimeouts), if it has one: every wait ends by then. */
  deadline?: { at: number; name: string };
}

/** Objects made in this run, so a failed create can take back exactly them (plus tagged leftovers). */
export interface Ledger {
  servers: Set<string>;
  volumes: Set<string>;
  groups: Set<string>;
}

export function emptyLedger(): Ledger {
  return { servers: new Set(), volumes: new Set(), groups: new Set() };
}

/** Everything one apply works on. */
export interface Run {
  p: Prepared;
  placement: Placement;
  servers: Map<string, ServerInfo>;
  volumes: Map<string, VolumeInfo>;
  groupIds: Map<string, string>;
  /** Members created (or recreated) in this run: the only ones verify may recreate to repair. */
  made: Set<string>;
  /** Edits of kept members made in this run (`member` NUL `field`): the rest stay pending when it fails. */
  completed: Set<string>;
  ledger: Ledger;
  abort: AbortController;
}

/** Marks an edit of a kept member made (a run that fails leaves the rest pending in its state). */
export function completed(run: Run, member: string, field: EditField): void {
  run.completed.add(`${member}\u0000${field}`);
}

export function isCompleted(run: Run, member: string, field: EditField): boolean {
  return run.completed.has(`${member}\u0000${field}`);
}

/** A failed phase: the causes, one line each. */
export class PhaseError extends Error {
  constructor(readonly causes: string[]) {
    super(causes.join("; "));
  }
}

/** Runs one step per item concurrently (bounded by the ops limit); the first failure stops the rest. */
export async function phase<T>(run: Run, items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  if (items.length === 0) return;
  const results = await Promise.allSettled(
    items.map(async (item) => {
      if (run.abort.signal.aborted) throw new WaitError("aborted", "skipped");
      try {
        await fn(item);
      } catch (e) {
        run.abort.abort();
        throw e;
      }
    }),
  );
  const causes = results
    .filter((r): r is PromiseRejectedResult => r.status === "rejected")
    .map((r) => r.reason)
    .filter((e) => !(e instanceof WaitError && e.kind === "aborted"))
    .map(describeError);
  if (causes.length > 0 || run.abort.signal.aborted) {
    throw new PhaseError(causes.length > 0 ? causes : ["stopped after a failure"]);
  }
}
