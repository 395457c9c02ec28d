// Teardown: the rollback of a failed create, destroy, and the best-effort delete both share with
// apply's delete phase.
import { type ServerGroupInfo, type ServerInfo, TAG_CLUSTER, TAG_MEMBER, type VolumeInfo } from "../backends/backend";
import type { ClusterSpec } from "../model/cluster";
import type { ClusterState } from "../model/state";
import { cmp } from "../model/text";
import { detach, waitServer, waitVolume } from "./actions";
import { type Ctx, emptyLedger, type Ledger, type Run } from "./context";
import { clusterPrefix, describeError, LifecycleError, withCauses } from "./errors";
import { ledgerState, partialState } from "./state-builders";
import { SERVER_GONE, until, VOLUME_DELETABLE, VOLUME_GONE, WaitError } from "./wait";

/** Detach, delete servers and volumes, then server groups; waits until gone. Also sweeps tagged leftovers. */
export async function destroy(ctx: Ctx, state: ClusterState | { clusterName: string }): Promise<void> {
  const name = state.clusterName;
  const known = emptyLedger();
  if ("members" in state) {
    for (const m of Object.values(state.members)) {
      if (m.id) (m.type === "server" ? known.servers : known.volumes).add(m.id);
    }
    for (const g of Object.values(state.serverGroups)) known.groups.add(g.id);
  }
  const causes = await teardown(ctx, name, known);
  if (causes.length === 0) {
    ctx.log("info", `${clusterPrefix(name)}destroyed`);
    return;
  }
  const mode = "mode" in state ? state.mode : "pinned";
  const partial = await partialState(ctx, name, mode, undefined, "members" in state ? state : undefined).catch(
    () => undefined,
  );
  const timedOut = causes.every((c) => c.includes(" within "));
  throw new LifecycleError(
    timedOut ? "timeout" : "backend",
    withCauses(`${clusterPrefix(name)}destroy left objects behind; run destroy again`, causes),
    { ...(partial ? { partialState: partial } : {}) },
  );
}

/** Rolls back a failed create: everything tagged with the cluster or made in this run goes. */
export async function rollback(ctx: Ctx, spec: ClusterSpec, run: Run, causes: string[]): Promise<never> {
  const head = clusterPrefix(spec.name);
  ctx.log("warn", withCauses(`${head}create failed; rolling back`, causes));
  const left = await teardown(ctx, spec.name, run.ledger);
  if (left.length === 0) {
    throw new LifecycleError("create_failed", withCauses(`${head}create failed and was rolled back`, causes));
  }
  const partial = await partialState(ctx, spec.name, run.p.mode, run.p.discovery.topology).catch(() =>
    ledgerState(ctx, spec.name, run),
  );
  throw new LifecycleError(
    "rollback_failed",
    withCauses(
      `${head}create failed and rollback left objects behind (apply again to resume, or destroy to clean up)`,
      [...causes.map((c) => `cause: ${c}`), ...left.map((c) => `rollback: ${c}`)],
    ),
    { partialState: partial },
  );
}

/** Deletes every object of the cluster (by tag) plus the given ids; returns what failed. */
async function teardown(ctx: Ctx, clusterName: string, known: Ledger): Promise<string[]> {
  const all = emptyLedger();
  for (const id of known.servers) all.servers.add(id);
  for (const id of known.volumes) all.volumes.add(id);
  for (const id of known.groups) all.groups.add(id);
  let listed: [ServerInfo[], VolumeInfo[], ServerGroupInfo[]];
  try {
    const tags = { [TAG_CLUSTER]: clusterName };
    listed = await Promise.all([ctx.ops.findServers(tags), ctx.ops.findVolumes(tags), ctx.ops.findServerGroups(tags)]);
  } catch (e) {
    // Still delete what we know of; the next destroy sweeps the rest.
    return [
      `can't list the cluster's objects: ${describeError(e)}`,
      ...(await deleteObjects(ctx, all, undefined, clusterName)),
    ];
  }
  const [servers, volumes, groups] = listed;
  for (const s of servers) all.servers.add(s.id);
  for (const v of volumes) all.volumes.add(v.id);
  for (const g of groups) all.groups.add(g.id);
  const seen = {
    servers: new Map(servers.map((s) => [s.id, s])),
    volumes: new Map(volumes.map((v) => [v.id, v])),
    groups: new Map(groups.map((g) => [g.id, g])),
  };
  return deleteObjects(ctx, all, undefined, clusterName, seen);
}

