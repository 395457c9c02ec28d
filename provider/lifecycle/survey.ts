// What of a cluster exists right now: every object tagged with the cluster's name, plus the
// state's ids (a fallback for objects whose tags were lost). Each member gets at most one object
// (a healthy one before a broken one, the state's first, then by id); the rest are strays to delete.
import {
  type ServerGroupInfo,
  type ServerInfo,
  TAG_CLUSTER,
  TAG_GROUPING,
  TAG_MEMBER,
  type VolumeInfo,
} from "../backends/backend";
import type { ClusterState } from "../model/state";
import { cmp } from "../model/text";
import { waitServer, waitVolume } from "./actions";
import type { Ctx } from "./context";
import { clusterPrefix, describeError, LifecycleError } from "./errors";
import type { Ops } from "./ops";
import { SERVER_SETTLED, VOLUME_AT_REST, WaitError } from "./wait";

export interface Live {
  /** Member name -> its object. */
  servers: Map<string, ServerInfo>;
  volumes: Map<string, VolumeInfo>;
  /** Grouping -> every live group tagged with it (the diff keeps the one that fits). */
  groups: Map<string, ServerGroupInfo[]>;
  /** Duplicates and objects tagged with the cluster but no member: always deleted. */
  strayServers: ServerInfo[];
  strayVolumes: VolumeInfo[];
  strayGroups: ServerGroupInfo[];
}

const DEAD_SERVER = new Set(["DELETED", "SOFT_DELETED"]);
const DEAD_VOLUME = new Set(["deleting", "error_deleting"]);

export function isBroken(status: string): boolean {
  return status === "ERROR" || status === "error";
}

export async function survey(ops: Ops, clusterName: string, state?: ClusterState): Promise<Live> {
  const tags = { [TAG_CLUSTER]: clusterName };
  const [servers, volumes, groups] = await Promise.all([
    ops.findServers(tags),
    ops.findVolumes(tags),
    ops.findServerGroups(tags),
  ]);
  // Objects the state knows but the tag search missed.
  const byIdServer = new Map(servers.map((s) => [s.id, s]));
  const byIdVolume = new Map(volumes.map((v) => [v.id, v]));
  const stateIds = new Set<string>();
  const memberById = new Map<string, string>();
  const lookups: Promise<void>[] = [];
  for (const m of sortedMembers(state)) {
    if (!m.id) continue;
    stateIds.add(m.id);
    memberById.set(m.id, m.name);
    if (m.type === "server" && !byIdServer.has(m.id)) {
      lookups.push(
        ops.getServer(m.id).then((s) => {
          if (s) servers.push(s);
        }),
      );
    }
    if (m.type === "volume" && !byIdVolume.has(m.id)) {
      lookups.push(
        ops.getVolume(m.id).then((v) => {
          if (v) volumes.push(v);
        }),
      );
    }
  }
  const groupIds = new Map(Object.values(state?.serverGroups ?? {}).map((g) => [g.id, g.grouping]));
  for (const [id] of groupIds) {
    if (groups.some((g) => g.id === id)) continue;
    lookups.push(
      ops.getServerGroup(id).then((g) => {
        if (g) groups.push(g);
      }),
    );
  }
  await Promise.all(lookups);

  const live: Live = {
    servers: new Map(),
    volumes: new Map(),
    groups: new Map(),
    strayServers: [],
    strayVolumes: [],
    strayGroups: [],
  };
  const memberOf = (o: { id: string; metadata: Record<string, string> }): string | undefined =>
    memberById.get(o.id) ?? o.metadata[TAG_MEMBER];
  pick(
    servers.filter((s) => !DEAD_SERVER.has(s.status)),
    memberOf,
    stateIds,
    live.servers,
    live.strayServers,
  );
  pick(
    volumes.filter((v) => !DEAD_VOLUME.has(v.status)),
    memberOf,
    stateIds,
    live.volumes,
    live.strayVolumes,
  );
  for (const g of [...groups].sort((a, b) => cmp(a.id, b.id))) {
    const grouping = groupIds.get(g.id) ?? g.metadata[TAG_GROUPING];
    if (grouping === undefined) live.strayGroups.push(g);
    else live.groups.set(grouping, [...(live.groups.get(grouping) ?? []), g]);
  }
  return live;
}

