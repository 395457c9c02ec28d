// The back half of every apply: make it so, in eight phases. Detach -> delete -> server groups ->
// in-place edits -> create (attaching the volumes it makes) -> other attachments -> verify (repair
// once) -> drop unused groups. The in-place edits of one member run in order (server: resize,
// rebuild, networks, security groups, metadata; volume: extend, retype, metadata), members side by
// side; each edit reads its member back (edit-actions.ts).
import { type ServerInfo, TAG_CLUSTER, TAG_GROUPING } from "../backends/backend";
import type { Member } from "../model/cluster";
import type { ClusterState } from "../model/state";
import { cmp } from "../model/text";
import { type Awaited, attach, createMember, deferred, detach, extend, resize } from "./actions";
import { withPorts } from "./addresses";
import type { ChangeSet } from "./changes";
import { type Ctx, emptyLedger, PhaseError, phase, type Run } from "./context";
import { changeMetadata, changeNetworks, changeSecurityGroups, rebuild, retype } from "./edit-actions";
import { clusterPrefix } from "./errors";
import { finalState, maxOf } from "./state-builders";
import { deleteObjects } from "./teardown";
import { verifyAndRepair } from "./verify";
import { WaitError } from "./wait";

export async function execute(ctx: Ctx, run: Run): Promise<ClusterState> {
  const { p } = run;
  const c = p.changes as ChangeSet;
  const head = clusterPrefix(p.spec.name);
  for (const [member, why] of c.moves) ctx.log("warn", `${head}member "${member}" must move (${why}); recreating it`);
  for (const note of p.notes) ctx.log("warn", note);

  // 1. Undo attachments that no longer hold.
  ctx.progress?.begin("detaching");
  await phase(run, c.detaches, (d) =>
    detach(ctx, d.serverId, d.volumeId, `volume "${d.volume}"`, run.abort, p.spec.name),
  );
  // 2. Delete what goes (members gone from the spec, strays, broken ones and the ones being replaced).
  const leaving = emptyLedger();
  for (const d of c.deleteServers) leaving.servers.add(d.id);
  for (const d of c.deleteVolumes) leaving.volumes.add(d.id);
  const deleted = await deleteObjects(ctx, leaving, run.abort, p.spec.name);
  if (deleted.length > 0) throw new PhaseError(deleted);
  for (const d of [...c.deleteServers, ...c.deleteVolumes]) {
    if (d.member === undefined) continue;
    if (run.servers.get(d.member)?.id === d.id) run.servers.delete(d.member);
    if (run.volumes.get(d.member)?.id === d.id) run.volumes.delete(d.member);
  }
  // 3. Server groups.
  await phase(run, c.createGroups, async (g) => {
    const created = await ctx.ops.createServerGroup({
      name: `${p.spec.name}-${g.grouping}`,
      policy: g.policy,
      ...maxOf(g.maxServerPerHost),
      metadata: { [TAG_CLUSTER]: p.spec.name, [TAG_GROUPING]: g.grouping },
    });
    run.ledger.groups.add(created.id);
    run.groupIds.set(g.grouping, created.id);
  });
  // 4. In-place changes of existing members.
  const inPlace = new Map<string, (() => Promise<void>)[]>();
  const add = (member: string, f: () => Promise<void>) => inPlace.set(member, [...(inPlace.get(member) ?? []), f]);
  for (const r of c.resizes) add(r.member, () => resize(ctx, run, r.member, r.id, r.to));
  for (const r of c.rebuilds) add(r.member, () => rebuild(ctx, run, r));
  for (const n of c.networks) add(n.member, () => changeNetworks(ctx, run, n));
  for (const g of c.securityGroups) add(g.member, () => changeSecurityGroups(ctx, run, g));
  for (const e of c.extends) add(e.member, () => extend(ctx, run, e.member, e.id, e.to));
  for (const r of c.retypes) add(r.member, () => retype(ctx, run, r));
  for (const md of c.metadata) add(md.member, () => changeMetadata(ctx, run, md));
  ctx.progress?.begin("updating", inPlace.size);
  await phase(
    run,
    [...inPlace].sort((a, b) => cmp(a[0], b[0])),
    async ([, fs]) => {
      for (const f of fs) await f();
      ctx.progress?.advance();
    },
  );
  // 5. Create members, servers and volumes together, and attach each new volume as soon as it and its
  // server are ready. A volume waits for its server's host when a hint needs it (set during BUILD,
  // well before ACTIVE), so the servers volumes wait for start first.
  const members = new Map(p.spec.members.map((m) => [m.name, m]));
  const awaitedServers = new Set(
    p.spec.members.flatMap((m) => (m.type === "volume" && m.attachTo ? [m.attachTo] : [])),
  );
  const toCreate = [...c.create.keys()].sort(
    (a, b) => Number(awaitedServers.has(b)) - Number(awaitedServers.has(a)) || cmp(a, b),
  );
  const awaited: Awaited = {
    ids: new Map(toCreate.map((n) => [n, deferred<string>()])),
    placed: new Map(toCreate.map((n) => [n, deferred<ServerInfo>()])),
    active: new Map(toCreate.map((n) => [n, deferred<string>()])),
  };
  const all = () => [...awaited.ids.values(), ...awaited.placed.values(), ...awaited.active.values()];
  // A member that never gets made (another one failed first) releases whoever waits on it.
  run.abort.signal.addEventListener("abort", () => {
    for (const d of all()) d.reject(new Error("stopped"));
  });
  const attachOf = new Map(c.attaches.filter((a) => c.create.has(a.volume)).map((a) => [a.volume, a]));
  const after = bootOrder(run, toCreate);
  let done = 0;
  const progressStep = Math.max(1, Math.ceil(toCreate.length / 5));
  ctx.progress?.begin("creating", toCreate.length);
  await phase(run, toCreate, async (name) => {
    const m = members.get(name) as Member;
    try {
      const previous = after.get(name);
      if (previous !== undefined) {
        await awaited.active.get(previous)?.promise.catch(() => undefined);
        if (run.abort.signal.aborted) throw new WaitError("aborted", "skipped");
      }
      await createMember(ctx, run, m, awaited);
    } finally {
      const notMade = new Error(`"${name}" was not created`);
      for (const d of [awaited.ids, awaited.placed, awaited.active]) d.get(name)?.reject(notMade);
    }
    done++;
    ctx.progress?.advance();
    // About five progress lines per create, and always the last one.
    if (done === toCreate.length || done % progressStep === 0) {
      ctx.log("info", `${head}created ${done}/${toCreate.length} members`);
    }
    const a = attachOf.get(name);
    if (a === undefined) return;
    await awaited.active.get(a.server)?.promise.catch(() => undefined);
    if (run.abort.signal.aborted) throw new WaitError("aborted", "skipped");
    await attach(ctx, run, a.volume, a.server);
  });
  // 6. The other attachments (of volumes kept or adopted).
  ctx.progress?.begin("attaching");
  await phase(
    run,
    c.attaches.filter((a) => !attachOf.has(a.volume)),
    (a) => attach(ctx, run, a.volume, a.server),
  );
  // 7. Verify the rules held on the cloud; repair once.
  ctx.progress?.begin("verifying");
  const verified = await verifyAndRepair(ctx, run);
  // 8. Server groups nobody needs any more.
  await phase(run, c.deleteGroups, (g) => ctx.ops.deleteServerGroup(g.id));
  // 9. What the outputs show that the servers' documents don't: their ports (one read each, if any).
  await withPorts(ctx, run.servers);
  return finalState(ctx, run, verified);
}

/**
 * Delegated mode: servers of one hard Nova server group boot one after another. Booted together, Nova's
 * scheduler can send two of them to one host before either is claimed; the compute host's late check then
 * puts one in ERROR ("instance group policy was violated") and the reschedule may find no host left (seen
 * on a 2-host zone). Pinned mode names every host itself, so it boots everything at once.
 * Returns, per server, the server it waits for.
 */
function bootOrder(run: Run, toCreate: string[]): Map<string, string> {
  const after = new Map<string, string>();
  if (run.p.mode !== "delegated") return after;
  const hard = new Set(
    run.p.rules.groups.filter((g) => g.policy === "anti-affinity" || g.policy === "affinity").map((g) => g.grouping),
  );
  const last = new Map<string, string>();
  for (const name of toCreate) {
    const grouping = run.p.rules.groupOf[name];
    if (grouping === undefined || !hard.has(grouping)) continue;
    const previous = last.get(grouping);
    if (previous !== undefined) after.set(name, previous);
    last.set(grouping, name);
  }
  return after;
}
