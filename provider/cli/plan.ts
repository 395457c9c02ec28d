// `plan`: the same controller plan `pulumi preview` runs, against a topology file (offline: a cloud
// with nothing on it) or, without --topology, against the live cloud with the cluster's own state,
// so an existing cluster is planned incrementally. Changes nothing.
import type { Backend } from "../backends/backend";
import { TopologyFileBackend } from "../backends/topology-file";
import { ClusterController, type ClusterPlan, placementFailure } from "../lifecycle";
import type { ClusterSpec } from "../model/cluster";
import type { ClusterState } from "../model/state";
import { plural } from "../model/text";
import { renderPlacementTree } from "../placement";
import { type BackendFlags, onOtherCloud, openBackend } from "./cluster";
import { planLines, recordedInputs } from "./dry-run";
import { fail, refusal } from "./failure";
import { renderPlanHtml, writeMap } from "./html";
import { EXIT, type Io, json } from "./io";
import { loadSpec, loadTopology } from "./load";
import { readState, stateFile } from "./state-files";

export interface PlanOptions extends BackendFlags {
  /** A topology file to plan against; absent: the configured cloud. */
  topology?: string;
  seed: number;
  json: boolean;
  html?: string;
}

interface Target {
  backend: Backend;
  backendId?: string;
  state?: ClusterState;
}

export async function planCommand(io: Io, specFile: string, opts: PlanOptions): Promise<number> {
  const spec = loadSpec(io, specFile);
  if (!spec.ok) return spec.code;
  const target = await openTarget(io, spec.value, opts);
  if (typeof target === "number") return target;
  let plan: ClusterPlan;
  try {
    plan = await new ClusterController(target.backend, { seed: opts.seed, backendId: target.backendId }).plan(
      spec.value,
      target.state,
      target.state !== undefined ? recordedInputs(io, opts, spec.value) : undefined,
    );
  } catch (error) {
    return fail(io, {
      kind: "cloud",
      message: `openstack-vcluster: ${error instanceof Error ? error.message : String(error)}`,
    });
  } finally {
    await target.backend.close();
  }
  if (opts.html !== undefined) {
    // Also for an unplaceable cluster: its map shows what blocks where.
    const html = renderPlanHtml(spec.value, plan.topology, plan.placement, target.backend.description);
    const failed = writeMap(io, opts.html, html);
    if (failed !== undefined) return failed;
  }
  return report(io, spec.value, plan, opts, target.state !== undefined);
}

async function openTarget(io: Io, spec: ClusterSpec, opts: PlanOptions): Promise<Target | number> {
  if (opts.topology !== undefined) {
    const topology = loadTopology(io, opts.topology);
    if (!topology.ok) return topology.code;
    return { backend: new TopologyFileBackend(topology.value, `topology file ${opts.topology}`) };
  }
  const selection = await openBackend(io, opts);
  if (typeof selection === "number") return selection;
  let state: ClusterState | undefined;
  try {
    state = readState(stateFile(io, opts, spec.name));
  } catch (error) {
    await selection.backend.close();
    return fail(io, {
      kind: "state",
      message: `openstack-vcluster: ${error instanceof Error ? error.message : String(error)}`,
    });
  }
  if (onOtherCloud(io, spec.name, state, selection)) {
    await selection.backend.close();
    return EXIT.usage;
  }
  return { backend: selection.backend, backendId: selection.backendId, state };
}

function report(io: Io, spec: ClusterSpec, plan: ClusterPlan, opts: PlanOptions, existing: boolean): number {
  const result = plan.placement;
  // What apply would refuse (an image or flavor the cloud doesn't have, a quota it would exceed)
  // fails the plan too, said in the same round as why it can't be placed (failure.ts refusal).
  const unplaceable = placementFailure(spec.name, result);
  const others = plan.warnings.filter((w) => !plan.blocking.includes(w));
  const refused = () => {
    const { failure, human } = refusal(spec.name, { ...plan, explanation: unplaceable, warnings: others });
    return fail(io, failure, human);
  };
  if (!result.placed) {
    if (!opts.json) for (const w of others) io.err(w);
    return refused();
  }
  const finish = () => (plan.blocking.length > 0 ? refused() : EXIT.ok);
  if (opts.json) {
    io.out(
      json({
        placed: true,
        placement: result.placement,
        softViolations: result.softViolations,
        cost: result.cost,
        ...(existing ? { steps: plan.steps, members: plan.members } : {}),
        warnings: plan.warnings,
        blocking: plan.blocking,
      }),
    );
    return finish();
  }
  const hosts = new Set<string>();
  const zones = new Set<string>();
  for (const at of Object.values(result.placement)) {
    if (at.host !== undefined) hosts.add(at.host);
    zones.add(at.zone);
  }
  const lines = [
    `cluster "${spec.name}": placed ${plural(Object.keys(result.placement).length, "member")} on ${plural(hosts.size, "host")} in ${plural(zones.size, "zone")}`,
    "",
  ];
  lines.push(renderPlacementTree(spec, plan.topology, result.placement).trimEnd());
  if (result.softViolations.length > 0) {
    lines.push("", `soft rules not met (cost ${result.cost}):`);
    for (const v of result.softViolations) {
      lines.push(`  "${v.grouping}" (cost ${v.weight}): ${v.members.map((m) => `"${m}"`).join(", ")}`);
    }
  } else {
    lines.push("", "every rule is met.");
  }
  if (existing) {
    // The lines `pulumi preview` and `apply --dry-run` show: one per member that changes.
    const changes = planLines(spec, plan);
    lines.push("", changes.length > 0 ? "what apply would do:" : "apply would change nothing.");
    for (const l of changes) lines.push(`  ${l}`);
  }
  io.out(lines.join("\n"));
  for (const w of others) io.err(w);
  return finish();
}
