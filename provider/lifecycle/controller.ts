// The lifecycle controller: plan, all-or-nothing create, per-member update, refresh, destroy of
// one cluster on one backend. The Pulumi provider and the command are thin layers over it.
//
// Every apply runs the same pipeline, whether it creates, updates or resumes a half-built cluster:
// discover -> survey (what exists, by tags and ids) -> diff -> place (existing members stay) ->
// detach -> delete -> server groups -> resize/rebuild/extend -> create -> attach -> verify (repair
// once) -> drop unused groups. A create that fails is rolled back entirely; an update that fails
// keeps what exists and reports it as partial state.
import {
  type Backend,
  type Discovery,
  type PlacementMode,
  type ServerCreate,
  type ServerInfo,
  TAG_CLUSTER,
  TAG_GROUPING,
  TAG_MEMBER,
  type VolumeCreate,
  type VolumeInfo,
} from "../backends/backend";
import { evaluatePlacement, formatExplanation, place } from "../placement";
import type { Topology } from "../placement/topology";
import type { Placement, PlacementResult, SoftViolation } from "../placement/types";
import type { ClusterSpec, Member, ServerMember, VolumeMember } from "../spec/model";
import { type Baseline, baseline, type ChangeSet, changes, describeSteps, type Step } from "./changes";
import { clusterPrefix, describeError, LifecycleError, withCauses } from "./errors";
import { actualPlacement, coarseTopology, releaseUsage, serverLocation, volumeLocation } from "./locate";
import { Ops } from "./ops";
import { quotaDemand, quotaProblems } from "./quota";
import { coarseSpec, mapRules, type RuleMapping, verifiableSpec } from "./rules";
import {
  type BrokenRule,
  type ClusterState,
  type MemberState,
  MISSING,
  type ServerGroupState,
  STATE_VERSION,
} from "./state";
import { cmp, isBroken, type Live, survey } from "./survey";
import {
  SERVER_ACTIVE,
  SERVER_GONE,
  until,
  VOLUME_AVAILABLE,
  VOLUME_DELETABLE,
  VOLUME_GONE,
  VOLUME_IN_USE,
  VOLUME_SETTLED,
  WaitError,
  type WaitMachine,
  waitFor,
} from "./wait";

export interface ControllerOptions {
  /** Max backend operations in flight (default 10). */
  concurrency?: number;
  /** Deadlines per object (defaults 10 min / 5 min / 5 min). */
  timeouts?: { serverMs?: number; volumeMs?: number; deleteMs?: number };
  /** Progress: `cluster "c": created 12/40 members`. */
  log?: (level: "info" | "warn", message: string) => void;
  seed?: number;
  /** Non-secret identity of the cloud recorded in state (default: the backend's description). */
  backendId?: string;
}

export interface ClusterPlan {
  mode: PlacementMode;
  /** The placement, or the explanation of why none exists. */
  placement: PlacementResult;
  /** What apply would do, in order. Empty when the cluster can't be placed. */
  steps: Step[];
  /** Everything the user should read, sorted (includes `blocking`). */
  warnings: string[];
  /** What makes apply refuse with code "invalid" (a subset of `warnings`). */
  blocking: string[];
}

interface Prepared {
  spec: ClusterSpec;
  state?: ClusterState;
  discovery: Discovery;
  mode: PlacementMode;
  rules: RuleMapping;
  live: Live;
  base: Baseline;
  result: PlacementResult;
  changes?: ChangeSet;
  /** Quotas the apply would exceed, one line each. */
  quota: string[];
  /** Images that can't be booted, one line each. */
  images: string[];
}

/** Objects made in this run, so a failed create can take back exactly them (plus tagged leftovers). */
interface Ledger {
  servers: Set<string>;
  volumes: Set<string>;
  groups: Set<string>;
}

/** Everything one apply works on. */
interface Run {
  p: Prepared;
  placement: Placement;
  servers: Map<string, ServerInfo>;
  volumes: Map<string, VolumeInfo>;
  groupIds: Map<string, string>;
  /** Members created (or recreated) in this run: the only ones verify may recreate to repair. */
  made: Set<string>;
  ledger: Ledger;
  abort: AbortController;
}

/** A failed phase: the causes, one line each. */
class PhaseError extends Error {
  constructor(readonly causes: string[]) {
    super(causes.join("; "));
  }
}

const DEFAULTS = { serverMs: 10 * 60_000, volumeMs: 5 * 60_000, deleteMs: 5 * 60_000 };

export class ClusterController {
  private readonly ops: Ops;
  private readonly timeouts: typeof DEFAULTS;
  private readonly log: (level: "info" | "warn", message: string) => void;

  constructor(
    private readonly backend: Backend,
    private readonly options: ControllerOptions = {},
  ) {
    this.ops = new Ops(backend, options.concurrency ?? 10);
    this.timeouts = { ...DEFAULTS, ...definedOnly(options.timeouts ?? {}) };
    this.log = options.log ?? (() => {});
  }

