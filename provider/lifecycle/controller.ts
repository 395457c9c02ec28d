// The lifecycle controller: plan, all-or-nothing create, per-member update, refresh, destroy of
// one cluster on one backend. The Pulumi provider and the command are thin layers over it.
//
// Every apply runs the same pipeline, whether it creates, updates or resumes a half-built cluster:
// discover -> survey (what exists, by tags and ids) -> diff -> place (existing members stay) ->
// detach -> delete -> server groups -> resize/rebuild/extend -> create -> attach -> verify (repair
// once) -> drop unused groups. A create that fails is rolled back entirely; an update that fails
// keeps what exists and reports it as partial state.
//
// This file is the facade; the steps live beside it: prepare (read and decide), execute and
// actions (make it so), verify (check and repair), teardown (rollback, destroy), refresh, and
// state-builders (the ClusterState each of them returns).
import type { Backend, PlacementMode } from "../backends/backend";
import type { ClusterSpec } from "../model/cluster";
import type { PlacementResult } from "../model/placement";
import { definedOnly } from "../model/records";
import type { ClusterState } from "../model/state";
import type { Topology } from "../model/topology";
import { formatExplanation } from "../placement";
import { describeSteps, type Step } from "./changes";
import { type Ctx, emptyLedger, PhaseError, type Run } from "./context";
import { clusterPrefix, describeError, LifecycleError, withCauses } from "./errors";
import { execute } from "./execute";
import { type ImportResult, importCluster } from "./import";
import type { PreviousInputs } from "./inputs";
import { releaseUsage } from "./locate";
import { Ops } from "./ops";
import { blockingOf, prepare, usageOfServer, usageOfVolume } from "./prepare";
import { Progress, type ProgressEvent } from "./progress";
import { placementFailure, type ReferenceProblem, referenceLine } from "./references";
import { refresh } from "./refresh";
import { partialState, unfinishedEdits } from "./state-builders";
import { type MemberLine, memberLines } from "./steps";
import { destroy, rollback } from "./teardown";

export interface ControllerOptions {
  /** Max backend operations in flight (default 10). */
  concurrency?: number;
  /** Deadlines per object (defaults 10 min / 5 min / 5 min). */
  timeouts?: { serverMs?: number; volumeMs?: number; deleteMs?: number };
  /** Progress: `cluster "c": created 12/40 members`. */
  log?: (level: "info" | "warn", message: string) => void;
  /** The same progress as data, beside the log (progress.ts): for a live display. */
  onProgress?: (event: ProgressEvent) => void;
  seed?: number;
  /** Non-secret identity of the cloud recorded in state (default: the backend's description). */
  backendId?: string;
  /**
   * The time an apply or destroy may take in all (Pulumi's customTimeouts create/update/delete): it
   * replaces the per-object deadlines, and every wait ends by then; `name` says which in messages.
   */
  operationTimeout?: OperationTimeout;
  /** A failed create's rollback: its own limit (customTimeouts.delete); default the per-object deadlines. */
  rollbackTimeout?: OperationTimeout;
}

/** A limit of one whole operation, and its name for messages ("customTimeouts.create (30m)"). */
export interface OperationTimeout {
  ms: number;
  name: string;
}

export interface ClusterPlan {
  mode: PlacementMode;
  /** The inventory without this cluster's own members: what a tree or map draws `placement` on. */
  topology: Topology;
  /** The placement, or the explanation of why none exists. */
  placement: PlacementResult;
  /** What apply would do, in order. Empty when the cluster can't be placed. */
  steps: Step[];
  /** One line per member that changes, destructive ones at level "warn" (see steps.ts). */
  members: MemberLine[];
  /** Everything the user should read, sorted (includes `blocking`). */
  warnings: string[];
  /** What makes apply refuse with code "invalid" (a subset of `warnings`). */
  blocking: string[];
  /** The images and flavors among `blocking` that the cloud doesn't have, as data. */
  references: ReferenceProblem[];
}

const DEFAULTS = { serverMs: 10 * 60_000, volumeMs: 5 * 60_000, deleteMs: 5 * 60_000 };

export class ClusterController {
  private readonly ctx: Ctx;

  constructor(backend: Backend, options: ControllerOptions = {}) {
    this.ctx = {
      backend,
      options,
      ops: new Ops(backend, options.concurrency ?? 10),
      timeouts: { ...DEFAULTS, ...definedOnly(options.timeouts ?? {}) },
      log: options.log ?? (() => {}),
      ...(options.onProgress ? { progress: new Progress(options.onProgress) } : {}),
    };
  }

  /**
   * The context of an operation starting now under `limit`: each wait may take up to the whole limit
   * (unless the caller set per-object deadlines) and none goes past its end. No limit: as configured.
   */
  private begin(limit: OperationTimeout | undefined): Ctx {
    const { deadline: _none, ...base } = this.ctx;
    if (!limit) return base;
    const all = { serverMs: limit.ms, volumeMs: limit.ms, deleteMs: limit.ms };
    return {
      ...base,
      timeouts: { ...all, ...definedOnly(this.ctx.options.timeouts ?? {}) },
      deadline: { at: Date.now() + limit.ms, name: limit.name },
    };
  }

