// The one place defaults live: parsed input (either form) into the normalized model.
//
// Defaults: scope "host" ("zone" for proximity, where scope is the hard bound: members are
// never farther apart than it), enforcement "hard", weight 50, maxPerDomain 1.
// Proximity is normalized to enforcement "soft" whatever the input says: its scope is always
// a hard bound and "closer is better" inside it is always a preference (both spellings are
// accepted so a user's `enforcement: hard` isn't an error, but it changes nothing).
// type "block-storage" is "volume"; `volumeType: ""` (`volume_type: ""` as the blueprint writes it)
// means none. Field names are the spec's camelCase ones here: Nova's snake_case spellings were
// renamed before the shape was checked (schema.ts SNAKE_CASE_NAMES).
import {
  type ClusterSpec,
  DEFAULT_MAX_PER_DOMAIN,
  DEFAULT_WEIGHT,
  type Grouping,
  type Member,
  type Scope,
} from "../model/cluster";
import type { GroupingInput, InstanceInput } from "./schema";

/** Names of implied groupings start with this; user groupings may not. */
export const IMPLIED_PREFIX = "attach:";

export function impliedAttachmentName(volume: string): string {
  return `${IMPLIED_PREFIX}${volume}`;
}

export function normalizeMember(input: InstanceInput): Member {
  if (input.type === "server") {
    const s = input.spec;
    return {
      type: "server",
      name: input.name,
      imageRef: s.imageRef,
      flavorRef: s.flavorRef,
      ...(s.zone !== undefined ? { zone: s.zone } : {}),
      ...(s.networks !== undefined ? { networks: [...s.networks] } : {}),
      ...(s.keyName !== undefined ? { keyName: s.keyName } : {}),
      ...(s.securityGroups !== undefined ? { securityGroups: [...s.securityGroups] } : {}),
      ...(s.userData !== undefined ? { userData: s.userData } : {}),
      ...(s.metadata !== undefined ? { metadata: { ...s.metadata } } : {}),
    };
  }
  const s = input.spec;
  return {
    type: "volume",
    name: input.name,
    sizeGb: s.size,
    ...(s.volumeType ? { volumeType: s.volumeType } : {}),
    ...(s.zone !== undefined ? { zone: s.zone } : {}),
    ...(s.attachTo !== undefined ? { attachTo: s.attachTo } : {}),
    ...(s.metadata !== undefined ? { metadata: { ...s.metadata } } : {}),
  };
}

export function normalizeGrouping(input: GroupingInput): Grouping {
  const { rule } = input.spec;
  const scope: Scope = input.spec.scope ?? (rule === "proximity" ? "zone" : "host");
  return {
    name: input.name,
    members: [...new Set(input.membersRef)],
    rule,
    scope,
    enforcement: rule === "proximity" ? "soft" : (input.spec.enforcement ?? "hard"),
    weight: input.spec.weight ?? DEFAULT_WEIGHT,
    maxPerDomain:
      rule === "anti-affinity" ? (input.spec.maxPerDomain ?? DEFAULT_MAX_PER_DOMAIN) : DEFAULT_MAX_PER_DOMAIN,
  };
}

/** `attachTo` implies hard server–volume affinity at zone scope (Cinder can't attach across zones by default). */
export function attachmentGrouping(volume: string, server: string): Grouping {
  return {
    name: impliedAttachmentName(volume),
    members: [server, volume],
    rule: "affinity",
    scope: "zone",
    enforcement: "hard",
    weight: DEFAULT_WEIGHT,
    maxPerDomain: DEFAULT_MAX_PER_DOMAIN,
    implied: true,
  };
}

/**
 * Blueprint form only: a volume without `attachTo` that shares a hard affinity grouping with
 * exactly one server is attached to that server (the blueprint's use case 1, "one volume
 * attached to one server"). Returns the members with those `attachTo`s filled in.
 */
export function inferBlueprintAttachments(members: Member[], groupings: readonly Grouping[]): Member[] {
  const types = new Map(members.map((m) => [m.name, m.type]));
  const serversOf = new Map<string, Set<string>>();
  for (const g of groupings) {
    if (g.rule !== "affinity" || g.enforcement !== "hard" || g.implied) continue;
    const servers = g.members.filter((n) => types.get(n) === "server");
    if (servers.length === 0) continue;
    for (const n of g.members) {
      if (types.get(n) !== "volume") continue;
      const set = serversOf.get(n) ?? new Set<string>();
      serversOf.set(n, set);
      for (const s of servers) set.add(s);
    }
  }
  return members.map((m) => {
    if (m.type !== "volume" || m.attachTo !== undefined) return m;
    const servers = serversOf.get(m.name);
    if (servers?.size !== 1) return m;
    return { ...m, attachTo: servers.values().next().value as string };
  });
}

/**
 * The cluster's placement strategy as the model keeps it: "pack", or nothing for the default
 * (spread), so a spec that spells the default out compares equal to one that doesn't.
 */
export function normalizePlacementStrategy(input: unknown): ClusterSpec["placementStrategy"] {
  return input === "pack" ? "pack" : undefined;
}

/**
 * The whole normalized spec: members and user groupings in input order, then the implied
 * attachment groupings in member order (so index i of the user's groupings is index i here).
 * Expects input that validated (every reference resolves).
 */
export function normalizeSpec(
  name: string,
  instances: readonly InstanceInput[],
  groupingInputs: readonly GroupingInput[],
  form: "args" | "blueprint",
): ClusterSpec {
  const groupings = groupingInputs.map(normalizeGrouping);
  let members = instances.map(normalizeMember);
  if (form === "blueprint") members = inferBlueprintAttachments(members, groupings);
  for (const m of members) {
    if (m.type === "volume" && m.attachTo !== undefined) groupings.push(attachmentGrouping(m.name, m.attachTo));
  }
  return { name, members, groupings };
}
