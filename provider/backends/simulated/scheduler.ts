// Nova- and Cinder-like scheduling over the simulated cloud's state, pure: filter hosts (zone,
// capacity, server-group policy, hints), weigh the survivors (soft policies, then most free RAM,
// then name), pick the first. The caller turns "nothing left" into a server in ERROR.
import { type Flavor, type Host, named, type Resources, type StorageBackend } from "../../model/topology";
import type { ServerGroupInfo, VolumeCreate } from "../backend";
import { indexOf } from "./indexes";
import type { CloudState } from "./store";

/** Nova's own words when the scheduler finds nothing. */
export const NO_VALID_HOST = "No valid host was found. There are not enough hosts available.";
/** Cinder's. */
export const NO_VALID_BACKEND = "No valid backend was found. No weighed backends available.";

const ZERO: Resources = { vcpus: 0, ramMb: 0, diskGb: 0 };

/** Used resources per host: what the topology says was used outside the cloud, plus every claim. */
export function hostUsage(state: CloudState, exceptServer?: string): Map<string, Resources> {
  const usedOn = hostUsedOn(state, exceptServer);
  return new Map(state.topology.hosts.map((h) => [h.name, usedOn(h)]));
}

/** A host's used resources, as hostUsage counts them, one host at a time (a pinned create asks for one). */
function hostUsedOn(state: CloudState, exceptServer?: string): (h: Host) => Resources {
  const index = indexOf(state);
  const except = exceptServer === undefined ? undefined : index.claimOf(exceptServer);
  return (h) => {
    const claimed = index.claimedOn(h.name);
    const mine = except?.host === h.name ? except : ZERO;
    return {
      vcpus: (h.used?.vcpus ?? 0) + claimed.vcpus - mine.vcpus,
      ramMb: (h.used?.ramMb ?? 0) + claimed.ramMb - mine.ramMb,
      diskGb: (h.used?.diskGb ?? 0) + claimed.diskGb - mine.diskGb,
    };
  };
}

/** Used GB per storage backend, the same way. */
export function backendUsage(state: CloudState, exceptVolume?: string): Map<string, number> {
  const usedOn = backendUsedOn(state, exceptVolume);
  return new Map(state.topology.storageBackends.map((b) => [b.name, usedOn(b)]));
}

/** A storage backend's used GB, as backendUsage counts it, one backend at a time. */
function backendUsedOn(state: CloudState, exceptVolume?: string): (b: StorageBackend) => number {
  const index = indexOf(state);
  const except = exceptVolume === undefined ? undefined : index.storedBy(exceptVolume);
  return (b) => (b.usedGb ?? 0) + index.storedOn(b.name) - (except?.backend === b.name ? except.gb : 0);
}

/**
 * What is derived from one of the topology's lists (which a cloud never changes in place), built
 * once per list and kind: a lookup per call, not a scan of every host or backend (lookups by name:
 * model/topology.ts named()).
 */
const derivedOf = new WeakMap<object, Map<string, unknown>>();

function derived<T>(list: object, kind: string, build: () => T): T {
  let kinds = derivedOf.get(list);
  if (!kinds) {
    kinds = new Map();
    derivedOf.set(list, kinds);
  }
  if (!kinds.has(kind)) kinds.set(kind, build());
  return kinds.get(kind) as T;
}

/** The topology's storage backend of that name. */
export function backendByName(state: CloudState, name: string | undefined): StorageBackend | undefined {
  return named(state.topology.storageBackends, name);
}

/** The topology's host of that name. */
export function hostByName(state: CloudState, name: string | undefined): Host | undefined {
  return named(state.topology.hosts, name);
}

/** The topology's zones (of its hosts). */
export function hostZones(state: CloudState): Set<string> {
  const hosts = state.topology.hosts;
  return derived(hosts, "zones", () => new Set(hosts.map((h) => h.zone)));
}

export function backendZone(state: CloudState, b: StorageBackend): string | undefined {
  if (b.zone !== undefined) return b.zone;
  return b.host === undefined ? undefined : hostByName(state, b.host)?.zone;
}

/** The zones the topology's storage backends serve (undefined: a backend of no zone). */
export function backendZones(state: CloudState): Set<string | undefined> {
  const list = state.topology.storageBackends;
  return derived(list, "zones", () => new Set(list.map((b) => backendZone(state, b))));
}

