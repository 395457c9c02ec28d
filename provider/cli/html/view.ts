// What the placement map draws, independent of where it came from: a plan (placed or not) on a
// topology, or a live cluster's state on the cloud's inventory. render.ts turns this into HTML.

import type { ClusterSpec, Enforcement, Grouping, Member, Rule, Scope } from "../../model/cluster";
import type { Cause, Placement, SoftViolation } from "../../model/placement";
import { cmp } from "../../model/text";
import { findFlavor, type Resources, type StorageBackend, type Topology } from "../../model/topology";

/** Zones, racks and hosts in natural order: h2 before h10 (ties broken bytewise, so the order is total). */
const collator = new Intl.Collator("en", { numeric: true });
export const natural = (a: string, b: string) => collator.compare(a, b) || cmp(a, b);

export interface Mark {
  kind: "soft" | "cause" | "broken";
  /** Short text on the badge. */
  label: string;
  /** The whole sentence, as a tooltip. */
  title: string;
}

export interface MapMember {
  name: string;
  type: "server" | "volume";
  /** Flavor, or size and type. */
  detail: string;
  /** Live only: the cloud's status (ACTIVE, in-use, ERROR, MISSING, …). */
  status?: string;
  /** Indexes into MapView.groupings of the user's groupings it is in. */
  groupings: number[];
  /** Volumes: the server it is attached to; servers: their volumes. */
  attachTo?: string;
  volumes: string[];
  /** In a soft rule that is not met. */
  soft: boolean;
}

export interface MapBackend {
  name: string;
  capacityGb: number;
  /** Used by others, and by this cluster's volumes on it. */
  othersGb: number;
  mineGb: number;
  volumes: string[];
  marks: Mark[];
}

export interface MapHost {
  name: string;
  capacity: Resources;
  others: Resources;
  mine: Resources;
  servers: string[];
  backends: MapBackend[];
  marks: Mark[];
  /** Unplaceable maps: why the cause's members can't go here ("no room for m1.large"). */
  blocked?: string;
  /** Not in the inventory (a tenant sees hostIds only): drawn without capacity. */
  opaque?: boolean;
}

export interface MapRack {
  name: string;
  hosts: MapHost[];
  marks: Mark[];
}

export interface MapZone {
  name: string;
  racks: MapRack[];
  /** Zonal backends. */
  backends: MapBackend[];
  marks: Mark[];
}

export interface MapGrouping {
  name: string;
  rule: Rule;
  scope: Scope;
  enforcement: Enforcement;
  maxPerDomain: number;
  weight: number;
  members: string[];
  /** A soft rule of it is not met. */
  violated: boolean;
}

export interface MapView {
  kind: "plan" | "unplaceable" | "live";
  clusterName: string;
  /** Where the map comes from ("topology file t.json", "simulated cloud in …"). */
  source: string;
  members: Map<string, MapMember>;
  zones: MapZone[];
  groupings: MapGrouping[];
  soft: SoftViolation[];
  cost?: number;
  /** Unplaceable: the explanation, each cause with where the map marks it. */
  summary?: string;
  causes: (Cause & { where: string })[];
  reasons: Record<string, Record<string, number>>;
  /** Live: hard rules found broken, members missing. */
  broken: string[];
  /** Members the map has no place for (missing, or never created). */
  unlocated: string[];
}

export const zero = (): Resources => ({ vcpus: 0, ramMb: 0, diskGb: 0 });

function memberDetail(m: Member): string {
  if (m.type === "server") return m.flavorRef;
  return `${m.sizeGb} GB${m.volumeType !== undefined ? ` ${m.volumeType}` : ""}`;
}

/** The empty inventory as a map: every zone, rack and host, every backend under its host or zone. */
export function skeleton(topology: Topology): { zones: Map<string, MapZone>; hosts: Map<string, MapHost> } {
  const zones = new Map<string, MapZone>();
  const hosts = new Map<string, MapHost>();
  const zoneOf = (name: string) => {
    let z = zones.get(name);
    if (!z) {
      z = { name, racks: [], backends: [], marks: [] };
      zones.set(name, z);
    }
    return z;
  };
  for (const h of topology.hosts) {
    const z = zoneOf(h.zone);
    let rack = z.racks.find((r) => r.name === h.rack);
    if (!rack) {
      rack = { name: h.rack, hosts: [], marks: [] };
      z.racks.push(rack);
    }
    const host: MapHost = {
      name: h.name,
      capacity: { vcpus: h.vcpus, ramMb: h.ramMb, diskGb: h.diskGb },
      others: { ...zero(), ...h.used },
      mine: zero(),
      servers: [],
      backends: [],
      marks: [],
    };
    rack.hosts.push(host);
    hosts.set(h.name, host);
  }
  for (const b of topology.storageBackends) {
    const mb = backendOf(b);
    if (b.host !== undefined) hosts.get(b.host)?.backends.push(mb);
    else if (b.zone !== undefined) zoneOf(b.zone).backends.push(mb);
  }
  return { zones, hosts };
}

