// The builders of ClusterState: after a successful apply (finalState), as the cloud now is after a
// failure (partialState), from what a run made when even listing fails (ledgerState), and each
// member's entry (memberState).
import type { PlacementMode, ServerInfo, VolumeInfo } from "../backends/backend";
import type { Placement, SoftViolation } from "../model/placement";
import { record, sortRecord } from "../model/records";
import { type ClusterState, type MemberState, type ServerGroupState, STATE_VERSION } from "../model/state";
import { cmp } from "../model/text";
import type { Topology } from "../model/topology";
import { reachOf } from "./addresses";
import { type Ctx, isCompleted, type Run } from "./context";
import type { EditField } from "./inputs";
import { actualPlacement, serverLocation } from "./locate";
import { survey } from "./survey";

export function finalState(
  ctx: Ctx,
  run: Run,
  verified: { soft: SoftViolation[]; placement: Placement },
): ClusterState {
  const { p } = run;
  const nameOfServer = new Map([...run.servers].map(([name, s]) => [s.id, name]));
  const groupIdOf = (name: string): string | undefined => {
    const grouping = p.rules.groupOf[name];
    if (run.made.has(name)) return grouping !== undefined ? run.groupIds.get(grouping) : undefined;
    const before = p.state?.members[name]?.serverGroup;
    if (before !== undefined) return [...run.groupIds.values()].includes(before) ? before : undefined;
    // Adopted from a run that crashed before writing state: the kept group it is a member of.
    const id = grouping !== undefined ? run.groupIds.get(grouping) : undefined;
    const serverId = run.servers.get(name)?.id;
    const group = [...p.live.groups.values()].flat().find((g) => g.id === id);
    return id !== undefined && serverId !== undefined && group?.members.includes(serverId) ? id : undefined;
  };
  const members: Record<string, MemberState> = record();
  for (const m of [...p.spec.members].sort((a, b) => cmp(a.name, b.name))) {
    const obj = m.type === "server" ? run.servers.get(m.name) : run.volumes.get(m.name);
    if (!obj) continue;
    const ms = memberState(m.name, obj, p.mode, p.discovery.topology, nameOfServer);
    const sg = m.type === "server" ? groupIdOf(m.name) : undefined;
    if (sg !== undefined) ms.serverGroup = sg;
    if (m.type === "volume" && m.volumeType !== undefined) ms.volumeType = m.volumeType;
    members[m.name] = ms;
  }
  const serverGroups: Record<string, ServerGroupState> = record();
  for (const g of p.rules.groups) {
    const id = run.groupIds.get(g.grouping);
    if (id !== undefined)
      serverGroups[g.grouping] = { grouping: g.grouping, id, policy: g.policy, ...maxOf(g.maxServerPerHost) };
  }
  return {
    stateVersion: STATE_VERSION,
    clusterName: p.spec.name,
    backendKind: ctx.backend.kind,
    backendId: ctx.options.backendId ?? ctx.backend.description,
    mode: p.mode,
    members,
    serverGroups,
    placement: sortRecord(verified.placement),
    softViolations: verified.soft,
    brokenRules: [],
    missing: [],
  };
}

/** Per member: the edits a run planned and did not make, and the metadata keys it was to delete. */
export type Unfinished = Map<string, { fields: EditField[]; staleMetadataKeys: string[] }>;

/** What a failed update leaves pending (MemberState.pending): what it planned minus what it made. */
export function unfinishedEdits(run: Run): Unfinished {
  const out: Unfinished = new Map();
  const c = run.p.changes;
  if (!c) return out;
  const add = (member: string, field: EditField, stale: string[] = []) => {
    if (isCompleted(run, member, field)) return;
    const entry = out.get(member) ?? { fields: [], staleMetadataKeys: [] };
    if (!entry.fields.includes(field)) entry.fields.push(field);
    entry.staleMetadataKeys.push(...stale);
    out.set(member, entry);
  };
  for (const r of c.resizes) add(r.member, "flavor");
  for (const r of c.rebuilds) {
    if (r.image) add(r.member, "image");
    if (r.keyName) add(r.member, "key_name");
    if (r.userData) add(r.member, "user_data");
  }
  for (const n of c.networks) add(n.member, "networks");
  for (const g of c.securityGroups) add(g.member, "security_groups");
  for (const md of c.metadata) add(md.member, "metadata", md.remove);
  for (const e of c.extends) add(e.member, "size");
  for (const r of c.retypes) add(r.member, "volume_type");
  // A member replaced for an edit the cloud can't make in place: done once it is made again.
  for (const d of c.deleteServers) {
    if (d.field !== undefined && d.member !== undefined && !run.made.has(d.member)) add(d.member, d.field);
  }
  return out;
}

