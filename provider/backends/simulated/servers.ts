// Server operations of the simulated cloud, as Nova does them: validation, quota, scheduling, and
// the transition the clock finishes (see clock.ts). Each runs inside SimulatedCloud's call().
import { createHash, randomUUID } from "node:crypto";
import { findFlavor } from "../../model/topology";
import {
  BackendError,
  type RebuildOptions,
  type ServerCreate,
  type ServerGroupCreate,
  type ServerGroupInfo,
  type ServerGroupPolicy,
  type ServerInfo,
} from "../backend";
import { mustServer, requireServerStatus, unknownRef } from "./checks";
import { takeMatching } from "./fault-plan";
import { indexOf } from "./indexes";
import { addressesOf, allocatePorts } from "./network";
import type { OpEnv, Tx, View } from "./op";
import { plain, unproxied } from "./proxies";
import { checkQuota } from "./quota";
import { hostByName, hostZones, scheduleServer } from "./scheduler";
import type { CloudState, ServerRecord, VolumeRecord } from "./store";
import { pickResources } from "./util";

export function createServer(tx: Tx, env: OpEnv, req: ServerCreate): ServerInfo {
  const { state, now } = tx;
  if (req.host !== undefined && env.view === "tenant") {
    throw new BackendError(
      "forbidden",
      "Policy doesn't allow compute:servers:create:requested_destination to be performed.",
    );
  }
  const flavor = findFlavor(state.topology.flavors, req.flavorRef);
  if (!flavor) throw unknownRef("Flavor", req.flavorRef, Object.keys(state.topology.flavors));
  if (!state.images.includes(req.imageRef)) throw unknownRef("Image", req.imageRef, state.images);
  const zones = hostZones(state);
  if (req.zone !== undefined && !zones.has(req.zone)) throw unknownRef("Availability zone", req.zone, [...zones]);
  if (req.host !== undefined && !hostByName(state, req.host)) {
    throw unknownRef(
      "Compute host",
      req.host,
      state.topology.hosts.map((h) => h.name),
    );
  }
  const group = req.serverGroupId === undefined ? undefined : indexOf(state).serverGroup(req.serverGroupId);
  if (req.serverGroupId !== undefined && !group) {
    throw new BackendError("bad_request", `Server group "${req.serverGroupId}" could not be found.`);
  }
  checkQuota(state, { instances: 1, vcpus: flavor.vcpus, ramMb: flavor.ramMb });

  const named = { name: req.name, metadata: req.metadata };
  const ignorePlacement = takeMatching(state, "ignore-placement", named) !== undefined;
  const placed = scheduleServer(state, {
    flavor,
    ...(req.zone !== undefined ? { zone: req.zone } : {}),
    ...(req.host !== undefined ? { host: req.host } : {}),
    ...(group ? { group } : {}),
    ...(req.sameHost ? { sameHost: req.sameHost } : {}),
    ...(req.differentHost ? { differentHost: req.differentHost } : {}),
    ignorePlacement,
  });
  const server: ServerRecord = {
    id: randomUUID(),
    name: req.name,
    status: "BUILD",
    flavorRef: req.flavorRef,
    imageRef: req.imageRef,
    metadata: { ...req.metadata },
    securityGroups: uniqueSorted(req.securityGroups ?? ["default"]),
    ...(req.keyName !== undefined ? { keyName: req.keyName } : {}),
    ...(req.networks !== undefined ? { networks: [...req.networks] } : {}),
    ...(req.userData !== undefined ? { userDataDigest: userDataDigest(req.userData) } : {}),
    createdAt: now,
  };
  if (group) {
    server.groupId = group.id;
    group.members.push(server.id);
  }
  if (placed.ok) {
    const host = placed.value;
    const buildError = takeMatching(state, "server-error", named);
    Object.assign(server, {
      zone: host.zone,
      host: host.name,
      claim: { host: host.name, ...pickResources(flavor) },
      // Nova binds the ports when it schedules; a server no host took has none.
      ...allocatePorts(state, req.networks),
    });
    server.pending = {
      kind: "build",
      at: now + env.latency.serverBuildMs + tx.slow(named),
      outcome: buildError ? "ERROR" : "ACTIVE",
      ...(buildError ? { fault: buildError.fault ?? `Build of instance ${server.id} aborted: injected fault.` } : {}),
    };
  } else {
    // Like Nova: the server exists, in ERROR, holding nothing.
    Object.assign(server, { status: "ERROR", fault: placed.fault, ...(req.zone ? { zone: req.zone } : {}) });
  }
  state.servers.push(server);
  return serverInfo(state, server, env.view);
}

export function deleteServer(tx: Tx, env: OpEnv, id: string): void {
  const s = indexOf(tx.state).server(id);
  if (!s || s.pending?.kind === "delete") return;
  s.pending = { kind: "delete", at: tx.now + env.latency.deleteMs + tx.slow(s) };
}