  // ---- public API ----

  /** Dry run, no changes: discover, place incrementally against state, list the steps. Never throws for unplaceable. */
  async plan(spec: ClusterSpec, state?: ClusterState): Promise<ClusterPlan> {
    const p = await this.prepare(spec, state);
    const blocking = blockingOf(p);
    const warnings = [...p.rules.warnings, ...p.base.problems, ...p.quota];
    for (const [member, why] of p.changes?.moves ?? []) {
      warnings.push(`${clusterPrefix(spec.name)}member "${member}" must move (${why}); apply recreates it`);
    }
    const placement = p.result.placed ? p.result.placement : undefined;
    return {
      mode: p.mode,
      placement: p.result,
      steps: p.changes ? describeSteps(spec, p.changes, placement) : [],
      warnings: warnings.sort(),
      blocking,
    };
  }

  /** Create (no state) or update (state) to match spec; returns the new state. */
  async apply(spec: ClusterSpec, state?: ClusterState): Promise<ClusterState> {
    const head = clusterPrefix(spec.name);
    const p = await this.prepare(spec, state);
    const blocking = blockingOf(p);
    if (blocking.length > 0) {
      throw new LifecycleError("invalid", blocking.length === 1 ? (blocking[0] as string) : blocking.join("\n"));
    }
    if (!p.result.placed || !p.changes) {
      const explanation = p.result.placed ? undefined : p.result.explanation;
      throw new LifecycleError("unplaceable", explanation ? formatExplanation(explanation) : `${head}can't be placed`, {
        ...(explanation ? { explanation } : {}),
      });
    }
    const run: Run = {
      p,
      placement: p.result.placement,
      servers: new Map(p.changes.kept.server),
      volumes: new Map(p.changes.kept.volume),
      groupIds: new Map(p.changes.keepGroups),
      made: new Set(),
      ledger: { servers: new Set(), volumes: new Set(), groups: new Set() },
      abort: new AbortController(),
    };
    try {
      return await this.execute(run);
    } catch (e) {
      const causes = e instanceof PhaseError ? e.causes : [describeError(e)];
      if (state === undefined) return await this.rollback(spec, run, causes);
      const partialState = await this.partialState(spec.name, p.mode, p.discovery.topology, state).catch(
        () => undefined,
      );
      throw new LifecycleError("update_failed", withCauses(`${head}update failed; what exists was kept`, causes), {
        cause: e,
        ...(partialState ? { partialState } : {}),
      });
    }
  }

  /** Re-read every member and rule; missing members are marked MISSING and listed in `missing`. */
  async refresh(state: ClusterState, spec?: ClusterSpec): Promise<ClusterState> {
    const head = clusterPrefix(state.clusterName);
    const discovery = await this.discover(state.clusterName);
    const topology = discovery.topology;
    const servers = new Map<string, ServerInfo>();
    const volumes = new Map<string, VolumeInfo>();
    const tags = (member: string) => ({ [TAG_CLUSTER]: state.clusterName, [TAG_MEMBER]: member });
    try {
      await Promise.all(
        Object.values(state.members).map(async (m) => {
          if (m.type === "server") {
            const s =
              (m.id ? await this.ops.getServer(m.id) : undefined) ?? best(await this.ops.findServers(tags(m.name)));
            if (s) servers.set(m.name, s);
          } else {
            const v =
              (m.id ? await this.ops.getVolume(m.id) : undefined) ?? best(await this.ops.findVolumes(tags(m.name)));
            if (v) volumes.set(m.name, v);
          }
        }),
      );
      const groups: Record<string, ServerGroupState> = {};
      await Promise.all(
        Object.values(state.serverGroups).map(async (g) => {
          const live = await this.ops.getServerGroup(g.id);
          if (live) groups[g.grouping] = { ...g, policy: live.policy, ...maxOf(live.maxServerPerHost) };
        }),
      );
      const members: Record<string, MemberState> = {};
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
        const evaluated = this.evaluate(spec, discovery.mode, actual.placement, actual.topology);
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

  /** Detach, delete servers and volumes, then server groups; waits until gone. Also sweeps tagged leftovers. */
  async destroy(state: ClusterState | { clusterName: string }): Promise<void> {
    const name = state.clusterName;
    const known = emptyLedger();
    if ("members" in state) {
      for (const m of Object.values(state.members)) {
        if (m.id) (m.type === "server" ? known.servers : known.volumes).add(m.id);
      }
      for (const g of Object.values(state.serverGroups)) known.groups.add(g.id);
    }
    const causes = await this.teardown(name, known);
    if (causes.length === 0) {
      this.log("info", `${clusterPrefix(name)}destroyed`);
      return;
    }
    const mode = "mode" in state ? state.mode : "pinned";
    const partialState = await this.partialState(name, mode, undefined, "members" in state ? state : undefined).catch(
      () => undefined,
    );
    const timedOut = causes.every((c) => c.includes(" within "));
    throw new LifecycleError(
      timedOut ? "timeout" : "backend",
      withCauses(`${clusterPrefix(name)}destroy left objects behind; run destroy again`, causes),
      { ...(partialState ? { partialState } : {}) },
    );
  }

  // ---- the front half: read and decide ----

  private async discover(clusterName: string): Promise<Discovery> {
    try {
      return await this.ops.discover();
    } catch (e) {
      throw new LifecycleError(
        "backend",
        `${clusterPrefix(clusterName)}can't read the ${this.backend.description}: ${describeError(e)}`,
        {
          cause: e,
        },
      );
    }
  }

  private async prepare(spec: ClusterSpec, state?: ClusterState): Promise<Prepared> {
    const discovery = await this.discover(spec.name);
    const mode = discovery.mode;
    const rules = mapRules(spec, mode);
    let live: Live;
    try {
      live = await survey(this.ops, spec.name, state);
    } catch (e) {
      throw new LifecycleError(
        "backend",
        `${clusterPrefix(spec.name)}can't list what exists on the ${this.backend.description}: ${describeError(e)}`,
        { cause: e },
      );
    }
    const base = baseline(spec, state, live);

    // The engine sees the cluster's existing members where they are, with their usage already counted.
    const current: Placement = {};
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
      ...(this.options.seed !== undefined ? { seed: this.options.seed } : {}),
    });
    const p: Prepared = {
      spec,
      discovery,
      mode,
      rules,
      live,
      base,
      result,
      quota: [],
      images: [],
      ...(state ? { state } : {}),
    };
    if (result.placed) p.changes = changes(spec, base, live, rules, result.moves);
    const demand = quotaDemand(spec, p.changes ?? base, live, discovery.topology.flavors);
    p.quota = quotaProblems(spec.name, demand, discovery.quota, state !== undefined);
    p.images = await this.imageProblems(spec, p.changes ?? base, p.changes?.rebuilds ?? []);
    return p;
  }

