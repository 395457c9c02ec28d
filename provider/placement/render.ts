// A placement as a tree, zone -> rack -> host -> members, with what each host then uses.

import type { ClusterSpec, Member } from "../model/cluster";
import type { Placement } from "../model/placement";
import { cmp } from "../model/text";
import { findFlavor, type Host, type StorageBackend, type Topology } from "../model/topology";

function memberLabel(m: Member | undefined, name: string): string {
  if (!m) return `${name}`;
  if (m.type === "server") return `${name} (server, ${m.flavorRef})`;
  return `${name} (volume, ${m.sizeGb} GB${m.volumeType !== undefined ? `, ${m.volumeType}` : ""})`;
}

/** What a host has in use once the given members sit on it: its own `used` plus their flavors. */
export function usedWith(host: Host | undefined, names: string[], members: Map<string, Member>, topology: Topology) {
  const used = { vcpus: host?.used?.vcpus ?? 0, ramMb: host?.used?.ramMb ?? 0, diskGb: host?.used?.diskGb ?? 0 };
  for (const n of names) {
    const m = members.get(n);
    const f = m?.type === "server" ? findFlavor(topology.flavors, m.flavorRef) : undefined;
    if (f) {
      used.vcpus += f.vcpus;
      used.ramMb += f.ramMb;
      used.diskGb += f.diskGb;
    }
  }
  return used;
}

export function renderPlacementTree(spec: ClusterSpec, topology: Topology, placement: Placement): string {
  const members = new Map(spec.members.map((m) => [m.name, m]));
  const hosts = new Map<string, Host>((topology.hosts ?? []).map((h) => [h.name, h]));
  const backends = new Map<string, StorageBackend>((topology.storageBackends ?? []).map((b) => [b.name, b]));
  // zone -> rack -> host -> server names / backend name -> volume names
  const tree = new Map<string, Map<string, Map<string, string[]>>>();
  const zonal = new Map<string, Map<string, string[]>>();
  const onBackend = new Map<string, string[]>();
  const hostOf = (zone: string, rack: string, host: string) => {
    const z = tree.get(zone) ?? new Map<string, Map<string, string[]>>();
    tree.set(zone, z);
    const r = z.get(rack) ?? new Map<string, string[]>();
    z.set(rack, r);
    const h = r.get(host) ?? [];
    r.set(host, h);
    return h;
  };
  for (const name of Object.keys(placement).sort(cmp)) {
    const at = placement[name];
    if (!at) continue;
    if (at.type === "server") {
      hostOf(at.zone, at.rack, at.host).push(name);
    } else if (at.host !== undefined) {
      const h = hosts.get(at.host);
      hostOf(at.zone, h?.rack ?? "?", at.host);
      onBackend.set(at.backend, [...(onBackend.get(at.backend) ?? []), name]);
    } else {
      const z = zonal.get(at.zone) ?? new Map<string, string[]>();
      zonal.set(at.zone, z);
      z.set(at.backend, [...(z.get(at.backend) ?? []), name]);
    }
  }
  const lines: string[] = [];
  const zones = [...new Set([...tree.keys(), ...zonal.keys()])].sort(cmp);
  for (const zone of zones) {
    lines.push(`zone ${zone}`);
    const racks = tree.get(zone) ?? new Map<string, Map<string, string[]>>();
    for (const rack of [...racks.keys()].sort(cmp)) {
      lines.push(`  rack ${rack}`);
      const hs = racks.get(rack) as Map<string, string[]>;
      for (const host of [...hs.keys()].sort(cmp)) {
        const h = hosts.get(host);
        const servers = hs.get(host) as string[];
        const used = usedWith(h, servers, members, topology);
        const capacity = h
          ? `  vcpus ${used.vcpus}/${h.vcpus}, ram ${used.ramMb}/${h.ramMb} MB, disk ${used.diskGb}/${h.diskGb} GB`
          : "";
        lines.push(`    host ${host}${capacity}`);
        for (const s of servers) lines.push(`      ${memberLabel(members.get(s), s)}`);
        const locals = [...onBackend.keys()].filter((b) => backends.get(b)?.host === host).sort(cmp);
        for (const b of locals) {
          lines.push(`      backend ${b}`);
          for (const v of onBackend.get(b) as string[]) lines.push(`        ${memberLabel(members.get(v), v)}`);
        }
      }
    }
    const zb = zonal.get(zone) ?? new Map<string, string[]>();
    for (const b of [...zb.keys()].sort(cmp)) {
      lines.push(`  backend ${b} (zonal)`);
      for (const v of zb.get(b) ?? []) lines.push(`    ${memberLabel(members.get(v), v)}`);
    }
  }
  return lines.join("\n");
}
