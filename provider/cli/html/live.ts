// The map of a built cluster (`show --html`): its members where the cloud says they are now, with
// their status, on the inventory the cloud reports (which already counts them). A tenant who sees
// only hostIds gets one box per hostId in its zone.

import type { ClusterSpec, Member } from "../../model/cluster";
import type { ClusterState, MemberState } from "../../model/state";
import { MISSING } from "../../model/state";
import { findFlavor, type Topology } from "../../model/topology";
import { addTo, emptyView, type MapBackend, type MapHost, type MapView, type MapZone, markSoft, zero } from "./view";

/** The members as the state records them (what was built); groupings from the applied spec, if any. */
function specOf(state: ClusterState, applied: ClusterSpec | undefined): ClusterSpec {
  const wanted = new Map((applied?.members ?? []).map((m) => [m.name, m]));
  const members: Member[] = Object.values(state.members).map((s): Member => {
    if (s.type === "server")
      return { type: "server", name: s.name, imageRef: s.imageRef ?? "", flavorRef: s.flavorRef ?? "?" };
    const spec = wanted.get(s.name);
    const attachTo = s.attachedTo ?? (spec?.type === "volume" ? spec.attachTo : undefined);
    return {
      type: "volume",
      name: s.name,
      sizeGb: s.sizeGb ?? 0,
      ...(s.volumeType !== undefined ? { volumeType: s.volumeType } : {}),
      ...(attachTo !== undefined ? { attachTo } : {}),
    };
  });
  const names = new Set(members.map((m) => m.name));
  const groupings = (applied?.groupings ?? []).map((g) => ({ ...g, members: g.members.filter((m) => names.has(m)) }));
  return { name: state.clusterName, members, groupings };
}

export function liveView(
  state: ClusterState,
  applied: ClusterSpec | undefined,
  topology: Topology,
  zoneNames: string[],
  source: string,
): MapView {
  const spec = specOf(state, applied);
  const { view, zones, hosts } = emptyView("live", spec, topology, source, state.softViolations);
  const zoneOf = (name: string): MapZone => {
    let z = zones.get(name);
    if (!z) {
      z = { name, racks: [], backends: [], marks: [] };
      zones.set(name, z);
      view.zones.push(z);
    }
    return z;
  };
  for (const name of zoneNames) zoneOf(name);
  const backends = new Map<string, MapBackend>();
  for (const z of zones.values()) for (const b of z.backends) backends.set(b.name, b);
  for (const h of hosts.values()) for (const b of h.backends) backends.set(b.name, b);
  const hostOfMember = new Map<string, MapHost>();

  for (const s of Object.values(state.members)) {
    const m = view.members.get(s.name);
    if (m) m.status = s.status;
    if (s.status === MISSING || s.zone === undefined) {
      view.unlocated.push(s.name);
      continue;
    }
    if (s.type === "server") {
      const h = hosts.get(s.host ?? "") ?? opaqueHost(zoneOf(s.zone), s, hosts);
      h.servers.push(s.name);
      hostOfMember.set(s.name, h);
      const f = findFlavor(topology.flavors, s.flavorRef ?? "");
      if (f) addTo(h.mine, f);
    } else {
      let b = backends.get(s.backend ?? "");
      if (!b) {
        // Where the tenant can't see the pool: one box per zone for its volumes.
        const label = s.backend ?? "backend not visible";
        b = { name: label, capacityGb: 0, othersGb: 0, mineGb: 0, volumes: [], marks: [] };
        zoneOf(s.zone).backends.push(b);
        backends.set(label, b);
      }
      b.volumes.push(s.name);
      b.mineGb += s.sizeGb ?? 0;
    }
  }
  // The cloud's usage counts this cluster: what others use is the rest.
  for (const h of hosts.values()) {
    h.others = {
      vcpus: Math.max(0, h.others.vcpus - h.mine.vcpus),
      ramMb: Math.max(0, h.others.ramMb - h.mine.ramMb),
      diskGb: Math.max(0, h.others.diskGb - h.mine.diskGb),
    };
  }
  for (const b of backends.values()) b.othersGb = Math.max(0, b.othersGb - b.mineGb);
  markSoft(view, (name) => hostOfMember.get(name));
  for (const r of state.brokenRules) {
    view.broken.push(r.message);
    for (const name of r.members) {
      hostOfMember
        .get(name)
        ?.marks.push({ kind: "broken", label: `broken: ${r.grouping ?? "rule"}`, title: r.message });
    }
  }
  return view;
}

/** A host the inventory doesn't list (a tenant's hostId): drawn without capacity. */
function opaqueHost(zone: MapZone, s: MemberState, hosts: Map<string, MapHost>): MapHost {
  const name = s.host ?? (s.hostId ? `hostId ${s.hostId.slice(0, 12)}` : "host not visible");
  const existing = hosts.get(name);
  if (existing) return existing;
  const rackName = s.rack ?? "rack not visible";
  let rack = zone.racks.find((r) => r.name === rackName);
  if (!rack) {
    rack = { name: rackName, hosts: [], marks: [] };
    zone.racks.push(rack);
  }
  const host: MapHost = {
    name,
    capacity: zero(),
    others: zero(),
    mine: zero(),
    servers: [],
    backends: [],
    marks: [],
    opaque: true,
  };
  rack.hosts.push(host);
  hosts.set(name, host);
  return host;
}