  /** Dry run, no changes: discover, place incrementally against state, list the steps. Never throws for unplaceable. */
  async plan(spec: ClusterSpec, state?: ClusterState, previous?: PreviousInputs): Promise<ClusterPlan> {
    const p = await prepare(this.ctx, spec, state, previous ? { previous } : {});
    const blocking = blockingOf(p);
    const references = p.references.map((r) => referenceLine(spec.name, r));
    const warnings = [...p.rules.warnings, ...p.base.problems, ...p.quota, ...references, ...p.notes];
    for (const [member, why] of p.changes?.moves ?? []) {
      warnings.push(`${clusterPrefix(spec.name)}member "${member}" must move (${why}); apply recreates it`);
    }
    const placement = p.result.placed ? p.result.placement : undefined;
    const steps = p.changes ? describeSteps(spec, p.changes, placement) : [];
    return {
      mode: p.mode,
      topology:
        p.mode === "pinned"
          ? releaseUsage(
              p.discovery.topology,
              [...p.base.kept.server.values()].map(usageOfServer),
              [...p.base.kept.volume.values()].map(usageOfVolume),
            )
          : p.discovery.topology,
      placement: p.result,
      steps,
      members: memberLines(spec.name, steps),
      warnings: warnings.sort(),
      blocking,
      references: p.references,
    };
  }

  /**
   * Create (no state) or update (state) to match spec; returns the new state. `previous`: the spec
   * the last apply was asked for, as the caller kept it (see inputs.ts): edits of user_data, networks
   * and security_groups are seen against it.
   */
  async apply(spec: ClusterSpec, state?: ClusterState, previous?: PreviousInputs): Promise<ClusterState> {
    const head = clusterPrefix(spec.name);
    const ctx = this.begin(this.ctx.options.operationTimeout);
    const p = await prepare(ctx, spec, state, { settle: true, ...(previous ? { previous } : {}) });
    const blocking = blockingOf(p);
    if (blocking.length > 0) {
      // Said in one round: with why it can't be placed, when that is more than an unknown flavor.
      const explanation = placementFailure(spec.name, p.result);
      const lines = explanation ? [...blocking, formatExplanation(explanation)] : blocking;
      throw new LifecycleError("invalid", lines.join("\n"), {
        ...(explanation ? { explanation } : {}),
        references: p.references,
      });
    }
    if (!p.result.placed || !p.changes) {
      const explanation = p.result.placed ? undefined : p.result.explanation;
      throw new LifecycleError("unplaceable", explanation ? formatExplanation(explanation) : `${head}can't be placed`, {
        ...(explanation ? { explanation } : {}),
      });
    }
    const run: Run = {
      p,
      placement: p.result.placement,
      servers: new Map(p.changes.kept.server),
      volumes: new Map(p.changes.kept.volume),
      groupIds: new Map(p.changes.keepGroups),
      made: new Set(),
      completed: new Set(),
      ledger: emptyLedger(),
      abort: new AbortController(),
    };
    try {
      return await execute(ctx, run);
    } catch (e) {
      const causes = e instanceof PhaseError ? e.causes : [describeError(e)];
      // The rollback has its own time: the create's may be what ran out.
      if (state === undefined) return await rollback(this.begin(this.ctx.options.rollbackTimeout), spec, run, causes);
      const partial = await partialState(
        this.begin(undefined),
        spec.name,
        p.mode,
        p.discovery.topology,
        state,
        unfinishedEdits(run),
      ).catch(() => undefined);
      throw new LifecycleError("update_failed", withCauses(`${head}update failed; what exists was kept`, causes), {
        cause: e,
        ...(partial ? { partialState: partial } : {}),
      });
    }
  }

  /**
   * Adopt a cluster whose members exist (Pulumi's `import`): its members found by tags and by `ids`
   * (member name → server or volume id, for members without tags), verified against the spec. Changes
   * nothing on the cloud: the state it returns marks what differs, for the next apply (import.ts).
   */
  adopt(spec: ClusterSpec, ids: Readonly<Record<string, string>> = {}): Promise<ImportResult> {
    return importCluster(this.ctx, spec, ids);
  }

  /** Re-read every member and rule; missing members are marked MISSING and listed in `missing`. */
  refresh(state: ClusterState, spec?: ClusterSpec): Promise<ClusterState> {
    return refresh(this.ctx, state, spec);
  }

  /** Detach, delete servers and volumes, then server groups; waits until gone. Also sweeps tagged leftovers. */
  destroy(state: ClusterState | { clusterName: string }): Promise<void> {
    return destroy(this.begin(this.ctx.options.operationTimeout), state);
  }
}