export interface ServerRequest {
  /** The server being placed (resize: its own claim does not count). */
  selfId?: string;
  flavor: Flavor;
  zone?: string;
  host?: string;
  group?: ServerGroupInfo;
  sameHost?: string[];
  differentHost?: string[];
  /** The ignore-placement fault: host, group and hints are ignored, adversarially. */
  ignorePlacement?: boolean;
}

export type Scheduled<T> = { ok: true; value: T } | { ok: false; fault: string };

/** Why `host` can't take the request, or undefined if it can. Checks in Nova's filter order. */
function rejectReason(
  state: CloudState,
  req: ServerRequest,
  host: Host,
  used: Resources,
  groupHosts: Map<string, number>,
): string | undefined {
  if (req.zone !== undefined && host.zone !== req.zone) return `is in zone "${host.zone}", not "${req.zone}"`;
  const lacks: string[] = [];
  if (host.vcpus - used.vcpus < req.flavor.vcpus)
    lacks.push(`vCPUs (need ${req.flavor.vcpus}, free ${host.vcpus - used.vcpus})`);
  if (host.ramMb - used.ramMb < req.flavor.ramMb)
    lacks.push(`RAM (need ${req.flavor.ramMb} MB, free ${host.ramMb - used.ramMb} MB)`);
  if (host.diskGb - used.diskGb < req.flavor.diskGb)
    lacks.push(`disk (need ${req.flavor.diskGb} GB, free ${host.diskGb - used.diskGb} GB)`);
  if (lacks.length > 0) return `lacks ${lacks.join(", ")}`;
  if (req.ignorePlacement) return undefined;
  const g = req.group;
  if (g?.policy === "affinity" && groupHosts.size > 0 && !groupHosts.has(host.name)) {
    return `is not where the members of server group "${g.name}" are (${[...groupHosts.keys()].sort().join(", ")})`;
  }
  if (g?.policy === "anti-affinity") {
    const max = g.maxServerPerHost ?? 1;
    const n = groupHosts.get(host.name) ?? 0;
    if (n >= max) return `already holds ${n} member(s) of anti-affinity server group "${g.name}" (max ${max})`;
  }
  // Only with a hint: the servers on a host are a scan of every server, for every host.
  if (!req.sameHost?.length && !req.differentHost?.length) return undefined;
  const on = serversOn(state, host.name);
  if (req.sameHost && req.sameHost.length > 0 && !req.sameHost.some((id) => on.has(id))) {
    return "holds none of the servers in the same_host hint";
  }
  if (req.differentHost?.some((id) => on.has(id))) return "holds a server in the different_host hint";
  return undefined;
}

function serversOn(state: CloudState, host: string): Set<string> {
  return new Set(state.servers.filter((s) => s.host === host && s.id).map((s) => s.id));
}

/** Members of the group per host (the server being placed excluded). */
function groupHostCounts(state: CloudState, req: ServerRequest): Map<string, number> {
  const counts = new Map<string, number>();
  if (!req.group) return counts;
  const index = indexOf(state);
  for (const id of new Set(req.group.members)) {
    const s = index.server(id);
    if (!s || s.id === req.selfId || !s.host) continue;
    counts.set(s.host, (counts.get(s.host) ?? 0) + 1);
  }
  return counts;
}

/** How many of the request's placement wishes a host would break (ignore-placement prefers more). */
function brokenWishes(state: CloudState, req: ServerRequest, host: string, groupHosts: Map<string, number>): number {
  let n = 0;
  if (req.host !== undefined && req.host !== host) n++;
  const g = req.group;
  if ((g?.policy === "affinity" || g?.policy === "soft-affinity") && groupHosts.size > 0 && !groupHosts.has(host)) n++;
  if ((g?.policy === "anti-affinity" || g?.policy === "soft-anti-affinity") && groupHosts.has(host)) n++;
  if (!req.sameHost?.length && !req.differentHost?.length) return n;
  const on = serversOn(state, host);
  if (req.sameHost && req.sameHost.length > 0 && !req.sameHost.some((id) => on.has(id))) n++;
  if (req.differentHost?.some((id) => on.has(id))) n++;
  return n;
}

