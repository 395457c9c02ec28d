// One backend action on one object and the wait until it took: create a member, resize, rebuild,
// extend, attach, detach. Apply's phases, verify's repair and teardown are made of these.
import {
  type ServerCreate,
  type ServerInfo,
  TAG_CLUSTER,
  TAG_MEMBER,
  type VolumeCreate,
  type VolumeInfo,
} from "../backends/backend";
import type { Member, ServerMember, VolumeMember } from "../model/cluster";
import { cmp } from "../model/text";
import { named } from "../model/topology";
import { type Ctx, completed, type Run } from "./context";
import { clusterPrefix } from "./errors";
import {
  formatElapsed,
  PROGRESS_EVERY_MS,
  SERVER_ACTIVE,
  until,
  VOLUME_AVAILABLE,
  VOLUME_GONE,
  VOLUME_IN_USE,
  VOLUME_SETTLED,
  WaitError,
  type WaitMachine,
  waitFor,
} from "./wait";

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function serverRequest(run: Run, m: ServerMember): ServerCreate {
  const at = run.placement[m.name];
  const grouping = run.p.rules.groupOf[m.name];
  const groupId = grouping !== undefined ? run.groupIds.get(grouping) : undefined;
  return {
    name: `${run.p.spec.name}-${m.name}`,
    imageRef: m.imageRef,
    flavorRef: m.flavorRef,
    ...(at?.zone !== undefined ? { zone: at.zone } : m.zone !== undefined ? { zone: m.zone } : {}),
    ...(run.p.mode === "pinned" && at?.type === "server" ? { host: at.host } : {}),
    ...(groupId !== undefined ? { serverGroupId: groupId } : {}),
    ...(m.networks ? { networks: m.networks } : {}),
    ...(m.keyName !== undefined ? { keyName: m.keyName } : {}),
    ...(m.securityGroups ? { securityGroups: m.securityGroups } : {}),
    ...(m.userData !== undefined ? { userData: m.userData } : {}),
    metadata: { ...m.metadata, [TAG_CLUSTER]: run.p.spec.name, [TAG_MEMBER]: m.name },
  };
}

/** A volume's create request, and the server its local_to_instance hint names, as seen when the hint was sent. */
async function volumeRequest(
  run: Run,
  m: VolumeMember,
  idOf: (member: string) => Promise<string | undefined>,
  placedOf: (member: string) => Promise<ServerInfo | undefined>,
): Promise<{ req: VolumeCreate; local?: { member: string; seen: ServerInfo } }> {
  const at = run.placement[m.name];
  const req: VolumeCreate = {
    name: `${run.p.spec.name}-${m.name}`,
    sizeGb: m.sizeGb,
    ...(m.volumeType !== undefined ? { volumeType: m.volumeType } : {}),
    ...(at?.zone !== undefined ? { zone: at.zone } : m.zone !== undefined ? { zone: m.zone } : {}),
    ...(run.p.mode === "pinned" && at?.type === "volume" ? { backend: at.backend } : {}),
    metadata: { ...m.metadata, [TAG_CLUSTER]: run.p.spec.name, [TAG_MEMBER]: m.name },
  };
  const hints = run.p.mode === "delegated" ? run.p.rules.volumeHints[m.name] : undefined;
  // Pinned mode sends the hint too: Cinder takes no pool on create, so `backend` alone binds only the simulated cloud.
  const localMember = run.p.mode === "pinned" ? pinnedLocalServer(run, m) : hints?.localToServer;
  let local: { member: string; seen: ServerInfo } | undefined;
  if (localMember !== undefined) {
    const seen = await placedOf(localMember);
    if (seen !== undefined) {
      req.localToServer = seen.id;
      local = { member: localMember, seen };
    }
  }
  if (hints) {
    const resolve = async (names: string[]) =>
      (await Promise.all(names.map(idOf))).filter((x): x is string => x !== undefined);
    const same = await resolve(hints.sameBackendAs);
    const different = await resolve(hints.differentBackendFrom);
    if (same.length > 0) req.sameBackendAs = same;
    if (different.length > 0) req.differentBackendFrom = different;
  }
  return { req, ...(local ? { local } : {}) };
}

/**
 * Whether Nova has picked the server's host: the compute host's claim sets it during BUILD, and from
 * then on Cinder's InstanceLocalityFilter can read it (admins see `host`, everyone `hostId`).
 */
function hasHost(s: ServerInfo): boolean {
  return s.host !== undefined || s.hostId !== undefined;
}

/** Where a server is, as the caller can see it. */
function whereIs(s: ServerInfo): string | undefined {
  return s.host ?? s.hostId;
}

/**
 * Pinned mode, a volume placed on a host-local storage backend: the server placed on that host
 * (its own server first), for Cinder's local_to_instance hint. Cinder takes no exact pool on create,
 * so without the hint it may put the volume on another host's backend.
 */
