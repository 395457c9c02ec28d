// Contradictions between HARD rules, found from the spec alone (no topology). Soft rules are
// costs, never contradictions.
//
// Rule semantics (the placement engine implements exactly these):
//
// A server's place is a host (with its rack and zone). A volume's place is its storage backend;
// a backend is host-local (serves one host) or zonal (serves every host of one zone).
// A grouping's rule holds when every pair of its members satisfies the pairwise relation for
// their types:
// - server–server affinity at scope s: same s-domain (host, rack or zone).
// - volume–volume affinity: host/rack scope: same backend, or host-local backends on the same
//   host / in the same rack; zone scope: backends in the same zone. Equivalently, with a
//   volume's s-domain being its backend's host / rack when host-local and the backend itself
//   when zonal (and its zone at zone scope): same s-domain.
// - server–volume affinity at scope s: the volume's backend serves the server's s-domain (a
//   host-local backend on the server's host / in its rack / zone; a zonal backend serves any
//   host of its zone, at every scope).
// - anti-affinity: at most maxPerDomain members per s-domain (volumes: the domains above, so a
//   zonal backend counts as one domain of its own at host/rack scope). Anti-affinity mixing
//   servers and volumes means nothing and is rejected (rule_not_for_volumes).
// - proximity at scope s: members are never farther apart than s (a hard bound, like affinity
//   at s) and as close as possible inside it (a preference). Proximity among volumes only means
//   nothing and is rejected.
// - attachTo: implied hard server–volume affinity at zone scope.
//
// What follows for contradictions: server–server and volume–volume affinity are equivalences
// per scope, and a finer scope implies every coarser one, so hard affinity closes transitively.
// Server–volume affinity is NOT transitive below zone scope: two servers host-affine to the
// same volume may sit on two hosts of one zone when the volume is on a zonal backend. So at
// host/rack scope a grouping ties its servers together and its volumes together; at zone scope
// it ties all its members. Proximity groupings tie at their scope like hard affinity.

import { type ClusterSpec, type Grouping, SCOPES, type Scope, scopeRank } from "../model/cluster";
import type { SpecIssue } from "../model/issues";
import { joinNames, quote } from "../model/text";

/** Where each grouping and each member's zone pin is in the user's input. */
export interface ContradictionPaths {
  grouping(index: number): string;
  memberZone(index: number): string;
}

const TOGETHER: Record<Scope, string> = { host: "on one host", rack: "in one rack", zone: "in one zone" };
const APART: Record<Scope, string> = {
  host: "on different hosts",
  rack: "in different racks",
  zone: "in different zones",
};
/** Total work allowed for explaining chains; past it, messages name the groupings without the chain. */
const CHAIN_BUDGET = 2_000_000;
const LIST_LIMIT = 8;

/** As many of a list as a message shows (joinNames cuts the rest). */
function shown(names: readonly string[]): string[] {
  return names.slice(0, LIST_LIMIT);
}

/** The names an issue is about, each once, in the order given. */
function involved(...lists: (readonly string[])[]): string[] {
  return [...new Set(lists.flat())];
}

class UnionFind {
  private readonly parent: Int32Array;
  private readonly size: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    this.size = new Int32Array(n).fill(1);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }
  find(x: number): number {
    let r = x;
    while (this.parent[r] !== r) r = this.parent[r] as number;
    while (this.parent[x] !== r) {
      const next = this.parent[x] as number;
      this.parent[x] = r;
      x = next;
    }
    return r;
  }
  union(a: number, b: number): void {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return;
    if ((this.size[ra] as number) < (this.size[rb] as number)) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    this.size[ra] = (this.size[ra] as number) + (this.size[rb] as number);
  }
}

