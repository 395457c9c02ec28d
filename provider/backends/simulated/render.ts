// `openstack-vcluster sim show`: the simulated cloud as a tree, zone -> rack -> host -> servers,
// with what each host and storage backend has used, then anything that has no place (ERROR).
import { TAG_MEMBER } from "../backend";
import { backendUsage, backendZone, hostUsage } from "./scheduler";
import type { CloudSnapshot, ServerRecord, VolumeRecord } from "./store";

const byName = <T extends { name: string; id?: string }>(a: T, b: T) =>
  a.name.localeCompare(b.name) || (a.id ?? "").localeCompare(b.id ?? "");

function serverLine(s: ServerRecord): string {
  const member = s.metadata[TAG_MEMBER];
  const parts = [`server "${s.name}"`];
  if (member !== undefined) parts.push(`member "${member}"`);
  parts.push(s.pending?.kind === "delete" ? `${s.status} (deleting)` : s.status, s.flavorRef);
  let line = parts.join("  ");
  if (s.fault) line += `  fault: ${s.fault}`;
  return line;
}

function volumeLine(v: VolumeRecord, serverNames: Map<string, string>): string {
  const member = v.metadata[TAG_MEMBER];
  const parts = [`volume "${v.name}"`];
  if (member !== undefined) parts.push(`member "${member}"`);
  parts.push(v.status, `${v.sizeGb} GB`);
  if (v.attachedTo.length > 0)
    parts.push(`attached to ${v.attachedTo.map((id) => `"${serverNames.get(id) ?? id}"`).join(", ")}`);
  let line = parts.join("  ");
  if (v.fault) line += `  fault: ${v.fault}`;
  return line;
}

/** A plain-text tree of the whole cloud; deterministic for the same snapshot. */
export function renderCloudTree(snapshot: CloudSnapshot): string {
  const out: string[] = [];
  const used = hostUsage(snapshot);
  const bUsed = backendUsage(snapshot);
  const serverNames = new Map(snapshot.servers.map((s) => [s.id, s.name]));
  const serversOn = (host: string) => snapshot.servers.filter((s) => s.host === host).sort(byName);
  const volumesOn = (backend: string) => snapshot.volumes.filter((v) => v.backend === backend).sort(byName);
  const backendLines = (indent: string, names: string[]) => {
    for (const name of names) {
      const b = snapshot.topology.storageBackends.find((x) => x.name === name);
      if (!b) continue;
      out.push(`${indent}backend ${b.name}  ${bUsed.get(b.name) ?? 0}/${b.capacityGb} GB`);
      for (const v of volumesOn(b.name)) out.push(`${indent}  ${volumeLine(v, serverNames)}`);
    }
  };

  const zones = [...new Set(snapshot.topology.hosts.map((h) => h.zone))].sort();
  for (const zone of zones) {
    out.push(`zone ${zone}`);
    const hosts = snapshot.topology.hosts.filter((h) => h.zone === zone);
    for (const rack of [...new Set(hosts.map((h) => h.rack))].sort()) {
      out.push(`  rack ${rack}`);
      for (const h of hosts.filter((x) => x.rack === rack).sort(byName)) {
        const u = used.get(h.name) ?? { vcpus: 0, ramMb: 0, diskGb: 0 };
        out.push(
          `    host ${h.name}  vcpus ${u.vcpus}/${h.vcpus}, ram ${u.ramMb}/${h.ramMb} MB, disk ${u.diskGb}/${h.diskGb} GB`,
        );
        for (const s of serversOn(h.name)) out.push(`      ${serverLine(s)}`);
        // Host-local backends only when they hold something: one per host is noise otherwise.
        const local = snapshot.topology.storageBackends
          .filter((b) => b.host === h.name && ((bUsed.get(b.name) ?? 0) > 0 || volumesOn(b.name).length > 0))
          .map((b) => b.name)
          .sort();
        backendLines("      ", local);
      }
    }
    const zonal = snapshot.topology.storageBackends
      .filter((b) => b.host === undefined && backendZone(snapshot, b) === zone)
      .map((b) => b.name)
      .sort();
    backendLines("  ", zonal);
  }

  const homeless = snapshot.servers.filter((s) => !s.host).sort(byName);
  const knownBackends = new Set(snapshot.topology.storageBackends.map((b) => b.name));
  const orphanVolumes = snapshot.volumes.filter((v) => !v.backend || !knownBackends.has(v.backend)).sort(byName);
  if (homeless.length > 0 || orphanVolumes.length > 0) {
    out.push("not placed");
    for (const s of homeless) out.push(`  ${serverLine(s)}`);
    for (const v of orphanVolumes) out.push(`  ${volumeLine(v, serverNames)}`);
  }
  const groups = [...snapshot.serverGroups].sort(byName);
  if (groups.length > 0) {
    out.push("server groups");
    for (const g of groups) {
      const max = g.maxServerPerHost === undefined ? "" : ` (max ${g.maxServerPerHost} per host)`;
      const members = g.members.map((id) => `"${serverNames.get(id) ?? id}"`).join(", ");
      out.push(`  group "${g.name}"  ${g.policy}${max}  members: ${members || "none"}`);
    }
  }
  if (snapshot.faults.length > 0) {
    // Stored faults outlive the process that injected them; environment ones (negative ids) don't.
    out.push('faults (stored ones stay until they fire or "sim reset" clears them)');
    for (const f of snapshot.faults) {
      const { id, baseCount: _base, left, ...rest } = f;
      const origin = id < 0 ? ", from OPENSTACK_VCLUSTER_SIM_FAULTS, this process only" : "";
      out.push(`  ${JSON.stringify(rest)} (${left} left${origin})`);
    }
  }
  return `${out.join("\n")}\n`;
}