export function scheduleServer(state: CloudState, req: ServerRequest): Scheduled<Host> {
  const usedOn = hostUsedOn(state, req.selfId);
  const groupHosts = groupHostCounts(state, req);

  if (req.host !== undefined && !req.ignorePlacement) {
    const host = hostByName(state, req.host);
    if (!host) return { ok: false, fault: `No valid host was found. Host "${req.host}" does not exist.` };
    const why = rejectReason(state, req, host, usedOn(host), groupHosts);
    if (why) return { ok: false, fault: `No valid host was found. Host "${host.name}" ${why}.` };
    return { ok: true, value: host };
  }

  const usage = hostUsage(state, req.selfId);
  const freeRam = (h: Host) => h.ramMb - (usage.get(h.name)?.ramMb ?? 0);
  const candidates = state.topology.hosts.filter(
    (h) => rejectReason(state, req, h, usage.get(h.name) ?? ZERO, groupHosts) === undefined,
  );
  if (candidates.length === 0) return { ok: false, fault: NO_VALID_HOST };
  const policy = req.ignorePlacement ? undefined : req.group?.policy;
  const softScore = (h: Host): number => {
    const n = groupHosts.get(h.name) ?? 0;
    if (policy === "soft-affinity") return -n;
    if (policy === "soft-anti-affinity") return n;
    return 0;
  };
  const adversarial = (h: Host): number => (req.ignorePlacement ? -brokenWishes(state, req, h.name, groupHosts) : 0);
  candidates.sort(
    (a, b) =>
      adversarial(a) - adversarial(b) ||
      softScore(a) - softScore(b) ||
      freeRam(b) - freeRam(a) ||
      a.name.localeCompare(b.name),
  );
  return { ok: true, value: candidates[0] as Host };
}

/** A volume create as the backend receives it (no name or tags needed to schedule), and the volume itself when it resizes. */
export type VolumeRequest = Omit<VolumeCreate, "name" | "metadata"> & { selfId?: string };

export function scheduleVolume(state: CloudState, req: VolumeRequest): Scheduled<StorageBackend> {
  const usedOn = backendUsedOn(state, req.selfId);
  const index = indexOf(state);
  const backendOf = (ids: string[] | undefined) =>
    new Set((ids ?? []).map((id) => index.volume(id)?.backend).filter((b) => b !== undefined));
  const same = backendOf(req.sameBackendAs);
  const different = backendOf(req.differentBackendFrom);
  const localHost = req.localToServer === undefined ? undefined : (index.server(req.localToServer)?.host ?? "");

  const reject = (b: StorageBackend): string | undefined => {
    if (req.zone !== undefined && backendZone(state, b) !== req.zone) return `does not serve zone "${req.zone}"`;
    if (req.volumeType !== undefined && b.volumeTypes && !b.volumeTypes.includes(req.volumeType)) {
      return `does not serve volume type "${req.volumeType}"`;
    }
    const free = b.capacityGb - usedOn(b);
    if (free < req.sizeGb) return `lacks capacity (need ${req.sizeGb} GB, free ${free} GB)`;
    if (req.sameBackendAs && req.sameBackendAs.length > 0 && !same.has(b.name))
      return "is not the backend of the same_backend hint";
    if (different.has(b.name)) return "is the backend of a different_backend hint";
    if (localHost !== undefined && b.host !== localHost)
      return "is not local to the server of the local_to_instance hint";
    return undefined;
  };

  if (req.backend !== undefined) {
    const b = backendByName(state, req.backend);
    if (!b) return { ok: false, fault: `No valid backend was found. Backend "${req.backend}" does not exist.` };
    const why = reject(b);
    if (why) return { ok: false, fault: `No valid backend was found. Backend "${b.name}" ${why}.` };
    return { ok: true, value: b };
  }
  const candidates = state.topology.storageBackends.filter((b) => reject(b) === undefined);
  if (candidates.length === 0) return { ok: false, fault: NO_VALID_BACKEND };
  const free = (b: StorageBackend) => b.capacityGb - usedOn(b);
  candidates.sort((a, b) => free(b) - free(a) || a.name.localeCompare(b.name));
  return { ok: true, value: candidates[0] as StorageBackend };
}
