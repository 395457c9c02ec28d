// The images and flavors a spec names that the cloud doesn't have. Every one is found in one round
// and reported the same way, as what makes apply refuse (exit 1 for the command, a failed preview):
// a spec with a misspelled image and a misspelled flavor hears of both at once. Images are asked of
// the backend (Glance, or the simulated cloud's list); flavors are looked up in what discovery found.
import { closest } from "../clusterspec/suggest";
import type { ClusterSpec } from "../model/cluster";
import type { Explanation, PlacementResult } from "../model/placement";
import { cmp, listNames, quote } from "../model/text";
import { findFlavor, type Topology } from "../model/topology";
import type { Baseline } from "./changes";
import type { Ctx } from "./context";
import { clusterPrefix, describeError, LifecycleError } from "./errors";

export interface ReferenceProblem {
  kind: "image" | "flavor";
  /** The image or flavor as the spec names it. */
  ref: string;
  /** The members that name it, sorted. */
  members: string[];
  /** What is wrong with it: `does not exist (known flavors: …)`. */
  problem: string;
  hint?: string;
}

/** The line users read: `cluster "c": flavor "m9" of "a", "b" does not exist (…); hint: did you mean "m1"?` */
export function referenceLine(clusterName: string, r: ReferenceProblem): string {
  const of = r.members.map(quote).join(", ");
  return `${clusterPrefix(clusterName)}${r.kind} ${quote(r.ref)} of ${of} ${r.problem}${r.hint ? `; hint: ${r.hint}` : ""}`;
}

/**
 * The backend's answer about every image the spec's servers name, asked early (beside discovery),
 * before the changes say which are used (servers to create, rebuilds).
 */
export interface ImageLookup {
  refs: ReadonlySet<string>;
  answer: Promise<Record<string, string>>;
}

export function lookUpImages(ctx: Ctx, spec: ClusterSpec): ImageLookup {
  const refs = new Set<string>();
  for (const m of spec.members) if (m.type === "server") refs.add(m.imageRef);
  const answer = refs.size === 0 ? Promise.resolve({}) : ctx.backend.imageProblems([...refs].sort(cmp));
  // Awaited only when an image is used: a failed lookup nobody needs is no failure.
  answer.catch(() => {});
  return { refs, answer };
}

/** Every image and flavor the spec names that can't be used, images first, each sorted by ref. */
export async function referenceProblems(
  ctx: Ctx,
  spec: ClusterSpec,
  c: Baseline,
  rebuilds: { member: string; to: string }[],
  flavors: Topology["flavors"],
  lookup?: ImageLookup,
): Promise<ReferenceProblem[]> {
  return [...(await imageProblems(ctx, spec, c, rebuilds, lookup)), ...flavorProblems(spec, flavors)];
}

/** Images the servers to create or rebuild would boot from but the cloud can't. */
async function imageProblems(
  ctx: Ctx,
  spec: ClusterSpec,
  c: Baseline,
  rebuilds: { member: string; to: string }[],
  lookup: ImageLookup | undefined,
): Promise<ReferenceProblem[]> {
  const users = new Map<string, string[]>();
  const use = (ref: string, member: string) => users.set(ref, [...(users.get(ref) ?? []), member]);
  for (const m of spec.members) if (m.type === "server" && c.create.has(m.name)) use(m.imageRef, m.name);
  for (const r of rebuilds) use(r.to, r.member);
  if (users.size === 0) return [];
  let problems: Record<string, string>;
  try {
    const asked = lookup && [...users.keys()].every((ref) => lookup.refs.has(ref));
    problems = await (asked ? lookup.answer : ctx.backend.imageProblems([...users.keys()].sort(cmp)));
  } catch (e) {
    throw new LifecycleError(
      "backend",
      `${clusterPrefix(spec.name)}can't look up images on the ${ctx.backend.description}: ${describeError(e)}`,
      { cause: e },
    );
  }
  return Object.keys(problems)
    .filter((ref) => users.has(ref))
    .sort(cmp)
    .map((ref) => ({
      kind: "image" as const,
      ref,
      members: (users.get(ref) ?? []).sort(cmp),
      problem: problems[ref] as string,
    }));
}

/**
 * Flavors of the spec's servers that the cloud doesn't list (by name or id), as the placement engine
 * sees them: every server, since a kept one names the flavor it is resized to.
 */
function flavorProblems(spec: ClusterSpec, flavors: Topology["flavors"]): ReferenceProblem[] {
  const users = new Map<string, string[]>();
  for (const m of spec.members) {
    if (m.type !== "server" || findFlavor(flavors, m.flavorRef)) continue;
    users.set(m.flavorRef, [...(users.get(m.flavorRef) ?? []), m.name]);
  }
  const known = Object.keys(flavors ?? {}).sort(cmp);
  return [...users.keys()].sort(cmp).map((ref) => {
    const near = closest(ref, known);
    return {
      kind: "flavor" as const,
      ref,
      members: (users.get(ref) ?? []).sort(cmp),
      problem: `does not exist (${known.length > 0 ? `known flavors: ${listNames(known, 8)}` : "the cloud lists no flavors"})`,
      ...(near !== undefined ? { hint: `did you mean ${quote(near)}?` } : {}),
    };
  });
}

/**
 * Why a plan can't be placed beyond what its reference problems already say: the engine's
 * explanation without its unknown_flavor causes (an unknown flavor is the one cause it gives, so
 * then there is nothing more), or undefined when the plan is placed or nothing is left.
 */
export function placementFailure(clusterName: string, placement: PlacementResult): Explanation | undefined {
  if (placement.placed) return undefined;
  const all = placement.explanation;
  const causes = all.causes.filter((c) => c.code !== "unknown_flavor");
  if (causes.length === all.causes.length) return all;
  const first = causes[0];
  if (!first) return undefined;
  const more = causes.length > 1 ? ` (and ${causes.length - 1} more cause${causes.length > 2 ? "s" : ""})` : "";
  return { ...all, causes, summary: `cluster ${quote(clusterName)} can't be placed: ${first.message}${more}` };
}
