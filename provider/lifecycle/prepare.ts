// The front half of every plan and apply: read and decide. Discover the cloud, survey what exists,
// diff against the spec, place (existing members stay), and check quota and images.
import type { Discovery, PlacementMode, ServerInfo, VolumeInfo } from "../backends/backend";
import type { ClusterSpec } from "../model/cluster";
import type { Placement, PlacementResult } from "../model/placement";
import { record } from "../model/records";
import type { ClusterState } from "../model/state";
import { cmp } from "../model/text";
import type { Topology } from "../model/topology";
import { place } from "../placement";
import { type Baseline, baseline, type ChangeSet, changes } from "./changes";
import type { Ctx } from "./context";
import { clusterPrefix, describeError, LifecycleError } from "./errors";
import { type RefIdentity, resolveIdentity } from "./identity";
import { coarseTopology, releaseUsage, serverLocation, volumeLocation } from "./locate";
import { quotaDemand, quotaProblems } from "./quota";
import { coarseSpec, mapRules, type RuleMapping } from "./rules";
import { isBroken, type Live, settle, survey } from "./survey";

export interface Prepared {
  spec: ClusterSpec;
  state?: ClusterState;
  discovery: Discovery;
  mode: PlacementMode;
  rules: RuleMapping;
  live: Live;
  /** Flavor and image refs compared by what they mean, not how they are written. */
  identity: RefIdentity;
  base: Baseline;
  result: PlacementResult;
  changes?: ChangeSet;
  /** Quotas the apply would exceed, one line each. */
  quota: string[];
  /** Images that can't be booted, one line each. */
  images: string[];
}

export async function discover(ctx: Ctx, clusterName: string): Promise<Discovery> {
  try {
    return await ctx.ops.discover();
  } catch (e) {
    throw new LifecycleError(
      "backend",
      `${clusterPrefix(clusterName)}can't read the ${ctx.backend.description}: ${describeError(e)}`,
      {
        cause: e,
      },
    );
  }
}

export interface PrepareOptions {
  /**
   * Apply: first wait for members a previous run left in progress (BUILD, creating, attaching...)
   * to settle, so they are diffed and placed where they end up, not half-made. A plan doesn't wait.
   */
  settle?: boolean;
}

export async function prepare(
  ctx: Ctx,
  spec: ClusterSpec,
  state?: ClusterState,
  options: PrepareOptions = {},
): Promise<Prepared> {
  const discovery = await discover(ctx, spec.name);
  const mode = discovery.mode;
  const rules = mapRules(spec, mode);
  let live: Live;
  try {
    live = await survey(ctx.ops, spec.name, state);
  } catch (e) {
    throw new LifecycleError(
      "backend",
      `${clusterPrefix(spec.name)}can't list what exists on the ${ctx.backend.description}: ${describeError(e)}`,
      { cause: e },
    );
  }
  if (options.settle) live = await settle(ctx, spec.name, live);
  let identity: RefIdentity;
  try {
    identity = await resolveIdentity(ctx.backend, spec, discovery.topology.flavors, live);
  } catch (e) {
    throw new LifecycleError(
      "backend",
      `${clusterPrefix(spec.name)}can't look up images on the ${ctx.backend.description}: ${describeError(e)}`,
      { cause: e },
    );
  }
  const base = baseline(spec, state, live);

  // The engine sees the cluster's existing members where they are, with their usage already counted.
  const current: Placement = record();
  for (const [name, s] of base.kept.server) {
    const at = serverLocation(s, mode, discovery.topology);
    if (at) current[name] = at;
  }
  for (const [name, v] of base.kept.volume) {
    const at = volumeLocation(v, mode, discovery.topology);
    if (at) current[name] = at;
  }
  let topology: Topology;
  if (mode === "pinned") {
    const leaving = new Set([...base.deleteServers, ...base.deleteVolumes].map((d) => d.id));
    const allServers = [...live.servers.values(), ...live.strayServers];
    const allVolumes = [...live.volumes.values(), ...live.strayVolumes];
    topology = releaseUsage(
      discovery.topology,
      allServers.filter((s) => leaving.has(s.id) && !isBroken(s.status)).map(usageOfServer),
      allVolumes.filter((v) => leaving.has(v.id) && !isBroken(v.status)).map(usageOfVolume),
    );
  } else {
    topology = coarseTopology(discovery);
  }
  const engineSpec = mode === "pinned" ? spec : coarseSpec(spec);
  const result = place({
    spec: engineSpec,
    topology,
    current,
    currentIsCounted: true,
    ...(ctx.options.seed !== undefined ? { seed: ctx.options.seed } : {}),
  });
  const p: Prepared = {
    spec,
    discovery,
    mode,
    rules,
    live,
    identity,
    base,
    result,
    quota: [],
    images: [],
    ...(state ? { state } : {}),
  };
  if (result.placed) p.changes = changes(spec, base, live, rules, result.moves, identity);
  const demand = quotaDemand(spec, p.changes ?? base, live, discovery.topology.flavors);
  p.quota = quotaProblems(spec.name, demand, discovery.quota, state !== undefined);
  p.images = await imageProblems(ctx, spec, p.changes ?? base, p.changes?.rebuilds ?? []);
  return p;
}

/** Images the servers to create or rebuild would boot from but the cloud can't: blocking, like quota. */
async function imageProblems(
  ctx: Ctx,
  spec: ClusterSpec,
  c: Baseline,
  rebuilds: { member: string; to: string }[],
): Promise<string[]> {
  const users = new Map<string, string[]>();
  const use = (ref: string, member: string) => users.set(ref, [...(users.get(ref) ?? []), member]);
  for (const m of spec.members) if (m.type === "server" && c.create.has(m.name)) use(m.imageRef, m.name);
  for (const r of rebuilds) use(r.to, r.member);
  if (users.size === 0) return [];
  let problems: Record<string, string>;
  try {
    problems = await ctx.backend.imageProblems([...users.keys()].sort(cmp));
  } catch (e) {
    throw new LifecycleError(
      "backend",
      `${clusterPrefix(spec.name)}can't look up images on the ${ctx.backend.description}: ${describeError(e)}`,
      { cause: e },
    );
  }
  return Object.keys(problems)
    .sort(cmp)
    .map((ref) => {
      const members = (users.get(ref) ?? []).sort(cmp);
      return `${clusterPrefix(spec.name)}image "${ref}" of ${members.map((m) => `"${m}"`).join(", ")} ${problems[ref]}`;
    });
}

/** What makes apply refuse before touching the cloud: rules the mode can't express, impossible changes, quota. */
export function blockingOf(p: Prepared): string[] {
  return [...p.rules.blocking, ...p.base.problems, ...p.quota, ...p.images].sort();
}

export function usageOfServer(s: ServerInfo): { host?: string; flavorRef: string } {
  return { ...(s.host !== undefined ? { host: s.host } : {}), flavorRef: s.flavorRef };
}

export function usageOfVolume(v: VolumeInfo): { backend?: string; sizeGb: number } {
  return { ...(v.backend !== undefined ? { backend: v.backend } : {}), sizeGb: v.sizeGb };
}
