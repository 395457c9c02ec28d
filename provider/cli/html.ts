// `plan --html <file>`: the placement as a self-contained HTML map (zones side by side, racks,
// hosts with their capacity used, members on them). Pure string building.

import type { ClusterSpec } from "../model/cluster";
import type { Placement, SoftViolation } from "../model/placement";
import { cmp } from "../model/text";
import type { Topology } from "../model/topology";
import { usedWith } from "../placement/render";

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);

function bar(label: string, used: number, total: number, unit: string): string {
  const pct = total > 0 ? Math.min(100, Math.round((used / total) * 100)) : 0;
  return `<div class="bar" title="${esc(`${label} ${used}/${total} ${unit}`.trim())}"><span style="width:${pct}%"></span><em>${esc(label)} ${used}/${total}${unit ? ` ${esc(unit)}` : ""}</em></div>`;
}

export function renderPlacementHtml(
  spec: ClusterSpec,
  topology: Topology,
  placement: Placement,
  softViolations: SoftViolation[],
): string {
  const members = new Map(spec.members.map((m) => [m.name, m]));
  const backends = new Map(topology.storageBackends.map((b) => [b.name, b]));
  // zone -> rack -> host -> member names; zonal backends per zone.
  const onHost = new Map<string, string[]>();
  const onZonal = new Map<string, string[]>();
  for (const name of Object.keys(placement).sort(cmp)) {
    const at = placement[name];
    if (!at) continue;
    if (at.type === "server" || at.host !== undefined) {
      const host = at.host as string;
      onHost.set(host, [...(onHost.get(host) ?? []), name]);
    } else {
      onZonal.set(at.backend, [...(onZonal.get(at.backend) ?? []), name]);
    }
  }
  const label = (name: string) => {
    const m = members.get(name);
    if (m?.type === "server") return `<li class="server">${esc(name)} <small>${esc(m.flavorRef)}</small></li>`;
    const at = placement[name];
    const where = at?.type === "volume" ? at.backend : "";
    return `<li class="volume">${esc(name)} <small>${m?.type === "volume" ? m.sizeGb : "?"} GB on ${esc(where)}</small></li>`;
  };
  const zones = [...new Set(topology.hosts.map((h) => h.zone))].sort(cmp);
  const parts: string[] = [];
  for (const zone of zones) {
    const racks = [...new Set(topology.hosts.filter((h) => h.zone === zone).map((h) => h.rack))].sort(cmp);
    const rackHtml = racks.map((rack) => {
      const hosts = topology.hosts
        .filter((h) => h.zone === zone && h.rack === rack)
        .sort((a, b) => cmp(a.name, b.name));
      const hostHtml = hosts.map((h) => {
        const here = onHost.get(h.name) ?? [];
        const used = usedWith(h, here, members, topology);
        return `<div class="host${here.length ? " busy" : ""}"><h4>${esc(h.name)}</h4>${bar("vcpus", used.vcpus, h.vcpus, "")}${bar("ram", used.ramMb, h.ramMb, "MB")}${bar("disk", used.diskGb, h.diskGb, "GB")}<ul>${here.map(label).join("")}</ul></div>`;
      });
      return `<div class="rack"><h3>rack ${esc(rack)}</h3>${hostHtml.join("")}</div>`;
    });
    const zonal = [...backends.values()]
      .filter((b) => b.zone === zone && onZonal.has(b.name))
      .map(
        (b) =>
          `<div class="backend"><h4>${esc(b.name)} (zonal)</h4><ul>${(onZonal.get(b.name) ?? []).map(label).join("")}</ul></div>`,
      );
    parts.push(`<section class="zone"><h2>zone ${esc(zone)}</h2>${rackHtml.join("")}${zonal.join("")}</section>`);
  }
  const soft = softViolations.length
    ? `<h2>Soft rules not met</h2><ul>${softViolations.map((v) => `<li>${esc(v.grouping)} (cost ${v.weight}): ${v.members.map(esc).join(", ")}</li>`).join("")}</ul>`
    : "<p>Every rule is met.</p>";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(`cluster "${spec.name}"`)}: placement</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
.zones{display:flex;gap:1em;align-items:flex-start}
.zone{border:2px solid #7a8;border-radius:8px;padding:.5em;flex:1}
.rack{border:1px dashed #999;border-radius:6px;padding:.4em;margin:.4em 0}
.host,.backend{border:1px solid #ccc;border-radius:4px;padding:.3em;margin:.3em 0;background:#fafafa}
.host.busy{background:#eef6ff;border-color:#69c}
h2,h3,h4{margin:.2em 0}h4{font-size:13px}
ul{margin:.2em 0;padding-left:1.2em}li.volume{color:#850}small{color:#666}
.bar{position:relative;height:14px;background:#eee;margin:2px 0;border-radius:3px;font-size:11px}
.bar span{position:absolute;left:0;top:0;bottom:0;background:#9cd;border-radius:3px}
.bar em{position:relative;padding-left:4px;font-style:normal}
</style></head><body>
<h1>${esc(`cluster "${spec.name}"`)}</h1>
<div class="zones">${parts.join("\n")}</div>
${soft}
</body></html>
`;
}
