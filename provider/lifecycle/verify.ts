// Verification: read every member back, check the hard rules where the members really are, and
// repair once by recreating members made in this run.
import type { PlacementMode, ServerInfo, VolumeInfo } from "../backends/backend";
import type { ClusterSpec, Member } from "../model/cluster";
import type { Placement, SoftViolation } from "../model/placement";
import type { BrokenRule } from "../model/state";
import { cmp } from "../model/text";
import type { Topology } from "../model/topology";
import { evaluatePlacement } from "../placement";
import { attach, createMember, detach, waitServer, waitVolume } from "./actions";
import { type Ctx, PhaseError, phase, type Run } from "./context";
import { clusterPrefix, withCauses } from "./errors";
import { actualPlacement } from "./locate";
import { verifiableSpec } from "./rules";
import { SERVER_GONE, VOLUME_GONE } from "./wait";

export function evaluate(
  spec: ClusterSpec,
  mode: PlacementMode,
  placement: Placement,
  topology: Topology,
): { broken: BrokenRule[]; soft: SoftViolation[] } {
  const checkable = restrictSpec(verifiableSpec(spec, mode), new Set(Object.keys(placement)));
  const result = evaluatePlacement(checkable, topology, placement, { currentIsCounted: true, current: placement });
  const broken = result.hardViolations
    .filter((v) => v.grouping !== undefined)
    .map((v) => ({
      ...(v.grouping !== undefined ? { grouping: v.grouping } : {}),
      members: [...v.members].sort(cmp),
      message: v.message,
    }))
    .sort((a, b) => cmp(a.grouping ?? "", b.grouping ?? "") || cmp(a.message, b.message));
  return { broken, soft: result.softViolations };
}

/** Reads every member back and checks the hard rules on where they really are. */
async function verify(
  ctx: Ctx,
  run: Run,
): Promise<{ broken: BrokenRule[]; soft: SoftViolation[]; placement: Placement }> {
  const { p } = run;
  const causes: string[] = [];
  await Promise.all(
    p.spec.members.map(async (m) => {
      if (m.type === "server") {
        const id = run.servers.get(m.name)?.id;
        const s = id !== undefined ? await ctx.ops.getServer(id) : undefined;
        if (!s) causes.push(`server "${m.name}" disappeared`);
        else if (s.status !== "ACTIVE") causes.push(`server "${m.name}" is ${s.status}, expected ACTIVE`);
        else run.servers.set(m.name, s);
      } else {
        const id = run.volumes.get(m.name)?.id;
        const v = id !== undefined ? await ctx.ops.getVolume(id) : undefined;
        const want = m.attachTo !== undefined ? "in-use" : "available";
        if (!v) causes.push(`volume "${m.name}" disappeared`);
        else if (v.status !== want) causes.push(`volume "${m.name}" is ${v.status}, expected ${want}`);
        else run.volumes.set(m.name, v);
      }
    }),
  );
  if (causes.length > 0) throw new PhaseError(causes);
  const actual = actualPlacement(p.mode, p.discovery.topology, run.servers, run.volumes);
  if (actual.unknown.length > 0) {
    ctx.log(
      "warn",
      `${clusterPrefix(p.spec.name)}can't see where ${actual.unknown.map((n) => `"${n}"`).join(", ")} are; their rules were not verified`,
    );
  }
  return { ...evaluate(p.spec, p.mode, actual.placement, actual.topology), placement: actual.placement };
}

