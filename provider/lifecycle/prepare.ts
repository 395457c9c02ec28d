// The front half of every plan and apply: read and decide. Discover the cloud, survey what exists,
// diff against the spec, place (existing members stay), and check quota, images and flavors.
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
import { droppedVolumeType, History, type PreviousInputs } from "./inputs";
import { coarseTopology, releaseUsage, serverLocation, volumeLocation } from "./locate";
import { quotaDemand, quotaProblems } from "./quota";
import { lookUpImages, type ReferenceProblem, referenceLine, referenceProblems } from "./references";
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
  /** Images and flavors the spec names that the cloud doesn't have (references.ts). */
  references: ReferenceProblem[];
  /** What the user should know about edits that are not made (not blocking), one line each. */
  notes: string[];
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
  /** The spec the last apply was asked for: what edits of inputs the cloud doesn't show are seen against. */
  previous?: PreviousInputs;
}

export async function prepare(
  ctx: Ctx,
  spec: ClusterSpec,
  state?: ClusterState,
  options: PrepareOptions = {},
): Promise<Prepared> {
  // A cluster with no state creates its servers: their images are looked up beside discovery (with
  // state, only once the changes say which are used: a plan that changes nothing asks nothing). The
  // survey comes after discovery, not beside: a run killed mid-create may have left creates in flight
  // at the API, and the longer the survey waits the more of them it sees (one it misses is made
  // twice; crash-retry.test.ts on the dev cloud showed it).
  const images = state === undefined ? lookUpImages(ctx, spec) : undefined;
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
  const history = new History(options.previous, state);
  const base = baseline(spec, state, live, history);

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
    references: [],
    notes: inputNotes(spec, state, base, history),
    ...(state ? { state } : {}),
  };
  if (result.placed) p.changes = changes(spec, base, live, rules, result.moves, identity, history);
  const demand = quotaDemand(spec, p.changes ?? base, live, discovery.topology.flavors);
  p.quota = quotaProblems(spec.name, demand, discovery.quota, state !== undefined);
  p.references = await referenceProblems(
    ctx,
    spec,
    p.changes ?? base,
    p.changes?.rebuilds ?? [],
    discovery.topology.flavors,
    images,
  );
  return p;
}

/**
 * Edits that can't be seen or made, said rather than dropped: a cluster whose previous spec nobody kept
 * (a state of an older release), so changes of user_data, networks and security_groups can't be told
 * this once; a volume_type taken out of the spec (the volume keeps its type).
 */
function inputNotes(spec: ClusterSpec, state: ClusterState | undefined, base: Baseline, history: History): string[] {
  const head = clusterPrefix(spec.name);
  const notes: string[] = [];
  if (state !== undefined && !history.known) {
    const blind = spec.members
      .filter((m) => m.type === "server" && base.kept.server.has(m.name))
      .filter(
        (m) =>
          m.type === "server" &&
          (m.userData !== undefined || m.networks !== undefined || m.securityGroups !== undefined),
      )
      .map((m) => m.name)
      .sort(cmp);
    if (blind.length > 0) {
      notes.push(
        `${head}no record of the spec last applied (a state of an older release): changes of userData, networks or securityGroups of ${blind.map((n) => `"${n}"`).join(", ")} can't be seen in this run; this apply records them, later ones compare`,
      );
    }
  }
  if (history.known) {
    const unknown = spec.members
      .filter((m) => m.type === "server" && base.kept.server.has(m.name) && history.userDataChanged(m) === undefined)
      .map((m) => m.name)
      .sort(cmp);
    if (unknown.length > 0) {
      notes.push(
        `${head}can't tell whether the userData of ${unknown.map((n) => `"${n}"`).join(", ")} changed: it was recorded with another key (the state directory's user-data.key was replaced); nothing is rebuilt for it, and this apply records it anew`,
      );
    }
  }
  for (const m of spec.members) {
    if (m.type !== "volume" || !base.kept.volume.has(m.name)) continue;
    const kept = droppedVolumeType(m, history);
    if (kept !== undefined) {
      notes.push(
        `${head}volume "${m.name}" keeps its type "${kept}": volumeType was taken out of the spec, and a volume can't go back to "the cloud's default" (hint: name the type it should have)`,
      );
    }
  }
  return notes.sort(cmp);
}

/** What makes apply refuse before touching the cloud: rules the mode can't express, impossible changes, quota, unknown images and flavors. */
export function blockingOf(p: Prepared): string[] {
  const references = p.references.map((r) => referenceLine(p.spec.name, r));
  return [...p.rules.blocking, ...p.base.problems, ...p.quota, ...references].sort();
}

export function usageOfServer(s: ServerInfo): { host?: string; flavorRef: string } {
  return { ...(s.host !== undefined ? { host: s.host } : {}), flavorRef: s.flavorRef };
}

export function usageOfVolume(v: VolumeInfo): { backend?: string; sizeGb: number } {
  return { ...(v.backend !== undefined ? { backend: v.backend } : {}), sizeGb: v.sizeGb };
}