function pinnedLocalServer(run: Run, m: VolumeMember): string | undefined {
  const at = run.placement[m.name];
  if (at?.type !== "volume") return undefined;
  const host = named(run.p.discovery.topology.storageBackends, at.backend)?.host;
  if (host === undefined) return undefined;
  const onHost = serversByHost(run.placement).get(host) ?? [];
  return m.attachTo !== undefined && onHost.includes(m.attachTo) ? m.attachTo : onHost[0];
}

/** Per placement, its servers by host, sorted: built once, not once per volume. */
const byHostOf = new WeakMap<Run["placement"], Map<string, string[]>>();

function serversByHost(placement: Run["placement"]): Map<string, string[]> {
  let byHost = byHostOf.get(placement);
  if (!byHost) {
    byHost = new Map();
    for (const [name, p] of Object.entries(placement)) {
      if (p.type === "server") byHost.set(p.host, [...(byHost.get(p.host) ?? []), name]);
    }
    for (const names of byHost.values()) names.sort(cmp);
    byHostOf.set(placement, byHost);
  }
  return byHost;
}

/**
 * What the members created together wait on from each other: a server's id once made (volume hints
 * name it), the server once its host is known (a local_to_instance hint needs no more), and once ACTIVE
 * (an attach, the next server of a hard group in delegated mode).
 */
export interface Awaited {
  ids: Map<string, Deferred<string>>;
  placed: Map<string, Deferred<ServerInfo>>;
  active: Map<string, Deferred<string>>;
}

export function noneAwaited(): Awaited {
  return { ids: new Map(), placed: new Map(), active: new Map() };
}

/** Create one member and wait until it is ready; hints wait for what they need of the members they name. */
export async function createMember(ctx: Ctx, run: Run, m: Member, awaited: Awaited = noneAwaited()): Promise<void> {
  const what = `${m.type} "${m.name}"`;
  const { ids, placed, active } = awaited;
  if (m.type === "server") {
    const created = await ctx.ops.createServer(serverRequest(run, m));
    run.ledger.servers.add(created.id);
    run.made.add(m.name);
    ids.get(m.name)?.resolve(created.id);
    const onHost = (s: ServerInfo) => {
      if (hasHost(s)) placed.get(m.name)?.resolve(s);
    };
    onHost(created);
    const ready = (await waitServer(
      ctx,
      created.id,
      what,
      SERVER_ACTIVE,
      ctx.timeouts.serverMs,
      run.abort.signal,
      run.p.spec.name,
      onHost,
    )) as ServerInfo;
    run.servers.set(m.name, ready);
    // A backend that shows no host at all: ACTIVE is the latest the host is known.
    placed.get(m.name)?.resolve(ready);
    active.get(m.name)?.resolve(created.id);
    return;
  }
  const idOf = async (member: string): Promise<string | undefined> => {
    const pending = ids.get(member);
    if (pending) return pending.promise.catch(() => undefined);
    return run.servers.get(member)?.id ?? run.volumes.get(member)?.id;
  };
  const placedOf = async (member: string): Promise<ServerInfo | undefined> => {
    const pending = placed.get(member);
    if (pending) return pending.promise.catch(() => undefined);
    return run.servers.get(member);
  };
  const { req, local } = await volumeRequest(run, m, idOf, placedOf);
  for (let attempt = 1; ; attempt++) {
    if (run.abort.signal.aborted) throw new WaitError("aborted", "skipped");
    const created = await ctx.ops.createVolume(req);
    run.ledger.volumes.add(created.id);
    run.made.add(m.name);
    ids.get(m.name)?.resolve(created.id);
    const ready = await waitVolume(
      ctx,
      created.id,
      what,
      VOLUME_AVAILABLE,
      ctx.timeouts.volumeMs,
      run.abort.signal,
      false,
      run.p.spec.name,
    ).catch((e: unknown) => serverFailedFirst(ctx, e, local, active));
    run.volumes.set(m.name, ready as VolumeInfo);
    const moved = local && attempt === 1 ? await movedWhileBuilding(run, local, active) : undefined;
    if (moved === undefined) return;
    // Nova rescheduled the server after its first host's claim (a failed spawn, a group's late
    // check): the volume sits next to a host the server left. It is new and empty: make it again.
    ctx.log(
      "warn",
      `${clusterPrefix(run.p.spec.name)}server "${local?.member}" moved to another host while it was built; volume "${m.name}", made next to the host it left, is made again next to the new one`,
    );
    await ctx.ops.deleteVolume(created.id);
    await waitVolume(
      ctx,
      created.id,
      what,
      VOLUME_GONE,
      ctx.timeouts.deleteMs,
      run.abort.signal,
      true,
      run.p.spec.name,
    );
    run.ledger.volumes.delete(created.id);
    run.volumes.delete(m.name);
  }
}