export async function verifyAndRepair(ctx: Ctx, run: Run): Promise<{ soft: SoftViolation[]; placement: Placement }> {
  const head = clusterPrefix(run.p.spec.name);
  const first = await verify(ctx, run);
  if (first.broken.length === 0) return first;
  const culprits = new Set<string>();
  const unrepairable: string[] = [];
  for (const b of first.broken) {
    const picked = culpritsOf(run, b, first.placement);
    if (picked.length === 0) unrepairable.push(brokenCause(b));
    for (const m of picked) culprits.add(m);
  }
  if (unrepairable.length > 0) throw new PhaseError(unrepairable);
  const list = [...culprits].sort(cmp);
  ctx.log(
    "warn",
    withCauses(
      `${head}rules broken on the cloud; recreating ${list.map((n) => `"${n}"`).join(", ")}`,
      first.broken.map(brokenCause),
    ),
  );
  await phase(run, list, (name) => recreate(ctx, run, name));
  const second = await verify(ctx, run);
  if (second.broken.length > 0) {
    throw new PhaseError(second.broken.map((b) => `${brokenCause(b)}, still after recreating members`));
  }
  return second;
}

/**
 * Which members of a broken rule to recreate: only ones made in this run (existing members are
 * never destroyed to repair); in pinned mode the ones not where the plan put them; otherwise all
 * but the first, so Nova's group places the rest against it.
 */
function culpritsOf(run: Run, b: BrokenRule, actual: Placement): string[] {
  const made = b.members.filter((m) => run.made.has(m)).sort(cmp);
  if (made.length === 0) return [];
  if (run.p.mode === "pinned") {
    const off = made.filter((m) => !samePlace(actual[m], run.placement[m]));
    if (off.length > 0) return off;
  }
  return made.length === b.members.length ? made.slice(1) : made;
}

/** Delete a member and make it again: detach its attachments, delete, wait, create, reattach. */
async function recreate(ctx: Ctx, run: Run, name: string): Promise<void> {
  const m = run.p.spec.members.find((x) => x.name === name) as Member;
  const reattach: { volume: string; server: string }[] = [];
  if (m.type === "server") {
    const s = run.servers.get(name) as ServerInfo;
    for (const [vName, v] of run.volumes) {
      if (!v.attachedTo.includes(s.id)) continue;
      await detach(ctx, s.id, v.id, `volume "${vName}"`, run.abort, run.p.spec.name);
      reattach.push({ volume: vName, server: name });
    }
    await ctx.ops.deleteServer(s.id);
    await waitServer(
      ctx,
      s.id,
      `server "${name}"`,
      SERVER_GONE,
      ctx.timeouts.deleteMs,
      run.abort.signal,
      run.p.spec.name,
    );
    run.ledger.servers.delete(s.id);
  } else {
    const v = run.volumes.get(name) as VolumeInfo;
    for (const serverId of v.attachedTo)
      await detach(ctx, serverId, v.id, `volume "${name}"`, run.abort, run.p.spec.name);
    if (m.attachTo !== undefined) reattach.push({ volume: name, server: m.attachTo });
    await ctx.ops.deleteVolume(v.id);
    await waitVolume(
      ctx,
      v.id,
      `volume "${name}"`,
      VOLUME_GONE,
      ctx.timeouts.deleteMs,
      run.abort.signal,
      false,
      run.p.spec.name,
    );
    run.ledger.volumes.delete(v.id);
  }
  await createMember(ctx, run, m);
  for (const a of reattach) await attach(ctx, run, a.volume, a.server);
}

function brokenCause(b: BrokenRule): string {
  return `${b.message} on the cloud (${b.members.map((m) => `"${m}"`).join(", ")})`;
}

function samePlace(a: Placement[string] | undefined, b: Placement[string] | undefined): boolean {
  if (!a || !b || a.type !== b.type) return false;
  return a.type === "server" && b.type === "server"
    ? a.host === b.host
    : a.type === "volume" && b.type === "volume" && a.backend === b.backend;
}

/** The spec cut down to the given members (for checking rules over what exists). */
function restrictSpec(spec: ClusterSpec, names: Set<string>): ClusterSpec {
  return {
    ...spec,
    members: spec.members.filter((m) => names.has(m.name)),
    groupings: spec.groupings
      .map((g) => ({ ...g, members: g.members.filter((m) => names.has(m)) }))
      .filter((g) => g.members.length >= 2),
  };
}