function pick<T extends { id: string; status: string; metadata: Record<string, string> }>(
  objects: T[],
  memberOf: (o: T) => string | undefined,
  stateIds: Set<string>,
  chosen: Map<string, T>,
  strays: T[],
): void {
  const byMember = new Map<string, T[]>();
  const seen = new Set<string>();
  for (const o of objects) {
    if (seen.has(o.id)) continue;
    seen.add(o.id);
    const member = memberOf(o);
    if (member === undefined) strays.push(o);
    else byMember.set(member, [...(byMember.get(member) ?? []), o]);
  }
  for (const member of [...byMember.keys()].sort(cmp)) {
    const candidates = (byMember.get(member) ?? []).sort(
      (a, b) =>
        Number(isBroken(a.status)) - Number(isBroken(b.status)) ||
        Number(stateIds.has(b.id)) - Number(stateIds.has(a.id)) ||
        cmp(a.id, b.id),
    );
    const [first, ...rest] = candidates;
    if (first) chosen.set(member, first);
    strays.push(...rest);
  }
  strays.sort((a, b) => cmp(a.id, b.id));
}

/** Statuses a server or volume leaves by itself: a previous run's work still under way. */
const SERVER_IN_PROGRESS = new Set(SERVER_SETTLED.pending);
const VOLUME_IN_PROGRESS = new Set(VOLUME_AT_REST.pending);

/**
 * Waits for the members a previous (crashed) run left in progress to settle: a server still in BUILD
 * has no host yet (so placement can't see where it will be, and Nova refuses to attach to it), a
 * volume still creating or attaching can't be attached or deleted. Returns `live` with them re-read;
 * one that vanished meanwhile is dropped (it will be made again). Strays are left alone: they go.
 */
export async function settle(ctx: Ctx, clusterName: string, live: Live): Promise<Live> {
  const servers = [...live.servers].filter(([, s]) => SERVER_IN_PROGRESS.has(s.status));
  const volumes = [...live.volumes].filter(([, v]) => VOLUME_IN_PROGRESS.has(v.status));
  if (servers.length === 0 && volumes.length === 0) return live;
  const head = clusterPrefix(clusterName);
  const list = [...servers.map(([n, s]) => `"${n}" ${s.status}`), ...volumes.map(([n, v]) => `"${n}" ${v.status}`)];
  ctx.log("info", `${head}waiting for what a previous run left in progress to settle: ${list.sort(cmp).join(", ")}`);
  const out: Live = { ...live, servers: new Map(live.servers), volumes: new Map(live.volumes) };
  const causes: string[] = [];
  const gone = (e: unknown) => e instanceof WaitError && e.kind === "vanished";
  await Promise.all([
    ...servers.map(async ([name, s]) => {
      try {
        const now = await waitServer(
          ctx,
          s.id,
          `server "${name}"`,
          SERVER_SETTLED,
          ctx.timeouts.serverMs,
          undefined,
          clusterName,
        );
        if (now) out.servers.set(name, now);
        else out.servers.delete(name);
      } catch (e) {
        if (gone(e)) out.servers.delete(name);
        else causes.push(describeError(e));
      }
    }),
    ...volumes.map(async ([name, v]) => {
      const what = `volume "${name}"`;
      try {
        const now = await waitVolume(
          ctx,
          v.id,
          what,
          VOLUME_AT_REST,
          ctx.timeouts.volumeMs,
          undefined,
          true,
          clusterName,
        );
        if (now) out.volumes.set(name, now);
        else out.volumes.delete(name);
      } catch (e) {
        causes.push(describeError(e));
      }
    }),
  ]);
  if (causes.length > 0) {
    const timedOut = causes.every((c) => c.includes(" within "));
    throw new LifecycleError(
      timedOut ? "timeout" : "backend",
      `${head}what a previous run left in progress did not settle: ${causes.sort(cmp).join("; ")}`,
    );
  }
  return out;
}

function sortedMembers(state?: ClusterState) {
  return Object.values(state?.members ?? {}).sort((a, b) => cmp(a.name, b.name));
}