/**
 * A host-local volume goes to error when the server its hint names failed (it lost its host): the
 * user needs the server's failure, the cause, not the volume's. When that server, made in this run,
 * is in ERROR, wait for its own wait to report it and step aside; otherwise the volume's error stands.
 */
async function serverFailedFirst(
  ctx: Ctx,
  error: unknown,
  local: { member: string; seen: ServerInfo } | undefined,
  active: Map<string, Deferred<string>>,
): Promise<never> {
  const server = local && active.get(local.member);
  if (server && error instanceof WaitError && error.kind === "failed") {
    const now = await ctx.ops.getServer(local.seen.id).catch(() => undefined);
    if (now?.status === "ERROR") {
      await server.promise.catch(() => undefined);
      throw new WaitError("aborted", "skipped: its server failed");
    }
  }
  throw error;
}

/**
 * The host a server named in a local_to_instance hint ended up on, when it is not the one the hint
 * was sent for (undefined: the same, or the server was not built in this run and can't move).
 */
async function movedWhileBuilding(
  run: Run,
  local: { member: string; seen: ServerInfo },
  active: Map<string, Deferred<string>>,
): Promise<string | undefined> {
  const building = active.get(local.member);
  if (!building || local.seen.status === "ACTIVE") return undefined;
  await building.promise.catch(() => undefined);
  const now = run.servers.get(local.member);
  if (now === undefined || now.id !== local.seen.id) return undefined;
  const before = whereIs(local.seen);
  const after = whereIs(now);
  return before !== undefined && after !== undefined && before !== after ? after : undefined;
}

/**
 * Resize a kept server and wait until it shows the new flavor. Flavors compare by identity (Nova
 * shows a flavor's name, the spec may give its id). The wait ends on a state it can tell apart from
 * the one it started in: ACTIVE with the target flavor, or with any flavor other than the one it had
 * (should a backend show flavors in a form the identity can't resolve). When the two can't be told
 * apart there is nothing to do, and nothing is started.
 */
export async function resize(ctx: Ctx, run: Run, member: string, id: string, flavorRef: string): Promise<void> {
  const head = clusterPrefix(run.p.spec.name);
  const what = `server "${member}"`;
  const { sameFlavor } = run.p.identity;
  const from = run.servers.get(member)?.flavorRef;
  if (from !== undefined && sameFlavor(from, flavorRef)) {
    ctx.log("info", `${head}${what} already has flavor "${flavorRef}" (shown as "${from}"); nothing to resize`);
    completed(run, member, "flavor");
    return;
  }
  const goal = `ACTIVE with flavor "${flavorRef}"`;
  // The backend itself waits for the resize to be ready to confirm (Nova: VERIFY_RESIZE): say so while it does.
  await withProgress(ctx, run, what, `the resize to "${flavorRef}" to be ready to confirm`, id, () =>
    ctx.ops.resizeServer(id, flavorRef),
  );
  const machine = until(
    SERVER_ACTIVE,
    (s) => sameFlavor(s.flavorRef, flavorRef) || (from !== undefined && !sameFlavor(s.flavorRef, from)),
    goal,
    (s) => `flavor "${s.flavorRef}"`,
    (s) => from !== undefined && sameFlavor(s.flavorRef, from),
  );
  const s = await waitServer(ctx, id, what, machine, ctx.timeouts.serverMs, run.abort.signal, run.p.spec.name);
  run.servers.set(member, s as ServerInfo);
  completed(run, member, "flavor");
  ctx.log("info", `${head}resized ${what} to "${flavorRef}"`);
}

/**
 * Runs a backend call that waits inside (the OpenStack backend's resize waits for VERIFY_RESIZE to
 * confirm it), logging every PROGRESS_EVERY_MS what it waits for and the server's status meanwhile.
 */
export async function withProgress<T>(
  ctx: Ctx,
  run: Run,
  what: string,
  waitingFor: string,
  serverId: string,
  call: () => Promise<T>,
): Promise<T> {
  const start = Date.now();
  let finished = false;
  const timer = setInterval(() => {
    void ctx.ops
      .getServer(serverId)
      .then(
        (s) => (s ? `now ${s.status}, flavor "${s.flavorRef}"` : "it is gone"),
        () => "can't read it",
      )
      .then((now) => {
        if (finished) return;
        ctx.log(
          "info",
          `${clusterPrefix(run.p.spec.name)}${what}: waiting for ${waitingFor}, ${now} (${formatElapsed(Date.now() - start)})`,
        );
      });
  }, PROGRESS_EVERY_MS);
  try {
    return await call();
  } finally {
    finished = true;
    clearInterval(timer);
  }
}