/** The state as it now is on the cloud (after a failed update or rollback). */
export async function partialState(
  ctx: Ctx,
  clusterName: string,
  mode: PlacementMode,
  topology: Topology | undefined,
  state?: ClusterState,
  unfinished: Unfinished = new Map(),
): Promise<ClusterState> {
  const live = await survey(ctx.ops, clusterName, state);
  const topo = topology ?? (await ctx.ops.discover()).topology;
  const nameOfServer = new Map([...live.servers].map(([name, s]) => [s.id, name]));
  const members: Record<string, MemberState> = record();
  const serverGroups: Record<string, ServerGroupState> = record();
  const groupOfServer = new Map<string, string>();
  for (const [grouping, list] of [...live.groups].sort((a, b) => cmp(a[0], b[0]))) {
    const g = list[0];
    if (!g) continue;
    serverGroups[grouping] = { grouping, id: g.id, policy: g.policy, ...maxOf(g.maxServerPerHost) };
    for (const list2 of list) for (const sid of list2.members) groupOfServer.set(sid, list2.id);
  }
  for (const [name, s] of [...live.servers].sort((a, b) => cmp(a[0], b[0]))) {
    const ms = memberState(name, s, mode, topo, nameOfServer, state?.members[name]);
    const sg = groupOfServer.get(s.id);
    if (sg !== undefined) ms.serverGroup = sg;
    members[name] = ms;
  }
  for (const [name, v] of [...live.volumes].sort((a, b) => cmp(a[0], b[0]))) {
    members[name] = memberState(name, v, mode, topo, nameOfServer, state?.members[name]);
  }
  for (const [name, u] of unfinished) {
    const m = members[name];
    if (!m) continue;
    m.pending = [...u.fields].sort(cmp);
    const stale = [...new Set(u.staleMetadataKeys)].sort(cmp);
    if (stale.length > 0) m.staleMetadataKeys = stale;
  }
  const actual = actualPlacement(mode, topo, live.servers, live.volumes);
  return {
    stateVersion: STATE_VERSION,
    clusterName,
    backendKind: ctx.backend.kind,
    backendId: state?.backendId ?? ctx.options.backendId ?? ctx.backend.description,
    mode,
    members: sortRecord(members),
    serverGroups,
    placement: sortRecord(actual.placement),
    softViolations: state?.softViolations ?? [],
    brokenRules: state?.brokenRules ?? [],
    missing: [],
  };
}

/** Last resort when the cloud can't even be listed after a failed rollback: what this run knows it made. */
export function ledgerState(ctx: Ctx, clusterName: string, run: Run): ClusterState {
  const members: Record<string, MemberState> = record();
  for (const [name, s] of run.servers) {
    if (run.ledger.servers.has(s.id)) members[name] = { name, type: "server", id: s.id, status: s.status };
  }
  for (const [name, v] of run.volumes) {
    if (run.ledger.volumes.has(v.id)) members[name] = { name, type: "volume", id: v.id, status: v.status };
  }
  return {
    stateVersion: STATE_VERSION,
    clusterName,
    backendKind: ctx.backend.kind,
    backendId: ctx.options.backendId ?? ctx.backend.description,
    mode: run.p.mode,
    members: sortRecord(members),
    serverGroups: {},
    placement: {},
    softViolations: [],
    brokenRules: [],
    missing: [],
  };
}

export function memberState(
  name: string,
  obj: ServerInfo | VolumeInfo,
  mode: PlacementMode,
  topology: Topology,
  nameOfServer: Map<string, string>,
  before?: MemberState,
): MemberState {
  if ("flavorRef" in obj) {
    const at = serverLocation(obj, mode, topology);
    return {
      name,
      type: "server",
      id: obj.id,
      status: obj.status,
      ...(obj.zone !== undefined ? { zone: obj.zone } : {}),
      ...(mode === "pinned" && at?.type === "server" ? { rack: at.rack } : {}),
      ...(obj.host !== undefined ? { host: obj.host } : {}),
      ...(obj.hostId !== undefined ? { hostId: obj.hostId } : {}),
      ...(before?.serverGroup !== undefined ? { serverGroup: before.serverGroup } : {}),
      flavorRef: obj.flavorRef,
      imageRef: obj.imageRef,
      ...reachOf(obj),
      ...(obj.fault !== undefined ? { fault: obj.fault } : {}),
    };
  }
  const attached = obj.attachedTo.map((id) => nameOfServer.get(id)).find((n) => n !== undefined);
  const volumeType = obj.volumeType ?? before?.volumeType;
  return {
    name,
    type: "volume",
    id: obj.id,
    status: obj.status,
    ...(obj.zone !== undefined ? { zone: obj.zone } : {}),
    ...(obj.backend !== undefined ? { backend: obj.backend } : {}),
    sizeGb: obj.sizeGb,
    ...(volumeType !== undefined ? { volumeType } : {}),
    ...(attached !== undefined ? { attachedTo: attached } : {}),
    ...(attached !== undefined ? reachOf(obj) : {}),
    ...(obj.fault !== undefined ? { fault: obj.fault } : {}),
  };
}

/**
 * Refresh keeps what was applied (the spec's volume type) over what the cloud defaulted, and what a
 * failed update left pending.
 */
export function keepApplied(before: MemberState, obj: ServerInfo | VolumeInfo): Partial<MemberState> {
  const out: Partial<MemberState> = {};
  if (before.pending !== undefined && before.pending.length > 0) out.pending = [...before.pending];
  if (before.staleMetadataKeys !== undefined) out.staleMetadataKeys = [...before.staleMetadataKeys];
  if (!("flavorRef" in obj) && before.volumeType !== undefined) out.volumeType = before.volumeType;
  return out;
}

export function stripLocation(m: MemberState): MemberState {
  const { host: _h, hostId: _i, backend: _b, fault: _f, attachedTo: _a, ...rest } = m;
  return rest;
}

export function maxOf(max: number | undefined): { maxServerPerHost?: number } {
  return max === undefined ? {} : { maxServerPerHost: max };
}
