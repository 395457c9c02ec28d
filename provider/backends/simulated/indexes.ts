// What the simulated cloud's operations look up instead of scanning every record: servers, volumes
// and server groups by id, the resources claimed on each host and storage backend, the volumes
// attached to each server, and the quota used. Kept up to date incrementally: the cache of a
// database (tracking.ts) reports every record it adds, drops or changes — in a call, from another
// process's writes, by a rollback — and the index recounts only those records when next asked, so a
// call costs the same at 10 and 10,000 objects. The records stay the truth: every figure here is a
// sum over them, and a state that isn't a cache (a plain snapshot) gets an index built from it.
import { findFlavor } from "../../model/topology";
import type { ServerGroupInfo } from "../backend";
import { type Obj, proxies, targets } from "./proxies";
import type { CloudState, ServerRecord, VolumeRecord } from "./store";

export type Indexed = "servers" | "volumes" | "serverGroups";

/** The collections indexed (faults are few: scanned). */
function isIndexed(coll: string | undefined): coll is Indexed {
  return coll === "servers" || coll === "volumes" || coll === "serverGroups";
}

export interface Claimed {
  vcpus: number;
  ramMb: number;
  diskGb: number;
}

export interface QuotaUsed {
  instances: number;
  vcpus: number;
  ramMb: number;
  volumes: number;
  gigabytes: number;
}

/** What one record counts for. */
interface Entry {
  coll: Indexed;
  id: unknown;
  /** Server: its claim. */
  claim?: { host: string } & Claimed;
  /** Volume: the GB it holds on its backend. */
  stored?: { backend: string; gb: number };
  /** Volume: the servers it is attached to. */
  attachedTo?: string[];
  /** What it counts against the quota (absent while it is being deleted). */
  quota?: Partial<QuotaUsed>;
}

const ZERO: Claimed = { vcpus: 0, ramMb: 0, diskGb: 0 };

export class StateIndex {
  /** Per record (its target), how many list positions hold it: 0 = no longer in the state. */
  private readonly held = new Map<Obj, number>();
  private readonly dirty = new Map<Obj, Indexed>();
  private readonly entries = new Map<Obj, Entry>();
  private readonly byId: Record<Indexed, Map<unknown, Obj>> = {
    servers: new Map(),
    volumes: new Map(),
    serverGroups: new Map(),
  };
  private readonly hosts = new Map<string, Claimed>();
  private readonly backends = new Map<string, number>();
  private readonly attached = new Map<string, Set<Obj>>();
  private readonly quota: QuotaUsed = { instances: 0, vcpus: 0, ramMb: 0, volumes: 0, gigabytes: 0 };

  /** `stateOf`: where flavors are read from (the quota counts a server by its flavor). */
  constructor(private readonly stateOf: () => CloudState) {}

  /** An index of a plain state (not a database's cache): built from every record, for one use. */
  static of(state: CloudState): StateIndex {
    const index = new StateIndex(() => state);
    for (const coll of ["servers", "volumes", "serverGroups"] as const) {
      for (const r of state[coll] as unknown as Obj[]) index.added(coll, (targets.get(r) as Obj | undefined) ?? r);
    }
    return index;
  }

  // ---- told by the cache (of any collection: those not indexed are ignored) ----

  private added(coll: Indexed, t: Obj): void {
    this.held.set(t, (this.held.get(t) ?? 0) + 1);
    this.dirty.set(t, coll);
  }

  private dropped(coll: Indexed, t: Obj): void {
    const n = (this.held.get(t) ?? 0) - 1;
    if (n > 0) this.held.set(t, n);
    else this.held.delete(t);
    this.dirty.set(t, coll);
  }

  changed(coll: string | undefined, t: Obj): void {
    if (isIndexed(coll)) this.dirty.set(t, coll);
  }

  metaChanged(key: string): void {
    if (key === "topology") this.recountAll();
  }

  /** The records (proxies) at positions [from, to) of a list join (+1) or leave (-1) it. */
  listed(coll: string, arr: readonly object[], from: number, to: number, sign: 1 | -1): void {
    if (!isIndexed(coll)) return;
    for (let i = from; i < to && i < arr.length; i++) {
      const t = targets.get(arr[i] as object) as Obj | undefined;
      if (!t) continue;
      if (sign > 0) this.added(coll, t);
      else this.dropped(coll, t);
    }
  }

  /** A list replaced by another: only the records that leave or join count again (a delete filters thousands). */
  relisted(coll: string, before: readonly object[], after: readonly object[]): void {
    if (!isIndexed(coll)) return;
    const was = new Set(before);
    const is = new Set(after);
    for (let i = 0; i < before.length; i++) if (!is.has(before[i] as object)) this.listed(coll, before, i, i + 1, -1);
    for (let i = 0; i < after.length; i++) if (!was.has(after[i] as object)) this.listed(coll, after, i, i + 1, 1);
  }

  /** Every record counts again (the flavors changed). */
  private recountAll(): void {
    for (const [t, e] of this.entries) this.dirty.set(t, e.coll);
  }