  /** Images the servers to create or rebuild would boot from but the cloud can't: blocking, like quota. */
  private async imageProblems(
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
      problems = await this.backend.imageProblems([...users.keys()].sort(cmp));
    } catch (e) {
      throw new LifecycleError(
        "backend",
        `${clusterPrefix(spec.name)}can't look up images on the ${this.backend.description}: ${describeError(e)}`,
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

  // ---- the back half: make it so ----

  private async execute(run: Run): Promise<ClusterState> {
    const { p } = run;
    const c = p.changes as ChangeSet;
    const head = clusterPrefix(p.spec.name);
    for (const [member, why] of c.moves)
      this.log("warn", `${head}member "${member}" must move (${why}); recreating it`);

    // 1. Undo attachments that no longer hold.
    await this.phase(run, c.detaches, (d) => this.detach(d.serverId, d.volumeId, `volume "${d.volume}"`, run.abort));
    // 2. Delete what goes (members gone from the spec, strays, broken ones and the ones being replaced).
    const leaving = emptyLedger();
    for (const d of c.deleteServers) leaving.servers.add(d.id);
    for (const d of c.deleteVolumes) leaving.volumes.add(d.id);
    const deleted = await this.deleteObjects(leaving, run.abort);
    if (deleted.length > 0) throw new PhaseError(deleted);
    for (const d of [...c.deleteServers, ...c.deleteVolumes]) {
      if (d.member === undefined) continue;
      if (run.servers.get(d.member)?.id === d.id) run.servers.delete(d.member);
      if (run.volumes.get(d.member)?.id === d.id) run.volumes.delete(d.member);
    }
    // 3. Server groups.
    await this.phase(run, c.createGroups, async (g) => {
      const created = await this.ops.createServerGroup({
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
    for (const r of c.resizes) add(r.member, () => this.resize(run, r.member, r.id, r.to));
    for (const r of c.rebuilds) add(r.member, () => this.rebuild(run, r.member, r.id, r.to));
    for (const e of c.extends) add(e.member, () => this.extend(run, e.member, e.id, e.to));
    await this.phase(
      run,
      [...inPlace].sort((a, b) => cmp(a[0], b[0])),
      async ([, fs]) => {
        for (const f of fs) await f();
      },
    );
    // 5. Create members, servers and volumes together.
    const toCreate = [...c.create.keys()].sort(cmp);
    const members = new Map(p.spec.members.map((m) => [m.name, m]));
    const ids = new Map<string, Deferred<string>>(toCreate.map((n) => [n, deferred<string>()]));
    // Servers' ids once ACTIVE: Cinder's local_to_instance reads the server's host, unset while it builds.
    const active = new Map<string, Deferred<string>>(toCreate.map((n) => [n, deferred<string>()]));
    // A member that never gets made (another one failed first) releases whoever waits on its id.
    run.abort.signal.addEventListener("abort", () => {
      for (const d of [...ids.values(), ...active.values()]) d.reject(new Error("stopped"));
    });
    let done = 0;
    const progressStep = Math.max(1, Math.ceil(toCreate.length / 5));
    await this.phase(run, toCreate, async (name) => {
      const m = members.get(name) as Member;
      try {
        await this.createMember(run, m, ids, active);
      } finally {
        ids.get(name)?.reject(new Error(`"${name}" was not created`));
        active.get(name)?.reject(new Error(`"${name}" was not created`));
      }
      done++;
      // About five progress lines per create, and always the last one.
      if (done === toCreate.length || done % progressStep === 0) {
        this.log("info", `${head}created ${done}/${toCreate.length} members`);
      }
    });
    // 6. Attachments.
    await this.phase(run, c.attaches, (a) => this.attach(run, a.volume, a.server));
    // 7. Verify the rules held on the cloud; repair once.
    const verified = await this.verifyAndRepair(run);
    // 8. Server groups nobody needs any more.
    await this.phase(run, c.deleteGroups, (g) => this.ops.deleteServerGroup(g.id));
    return this.finalState(run, verified);
  }

  /** Runs one step per item concurrently (bounded by the ops limit); the first failure stops the rest. */
  private async phase<T>(run: Run, items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
    if (items.length === 0) return;
    const results = await Promise.allSettled(
      items.map(async (item) => {
        if (run.abort.signal.aborted) throw new WaitError("aborted", "skipped");
        try {
          await fn(item);
        } catch (e) {
          run.abort.abort();
          throw e;
        }
      }),
    );
    const causes = results
      .filter((r): r is PromiseRejectedResult => r.status === "rejected")
      .map((r) => r.reason)
      .filter((e) => !(e instanceof WaitError && e.kind === "aborted"))
      .map(describeError);
    if (causes.length > 0 || run.abort.signal.aborted) {
      throw new PhaseError(causes.length > 0 ? causes : ["stopped after a failure"]);
    }
  }

  private serverRequest(run: Run, m: ServerMember): ServerCreate {
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

  private async volumeRequest(
    run: Run,
    m: VolumeMember,
    idOf: (member: string) => Promise<string | undefined>,
    activeIdOf: (member: string) => Promise<string | undefined>,
  ): Promise<VolumeCreate> {
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
    const local = run.p.mode === "pinned" ? pinnedLocalServer(run, m) : hints?.localToServer;
    if (local !== undefined) {
      const id = await activeIdOf(local);
      if (id !== undefined) req.localToServer = id;
    }
    if (hints) {
      const resolve = async (names: string[]) =>
        (await Promise.all(names.map(idOf))).filter((x): x is string => x !== undefined);
      const same = await resolve(hints.sameBackendAs);
      const different = await resolve(hints.differentBackendFrom);
      if (same.length > 0) req.sameBackendAs = same;
      if (different.length > 0) req.differentBackendFrom = different;
    }
    return req;
  }

  /** Create one member and wait until it is ready; hints wait for the ids of the members they name. */
  private async createMember(
    run: Run,
    m: Member,
    ids: Map<string, Deferred<string>>,
    active: Map<string, Deferred<string>> = new Map(),
  ): Promise<void> {
    const what = `${m.type} "${m.name}"`;
    if (m.type === "server") {
      const created = await this.ops.createServer(this.serverRequest(run, m));
      run.ledger.servers.add(created.id);
      run.made.add(m.name);
      ids.get(m.name)?.resolve(created.id);
      const ready = await this.waitServer(created.id, what, SERVER_ACTIVE, this.timeouts.serverMs, run.abort.signal);
      run.servers.set(m.name, ready as ServerInfo);
      active.get(m.name)?.resolve(created.id);
      return;
    }
    const idOf = async (member: string): Promise<string | undefined> => {
      const pending = ids.get(member);
      if (pending) return pending.promise.catch(() => undefined);
      return run.servers.get(member)?.id ?? run.volumes.get(member)?.id;
    };
    const activeIdOf = async (member: string): Promise<string | undefined> => {
      const pending = active.get(member);
      if (pending) return pending.promise.catch(() => undefined);
      return run.servers.get(member)?.id;
    };
    const req = await this.volumeRequest(run, m, idOf, activeIdOf);
    if (run.abort.signal.aborted) throw new WaitError("aborted", "skipped");
    const created = await this.ops.createVolume(req);
    run.ledger.volumes.add(created.id);
    run.made.add(m.name);
    ids.get(m.name)?.resolve(created.id);
    const ready = await this.waitVolume(created.id, what, VOLUME_AVAILABLE, this.timeouts.volumeMs, run.abort.signal);
    run.volumes.set(m.name, ready as VolumeInfo);
  }

  private async resize(run: Run, member: string, id: string, flavorRef: string): Promise<void> {
    await this.ops.resizeServer(id, flavorRef);
    const machine = until(SERVER_ACTIVE, (s) => s.flavorRef === flavorRef);
    const s = await this.waitServer(id, `server "${member}"`, machine, this.timeouts.serverMs, run.abort.signal);
    run.servers.set(member, s as ServerInfo);
    this.log("info", `${clusterPrefix(run.p.spec.name)}resized server "${member}" to "${flavorRef}"`);
  }

  private async rebuild(run: Run, member: string, id: string, imageRef: string): Promise<void> {
    await this.ops.rebuildServer(id, imageRef);
    const machine = until(SERVER_ACTIVE, (s) => s.imageRef === imageRef);
    const s = await this.waitServer(id, `server "${member}"`, machine, this.timeouts.serverMs, run.abort.signal);
    run.servers.set(member, s as ServerInfo);
    this.log("info", `${clusterPrefix(run.p.spec.name)}rebuilt server "${member}" with image "${imageRef}"`);
  }

  private async extend(run: Run, member: string, id: string, sizeGb: number): Promise<void> {
    await this.ops.extendVolume(id, sizeGb);
    const machine = until(VOLUME_SETTLED, (v) => v.sizeGb === sizeGb);
    const v = await this.waitVolume(id, `volume "${member}"`, machine, this.timeouts.volumeMs, run.abort.signal);
    run.volumes.set(member, v as VolumeInfo);
    this.log("info", `${clusterPrefix(run.p.spec.name)}extended volume "${member}" to ${sizeGb} GB`);
  }

  private async attach(run: Run, volume: string, server: string): Promise<void> {
    const v = run.volumes.get(volume);
    const s = run.servers.get(server);
    if (!v || !s) throw new Error(`can't attach volume "${volume}" to server "${server}": one of them does not exist`);
    await this.ops.attachVolume(s.id, v.id);
    const machine = until(VOLUME_IN_USE, (x) => x.attachedTo.includes(s.id));
    const ready = await this.waitVolume(v.id, `volume "${volume}"`, machine, this.timeouts.volumeMs, run.abort.signal);
    run.volumes.set(volume, ready as VolumeInfo);
  }

  private async detach(serverId: string, volumeId: string, what: string, abort?: AbortController): Promise<void> {
    await this.ops.detachVolume(serverId, volumeId);
    const machine = until(VOLUME_SETTLED, (v) => !v.attachedTo.includes(serverId));
    await this.waitVolume(volumeId, what, machine, this.timeouts.volumeMs, abort?.signal, true);
  }

  private waitServer(
    id: string,
    what: string,
    machine: WaitMachine<ServerInfo>,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ServerInfo | undefined> {
    return waitFor(machine, {
      what,
      read: () => this.ops.getServer(id),
      status: (s) => s.status,
      fault: (s) => s.fault,
      timeoutMs,
      ...this.intervals(),
      ...(signal ? { signal } : {}),
    });
  }

  private async waitVolume(
    id: string,
    what: string,
    machine: WaitMachine<VolumeInfo>,
    timeoutMs: number,
    signal?: AbortSignal,
    goneIsFine = false,
  ): Promise<VolumeInfo | undefined> {
    try {
      return await waitFor(machine, {
        what,
        read: () => this.ops.getVolume(id),
        status: (v) => v.status,
        fault: (v) => v.fault,
        timeoutMs,
        ...this.intervals(),
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      if (goneIsFine && e instanceof WaitError && e.kind === "vanished") return undefined;
      throw e;
    }
  }

  private intervals(): { intervalMs: number; maxIntervalMs: number } {
    const base = Math.max(1, this.backend.pollIntervalMs);
    return { intervalMs: base, maxIntervalMs: Math.max(base, 2000) };
  }

  // ---- verification ----

  private evaluate(
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
  private async verify(run: Run): Promise<{ broken: BrokenRule[]; soft: SoftViolation[]; placement: Placement }> {
    const { p } = run;
    const causes: string[] = [];
    await Promise.all(
      p.spec.members.map(async (m) => {
        if (m.type === "server") {
          const id = run.servers.get(m.name)?.id;
          const s = id !== undefined ? await this.ops.getServer(id) : undefined;
          if (!s) causes.push(`server "${m.name}" disappeared`);
          else if (s.status !== "ACTIVE") causes.push(`server "${m.name}" is ${s.status}, expected ACTIVE`);
          else run.servers.set(m.name, s);
        } else {
          const id = run.volumes.get(m.name)?.id;
          const v = id !== undefined ? await this.ops.getVolume(id) : undefined;
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
      this.log(
        "warn",
        `${clusterPrefix(p.spec.name)}can't see where ${actual.unknown.map((n) => `"${n}"`).join(", ")} are; their rules were not verified`,
      );
    }
    return { ...this.evaluate(p.spec, p.mode, actual.placement, actual.topology), placement: actual.placement };
  }

  private async verifyAndRepair(run: Run): Promise<{ soft: SoftViolation[]; placement: Placement }> {
    const head = clusterPrefix(run.p.spec.name);
    const first = await this.verify(run);
    if (first.broken.length === 0) return first;
    const culprits = new Set<string>();
    const unrepairable: string[] = [];
    for (const b of first.broken) {
      const picked = this.culprits(run, b, first.placement);
      if (picked.length === 0) unrepairable.push(brokenCause(b));
      for (const m of picked) culprits.add(m);
    }
    if (unrepairable.length > 0) throw new PhaseError(unrepairable);
    const list = [...culprits].sort(cmp);
    this.log(
      "warn",
      withCauses(
        `${head}rules broken on the cloud; recreating ${list.map((n) => `"${n}"`).join(", ")}`,
        first.broken.map(brokenCause),
      ),
    );
    await this.phase(run, list, (name) => this.recreate(run, name));
    const second = await this.verify(run);
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
  private culprits(run: Run, b: BrokenRule, actual: Placement): string[] {
    const made = b.members.filter((m) => run.made.has(m)).sort(cmp);
    if (made.length === 0) return [];
    if (run.p.mode === "pinned") {
      const off = made.filter((m) => !samePlace(actual[m], run.placement[m]));
      if (off.length > 0) return off;
    }
    return made.length === b.members.length ? made.slice(1) : made;
  }

  /** Delete a member and make it again: detach its attachments, delete, wait, create, reattach. */
  private async recreate(run: Run, name: string): Promise<void> {
    const m = run.p.spec.members.find((x) => x.name === name) as Member;
    const reattach: { volume: string; server: string }[] = [];
    if (m.type === "server") {
      const s = run.servers.get(name) as ServerInfo;
      for (const [vName, v] of run.volumes) {
        if (!v.attachedTo.includes(s.id)) continue;
        await this.detach(s.id, v.id, `volume "${vName}"`, run.abort);
        reattach.push({ volume: vName, server: name });
      }
      await this.ops.deleteServer(s.id);
      await this.waitServer(s.id, `server "${name}"`, SERVER_GONE, this.timeouts.deleteMs, run.abort.signal);
      run.ledger.servers.delete(s.id);
    } else {
      const v = run.volumes.get(name) as VolumeInfo;
      for (const serverId of v.attachedTo) await this.detach(serverId, v.id, `volume "${name}"`, run.abort);
      if (m.attachTo !== undefined) reattach.push({ volume: name, server: m.attachTo });
      await this.ops.deleteVolume(v.id);
      await this.waitVolume(v.id, `volume "${name}"`, VOLUME_GONE, this.timeouts.deleteMs, run.abort.signal);
      run.ledger.volumes.delete(v.id);
    }
    await this.createMember(run, m, new Map());
    for (const a of reattach) await this.attach(run, a.volume, a.server);
  }

  // ---- teardown: rollback and destroy ----

  /** Rolls back a failed create: everything tagged with the cluster or made in this run goes. */
  private async rollback(spec: ClusterSpec, run: Run, causes: string[]): Promise<never> {
    const head = clusterPrefix(spec.name);
    this.log("warn", withCauses(`${head}create failed; rolling back`, causes));
    const left = await this.teardown(spec.name, run.ledger);
    if (left.length === 0) {
      throw new LifecycleError("create_failed", withCauses(`${head}create failed and was rolled back`, causes));
    }
    const partialState = await this.partialState(spec.name, run.p.mode, run.p.discovery.topology).catch(() =>
      ledgerState(spec.name, this.backend, this.options.backendId, run),
    );
    throw new LifecycleError(
      "rollback_failed",
      withCauses(
        `${head}create failed and rollback left objects behind (apply again to resume, or destroy to clean up)`,
        [...causes.map((c) => `cause: ${c}`), ...left.map((c) => `rollback: ${c}`)],
      ),
      { partialState },
    );
  }

  /** Deletes every object of the cluster (by tag) plus the given ids; returns what failed. */
  private async teardown(clusterName: string, known: Ledger): Promise<string[]> {
    const all = emptyLedger();
    for (const id of known.servers) all.servers.add(id);
    for (const id of known.volumes) all.volumes.add(id);
    for (const id of known.groups) all.groups.add(id);
    try {
      const tags = { [TAG_CLUSTER]: clusterName };
      const [servers, volumes, groups] = await Promise.all([
        this.ops.findServers(tags),
        this.ops.findVolumes(tags),
        this.ops.findServerGroups(tags),
      ]);
      for (const s of servers) all.servers.add(s.id);
      for (const v of volumes) all.volumes.add(v.id);
      for (const g of groups) all.groups.add(g.id);
    } catch (e) {
      // Still delete what we know of; the next destroy sweeps the rest.
      return [`can't list the cluster's objects: ${describeError(e)}`, ...(await this.deleteObjects(all))];
    }
    return this.deleteObjects(all);
  }

  /** Detach, delete servers and volumes, wait until gone, then delete server groups. Best effort. */
  private async deleteObjects(objs: Ledger, abort?: AbortController): Promise<string[]> {
    const failures: string[] = [];
    const note = (e: unknown) => {
      if (!(e instanceof WaitError && e.kind === "aborted")) failures.push(describeError(e));
    };
    const signal = abort?.signal;
    // Volumes: wait until each can be deleted (a rollback meets them still creating or attaching),
    // which also tells their names and attachments.
    const volumes = (
      await Promise.all(
        [...objs.volumes].sort(cmp).map((id) =>
          this.waitVolume(id, `volume ${id}`, VOLUME_DELETABLE, this.timeouts.volumeMs, signal, true).catch((e) => {
            note(e);
            return undefined;
          }),
        ),
      )
    ).filter((v): v is VolumeInfo => v !== undefined);
    const servers = (
      await Promise.all(
        [...objs.servers].sort(cmp).map((id) =>
          this.ops.getServer(id).catch((e) => {
            note(e);
            return undefined;
          }),
        ),
      )
    ).filter((s): s is ServerInfo => s !== undefined);
    const detachFailed = new Set<string>();
    await Promise.all(
      volumes.map(async (v) => {
        for (const serverId of v.attachedTo) {
          try {
            await this.detach(serverId, v.id, objectLabel("volume", v), abort);
          } catch (e) {
            detachFailed.add(v.id);
            note(e);
          }
        }
      }),
    );
    const gone = async (kind: "server" | "volume", obj: ServerInfo | VolumeInfo): Promise<void> => {
      const what = objectLabel(kind, obj);
      try {
        if (kind === "server") {
          await this.ops.deleteServer(obj.id);
          await this.waitServer(obj.id, what, SERVER_GONE, this.timeouts.deleteMs, signal);
        } else {
          await this.ops.deleteVolume(obj.id);
          await this.waitVolume(obj.id, what, VOLUME_GONE, this.timeouts.deleteMs, signal);
        }
      } catch (e) {
        note(e instanceof WaitError ? e : new Error(`can't delete ${what}: ${describeError(e)}`));
      }
    };
    await Promise.all([
      ...servers.map((s) => gone("server", s)),
      ...volumes.filter((v) => !detachFailed.has(v.id)).map((v) => gone("volume", v)),
    ]);
    if (failures.length === 0) {
      await Promise.all(
        [...objs.groups].sort(cmp).map(async (id) => {
          try {
            await this.ops.deleteServerGroup(id);
          } catch (e) {
            note(new Error(`can't delete server group ${id}: ${describeError(e)}`));
          }
        }),
      );
    }
    return failures.sort();
  }

  // ---- state ----

  private finalState(run: Run, verified: { soft: SoftViolation[]; placement: Placement }): ClusterState {
    const { p } = run;
    const nameOfServer = new Map([...run.servers].map(([name, s]) => [s.id, name]));
    const groupIdOf = (name: string): string | undefined => {
      const grouping = p.rules.groupOf[name];
      if (run.made.has(name)) return grouping !== undefined ? run.groupIds.get(grouping) : undefined;
      const before = p.state?.members[name]?.serverGroup;
      return before !== undefined && [...run.groupIds.values()].includes(before) ? before : undefined;
    };
    const members: Record<string, MemberState> = {};
    for (const m of [...p.spec.members].sort((a, b) => cmp(a.name, b.name))) {
      const obj = m.type === "server" ? run.servers.get(m.name) : run.volumes.get(m.name);
      if (!obj) continue;
      const ms = memberState(m.name, obj, p.mode, p.discovery.topology, nameOfServer);
      const sg = m.type === "server" ? groupIdOf(m.name) : undefined;
      if (sg !== undefined) ms.serverGroup = sg;
      if (m.type === "volume" && m.volumeType !== undefined) ms.volumeType = m.volumeType;
      members[m.name] = ms;
    }
    const serverGroups: Record<string, ServerGroupState> = {};
    for (const g of p.rules.groups) {
      const id = run.groupIds.get(g.grouping);
      if (id !== undefined)
        serverGroups[g.grouping] = { grouping: g.grouping, id, policy: g.policy, ...maxOf(g.maxServerPerHost) };
    }
    return {
      stateVersion: STATE_VERSION,
      clusterName: p.spec.name,
      backendKind: this.backend.kind,
      backendId: this.options.backendId ?? this.backend.description,
      mode: p.mode,
      members,
      serverGroups,
      placement: sortRecord(verified.placement),
      softViolations: verified.soft,
      brokenRules: [],
      missing: [],
    };
  }

  /** The state as it now is on the cloud (after a failed update or rollback). */
  private async partialState(
    clusterName: string,
    mode: PlacementMode,
    topology: Topology | undefined,
    state?: ClusterState,
  ): Promise<ClusterState> {
    const live = await survey(this.ops, clusterName, state);
    const topo = topology ?? (await this.ops.discover()).topology;
    const nameOfServer = new Map([...live.servers].map(([name, s]) => [s.id, name]));
    const members: Record<string, MemberState> = {};
    const serverGroups: Record<string, ServerGroupState> = {};
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
    const actual = actualPlacement(mode, topo, live.servers, live.volumes);
    return {
      stateVersion: STATE_VERSION,
      clusterName,
      backendKind: this.backend.kind,
      backendId: state?.backendId ?? this.options.backendId ?? this.backend.description,
      mode,
      members: sortRecord(members),
      serverGroups,
      placement: sortRecord(actual.placement),
      softViolations: state?.softViolations ?? [],
      brokenRules: state?.brokenRules ?? [],
      missing: [],
    };
  }
}

// ---- helpers ----

/**
 * Pinned mode, a volume placed on a host-local storage backend: the server placed on that host
 * (its own server first), for Cinder's local_to_instance hint. Cinder takes no exact pool on create,
 * so without the hint it may put the volume on another host's backend.
 */
function pinnedLocalServer(run: Run, m: VolumeMember): string | undefined {
  const at = run.placement[m.name];
  if (at?.type !== "volume") return undefined;
  const host = run.p.discovery.topology.storageBackends.find((b) => b.name === at.backend)?.host;
  if (host === undefined) return undefined;
  const onHost = Object.entries(run.placement)
    .filter(([, p]) => p.type === "server" && p.host === host)
    .map(([name]) => name)
    .sort(cmp);
  return m.attachTo !== undefined && onHost.includes(m.attachTo) ? m.attachTo : onHost[0];
}

/** What makes apply refuse before touching the cloud: rules the mode can't express, impossible changes, quota. */
function blockingOf(p: Prepared): string[] {
  return [...p.rules.blocking, ...p.base.problems, ...p.quota, ...p.images].sort();
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function emptyLedger(): Ledger {
  return { servers: new Set(), volumes: new Set(), groups: new Set() };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function maxOf(max: number | undefined): { maxServerPerHost?: number } {
  return max === undefined ? {} : { maxServerPerHost: max };
}

function sortRecord<T>(r: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).sort((a, b) => cmp(a[0], b[0])));
}

function sortedValues<T extends { name: string }>(r: Record<string, T>): T[] {
  return Object.values(r).sort((a, b) => cmp(a.name, b.name));
}

/** A healthy object first, then by id. */
function best<T extends { id: string; status: string }>(list: T[]): T | undefined {
  return [...list].sort((a, b) => Number(isBroken(a.status)) - Number(isBroken(b.status)) || cmp(a.id, b.id))[0];
}

function usageOfServer(s: ServerInfo): { host?: string; flavorRef: string } {
  return { ...(s.host !== undefined ? { host: s.host } : {}), flavorRef: s.flavorRef };
}

function usageOfVolume(v: VolumeInfo): { backend?: string; sizeGb: number } {
  return { ...(v.backend !== undefined ? { backend: v.backend } : {}), sizeGb: v.sizeGb };
}

function objectLabel(kind: "server" | "volume", o: { id: string; metadata: Record<string, string> }): string {
  const member = o.metadata[TAG_MEMBER];
  return member !== undefined ? `${kind} "${member}"` : `${kind} ${o.id}`;
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

function memberState(
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
    ...(obj.fault !== undefined ? { fault: obj.fault } : {}),
  };
}

/** Refresh keeps what was applied (the spec's volume type) over what the cloud defaulted. */
function keepApplied(before: MemberState, obj: ServerInfo | VolumeInfo): Partial<MemberState> {
  if ("flavorRef" in obj || before.volumeType === undefined) return {};
  return { volumeType: before.volumeType };
}

function stripLocation(m: MemberState): MemberState {
  const { host: _h, hostId: _i, backend: _b, fault: _f, attachedTo: _a, ...rest } = m;
  return rest;
}

/** Last resort when the cloud can't even be listed after a failed rollback: what this run knows it made. */
function ledgerState(clusterName: string, backend: Backend, backendId: string | undefined, run: Run): ClusterState {
  const members: Record<string, MemberState> = {};
  for (const [name, s] of run.servers) {
    if (run.ledger.servers.has(s.id)) members[name] = { name, type: "server", id: s.id, status: s.status };
  }
  for (const [name, v] of run.volumes) {
    if (run.ledger.volumes.has(v.id)) members[name] = { name, type: "volume", id: v.id, status: v.status };
  }
  return {
    stateVersion: STATE_VERSION,
    clusterName,
    backendKind: backend.kind,
    backendId: backendId ?? backend.description,
    mode: run.p.mode,
    members: sortRecord(members),
    serverGroups: {},
    placement: {},
    softViolations: [],
    brokenRules: [],
    missing: [],
  };
}