/**
 * Detach, delete servers and volumes, wait until gone, then delete server groups. Best effort. Each
 * object goes as soon as nothing holds it: a volume once detached (by a call, or by Nova as its
 * server goes), a server once every volume detached first from it is (or failed to), a listed group
 * once its members are gone, the others at once. `seen`: objects just listed, not read again.
 */
export async function deleteObjects(
  ctx: Ctx,
  objs: Ledger,
  abort?: AbortController,
  cluster?: string,
  seen?: {
    servers: ReadonlyMap<string, ServerInfo>;
    volumes: ReadonlyMap<string, VolumeInfo>;
    groups: ReadonlyMap<string, ServerGroupInfo>;
  },
): Promise<string[]> {
  const failures: string[] = [];
  const note = (e: unknown) => {
    if (!(e instanceof WaitError && e.kind === "aborted")) failures.push(describeError(e));
  };
  const signal = abort?.signal;
  ctx.progress?.begin("deleting");
  // Volumes: wait until each can be deleted (a rollback meets them still creating or attaching),
  // which also tells their names and attachments.
  const readVolume = (id: string): Promise<VolumeInfo | undefined> => {
    const listed = seen?.volumes.get(id);
    if (listed && VOLUME_DELETABLE.target.includes(listed.status)) return Promise.resolve(listed);
    return waitVolume(ctx, id, `volume ${id}`, VOLUME_DELETABLE, ctx.timeouts.volumeMs, signal, true, cluster);
  };
  const [volumes, servers] = await Promise.all([
    Promise.all(
      [...objs.volumes].sort(cmp).map((id) =>
        readVolume(id).catch((e) => {
          note(e);
          return undefined;
        }),
      ),
    ).then((vs) => vs.filter((v): v is VolumeInfo => v !== undefined)),
    Promise.all(
      [...objs.servers].sort(cmp).map(
        (id) =>
          seen?.servers.get(id) ??
          ctx.ops.getServer(id).catch((e) => {
            note(e);
            return undefined;
          }),
      ),
    ).then((ss) => ss.filter((s): s is ServerInfo => s !== undefined)),
  ]);
  /** Deletes the object and waits until it is gone; false when it isn't (the failure is noted). */
  const gone = async (kind: "server" | "volume", obj: ServerInfo | VolumeInfo): Promise<boolean> => {
    const what = objectLabel(kind, obj);
    let ok = true;
    try {
      if (kind === "server") {
        await ctx.ops.deleteServer(obj.id);
        await waitServer(ctx, obj.id, what, SERVER_GONE, ctx.timeouts.deleteMs, signal, cluster);
      } else {
        await ctx.ops.deleteVolume(obj.id);
        await waitVolume(ctx, obj.id, what, VOLUME_GONE, ctx.timeouts.deleteMs, signal, false, cluster);
      }
    } catch (e) {
      note(e instanceof WaitError ? e : new Error(`can't delete ${what}: ${describeError(e)}`));
      ok = false;
    }
    ctx.progress?.advance();
    return ok;
  };
  // Counted once known: what still exists (a volume that stays attached is dropped from the count).
  ctx.progress?.begin("deleting", servers.length + volumes.length);
  // Nova detaches the volumes of a server it deletes. Detaching first is the shorter chain for a
  // volume (a detach ends sooner than its server's delete) but costs a call per attachment: as many
  // volumes are detached first as the controller sends calls at once (its concurrency); past that,
  // those calls would only queue behind the deletes the run is waiting for, so the other volumes are
  // deleted once their servers are gone. A volume on a server not deleted here is always detached.
  const deleting = new Set(servers.map((s) => s.id));
  const leftToNova = new Set(
    volumes
      .filter((v) => v.attachedTo.length > 0 && v.attachedTo.every((id) => deleting.has(id)))
      .slice(ctx.ops.concurrency)
      .map((v) => v.id),
  );
  // A volume detached first: from each of its servers; a server goes once the detaches of every
  // volume on it have ended.
  const detachesOf = new Map<string, Promise<boolean>[]>();
  const detached = new Map<string, Promise<boolean>>();
  for (const v of volumes) {
    if (leftToNova.has(v.id)) continue;
    const done = (async () => {
      for (const serverId of v.attachedTo) {
        try {
          await detach(ctx, serverId, v.id, objectLabel("volume", v), abort, cluster);
        } catch (e) {
          note(e);
          return false;
        }
      }
      return true;
    })();
    detached.set(v.id, done);
    for (const serverId of v.attachedTo) detachesOf.set(serverId, [...(detachesOf.get(serverId) ?? []), done]);
  }
  // Servers whose volumes Nova detaches first: those volumes wait for them.
  const holdsLeft = new Set(volumes.filter((v) => leftToNova.has(v.id)).flatMap((v) => v.attachedTo));
  const serverGone = new Map(
    [...servers.filter((s) => holdsLeft.has(s.id)), ...servers.filter((s) => !holdsLeft.has(s.id))].map((s) => [
      s.id,
      (async () => {
        await Promise.all(detachesOf.get(s.id) ?? []);
        return gone("server", s);
      })(),
    ]),
  );
  /** A volume left to Nova: detached once its servers are gone (false when one isn't: its failure is noted). */
  const detachedByNova = async (v: VolumeInfo): Promise<boolean> => {
    const ok = await Promise.all(v.attachedTo.map((id) => serverGone.get(id)));
    if (!ok.every((x) => x === true)) return false;
    const what = objectLabel("volume", v);
    const machine = until(VOLUME_DELETABLE, (x) => x.attachedTo.length === 0, "detached (its server is deleted)");
    try {
      await waitVolume(ctx, v.id, what, machine, ctx.timeouts.volumeMs, signal, true, cluster);
      return true;
    } catch (e) {
      note(e);
      return false;
    }
  };
  const volumesGone = volumes.map(async (v) => {
    if (await (detached.get(v.id) ?? detachedByNova(v))) return gone("volume", v);
    ctx.progress?.drop();
  });
  const deleteGroup = async (id: string): Promise<void> => {
    try {
      await ctx.ops.deleteServerGroup(id);
    } catch (e) {
      note(new Error(`can't delete server group ${id}: ${describeError(e)}`));
    }
  };
  // A group whose members were listed goes once every one of them is gone; the others, once
  // everything else is, and only if nothing failed (a member left behind keeps its group).
  const listedGroups = [...objs.groups].filter((id) => {
    const members = seen?.groups.get(id)?.members;
    return members?.every((m) => serverGone.has(m));
  });
  const groupsGone = listedGroups.map(async (id) => {
    const members = seen?.groups.get(id)?.members ?? [];
    const ok = await Promise.all(members.map((m) => serverGone.get(m)));
    if (ok.every((x) => x === true)) await deleteGroup(id);
  });
  await Promise.all([...volumesGone, ...serverGone.values(), ...groupsGone]);
  if (failures.length === 0) {
    const listed = new Set(listedGroups);
    await Promise.all(
      [...objs.groups]
        .filter((id) => !listed.has(id))
        .sort(cmp)
        .map(deleteGroup),
    );
  }
  return failures.sort();
}

function objectLabel(kind: "server" | "volume", o: { id: string; metadata: Record<string, string> }): string {
  const member = o.metadata[TAG_MEMBER];
  return member !== undefined ? `${kind} "${member}"` : `${kind} ${o.id}`;
}
