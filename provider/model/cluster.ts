// The normalized cluster model: what every input form (Pulumi args, blueprint JSON, YAML)
// becomes after validation, with every default applied (see normalize.ts, the one place
// defaults live). Placement, lifecycle and backends only ever see this shape.

/** Topology scopes, finest first. A finer scope implies every coarser one. */
export const SCOPES = ["host", "rack", "zone"] as const;
export type Scope = (typeof SCOPES)[number];

export const RULES = ["affinity", "anti-affinity", "proximity"] as const;
export type Rule = (typeof RULES)[number];

export const ENFORCEMENTS = ["hard", "soft"] as const;
export type Enforcement = (typeof ENFORCEMENTS)[number];

/**
 * How the engine chooses among spots that keep every rule at the same soft cost: `spread` (the
 * default) samples hosts across the fleet; `pack` uses as few hosts as it can (Nova's RAM weigher
 * with a negative multiplier, Kubernetes' MostAllocated).
 */
export const STRATEGIES = ["spread", "pack"] as const;
export type PlacementStrategy = (typeof STRATEGIES)[number];

export const DEFAULT_WEIGHT = 50;
export const DEFAULT_MAX_PER_DOMAIN = 1;

/** Index of a scope in SCOPES: host 0 < rack 1 < zone 2. */
export function scopeRank(scope: Scope): number {
  return SCOPES.indexOf(scope);
}

export interface ServerMember {
  type: "server";
  name: string;
  imageRef: string;
  flavorRef: string;
  /** Pinned availability zone, if the user asked for one. */
  zone?: string;
  networks?: string[];
  keyName?: string;
  securityGroups?: string[];
  userData?: string;
  metadata?: Record<string, string>;
}

export interface VolumeMember {
  type: "volume";
  name: string;
  sizeGb: number;
  volumeType?: string;
  zone?: string;
  /** Name of the server this volume is attached to. Implies hard affinity at zone scope. */
  attachTo?: string;
  metadata?: Record<string, string>;
}

export type Member = ServerMember | VolumeMember;
export type MemberType = Member["type"];

export interface Grouping {
  name: string;
  /** Member names, in the user's order, without duplicates. */
  members: string[];
  rule: Rule;
  /** affinity/anti-affinity: the domain size. proximity: the hard bound ("never farther apart than"). */
  scope: Scope;
  /** proximity is always "soft" inside its hard bound. */
  enforcement: Enforcement;
  /** Cost of one soft violation (1-100). */
  weight: number;
  /** anti-affinity only: at most this many members per domain. 1 for other rules. */
  maxPerDomain: number;
  /** True when the grouping was derived (e.g. from attachTo), not written by the user. */
  implied?: boolean;
}

export interface ClusterSpec {
  name: string;
  members: Member[];
  groupings: Grouping[];
  /** How the whole cluster is placed among spots of equal soft cost; absent means `spread`. */
  placementStrategy?: PlacementStrategy;
}