export function resizeServer(tx: Tx, env: OpEnv, id: string, flavorRef: string): void {
  const { state } = tx;
  const s = mustServer(state, id);
  const flavor = findFlavor(state.topology.flavors, flavorRef);
  if (!flavor) throw unknownRef("Flavor", flavorRef, Object.keys(state.topology.flavors));
  requireServerStatus(s, "resize", ["ACTIVE", "SHUTOFF"]);
  if (flavorRef === s.flavorRef) {
    throw new BackendError(
      "bad_request",
      `Server "${s.name}" already has flavor "${flavorRef}"; a resize must change the flavor.`,
    );
  }
  const old = findFlavor(state.topology.flavors, s.flavorRef) ?? { vcpus: 0, ramMb: 0, diskGb: 0 };
  checkQuota(state, { vcpus: flavor.vcpus - old.vcpus, ramMb: flavor.ramMb - old.ramMb });
  const group = s.groupId === undefined ? undefined : indexOf(state).serverGroup(s.groupId);
  const base = { selfId: s.id, flavor, ...(s.zone ? { zone: s.zone } : {}), ...(group ? { group } : {}) };
  // Nova tries the current host first when allowed, then any host that keeps the group's policy.
  let placed = s.host ? scheduleServer(state, { ...base, host: s.host }) : undefined;
  if (!placed?.ok) placed = scheduleServer(state, base);
  if (!placed.ok) {
    throw new BackendError("conflict", `Server "${s.name}" cannot be resized to "${flavorRef}": ${placed.fault}`);
  }
  const host = placed.value;
  Object.assign(s, { status: "RESIZE", host: host.name, zone: host.zone });
  s.claim = { host: host.name, ...pickResources(flavor) };
  s.pending = { kind: "resize", at: tx.now + env.latency.resizeMs + tx.slow(s), flavorRef };
}

export function rebuildServer(tx: Tx, env: OpEnv, id: string, imageRef: string, options: RebuildOptions = {}): void {
  const s = mustServer(tx.state, id);
  if (!tx.state.images.includes(imageRef)) throw unknownRef("Image", imageRef, tx.state.images);
  requireServerStatus(s, "rebuild", ["ACTIVE", "SHUTOFF"]);
  s.status = "REBUILD";
  s.pending = {
    kind: "rebuild",
    at: tx.now + env.latency.serverBuildMs + tx.slow(s),
    imageRef,
    ...(options.keyName !== undefined ? { keyName: options.keyName } : {}),
    ...(options.userData !== undefined
      ? { userDataDigest: options.userData === null ? null : userDataDigest(options.userData) }
      : {}),
  };
  // Like Nova, the new key shows at once; the image once the rebuild is done.
  if (options.keyName === null) delete s.keyName;
  else if (options.keyName !== undefined) s.keyName = options.keyName;
}

/** What the simulated cloud keeps of a server's user data: a digest, never the data (cloud.json is plain text). */
export function userDataDigest(userData: string): string {
  return `sha256:${createHash("sha256").update(userData, "utf8").digest("hex")}`;
}

export function uniqueSorted(names: readonly string[]): string[] {
  return [...new Set(names)].sort();
}

export function serverInfo(state: CloudState, record: ServerRecord, view: View): ServerInfo {
  // Read from the record itself: every field is copied below.
  const s = unproxied(record);
  const info: ServerInfo = {
    id: s.id,
    name: s.name,
    status: s.status,
    flavorRef: s.flavorRef,
    imageRef: s.imageRef,
    metadata: { ...s.metadata },
    volumes: attachedVolumes(state, s.id).map((v) => v.id),
    keyName: s.keyName ?? null,
    // A server of an older cloud.json got Nova's default group.
    securityGroups: [...(s.securityGroups ?? ["default"])],
    addresses: addressesOf(s),
    ports: [...(s.ports ?? [])],
  };
  if (s.fault !== undefined) info.fault = s.fault;
  if (s.zone !== undefined) info.zone = s.zone;
  if (s.host !== undefined) {
    if (view === "admin") info.host = s.host;
    info.hostId = hostIdOf(state.projectSalt, s.host);
  }
  return info;
}

/** Nova's hostId: a hash of project and host, the same for every server there (kept: hashing is most of a read). */
const hostIds = new Map<string, string>();

function hostIdOf(salt: string, host: string): string {
  const key = `${salt}:${host}`;
  let id = hostIds.get(key);
  if (id === undefined) {
    id = createHash("sha224").update(key).digest("hex");
    if (hostIds.size >= 100_000) hostIds.clear();
    hostIds.set(key, id);
  }
  return id;
}

/** The volumes attached to a server, in the order they were attached (their device names). */
export function attachedVolumes(state: CloudState, serverId: string): VolumeRecord[] {
  const byDevice = (v: VolumeRecord) => v.device ?? "";
  const attached = indexOf(state).attachedTo(serverId);
  if (attached.length < 2) return attached;
  return attached.sort(
    (a, b) =>
      byDevice(a).length - byDevice(b).length || byDevice(a).localeCompare(byDevice(b)) || a.id.localeCompare(b.id),
  );
}

const POLICIES: readonly ServerGroupPolicy[] = ["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"];

export function createServerGroup(tx: Tx, req: ServerGroupCreate): ServerGroupInfo {
  if (!POLICIES.includes(req.policy)) {
    throw new BackendError(
      "bad_request",
      `Invalid server group policy "${req.policy}"; use one of ${POLICIES.join(", ")}.`,
    );
  }
  if (req.maxServerPerHost !== undefined) {
    if (req.policy !== "anti-affinity") {
      throw new BackendError(
        "bad_request",
        `max_server_per_host applies only to the "anti-affinity" policy, not "${req.policy}".`,
      );
    }
    if (!Number.isInteger(req.maxServerPerHost) || req.maxServerPerHost < 1) {
      throw new BackendError(
        "bad_request",
        `max_server_per_host must be a positive integer, not ${req.maxServerPerHost}.`,
      );
    }
  }
  const group: ServerGroupInfo = {
    id: randomUUID(),
    name: req.name,
    policy: req.policy,
    ...(req.maxServerPerHost !== undefined ? { maxServerPerHost: req.maxServerPerHost } : {}),
    members: [],
    metadata: { ...req.metadata },
  };
  tx.state.serverGroups.push(group);
  return plain(group);
}
