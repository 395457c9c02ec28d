// Refresh: re-read every member and server group of a state from the cloud, and with a spec, the rules.
import { type ServerInfo, TAG_CLUSTER, TAG_MEMBER, type VolumeInfo } from "../backends/backend";
import type { ClusterSpec } from "../model/cluster";
import { record, sortRecord } from "../model/records";
import { type ClusterState, type MemberState, MISSING, type ServerGroupState, STATE_VERSION } from "../model/state";
import { cmp } from "../model/text";
import { withPorts } from "./addresses";
import type { Ctx } from "./context";
import { clusterPrefix, describeError, LifecycleError } from "./errors";
import { actualPlacement } from "./locate";
import { discover } from "./prepare";
import { keepApplied, maxOf, memberState, stripLocation } from "./state-builders";
import { isBroken } from "./survey";
import { evaluate } from "./verify";

/** Re-read every member and rule; missing members are marked MISSING and listed in `missing`. */
export async function refresh(ctx: Ctx, state: ClusterState, spec?: ClusterSpec): Promise<ClusterState> {
  const head = clusterPrefix(state.clusterName);
  const discovery = await discover(ctx, state.clusterName);
  const topology = discovery.topology;
  const servers = new Map<string, ServerInfo>();
  const volumes = new Map<string, VolumeInfo>();
  const tags = (member: string) => ({ [TAG_CLUSTER]: state.clusterName, [TAG_MEMBER]: member });
  try {
    await Promise.all(
      Object.values(state.members).map(async (m) => {
        if (m.type === "server") {
          const s = (m.id ? await ctx.ops.getServer(m.id) : undefined) ?? best(await ctx.ops.findServers(tags(m.name)));
          if (s) servers.set(m.name, s);
        } else {
          const v = (m.id ? await ctx.ops.getVolume(m.id) : undefined) ?? best(await ctx.ops.findVolumes(tags(m.name)));
          if (v) volumes.set(m.name, v);
        }
      }),
    );
    await withPorts(ctx, servers);
    const groups: Record<string, ServerGroupState> = record();
    await Promise.all(
      Object.values(state.serverGroups).map(async (g) => {
        const live = await ctx.ops.getServerGroup(g.id);
        if (live) groups[g.grouping] = { ...g, policy: live.policy, ...maxOf(live.maxServerPerHost) };
      }),
    );
    const members: Record<string, MemberState> = record();
    const nameOfServer = new Map([...servers].map(([name, s]) => [s.id, name]));
    for (const m of sortedValues(state.members)) {
      const obj = m.type === "server" ? servers.get(m.name) : volumes.get(m.name);
      members[m.name] = obj
        ? { ...memberState(m.name, obj, discovery.mode, topology, nameOfServer, m), ...keepApplied(m, obj) }
        : {
            ...stripLocation(m),
            id: "",
            status: MISSING,
          };
      // A server's group survives only if the group does.
      const sg = members[m.name]?.serverGroup;
      if (sg !== undefined && !Object.values(groups).some((g) => g.id === sg)) delete members[m.name]?.serverGroup;
    }
    const missing = Object.values(members)
      .filter((m) => m.status === MISSING)
      .map((m) => m.name)
      .sort(cmp);
    const actual = actualPlacement(discovery.mode, topology, servers, volumes);
    let brokenRules = state.brokenRules;
    let softViolations = state.softViolations;
    if (spec) {
      const evaluated = evaluate(spec, discovery.mode, actual.placement, actual.topology);
      brokenRules = evaluated.broken;
      softViolations = evaluated.soft;
    }
    return {
      ...state,
      stateVersion: STATE_VERSION,
      mode: discovery.mode,
      members,
      serverGroups: sortRecord(groups),
      placement: sortRecord(actual.placement),
      softViolations,
      brokenRules,
      missing,
    };
  } catch (e) {
    if (e instanceof LifecycleError) throw e;
    throw new LifecycleError("backend", `${head}refresh failed: ${describeError(e)}`, { cause: e });
  }
}

function sortedValues<T extends { name: string }>(r: Record<string, T>): T[] {
  return Object.values(r).sort((a, b) => cmp(a.name, b.name));
}

/** A healthy object first, then by id. */
function best<T extends { id: string; status: string }>(list: T[]): T | undefined {
  return [...list].sort((a, b) => Number(isBroken(a.status)) - Number(isBroken(b.status)) || cmp(a.id, b.id))[0];
}