  // ---- asked by the operations ----

  server(id: string): ServerRecord | undefined {
    return this.record("servers", id) as ServerRecord | undefined;
  }

  volume(id: string): VolumeRecord | undefined {
    return this.record("volumes", id) as VolumeRecord | undefined;
  }

  serverGroup(id: string): ServerGroupInfo | undefined {
    return this.record("serverGroups", id) as ServerGroupInfo | undefined;
  }

  /** What the cloud's servers claim on `host` (the topology's own `used` not included). */
  claimedOn(host: string): Claimed {
    this.flush();
    return this.hosts.get(host) ?? ZERO;
  }

  /** A server's own claim (to leave it out when it is placed again). */
  claimOf(id: string): ({ host: string } & Claimed) | undefined {
    const s = this.server(id);
    return s ? this.entries.get(targets.get(s) as Obj)?.claim : undefined;
  }

  /** GB the cloud's volumes hold on `backend` (the topology's own `usedGb` not included). */
  storedOn(backend: string): number {
    this.flush();
    return this.backends.get(backend) ?? 0;
  }

  storedBy(id: string): { backend: string; gb: number } | undefined {
    const v = this.volume(id);
    return v ? this.entries.get(targets.get(v) as Obj)?.stored : undefined;
  }

  /** The volumes attached to a server, in no particular order. */
  attachedTo(serverId: string): VolumeRecord[] {
    this.flush();
    const out: VolumeRecord[] = [];
    for (const t of this.attached.get(serverId) ?? []) out.push((proxies.get(t) ?? t) as VolumeRecord);
    return out;
  }

  quotaUsed(): QuotaUsed {
    this.flush();
    return { ...this.quota };
  }

  // ---- internals ----

  private record(coll: Indexed, id: string): unknown {
    this.flush();
    const t = this.byId[coll].get(id);
    return t === undefined ? undefined : (proxies.get(t) ?? t);
  }

  private flush(): void {
    if (this.dirty.size === 0) return;
    const dirty = [...this.dirty];
    this.dirty.clear();
    for (const [t, coll] of dirty) {
      const old = this.entries.get(t);
      if (old) this.count(t, old, -1);
      if (!this.held.has(t)) {
        this.entries.delete(t);
        continue;
      }
      const e = this.entryOf(coll, t);
      this.entries.set(t, e);
      this.count(t, e, 1);
    }
  }

  private entryOf(coll: Indexed, t: Obj): Entry {
    const e: Entry = { coll, id: t.id };
    if (coll === "servers") {
      const s = t as unknown as ServerRecord;
      if (s.claim) e.claim = { ...s.claim };
      if (s.pending?.kind !== "delete") {
        const flavorRef = s.pending?.kind === "resize" ? s.pending.flavorRef : s.flavorRef;
        const f = findFlavor(this.stateOf().topology.flavors, flavorRef);
        e.quota = { instances: 1, vcpus: f?.vcpus ?? 0, ramMb: f?.ramMb ?? 0 };
      }
    } else if (coll === "volumes") {
      const v = t as unknown as VolumeRecord;
      if (v.backend && v.status !== "error") e.stored = { backend: v.backend, gb: v.sizeGb };
      if (v.attachedTo.length > 0) e.attachedTo = [...v.attachedTo];
      if (v.pending?.kind !== "delete") e.quota = { volumes: 1, gigabytes: v.sizeGb };
    }
    return e;
  }

  private count(t: Obj, e: Entry, sign: 1 | -1): void {
    const ids = this.byId[e.coll];
    if (sign > 0) ids.set(e.id, t);
    else if (ids.get(e.id) === t) ids.delete(e.id);
    if (e.claim) {
      const u = this.hosts.get(e.claim.host) ?? { ...ZERO };
      u.vcpus += sign * e.claim.vcpus;
      u.ramMb += sign * e.claim.ramMb;
      u.diskGb += sign * e.claim.diskGb;
      this.hosts.set(e.claim.host, u);
    }
    if (e.stored) this.backends.set(e.stored.backend, (this.backends.get(e.stored.backend) ?? 0) + sign * e.stored.gb);
    for (const serverId of e.attachedTo ?? []) {
      let set = this.attached.get(serverId);
      if (sign > 0) {
        if (!set) {
          set = new Set();
          this.attached.set(serverId, set);
        }
        set.add(t);
      } else if (set) {
        set.delete(t);
        if (set.size === 0) this.attached.delete(serverId);
      }
    }
    for (const k of Object.keys(e.quota ?? {}) as (keyof QuotaUsed)[]) this.quota[k] += sign * (e.quota?.[k] ?? 0);
  }
}

/** The index each database cache keeps of its state (tracking.ts registers it). */
const indexes = new WeakMap<object, StateIndex>();

export function registerIndex(state: CloudState, index: StateIndex): void {
  indexes.set(state, index);
}

/** The state's index: the cache's own, kept up to date, or one built now for a plain state. */
export function indexOf(state: CloudState): StateIndex {
  return indexes.get(state) ?? StateIndex.of(state);
}