/** Paths for a spec that is the user's input as written (members and groupings in input order). */
export function defaultPaths(spec: ClusterSpec): ContradictionPaths {
  const memberIndex = new Map(spec.members.map((m, j) => [m.name, j]));
  const userIndex: number[] = [];
  let n = 0;
  for (const g of spec.groupings) userIndex.push(g.implied ? -1 : n++);
  return {
    grouping(i) {
      const g = spec.groupings[i];
      if (g?.implied) {
        const volume = g.members.find((m) => spec.members[memberIndex.get(m) ?? -1]?.type === "volume");
        return `instances[${memberIndex.get(volume ?? "") ?? 0}].spec.attachTo`;
      }
      return `groupings[${userIndex[i] ?? i}]`;
    },
    memberZone: (j) => `instances[${j}].spec.zone`,
  };
}

/** Finds contradictions in an already-normalized spec (no topology needed). */
export function findContradictions(spec: ClusterSpec): SpecIssue[] {
  return detectContradictions(spec, defaultPaths(spec));
}

/** Does a grouping tie its members together for certain (as a hard bound)? */
function ties(g: Grouping): boolean {
  return (g.rule === "affinity" && g.enforcement === "hard") || g.rule === "proximity";
}

export function detectContradictions(spec: ClusterSpec, paths: ContradictionPaths): SpecIssue[] {
  const n = spec.members.length;
  const index = new Map<string, number>();
  spec.members.forEach((m, j) => {
    if (!index.has(m.name)) index.set(m.name, j);
  });
  const isVolume = spec.members.map((m) => m.type === "volume");
  const names = spec.members.map((m) => m.name);
  const members: number[][] = spec.groupings.map((g) => [
    ...new Set(g.members.map((m) => index.get(m)).filter((j): j is number => j !== undefined)),
  ]);
  const issues: SpecIssue[] = [];
  const mixed = new Set<number>();

  // Rules that mean nothing for volumes.
  spec.groupings.forEach((g, i) => {
    if (g.implied) return;
    const ms = members[i] as number[];
    const vols = ms.filter((j) => isVolume[j]).map((j) => names[j] as string);
    const servers = ms.filter((j) => !isVolume[j]).map((j) => names[j] as string);
    if (g.rule === "anti-affinity" && vols.length > 0 && servers.length > 0) {
      mixed.add(i);
      issues.push({
        code: "rule_not_for_volumes",
        path: paths.grouping(i),
        message: `anti-affinity grouping ${quote(g.name)} mixes servers (${joinNames(servers)}) and volumes (${joinNames(vols)}); keeping a server apart from a volume means nothing`,
        hint: "split it into one grouping of servers and one of volumes",
        names: involved([g.name], shown(servers), shown(vols)),
      });
    }
    if (g.rule === "proximity" && vols.length > 0 && servers.length === 0) {
      issues.push({
        code: "rule_not_for_volumes",
        path: paths.grouping(i),
        message: `proximity grouping ${quote(g.name)} has only volumes (${joinNames(vols)}); proximity means nothing between volumes`,
        hint: "use affinity to keep volumes on one backend or in one zone, or add the servers that use them",
        names: involved([g.name], shown(vols)),
      });
    }
  });

  // Which tying groupings each member is in, and one union-find per scope.
  const memberTies: number[][] = Array.from({ length: n }, () => []);
  spec.groupings.forEach((g, i) => {
    if (!ties(g)) return;
    for (const j of members[i] as number[]) (memberTies[j] as number[]).push(i);
  });
  const eligible = (i: number, rank: number): boolean => {
    const g = spec.groupings[i] as Grouping;
    return ties(g) && scopeRank(g.scope) <= rank;
  };
  const ufs = SCOPES.map((_, rank) => {
    const uf = new UnionFind(n);
    spec.groupings.forEach((_g, i) => {
      if (!eligible(i, rank)) return;
      let firstServer = -1;
      let firstVolume = -1;
      for (const j of members[i] as number[]) {
        // Below zone scope a grouping ties servers with servers and volumes with volumes only.
        if (rank < 2 && isVolume[j]) {
          if (firstVolume < 0) firstVolume = j;
          else uf.union(firstVolume, j);
        } else if (firstServer < 0) firstServer = j;
        else uf.union(firstServer, j);
      }
    });
    return uf;
  });

  let budget = CHAIN_BUDGET;
  // BFS state shared by every search; a stamp per search marks what it has seen, so each
  // search costs what it visits, never the size of the whole spec.
  const memberStamp = new Int32Array(n);
  const groupingStamp = new Int32Array(spec.groupings.length);
  const prevMember = new Int32Array(n);
  const prevGrouping = new Int32Array(n);
  let stamp = 0;
  /** The groupings (and members in between) that tie `from` to every target at `rank`: BFS, shortest paths. */
  const chain = (
    from: number,
    targets: readonly number[],
    rank: number,
  ): { groupings: number[]; via: number[] } | undefined => {
    const sameType = rank < 2;
    stamp++;
    const remaining = new Set(targets);
    const queue = [from];
    memberStamp[from] = stamp;
    prevMember[from] = -1;
    for (let head = 0; head < queue.length && remaining.size > 0; head++) {
      const x = queue[head] as number;
      for (const i of memberTies[x] as number[]) {
        if (groupingStamp[i] === stamp || !eligible(i, rank)) continue;
        groupingStamp[i] = stamp;
        for (const y of members[i] as number[]) {
          if (--budget < 0) return undefined;
          if (memberStamp[y] === stamp || (sameType && isVolume[y] !== isVolume[from])) continue;
          memberStamp[y] = stamp;
          prevMember[y] = x;
          prevGrouping[y] = i;
          queue.push(y);
          remaining.delete(y);
        }
      }
    }
    if (remaining.size > 0) return undefined;
    const groupings = new Set<number>();
    const via = new Set<number>();
    const targetSet = new Set(targets);
    const walked = new Set<number>();
    for (const t of targets) {
      const gs: number[] = [];
      const ms: number[] = [];
      // Stop where an earlier target's path already went: each member is walked once.
      for (let y = t; y !== from && !walked.has(y); y = prevMember[y] as number) {
        walked.add(y);
        gs.push(prevGrouping[y] as number);
        const p = prevMember[y] as number;
        if (p !== from && !targetSet.has(p)) ms.push(p);
      }
      for (const g of gs.reverse()) groupings.add(g);
      for (const m of ms.reverse()) via.add(m);
    }
    return { groupings: [...groupings], via: [...via] };
  };

  const describe = (i: number): string => {
    const g = spec.groupings[i] as Grouping;
    if (g.implied) {
      const ms = members[i] as number[];
      const volume = ms.find((j) => isVolume[j]);
      const server = ms.find((j) => !isVolume[j]);
      return `the attachment of ${quote(names[volume ?? 0] ?? "")} to ${quote(names[server ?? 0] ?? "")}`;
    }
    return `${quote(g.name)} (${g.rule}, ${g.scope})`;
  };
  /** `grouping "a" (affinity, host) puts` / `groupings "a" (…) and "b" (…) put`. */
  const subject = (gs: readonly number[]): { text: string; plural: boolean } => {
    const allUser = gs.every((i) => !spec.groupings[i]?.implied);
    const items = gs.map(describe);
    const list = items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
    const lead = allUser ? (gs.length === 1 ? "grouping " : "groupings ") : "";
    return { text: `${lead}${list}`, plural: gs.length > 1 };
  };
  const chainScope = (gs: readonly number[]): Scope =>
    SCOPES[Math.max(0, ...gs.map((i) => scopeRank((spec.groupings[i] as Grouping).scope)))] as Scope;
  /** The names a chain of groupings stands for: user groupings by name, attachments by their volume and server. */
  const chainNames = (gs: readonly number[]): string[] =>
    gs.flatMap((i) => {
      const g = spec.groupings[i] as Grouping;
      if (!g.implied) return [g.name];
      const ms = members[i] as number[];
      return [ms.find((j) => isVolume[j]), ms.find((j) => !isVolume[j])].map((j) => names[j ?? 0] as string);
    });
  /** What a user could change: relax user groupings, drop attachments. */
  const relaxOptions = (gs: readonly number[], also: string[] = []): string => {
    const relaxable = [
      ...also,
      ...gs.filter((i) => !spec.groupings[i]?.implied).map((i) => (spec.groupings[i] as Grouping).name),
    ];
    const attachments = gs
      .filter((i) => spec.groupings[i]?.implied)
      .map((i) => names[(members[i] as number[]).find((j) => isVolume[j]) ?? 0] as string);
    const parts: string[] = [];
    if (relaxable.length === 1) parts.push(`relax ${quote(relaxable[0] as string)} to enforcement: soft`);
    else if (relaxable.length > 1)
      parts.push(`relax one of ${joinNames(relaxable, LIST_LIMIT, "or")} to enforcement: soft`);
    if (attachments.length > 0) parts.push(`remove the attachTo of ${joinNames(attachments, LIST_LIMIT, "or")}`);
    return parts.join(", ");
  };

  // Anti-affinity against the affinity closure at its scope.
  const overfull = new Set<string>();
  spec.groupings.forEach((g, i) => {
    if (g.rule !== "anti-affinity" || g.enforcement !== "hard" || mixed.has(i)) return;
    const rank = scopeRank(g.scope);
    const uf = ufs[rank] as UnionFind;
    const byRoot = new Map<number, number[]>();
    for (const j of members[i] as number[]) {
      const r = uf.find(j);
      const list = byRoot.get(r);
      if (list) list.push(j);
      else byRoot.set(r, [j]);
    }
    for (const [root, together] of byRoot) {
      if (together.length <= g.maxPerDomain) continue;
      overfull.add(`${i}:${root}`);
      const k = together.length;
      const first = together[0] as number;
      const targets = together.slice(1, g.maxPerDomain + 1);
      const found = chain(first, targets, rank);
      const raise = `raise maxPerDomain of ${quote(g.name)} to ${k}`;
      const self = `${quote(g.name)} (anti-affinity, ${g.scope})`;
      if (g.maxPerDomain === 1) {
        const a = names[first] as string;
        const b = names[targets[0] as number] as string;
        const more =
          k > 2
            ? ` (${k} of its members are tied together: ${joinNames(together.map((j) => names[j] as string))})`
            : "";
        if (found) {
          const s = subject(found.groupings);
          const through = found.via.length > 0 ? ` through ${joinNames(found.via.map((j) => names[j] as string))}` : "";
          issues.push({
            code: "affinity_vs_anti_affinity",
            path: paths.grouping(i),
            message: `${s.text} ${s.plural ? "put" : "puts"} ${quote(a)} and ${quote(b)} ${TOGETHER[chainScope(found.groupings)]}${through}, but ${self} wants them ${APART[g.scope]}${more}`,
            hint: `${relaxOptions(found.groupings, [g.name])}, or ${raise}`,
            names: involved(chainNames(found.groupings), [a, b], shown(found.via.map((j) => names[j] as string)), [
              g.name,
            ]),
          });
        } else {
          issues.push({
            code: "affinity_vs_anti_affinity",
            path: paths.grouping(i),
            message: `hard affinity groupings put ${quote(a)} and ${quote(b)} ${TOGETHER[g.scope]}, but ${self} wants them ${APART[g.scope]}${more}`,
            hint: `relax ${quote(g.name)} or the affinity groupings that tie them to enforcement: soft, or ${raise}`,
            names: involved([a, b], [g.name]),
          });
        }
      } else {
        const list = joinNames(together.map((j) => names[j] as string));
        const by = found ? `, tied by ${subject(found.groupings).text},` : ", tied by hard affinity,";
        issues.push({
          code: "anti_affinity_over_capacity",
          path: paths.grouping(i),
          message: `${k} members of ${quote(g.name)} (${list})${by} must share one ${g.scope} but maxPerDomain is ${g.maxPerDomain}`,
          hint: `${raise}, or ${found ? relaxOptions(found.groupings) || "loosen the affinity that ties them" : "relax the affinity groupings that tie them to enforcement: soft"}`,
          names: involved(
            [g.name],
            shown(together.map((j) => names[j] as string)),
            found ? chainNames(found.groupings) : [],
          ),
        });
      }
    }
  });

  // Zone pins: one zone per zone-scope component, and zone anti-affinity against pinned zones.
  const zoneUf = ufs[2] as UnionFind;
  const pinOfRoot = new Map<number, { zone: string; member: number }>();
  const otherPins = new Map<number, Map<string, number>>();
  spec.members.forEach((m, j) => {
    if (m.zone === undefined) return;
    const r = zoneUf.find(j);
    const first = pinOfRoot.get(r);
    if (!first) {
      pinOfRoot.set(r, { zone: m.zone, member: j });
      return;
    }
    if (first.zone === m.zone) return;
    const others = otherPins.get(r) ?? new Map<string, number>();
    otherPins.set(r, others);
    if (!others.has(m.zone)) others.set(m.zone, j);
  });
  for (const [root, others] of otherPins) {
    const first = pinOfRoot.get(root) as { zone: string; member: number };
    for (const [zone, j] of others) {
      const found = chain(first.member, [j], 2);
      const a = names[first.member] as string;
      const b = names[j] as string;
      const s = found ? subject(found.groupings) : { text: "hard affinity groupings", plural: true };
      const through =
        found && found.via.length > 0 ? ` through ${joinNames(found.via.map((x) => names[x] as string))}` : "";
      issues.push({
        code: "zone_pin_conflict",
        path: paths.memberZone(j),
        message: `${quote(a)} is pinned to zone ${quote(first.zone)} and ${quote(b)} to zone ${quote(zone)}, but ${s.text} ${s.plural ? "put" : "puts"} them in one zone${through}`,
        hint: `pin them to the same zone or drop one pin${found ? `, or ${relaxOptions(found.groupings) || "loosen the affinity between them"}` : ""}`,
        names: involved(
          [a, first.zone, b, zone],
          found ? chainNames(found.groupings) : [],
          shown(found?.via.map((x) => names[x] as string) ?? []),
        ),
      });
    }
  }
  spec.groupings.forEach((g, i) => {
    if (g.rule !== "anti-affinity" || g.enforcement !== "hard" || g.scope !== "zone" || mixed.has(i)) return;
    const byZone = new Map<string, { members: number[]; roots: Set<number> }>();
    for (const j of members[i] as number[]) {
      const r = zoneUf.find(j);
      const pin = pinOfRoot.get(r);
      if (!pin) continue;
      const entry = byZone.get(pin.zone) ?? { members: [], roots: new Set<number>() };
      byZone.set(pin.zone, entry);
      entry.members.push(j);
      entry.roots.add(r);
    }
    for (const [zone, entry] of byZone) {
      if (entry.members.length <= g.maxPerDomain) continue;
      if ([...entry.roots].some((r) => overfull.has(`${i}:${r}`))) continue; // already reported as affinity against anti-affinity
      const indirect = entry.members.some((j) => spec.members[j]?.zone !== zone);
      issues.push({
        code: "zone_pin_conflict",
        path: paths.grouping(i),
        message: `${joinNames(entry.members.map((j) => names[j] as string))} of ${quote(g.name)} (anti-affinity, zone) are pinned to zone ${quote(zone)}${indirect ? " (some through hard affinity)" : ""}, but it allows at most ${g.maxPerDomain} per zone`,
        hint: `pin them to different zones, or raise maxPerDomain of ${quote(g.name)} to ${entry.members.length}`,
        names: involved(shown(entry.members.map((j) => names[j] as string)), [g.name, zone]),
      });
    }
  });

  const seen = new Set<string>();
  return issues
    .filter((x) => {
      const key = `${x.code}\u0000${x.path}\u0000${x.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .map((x) => (spec.name ? { ...x, cluster: spec.name } : x));
}
