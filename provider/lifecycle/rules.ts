// How the spec's rules reach the cloud beyond exact hosts: Nova server groups (a guard in
// pinned mode, the only means in delegated mode), Cinder scheduler hints, and what a tenant
// can't express at all. Pure: the controller and `plan` both read this.
import type { PlacementMode, ServerGroupPolicy } from "../backends/backend";
import type { ClusterSpec, Grouping, Member } from "../model/cluster";
import { record } from "../model/records";

export interface DesiredGroup {
  grouping: string;
  policy: ServerGroupPolicy;
  maxServerPerHost?: number;
  /** Server members created in this group, sorted. */
  servers: string[];
}

/** Delegated mode: Cinder hints for a volume, by member name (resolved to ids at create time). */
export interface VolumeHints {
  localToServer?: string;
  sameBackendAs: string[];
  differentBackendFrom: string[];
}

export interface RuleMapping {
  /** Sorted by grouping. */
  groups: DesiredGroup[];
  /** Server member -> grouping whose Nova group it is created in. */
  groupOf: Record<string, string>;
  volumeHints: Record<string, VolumeHints>;
  /** Everything the user should read, sorted (includes `blocking`). */
  warnings: string[];
  /** What makes `apply` refuse with code "invalid", sorted. */
  blocking: string[];
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function serversOf(g: Grouping, members: Map<string, Member>): string[] {
  return g.members.filter((m) => members.get(m)?.type === "server").sort(byName);
}

function volumesOf(g: Grouping, members: Map<string, Member>): string[] {
  return g.members.filter((m) => members.get(m)?.type === "volume").sort(byName);
}

/** Proximity bounded at host scope means "same host": hard affinity there. */
function hostPolicy(g: Grouping): { policy: ServerGroupPolicy; maxServerPerHost?: number } | undefined {
  if (g.scope !== "host") return undefined;
  const soft = g.enforcement === "soft";
  if (g.rule === "affinity") return { policy: soft ? "soft-affinity" : "affinity" };
  if (g.rule === "proximity") return { policy: "affinity" };
  if (soft) return { policy: "soft-anti-affinity" };
  return g.maxPerDomain > 1
    ? { policy: "anti-affinity", maxServerPerHost: g.maxPerDomain }
    : { policy: "anti-affinity" };
}

export function mapRules(spec: ClusterSpec, mode: PlacementMode): RuleMapping {
  const members = new Map(spec.members.map((m) => [m.name, m]));
  const head = `cluster "${spec.name}": `;
  const warnings: string[] = [];
  const blocking: string[] = [];
  const groupings = [...spec.groupings].sort((a, b) => byName(a.name, b.name));

  // Candidates for a Nova group: host-scope rules over at least two servers. Pinned mode only
  // guards hard rules (the engine already chose exact hosts); delegated mode maps soft ones too.
  const candidates = groupings.filter((g) => {
    if (serversOf(g, members).length < 2 || hostPolicy(g) === undefined) return false;
    return mode === "delegated" || g.enforcement === "hard" || g.rule === "proximity";
  });
  const memberships = new Map<string, string[]>();
  for (const g of candidates) {
    for (const s of serversOf(g, members)) memberships.set(s, [...(memberships.get(s) ?? []), g.name]);
  }
  const overlapping = new Set<string>();
  const conflicts = new Map<string, string[]>(); // groupings key -> servers
  for (const [server, names] of memberships) {
    if (names.length < 2) continue;
    for (const n of names) overlapping.add(n);
    const key = names.map((n) => `"${n}"`).join(", ");
    conflicts.set(key, [...(conflicts.get(key) ?? []), server]);
  }

  const groups: DesiredGroup[] = [];
  const groupOf: Record<string, string> = record();
  for (const g of candidates) {
    if (overlapping.has(g.name)) continue;
    const policy = hostPolicy(g);
    if (!policy) continue;
    const servers = serversOf(g, members);
    groups.push({ grouping: g.name, ...policy, servers });
    for (const s of servers) groupOf[s] = g.name;
  }

  const volumeHints: Record<string, VolumeHints> = record();
  if (mode === "delegated") {
    for (const [key, servers] of conflicts) {
      const list = servers.sort(byName).map((s) => `"${s}"`);
      blocking.push(
        `${head}server${list.length > 1 ? "s" : ""} ${list.join(", ")} would need the Nova server groups of host-scope groupings ${key}, but a server can be in only one server group when the cloud places hosts itself (delegated mode); hint: merge those rules into one grouping, move all but one of them to scope "zone", or use credentials that can see hosts (pinned mode)`,
      );
    }
    for (const g of groupings) {
      if (g.scope === "rack") {
        blocking.push(
          `${head}grouping "${g.name}" uses scope "rack", which can't be expressed when the cloud places hosts itself (delegated mode: racks are not visible); hint: use scope "host" or "zone", or credentials that can see hosts (pinned mode)`,
        );
        continue;
      }
      if (g.scope !== "host") continue;
      const servers = serversOf(g, members);
      const volumes = volumesOf(g, members);
      if (volumes.length === 0) continue;
      const together = g.rule === "affinity" || g.rule === "proximity";
      if (!together && servers.length > 0 && g.enforcement === "hard") {
        blocking.push(
          `${head}grouping "${g.name}" keeps volumes off their servers' hosts, which Cinder can't be asked for when the cloud places hosts itself (delegated mode); hint: use scope "zone", make it soft, or use credentials that can see hosts (pinned mode)`,
        );
      }
      // Volume hints may only name volumes created before this one: each refers to the ones sorted before it.
      volumes.forEach((v, i) => {
        const hints = volumeHints[v] ?? { sameBackendAs: [], differentBackendFrom: [] };
        const earlier = volumes.slice(0, i);
        if (together) {
          if (servers[0] !== undefined && hints.localToServer === undefined) hints.localToServer = servers[0];
          hints.sameBackendAs.push(...earlier);
        } else {
          hints.differentBackendFrom.push(...earlier);
        }
        volumeHints[v] = hints;
      });
    }
  }
  for (const h of Object.values(volumeHints)) {
    h.sameBackendAs = [...new Set(h.sameBackendAs)].sort(byName);
    h.differentBackendFrom = [...new Set(h.differentBackendFrom)].sort(byName);
  }
  blocking.sort();
  warnings.push(...blocking);
  warnings.sort();
  return { groups, groupOf, volumeHints, warnings, blocking };
}

/**
 * The spec as the engine sees it in delegated mode, where each zone is one pseudo-host: host-
 * and rack-scope togetherness becomes zone-scope (a finer scope implies the coarser), apartness
 * at host scope is left to Nova groups and Cinder hints, rack scope is refused elsewhere.
 */
export function coarseSpec(spec: ClusterSpec): ClusterSpec {
  const groupings: Grouping[] = [];
  for (const g of spec.groupings) {
    if (g.scope === "zone") groupings.push(g);
    else if (g.rule !== "anti-affinity") groupings.push({ ...g, scope: "zone" });
  }
  return { ...spec, groupings };
}

/**
 * The spec whose rules can be checked from what a tenant sees (hostId for servers, zone for
 * volumes): host-scope rules keep only their servers; rack-scope rules are dropped (refused before).
 */
export function verifiableSpec(spec: ClusterSpec, mode: PlacementMode): ClusterSpec {
  if (mode === "pinned") return spec;
  const members = new Map(spec.members.map((m) => [m.name, m]));
  const groupings: Grouping[] = [];
  for (const g of spec.groupings) {
    if (g.scope === "rack") continue;
    if (g.scope === "zone") {
      groupings.push(g);
      continue;
    }
    const servers = g.members.filter((m) => members.get(m)?.type === "server");
    if (servers.length >= 2) groupings.push({ ...g, members: servers });
  }
  return { ...spec, groupings };
}
