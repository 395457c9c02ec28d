// Small builders for what a backend reports (servers, volumes, server groups), what survey makes of it
// (Live) and what the state remembers, for the pure lifecycle tests: the diff, the survey and locate.
import {
  type ServerGroupInfo,
  type ServerGroupPolicy,
  type ServerInfo,
  TAG_CLUSTER,
  TAG_GROUPING,
  TAG_MEMBER,
  type VolumeInfo,
} from "../../provider/backends/backend";
import type { Live } from "../../provider/lifecycle/survey";
import { type ClusterState, type MemberState, STATE_VERSION } from "../../provider/model/state";

export function liveServer(id: string, over: Partial<ServerInfo> = {}): ServerInfo {
  return {
    id,
    name: id,
    status: "ACTIVE",
    flavorRef: "m1.small",
    imageRef: "debian-12",
    metadata: {},
    volumes: [],
    ...over,
  };
}

export function liveVolume(id: string, over: Partial<VolumeInfo> = {}): VolumeInfo {
  return { id, name: id, status: "available", sizeGb: 10, attachedTo: [], metadata: {}, ...over };
}

export function liveGroup(id: string, policy: ServerGroupPolicy, over: Partial<ServerGroupInfo> = {}): ServerGroupInfo {
  return { id, name: id, policy, members: [], metadata: {}, ...over };
}

/** The tags the product stamps: the cluster's, and the member's or the grouping's when given. */
export function tags(cluster: string, more: { member?: string; grouping?: string } = {}): Record<string, string> {
  return {
    [TAG_CLUSTER]: cluster,
    ...(more.member !== undefined ? { [TAG_MEMBER]: more.member } : {}),
    ...(more.grouping !== undefined ? { [TAG_GROUPING]: more.grouping } : {}),
  };
}

/** Live objects by member (and groups by grouping), nothing stray unless given. */
export function liveOf(
  o: {
    servers?: Record<string, ServerInfo>;
    volumes?: Record<string, VolumeInfo>;
    groups?: Record<string, ServerGroupInfo[]>;
  } & Partial<Pick<Live, "strayServers" | "strayVolumes" | "strayGroups">> = {},
): Live {
  return {
    servers: new Map(Object.entries(o.servers ?? {})),
    volumes: new Map(Object.entries(o.volumes ?? {})),
    groups: new Map(Object.entries(o.groups ?? {})),
    strayServers: o.strayServers ?? [],
    strayVolumes: o.strayVolumes ?? [],
    strayGroups: o.strayGroups ?? [],
  };
}

/** A state that remembers the given members (and server groups); everything else empty. */
export function stateOf(
  cluster: string,
  members: (Partial<MemberState> & Pick<MemberState, "name" | "type">)[],
  serverGroups: ClusterState["serverGroups"] = {},
): ClusterState {
  return {
    stateVersion: STATE_VERSION,
    clusterName: cluster,
    backendKind: "simulated",
    backendId: "simulated:test",
    mode: "pinned",
    members: Object.fromEntries(members.map((m) => [m.name, { id: "", status: "ACTIVE", ...m }])),
    serverGroups,
    placement: {},
    softViolations: [],
    brokenRules: [],
    missing: [],
  };
}
