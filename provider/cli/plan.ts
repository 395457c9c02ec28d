import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { formatExplanation, place, renderPlacementTree } from "../placement";
import { renderPlacementHtml } from "./html";
import { EXIT, type Io, json } from "./io";
import { loadSpec, loadTopology } from "./load";

export function planCommand(
  io: Io,
  specFile: string,
  opts: { topology: string; seed: number; json: boolean; html?: string },
): number {
  const spec = loadSpec(io, specFile, opts.json);
  if (!spec.ok) return spec.code;
  const topology = loadTopology(io, opts.topology);
  if (!topology.ok) return topology.code;

  const result = place({ spec: spec.value, topology: topology.value, seed: opts.seed });
  if (!result.placed) {
    if (opts.json) io.out(json({ placed: false, explanation: result.explanation }));
    else io.err(formatExplanation(result.explanation));
    return EXIT.unplaceable;
  }
  if (opts.html !== undefined) {
    const file = path.resolve(io.cwd, opts.html);
    try {
      writeFileSync(file, renderPlacementHtml(spec.value, topology.value, result.placement, result.softViolations));
    } catch (error) {
      io.err(`openstack-vcluster: can't write ${opts.html}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      return EXIT.usage;
    }
  }
  if (opts.json) {
    io.out(
      json({ placed: true, placement: result.placement, softViolations: result.softViolations, cost: result.cost }),
    );
    return EXIT.ok;
  }
  const hosts = new Set<string>();
  const zones = new Set<string>();
  for (const at of Object.values(result.placement)) {
    if (at.host !== undefined) hosts.add(at.host);
    zones.add(at.zone);
  }
  const count = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const lines = [
    `cluster "${spec.value.name}": placed ${count(Object.keys(result.placement).length, "member")} on ${count(hosts.size, "host")} in ${count(zones.size, "zone")}`,
    "",
  ];
  lines.push(renderPlacementTree(spec.value, topology.value, result.placement).trimEnd());
  if (result.softViolations.length > 0) {
    lines.push("", `soft rules not met (cost ${result.cost}):`);
    for (const v of result.softViolations) {
      lines.push(`  "${v.grouping}" (cost ${v.weight}): ${v.members.map((m) => `"${m}"`).join(", ")}`);
    }
  } else {
    lines.push("", "every rule is met.");
  }
  io.out(lines.join("\n"));
  return EXIT.ok;
}
