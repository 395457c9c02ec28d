import type { ClusterSpec } from "./cluster";
import type { Topology } from "./topology";

export interface ServerPlacement {
  type: "server";
  zone: string;
  rack: string;
  host: string;
}

export interface VolumePlacement {
  type: "volume";
  backend: string;
  zone: string;
  /** Set for host-local backends. */
  host?: string;
}

export type MemberPlacement = ServerPlacement | VolumePlacement;
/** Member name -> where it sits. */
export type Placement = Record<string, MemberPlacement>;

export interface PlacementInput {
  spec: ClusterSpec;
  topology: Topology;
  /**
   * Where existing members sit now. Their resources are assumed to be already counted
   * in the topology's `used` figures unless `currentIsCounted` is false.
   */
  current?: Placement;
  currentIsCounted?: boolean;
  /** Seeds tie-breaking; the same input and seed always give the same answer. */
  seed?: number;
}

export interface SoftViolation {
  grouping: string;
  members: string[];
  weight: number;
}

/** An existing member that a hard rule (or lost capacity) forced off its current spot. */
export interface ForcedMove {
  member: string;
  from: MemberPlacement;
  to: MemberPlacement;
  reason: string;
}

export interface Cause {
  code: CauseCode;
  groupings: string[];
  members: string[];
  message: string;
  hint: string;
}

export const CAUSE_CODES = [
  "capacity", // summed demand of a dimension exceeds what the topology has free
  "capacity_bin_packing", // passes the summed bound but items can't be packed (e.g. Martello-Toth L2)
  "anti_affinity_domains", // |group| > domains x maxPerDomain
  "volume_capacity", // volumes don't fit their backends
  "no_backend", // no backend can serve a volume (type, zone, locality)
  "unknown_flavor", // a server's flavor isn't in the topology
  "unknown_zone", // a member pinned to a zone the topology lacks
  "member_fits_nowhere", // a single member fits no host/backend at all
  "conflict", // a set of rules and capacities that together admit no placement (from search)
] as const;
export type CauseCode = (typeof CAUSE_CODES)[number];

export interface Explanation {
  /** One line, starting with the cluster's name. */
  summary: string;
  causes: Cause[];
  /** Kubernetes-style per-member reason counts: member -> reason -> number of hosts/backends. */
  members: Record<string, Record<string, number>>;
}

export type PlacementResult =
  | { placed: true; placement: Placement; softViolations: SoftViolation[]; cost: number; moves: ForcedMove[] }
  | { placed: false; explanation: Explanation };