export async function extend(ctx: Ctx, run: Run, member: string, id: string, sizeGb: number): Promise<void> {
  const from = run.volumes.get(member)?.sizeGb;
  await ctx.ops.extendVolume(id, sizeGb);
  const machine = until(
    VOLUME_SETTLED,
    (v) => v.sizeGb === sizeGb,
    `available or in-use at ${sizeGb} GB`,
    (v) => `${v.sizeGb} GB`,
    (v) => v.sizeGb === from,
  );
  const what = `volume "${member}"`;
  const v = await waitVolume(ctx, id, what, machine, ctx.timeouts.volumeMs, run.abort.signal, false, run.p.spec.name);
  run.volumes.set(member, v as VolumeInfo);
  completed(run, member, "size");
  ctx.log("info", `${clusterPrefix(run.p.spec.name)}extended volume "${member}" to ${sizeGb} GB`);
}

export async function attach(ctx: Ctx, run: Run, volume: string, server: string): Promise<void> {
  const v = run.volumes.get(volume);
  const s = run.servers.get(server);
  if (!v || !s) throw new Error(`can't attach volume "${volume}" to server "${server}": one of them does not exist`);
  await ctx.ops.attachVolume(s.id, v.id);
  const machine = until(VOLUME_IN_USE, (x) => x.attachedTo.includes(s.id), `in-use, attached to server "${server}"`);
  const ready = await waitVolume(
    ctx,
    v.id,
    `volume "${volume}"`,
    machine,
    ctx.timeouts.volumeMs,
    run.abort.signal,
    false,
    run.p.spec.name,
  );
  run.volumes.set(volume, ready as VolumeInfo);
}

export async function detach(
  ctx: Ctx,
  serverId: string,
  volumeId: string,
  what: string,
  abort?: AbortController,
  cluster?: string,
): Promise<void> {
  await ctx.ops.detachVolume(serverId, volumeId);
  const machine = until(VOLUME_SETTLED, (v) => !v.attachedTo.includes(serverId), `detached from server ${serverId}`);
  await waitVolume(ctx, volumeId, what, machine, ctx.timeouts.volumeMs, abort?.signal, true, cluster);
}

export function waitServer(
  ctx: Ctx,
  id: string,
  what: string,
  machine: WaitMachine<ServerInfo>,
  timeoutMs: number,
  signal?: AbortSignal,
  cluster?: string,
  /** Told every read of the server, e.g. to act once its host is known. */
  seen?: (s: ServerInfo) => void,
): Promise<ServerInfo | undefined> {
  const read = seen
    ? async () => {
        const s = await ctx.ops.getServer(id);
        if (s) seen(s);
        return s;
      }
    : () => ctx.ops.getServer(id);
  return shownWaiting(ctx, what, () =>
    waitFor(machine, {
      what,
      read,
      status: (s) => s.status,
      fault: (s) => s.fault,
      timeoutMs,
      ...intervals(ctx),
      ...(signal ? { signal } : {}),
      ...(ctx.deadline ? { deadline: ctx.deadline } : {}),
      progress: progressLog(ctx, cluster),
    }),
  );
}

export async function waitVolume(
  ctx: Ctx,
  id: string,
  what: string,
  machine: WaitMachine<VolumeInfo>,
  timeoutMs: number,
  signal?: AbortSignal,
  goneIsFine = false,
  cluster?: string,
): Promise<VolumeInfo | undefined> {
  try {
    return await shownWaiting(ctx, what, () =>
      waitFor(machine, {
        what,
        read: () => ctx.ops.getVolume(id),
        status: (v) => v.status,
        fault: (v) => v.fault,
        timeoutMs,
        ...intervals(ctx),
        ...(signal ? { signal } : {}),
        ...(ctx.deadline ? { deadline: ctx.deadline } : {}),
        progress: progressLog(ctx, cluster),
      }),
    );
  } catch (e) {
    if (goneIsFine && e instanceof WaitError && e.kind === "vanished") return undefined;
    throw e;
  }
}

/** A wait, listed among what the run waits on while it lasts (when someone listens). */
function shownWaiting<T>(ctx: Ctx, what: string, wait: () => Promise<T>): Promise<T> {
  return ctx.progress ? ctx.progress.waiting(what, wait) : wait();
}

/** Progress of a wait goes to the controller's log, prefixed with the cluster when known. */
function progressLog(ctx: Ctx, cluster: string | undefined): (message: string) => void {
  const head = cluster !== undefined ? clusterPrefix(cluster) : "";
  return (message) => ctx.log("info", `${head}${message}`);
}

/** Polls slow down as a wait lasts, unless reads are batched: then one call a tick serves every wait. */
function intervals(ctx: Ctx): { intervalMs: number; maxIntervalMs: number; steady: boolean } {
  const base = Math.max(1, ctx.backend.pollIntervalMs);
  return { intervalMs: base, maxIntervalMs: Math.max(base, 2000), steady: ctx.ops.readsInBatches };
}
