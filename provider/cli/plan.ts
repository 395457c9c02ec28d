// `plan`: the same controller plan `pulumi preview` runs, against a topology file (offline: a cloud
// with nothing on it) or, without --topology, against the live cloud with the cluster's own state,
// so an existing cluster is planned incrementally. Changes nothing.
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import type { Backend } from "../backends/backend";
import { TopologyFileBackend } from "../backends/topology-file";
import { ClusterController, type ClusterPlan } from "../lifecycle";
import type { ClusterSpec } from "../model/cluster";
import type { ClusterState } from "../model/state";
import { plural } from "../model/text";
import { formatExplanation, renderPlacementTree } from "../placement";
import { type BackendFlags, onOtherCloud, openBackend } from "./cluster";
import { planLines, recordedInputs } from "./dry-run";
import { renderPlacementHtml } from "./html";
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
  const spec = loadSpec(io, specFile, opts.json);
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
    io.err(`openstack-vcluster: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.usage;
  } finally {
    await target.backend.close();
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
    io.err(`openstack-vcluster: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.usage;
  }
  if (onOtherCloud(io, spec.name, state, selection)) {
    await selection.backend.close();
    return EXIT.usage;
  }
  return { backend: selection.backend, backendId: selection.backendId, state };
}

function report(io: Io, spec: ClusterSpec, plan: ClusterPlan, opts: PlanOptions, existing: boolean): number {
  const result = plan.placement;
  if (!result.placed) {
    if (opts.json) io.out(json({ placed: false, explanation: result.explanation, warnings: plan.warnings }));
    else io.err(formatExplanation(result.explanation));
    return EXIT.unplaceable;
  }
  if (opts.html !== undefined) {
    const file = path.resolve(io.cwd, opts.html);
    try {
      writeFileSync(file, renderPlacementHtml(spec, plan.topology, result.placement, result.softViolations));
    } catch (error) {
      io.err(`openstack-vcluster: can't write ${opts.html}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      return EXIT.usage;
    }
  }
  // What apply would refuse (an image that doesn't exist, a quota it would exceed) fails the plan too.
  const code = plan.blocking.length > 0 ? EXIT.invalidSpec : EXIT.ok;
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
    return code;
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
  for (const w of plan.warnings) io.err(w);
  return code;
}
