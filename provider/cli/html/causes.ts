// The map of a cluster that can't be placed: the inventory, empty, with each cause of the
// explanation marked on the zones, racks, hosts and backends it names, and the hosts (backends)
// that have no room for the cause's members hatched: what blocks where.

import type { ClusterSpec, Member } from "../../model/cluster";
import type { Cause, Explanation } from "../../model/placement";
import { plural } from "../../model/text";
import { findFlavor, type Resources, type Topology } from "../../model/topology";
import { emptyView, type MapBackend, type MapHost, type MapRack, type MapView, type MapZone, type Mark } from "./view";

/** Causes about room: the hosts (backends) without room for their members are where they block. */
const ROOM_CODES = new Set<Cause["code"]>([
  "capacity",
  "capacity_bin_packing",
  "member_fits_nowhere",
  "volume_capacity",
  "conflict",
]);

/** The "quoted" names of a message (quote() writes JSON strings). */
function quotedNames(text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(/"(?:[^"\\]|\\.)*"/g)) {
    try {
      out.push(JSON.parse(match[0]) as string);
    } catch {
      // Not a JSON string: not a name.
    }
  }
  return out;
}

const fits = (free: Resources, need: Resources) =>
  free.vcpus >= need.vcpus && free.ramMb >= need.ramMb && free.diskGb >= need.diskGb;

function freeOf(h: MapHost): Resources {
  return {
    vcpus: h.capacity.vcpus - h.others.vcpus - h.mine.vcpus,
    ramMb: h.capacity.ramMb - h.others.ramMb - h.mine.ramMb,
    diskGb: h.capacity.diskGb - h.others.diskGb - h.mine.diskGb,
  };
}

export function unplaceableView(
  spec: ClusterSpec,
  topology: Topology,
  explanation: Explanation,
  source: string,
): MapView {
  const { view, zones, hosts } = emptyView("unplaceable", spec, topology, source, []);
  view.summary = explanation.summary;
  view.reasons = explanation.members;
  const racks = new Map<string, MapRack[]>();
  const backends = new Map<string, MapBackend>();
  for (const z of zones.values()) {
    for (const r of z.racks) racks.set(r.name, [...(racks.get(r.name) ?? []), r]);
    for (const b of z.backends) backends.set(b.name, b);
  }
  for (const h of hosts.values()) for (const b of h.backends) backends.set(b.name, b);
  const members = new Map(spec.members.map((m) => [m.name, m]));

  explanation.causes.forEach((cause, i) => {
    const n = i + 1;
    const mark: Mark = { kind: "cause", label: `cause ${n}`, title: `${cause.message} (hint: ${cause.hint})` };
    const where: string[] = [];
    for (const name of new Set(quotedNames(cause.message))) {
      const zone = zones.get(name);
      if (zone) {
        zone.marks.push(mark);
        where.push(`zone ${name}`);
      }
      for (const r of racks.get(name) ?? []) r.marks.push(mark);
      if (racks.has(name)) where.push(`rack ${name}`);
      const host = hosts.get(name);
      if (host) {
        host.marks.push(mark);
        where.push(`host ${name}`);
      }
      const backend = backends.get(name);
      if (backend) {
        backend.marks.push(mark);
        where.push(`backend ${name}`);
      }
    }
    if (cause.code === "anti_affinity_domains") where.push(...markDomains(spec, cause, n, view));
    if (ROOM_CODES.has(cause.code)) {
      const causeMembers = cause.members.map((m) => members.get(m)).filter((m): m is Member => m !== undefined);
      where.push(...markNoRoom(causeMembers, n, topology, view.zones));
    }
    view.causes.push({ ...cause, where: where.length > 0 ? where.join("; ") : "no one place: the cluster as a whole" });
  });
  return view;
}

/** An anti-affinity grouping that needs more domains than there are: each domain takes at most maxPerDomain. */
function markDomains(spec: ClusterSpec, cause: Cause, n: number, view: MapView): string[] {
  const where: string[] = [];
  for (const name of cause.groupings) {
    const g = spec.groupings.find((x) => x.name === name);
    if (!g) continue;
    const mark: Mark = {
      kind: "cause",
      label: `cause ${n}: ≤ ${g.maxPerDomain} of "${g.name}"${g.scope === "host" ? " per host" : ""}`,
      title: `${cause.message} (hint: ${cause.hint})`,
    };
    // Per host, marked on the zones: thousands of host badges would hide the map.
    if (g.scope === "rack") for (const z of view.zones) for (const r of z.racks) r.marks.push(mark);
    else for (const z of view.zones) z.marks.push(mark);
    where.push(`every ${g.scope} (${plural(g.members.length, "member")}, at most ${g.maxPerDomain} in each)`);
  }
  return where;
}

/**
 * Hatches the hosts that can't take any of the cause's servers, and those whose local backend can't
 * take its smallest volume; marks full zonal backends, and each zone with how many of its hosts block.
 */
function markNoRoom(members: Member[], n: number, topology: Topology, zones: MapZone[]): string[] {
  const flavors = [...new Set(members.flatMap((m) => (m.type === "server" ? [m.flavorRef] : [])))];
  const needs = flavors.flatMap((f) => {
    const flavor = findFlavor(topology.flavors, f);
    return flavor ? [flavor] : [];
  });
  const sizes = members.flatMap((m) => (m.type === "volume" ? [m.sizeGb] : []));
  const smallest = sizes.length > 0 ? Math.min(...sizes) : undefined;
  const full = (b: MapBackend) => smallest !== undefined && b.capacityGb - b.othersGb - b.mineGb < smallest;
  const noHost = `cause ${n}: no room for ${flavors.slice(0, 2).join(" or ")}${flavors.length > 2 ? " or …" : ""}`;
  const noDisk = `cause ${n}: less than ${smallest} GB free`;
  const hatched = [needs.length > 0 ? noHost : "", smallest !== undefined ? noDisk : ""].filter(Boolean).join("; ");
  let hosts = 0;
  let blockedHosts = 0;
  let backends = 0;
  let fullBackends = 0;
  for (const z of zones) {
    let here = 0;
    let hostsHere = 0;
    for (const h of z.racks.flatMap((r) => r.hosts)) {
      hostsHere++;
      const why: string[] = [];
      if (needs.length > 0 && !needs.some((need) => fits(freeOf(h), need))) why.push(noHost);
      backends += h.backends.length;
      const fullHere = h.backends.filter(full).length;
      fullBackends += fullHere;
      if (fullHere > 0) why.push(noDisk);
      if (why.length === 0) continue;
      h.blocked = [...(h.blocked === undefined ? [] : [h.blocked]), ...why].join("; ");
      here++;
    }
    for (const b of z.backends) {
      backends++;
      if (!full(b)) continue;
      b.marks.push({ kind: "cause", label: `cause ${n}: full`, title: noDisk });
      fullBackends++;
    }
    hosts += hostsHere;
    blockedHosts += here;
    if (here > 0) {
      z.marks.push({
        kind: "cause",
        label: `cause ${n}: ${here} of ${plural(hostsHere, "host")} without room`,
        title: `the hatched hosts: ${hatched}`,
      });
    }
  }
  const where: string[] = [];
  if (needs.length > 0 || smallest !== undefined)
    where.push(`${blockedHosts} of ${plural(hosts, "host")} without room (hatched)`);
  if (smallest !== undefined)
    where.push(`${fullBackends} of ${plural(backends, "backend")} with less than ${smallest} GB free`);
  return where;
}
