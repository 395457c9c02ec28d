// `apply --dry-run`: what apply would do to each member, planned against the live cloud and the
// cluster's state (the controller's plan, as `pulumi preview` runs it), and nothing changed. The same
// lines `pulumi preview` shows under the resource: one per member that changes, "warning: " before a
// step that destroys data. Exit codes as apply's: 0 it would go ahead, 1 it would refuse (invalid
// spec, an edit the cloud can't make, quota, an image or flavor that doesn't exist), 2 unplaceable, 3 backend,
// file or usage error.
import type { ClusterPlan } from "../lifecycle";
import { ClusterController, placementFailure } from "../lifecycle";
import type { ClusterSpec } from "../model/cluster";
import type { ClusterState } from "../model/state";
import { clusterHead, plural } from "../model/text";
import { digestKey, previousFromRecord } from "./applied";
import { type BackendFlags, onOtherCloud, openBackend } from "./cluster";
import { fail, refusal } from "./failure";
import { EXIT, type Io, json } from "./io";
import { readApplied, readState, stateDirOf, stateFile } from "./state-files";

/** The plan's lines: each member that changes (destructive ones as warnings), then the cluster's own steps. */
export function planLines(spec: ClusterSpec, plan: ClusterPlan): string[] {
  const members = plan.members.map((l) => `${l.level === "warn" ? "warning: " : ""}${l.text}`);
  const cluster = plan.steps.filter((s) => s.change === undefined).map((s) => `${clusterHead(spec.name)}${s.detail}`);
  return [...members, ...cluster];
}

/** The previous spec the command recorded for this cluster (applied.ts), read without taking its lock. */
export function recordedInputs(io: Io, flags: BackendFlags, spec: ClusterSpec) {
  const record = readApplied(stateFile(io, flags, spec.name));
  return previousFromRecord(record, digestKey(stateDirOf(io, flags), false), spec.name);
}

export async function applyDryRun(io: Io, spec: ClusterSpec, flags: BackendFlags & { json: boolean }): Promise<number> {
  const selection = await openBackend(io, flags, spec.name);
  if (typeof selection === "number") return selection;
  let plan: ClusterPlan;
  let state: ClusterState | undefined;
  try {
    // Like `plan`, a dry run reads the state without the cluster's lock: it changes nothing.
    state = readState(stateFile(io, flags, spec.name));
    if (onOtherCloud(io, spec.name, state, selection)) return EXIT.usage;
    plan = await new ClusterController(selection.backend, { backendId: selection.backendId }).plan(
      spec,
      state,
      recordedInputs(io, flags, spec),
    );
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    return fail(io, { kind: "cloud", message: text.startsWith("cluster ") ? text : `openstack-vcluster: ${text}` });
  } finally {
    await selection.backend.close();
  }
  const head = clusterHead(spec.name);
  // Refused or unplaceable: everything in one round, exit codes as apply's (failure.ts refusal).
  const unplaceable = placementFailure(spec.name, plan.placement);
  if (plan.blocking.length > 0 || unplaceable) {
    const others = plan.warnings.filter((w) => !plan.blocking.includes(w));
    if (!flags.json) for (const w of others) io.err(w);
    const { failure, human } = refusal(spec.name, { ...plan, explanation: unplaceable, warnings: others });
    const tail =
      plan.blocking.length > 0
        ? `\n${head}apply would refuse this change, and make none of it (dry run: nothing was changed)`
        : "";
    return fail(io, failure, `${human}${tail}`);
  }
  if (flags.json) {
    io.out(
      json({
        dryRun: true,
        existing: state !== undefined,
        placed: true,
        steps: plan.steps,
        members: plan.members,
        warnings: plan.warnings,
        blocking: plan.blocking,
      }),
    );
    return EXIT.ok;
  }
  const lines = planLines(spec, plan);
  const changing = plan.members.length;
  io.out(
    lines.length === 0
      ? `${head}apply would change nothing (dry run)`
      : [
          `${head}apply would ${state === undefined ? "create the cluster" : `change ${plural(changing, "member")}`} (dry run: nothing was changed):`,
          ...lines,
        ].join("\n"),
  );
  for (const w of plan.warnings) io.err(w);
  return EXIT.ok;
}