function backendOf(b: StorageBackend): MapBackend {
  return { name: b.name, capacityGb: b.capacityGb, othersGb: b.usedGb ?? 0, mineGb: 0, volumes: [], marks: [] };
}

function mapGroupings(groupings: Grouping[], soft: SoftViolation[]): MapGrouping[] {
  const violated = new Set(soft.map((v) => v.grouping));
  // Implied groupings (a volume's attachTo) are drawn as the volume's link to its server instead.
  return groupings
    .filter((g) => g.implied !== true)
    .map((g) => ({
      name: g.name,
      rule: g.rule,
      scope: g.scope,
      enforcement: g.enforcement,
      maxPerDomain: g.maxPerDomain,
      weight: g.weight,
      members: g.members,
      violated: violated.has(g.name),
    }));
}

function mapMembers(spec: ClusterSpec, groupings: MapGrouping[], soft: SoftViolation[]): Map<string, MapMember> {
  const out = new Map<string, MapMember>();
  for (const m of spec.members) {
    out.set(m.name, {
      name: m.name,
      type: m.type,
      detail: memberDetail(m),
      groupings: [],
      volumes: [],
      soft: false,
      ...(m.type === "volume" && m.attachTo !== undefined ? { attachTo: m.attachTo } : {}),
    });
  }
  groupings.forEach((g, i) => {
    for (const name of g.members) out.get(name)?.groupings.push(i);
  });
  for (const v of soft) {
    for (const name of v.members) {
      const m = out.get(name);
      if (m) m.soft = true;
    }
  }
  for (const m of out.values()) if (m.attachTo !== undefined) out.get(m.attachTo)?.volumes.push(m.name);
  return out;
}

/** The inventory with no member on it yet, and the cluster's members and groupings. */
export function emptyView(
  kind: MapView["kind"],
  spec: ClusterSpec,
  topology: Topology,
  source: string,
  soft: SoftViolation[],
) {
  const groupings = mapGroupings(spec.groupings, soft);
  const { zones, hosts } = skeleton(topology);
  const view: MapView = {
    kind,
    clusterName: spec.name,
    source,
    members: mapMembers(spec, groupings, soft),
    zones: [...zones.values()],
    groupings,
    soft,
    causes: [],
    reasons: {},
    broken: [],
    unlocated: [],
  };
  return { view, zones, hosts };
}

/** Each soft rule not met, as a mark on the hosts its members sit on. */
export function markSoft(view: MapView, hostOf: (member: string) => MapHost | undefined): void {
  for (const v of view.soft) {
    const seen = new Set<MapHost>();
    for (const name of v.members) {
      const h = hostOf(name);
      if (!h || seen.has(h)) continue;
      seen.add(h);
      h.marks.push({
        kind: "soft",
        label: `soft: ${v.grouping}`,
        title: `soft rule "${v.grouping}" not met (cost ${v.weight}): ${v.members.join(", ")}`,
      });
    }
  }
}

/** A plan that placed the cluster: members on the topology (which doesn't count them yet). */
export function planView(
  spec: ClusterSpec,
  topology: Topology,
  placement: Placement,
  soft: SoftViolation[],
  cost: number,
  source: string,
): MapView {
  const { view, zones, hosts } = emptyView("plan", spec, topology, source, soft);
  view.cost = cost;
  const specMembers = new Map(spec.members.map((m) => [m.name, m]));
  const backends = new Map<string, MapBackend>();
  for (const z of zones.values()) for (const b of z.backends) backends.set(b.name, b);
  for (const h of hosts.values()) for (const b of h.backends) backends.set(b.name, b);
  for (const name of Object.keys(placement)) {
    const at = placement[name];
    const m = specMembers.get(name);
    if (!at || !m) continue;
    if (at.type === "server" && m.type === "server") {
      const h = hosts.get(at.host);
      if (!h) {
        view.unlocated.push(name);
        continue;
      }
      h.servers.push(name);
      const f = findFlavor(topology.flavors, m.flavorRef);
      if (f) addTo(h.mine, f);
    } else if (at.type === "volume" && m.type === "volume") {
      const b = backends.get(at.backend);
      if (!b) {
        view.unlocated.push(name);
        continue;
      }
      b.volumes.push(name);
      b.mineGb += m.sizeGb;
    }
  }
  markSoft(view, (name) => {
    const at = placement[name];
    return at?.host !== undefined ? hosts.get(at.host) : undefined;
  });
  return view;
}

export function addTo(into: Resources, r: Resources): void {
  into.vcpus += r.vcpus;
  into.ramMb += r.ramMb;
  into.diskGb += r.diskGb;
}
