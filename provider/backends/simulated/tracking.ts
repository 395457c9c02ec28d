// What a call changed in the simulated cloud's state, found without comparing the whole state.
//
// The operations (servers.ts, volumes.ts, edits.ts, the clock, the fault plan, ...) work on a plain
// CloudState and change it in place: push a record, assign a field, delete one, filter a list. The
// state they get is a view of the cache kept between calls (database.ts): every record, meta value
// (topology, images, quota, ...) and the call counters sit behind proxies whose only traps are
// writes. A write marks what it belongs to — one record, one meta key, one counter — so the call's
// transaction writes those rows and nothing else, and reads cost no more than a property lookup.
//
// Rules the operations keep without knowing it, and two they must know:
// - Values stored into the state are the operation's own objects (kept as they are) or copies of
//   state objects (never shared between two records), so a later write is marked on the right record.
// - What an operation returns is detached from the state (proxies inside are replaced by copies):
//   the caller can't change the cache behind its back.
// - A change outside a call (through an object kept from an earlier one) throws.
// - `plain` copies a state object (proxies.ts); structuredClone refuses one.

import { copyPlain } from "../../model/records";
import { registerIndex, StateIndex } from "./indexes";
import {
  isIndex,
  lists,
  listView,
  type Obj,
  own,
  owners,
  proxyFor,
  type Root,
  roots,
  shells,
  type Tracker,
  targets,
} from "./proxies";
import type { CloudState } from "./store";

export { own, plain } from "./proxies";

export const COLLECTIONS = ["servers", "volumes", "serverGroups", "faults"] as const;
export type Collection = (typeof COLLECTIONS)[number];

export type Id = string | number;

function isCollection(k: PropertyKey): k is Collection {
  return k === "servers" || k === "volumes" || k === "serverGroups" || k === "faults";
}

interface List {
  arr: object[];
  view: object[];
}

interface Session {
  records: Map<Obj, Collection>;
  meta: Set<string>;
  calls: Set<string>;
  callsReplaced: boolean;
  /**
   * Per collection changed: while appendOnly, the records at startLength and after are new and
   * `removed` holds the ids of older ones taken out (removeRecords); otherwise the list is compared
   * with the stored ids at the end.
   */
  lists: Map<Collection, { startLength: number; appendOnly: boolean; removed: Id[] }>;
  undo?: Undo;
}

interface Undo {
  records: Map<Obj, Obj>;
  meta: Map<string, { value: unknown } | undefined>;
  calls?: Obj;
  lists: Map<Collection, object[]>;
}

/** What a transaction writes: rows to upsert and delete per collection, meta keys, counters. */
export interface Changes {
  upserts: Map<Collection, Obj[]>;
  removes: Map<Collection, Id[]>;
  meta: { set: string[]; remove: string[] };
  calls: { replaceAll: boolean; set: string[] };
}

export function hasChanges(c: Changes): boolean {
  for (const l of c.upserts.values()) if (l.length > 0) return true;
  for (const l of c.removes.values()) if (l.length > 0) return true;
  return c.meta.set.length + c.meta.remove.length + c.calls.set.length > 0 || c.calls.replaceAll;
}

/**
 * The cache of one cloud's state as the operations see it, and what each transaction changed.
 * `persisted` tells records that are written from those that only live in this process (faults
 * from the environment, negative ids).
 */
export class TrackedState implements Tracker {
  /** The state as operations see it. */
  readonly state: CloudState;
  private readonly shell: Obj;
  private readonly lists = new Map<Collection, List>();
  private readonly byId = new Map<Collection, Map<Id, object>>();
  private readonly metaRoots = new Map<string, Root>();
  /** Told of every record added, dropped or changed, so its lookups stay up to date. */
  private readonly index = new StateIndex(() => this.state);
  private session: Session | undefined;

  constructor(
    initial: CloudState,
    private readonly persisted: (coll: Collection, record: Obj) => boolean = () => true,
  ) {
    this.shell = {};
    shells.add(this.shell);
    const given = initial as unknown as Obj;
    // The shell keeps the given key order (what `sim show --json` prints).
    for (const k of [...Object.keys(given), ...COLLECTIONS, "calls"]) {
      if (k in this.shell) continue;
      if (isCollection(k)) this.shell[k] = this.initialList(k, given[k] as Obj[] | undefined);
      else if (k === "calls") this.shell.calls = { ...((given.calls as Obj | undefined) ?? {}) };
      else this.shell[k] = given[k];
    }
    this.anchorCalls();
    const self = this;
    this.state = new Proxy(this.shell, {
      get(t, k) {
        if (isCollection(k)) return (self.lists.get(k) as List).view;
        const v = t[k];
        if (typeof v !== "object" || v === null || typeof k !== "string") return v;
        return proxyFor(v as Obj, k === "calls" ? (v as Obj) : self.anchorMeta(k, v as Obj));
      },
      set(t, k, v) {
        if (typeof k !== "string") return false;
        if (isCollection(k)) {
          self.replaceList(k, v);
        } else if (k === "calls") {
          const s = self.open();
          s.callsReplaced = true;
          self.saveCalls(s);
          t.calls = { ...own(v as Obj) };
          self.anchorCalls();
        } else {
          self.touchMeta(k);
          t[k] = own(v);
        }
        return true;
      },
      deleteProperty(t, k) {
        if (typeof k !== "string") return false;
        if (isCollection(k)) self.replaceList(k, []);
        else if (k === "calls") (self.state as unknown as Obj).calls = {};
        else {
          self.touchMeta(k);
          delete t[k];
        }
        return true;
      },
    }) as unknown as CloudState;
    targets.set(this.state, this.shell);
    registerIndex(this.state, this.index);
    trackedStates.set(this.state, this);
  }

  // ---- sessions: one per transaction ----

  begin(): void {
    this.session = { records: new Map(), meta: new Set(), calls: new Set(), callsReplaced: false, lists: new Map() };
  }

  /** From here, every first change of a record, meta key, list or the counters is saved for `rollback`. */
  checkpoint(): void {
    this.open().undo = { records: new Map(), meta: new Map(), lists: new Map() };
  }

  /** Undoes every change since `checkpoint` (the changes before it stay). */
  rollback(): void {
    const s = this.open();
    const u = s.undo;
    if (!u) return;
    s.undo = undefined;
    for (const [coll, saved] of u.lists) {
      this.installList(coll, saved);
      // What was removed or appended since the checkpoint is back as it was: compare at the end.
      (s.lists.get(coll) as { appendOnly: boolean }).appendOnly = false;
    }
    for (const [target, saved] of u.records) {
      for (const k of Object.keys(target)) delete target[k];
      Object.assign(target, saved);
      this.index.changed(s.records.get(target), target);
    }
    for (const [key, saved] of u.meta) {
      if (saved) this.shell[key] = saved.value;
      else delete this.shell[key];
      this.index.metaChanged(key);
    }
    if (u.calls) {
      this.shell.calls = u.calls;
      this.anchorCalls();
    }
  }

  /** Ends the session: what it changed, for the database to write. The cache is then up to date. */
  finish(): Changes {
    const s = this.open();
    this.session = undefined;
    const changes: Changes = {
      upserts: new Map(),
      removes: new Map(),
      meta: { set: [], remove: [] },
      calls: { replaceAll: s.callsReplaced, set: [] },
    };
    for (const coll of COLLECTIONS) {
      const ids = this.byId.get(coll) as Map<Id, object>;
      const arr = (this.lists.get(coll) as List).arr;
      const upserts = new Set<Obj>();
      const removes: Id[] = [];
      const m = s.lists.get(coll);
      if (m?.appendOnly && arr.length >= m.startLength) {
        const gone = new Set(m.removed.filter((id) => ids.delete(id)));
        for (let i = m.startLength; i < arr.length; i++) {
          const t = targets.get(arr[i] as object) as Obj;
          if (!this.persisted(coll, t)) continue;
          const id = recordId(coll, t);
          ids.set(id, arr[i] as object);
          upserts.add(t);
          // Removed and made again under the same id: its new row is written, not deleted.
          gone.delete(id);
        }
        removes.push(...gone);
      } else if (m) {
        const seen = new Map<Id, object>();
        for (const p of arr) {
          const t = targets.get(p) as Obj;
          if (this.persisted(coll, t)) seen.set(recordId(coll, t), p);
        }
        for (const [id, p] of ids) {
          if (seen.get(id) !== p) {
            ids.delete(id);
            if (!seen.has(id)) removes.push(id);
          }
        }
        for (const [id, p] of seen) {
          if (ids.get(id) === p) continue;
          ids.set(id, p);
          upserts.add(targets.get(p) as Obj);
        }
      }
      for (const [t, c] of s.records) {
        if (c !== coll || !this.persisted(coll, t)) continue;
        const current = ids.get(t.id as Id);
        if (current !== undefined && targets.get(current) === t) upserts.add(t);
      }
      changes.upserts.set(coll, [...upserts]);
      changes.removes.set(coll, removes);
    }
    for (const key of s.meta) (key in this.shell ? changes.meta.set : changes.meta.remove).push(key);
    changes.calls.set = s.callsReplaced ? Object.keys(this.shell.calls as Obj) : [...s.calls];
    return changes;
  }

  // ---- reading for the database (outside operations) ----

  /** The record's target behind a proxy of this cache. */
  targetOf(p: object): Obj {
    return targets.get(p) as Obj;
  }

  meta(key: string): unknown {
    return this.shell[key];
  }

  metaKeys(): string[] {
    return Object.keys(this.shell).filter((k) => !isCollection(k) && k !== "calls");
  }

  calls(): Record<string, number> {
    return this.shell.calls as Record<string, number>;
  }

  /** The records of `coll` with these ids that are in the cache (proxies, as operations see them). */
  records(coll: Collection, ids: Iterable<Id>): object[] {
    const byId = this.byId.get(coll) as Map<Id, object>;
    const out: object[] = [];
    for (const id of ids) {
      const p = byId.get(id);
      if (p) out.push(p);
    }
    return out;
  }

  /** Every stored record of `coll` (targets). */
  *stored(coll: Collection): Iterable<Obj> {
    for (const p of (this.byId.get(coll) as Map<Id, object>).values()) yield targets.get(p) as Obj;
  }

  size(): number {
    let n = 0;
    for (const m of this.byId.values()) n += m.size;
    return n;
  }

  /** A plain copy of everything (with this session's process-only records). */
  snapshot(): CloudState {
    const out: Obj = {};
    for (const k of Object.keys(this.shell)) {
      out[k] = isCollection(k)
        ? (this.lists.get(k) as List).arr.map((p) => copyPlain(targets.get(p)))
        : copyPlain(this.shell[k]);
    }
    return out as unknown as CloudState;
  }

  // ---- applying another process's writes (outside sessions) ----

  putRecord(coll: Collection, value: Obj): void {
    const ids = this.byId.get(coll) as Map<Id, object>;
    const id = recordId(coll, value);
    const p = ids.get(id);
    if (p) {
      const t = targets.get(p) as Obj;
      for (const k of Object.keys(t)) delete t[k];
      Object.assign(t, value);
      this.index.changed(coll, t);
      return;
    }
    const q = this.adopt(coll, value);
    (this.lists.get(coll) as List).arr.push(q);
    ids.set(id, q);
    this.index.listed(coll, [q], 0, 1, 1);
  }

  removeRecords(coll: Collection, removed: Set<Id>): void {
    if (removed.size === 0) return;
    const ids = this.byId.get(coll) as Map<Id, object>;
    for (const id of removed) ids.delete(id);
    const list = this.lists.get(coll) as List;
    const kept = list.arr.filter((p) => !removed.has(recordId(coll, targets.get(p) as Obj)));
    this.index.relisted(coll, list.arr, kept);
    list.arr.length = 0;
    list.arr.push(...kept);
  }

  putMeta(key: string, value: unknown): void {
    this.shell[key] = value;
    this.index.metaChanged(key);
  }

  removeMeta(key: string): void {
    delete this.shell[key];
    this.index.metaChanged(key);
  }

  /** removeRecords on this cache: the real array is filtered, no proxy walked and no list compared at the end. */
  remove(coll: Collection, ids: ReadonlySet<Id>): void {
    const s = this.open();
    const list = this.lists.get(coll) as List;
    const m = this.listChange(s, coll, list.arr);
    const kept: object[] = [];
    let before = 0;
    for (let i = 0; i < list.arr.length; i++) {
      const p = list.arr[i] as object;
      const id = recordId(coll, targets.get(p) as Obj);
      if (!ids.has(id)) {
        kept.push(p);
        continue;
      }
      this.index.listed(coll, list.arr, i, i + 1, -1);
      if (i < m.startLength) {
        before++;
        m.removed.push(id);
      }
    }
    if (kept.length === list.arr.length) return;
    list.arr.length = 0;
    for (const p of kept) list.arr.push(p);
    m.startLength -= before;
  }

  // ---- internals ----

  /** Called by a proxy before a write of `k` on `t` (part of `root`). */
  touched(root: Root, t: object, k: PropertyKey): void {
    const s = this.open();
    if (root.kind === "record") {
      if (s.undo && !s.undo.records.has(root.target)) s.undo.records.set(root.target, copyPlain(root.target));
      s.records.set(root.target, root.coll as Collection);
      this.index.changed(root.coll, root.target);
    } else if (root.kind === "meta") {
      this.touchMeta(root.key);
    } else {
      this.saveCalls(s);
      if (t === this.shell.calls && typeof k === "string") s.calls.add(k);
      else s.callsReplaced = true;
    }
  }

  private open(): Session {
    if (!this.session) throw new Error("simulated cloud: its state was changed outside a call");
    return this.session;
  }

  private touchMeta(key: string): void {
    const s = this.open();
    this.index.metaChanged(key);
    if (s.undo && !s.undo.meta.has(key)) {
      s.undo.meta.set(key, key in this.shell ? { value: copyPlain(this.shell[key]) } : undefined);
    }
    s.meta.add(key);
  }

  private saveCalls(s: Session): void {
    if (s.undo && !s.undo.calls) s.undo.calls = { ...(this.shell.calls as Obj) };
  }

  private anchorCalls(): void {
    const calls = this.shell.calls as Obj;
    owners.set(calls, calls);
    roots.set(calls, { tracker: this, kind: "calls" });
  }

  private anchorMeta(key: string, value: Obj): Obj {
    if (roots.get(owners.get(value) as object)?.tracker !== this) {
      let root = this.metaRoots.get(key);
      if (!root) {
        root = { tracker: this, kind: "meta", key };
        this.metaRoots.set(key, root);
      }
      owners.set(value, value);
      roots.set(value, root);
    }
    return value;
  }

  /** A record proxy of this cache for `v` (a record of another cache, or a new object, is taken over). */
  private adopt(coll: Collection, v: unknown): object {
    if (typeof v !== "object" || v === null) throw new TypeError(`simulated cloud: a ${coll} entry must be an object`);
    let t = targets.get(v) as Obj | undefined;
    if (t && lists.has(t)) t = undefined;
    const root = t ? roots.get(t) : undefined;
    if (t && root?.tracker === this && root.kind === "record" && root.coll === coll) return v;
    // A record of an earlier cache (faults this process keeps) is re-pointed here; anything else is copied.
    const target = t && root?.kind === "record" && root.coll === coll ? t : (own(t ? copyPlain(t) : (v as Obj)) as Obj);
    owners.set(target, target);
    roots.set(target, { tracker: this, kind: "record", coll, target });
    return proxyFor(target, target);
  }

  private initialList(coll: Collection, records: Obj[] | undefined): object[] {
    const list = this.makeList(coll, []);
    const ids = new Map<Id, object>();
    this.byId.set(coll, ids);
    for (const r of records ?? []) {
      const p = this.adopt(coll, r);
      list.arr.push(p);
      if (this.persisted(coll, r)) ids.set(recordId(coll, r), p);
      this.index.listed(coll, [p], 0, 1, 1);
    }
    return list.arr;
  }

  private makeList(coll: Collection, arr: object[]): List {
    const view = listView(arr, {
      touch: (a, k, v, removal) => this.touchList(coll, a, k, v, removal),
      listed: (a, from, to, delta) => this.index.listed(coll, a, from, to, delta),
      adopt: (v) => this.adopt(coll, v),
    });
    const list = { arr, view };
    this.lists.set(coll, list);
    return list;
  }

  private installList(coll: Collection, items: object[]): void {
    const old = this.lists.get(coll)?.arr ?? [];
    const list = this.makeList(coll, [...items]);
    this.shell[coll] = list.arr;
    this.index.relisted(coll, old, list.arr);
  }

  private replaceList(coll: Collection, v: unknown): void {
    if (!Array.isArray(v)) throw new TypeError(`simulated cloud: ${coll} must be an array`);
    const s = this.open();
    const old = (this.lists.get(coll) as List).arr;
    this.listChange(s, coll, old).appendOnly = false;
    this.installList(
      coll,
      v.map((x) => this.adopt(coll, x)),
    );
  }

  private touchList(coll: Collection, arr: object[], k: PropertyKey, v: unknown, removal = false): void {
    const s = this.open();
    const m = this.listChange(s, coll, arr);
    if (!m.appendOnly) return;
    if (removal) m.appendOnly = false;
    else if (k === "length") m.appendOnly = typeof v === "number" && v >= arr.length;
    else if (typeof k === "string" && isIndex(k)) m.appendOnly = Number(k) >= m.startLength;
  }

  private listChange(s: Session, coll: Collection, arr: object[]) {
    if (s.undo && !s.undo.lists.has(coll)) s.undo.lists.set(coll, [...arr]);
    let m = s.lists.get(coll);
    if (!m) {
      m = { startLength: arr.length, appendOnly: true, removed: [] };
      s.lists.set(coll, m);
    }
    return m;
  }
}

const trackedStates = new WeakMap<CloudState, TrackedState>();

/**
 * Takes the records with these ids out of a collection of the state. On a cache's state it costs
 * one pass over the real array (filtering the list view would go through a proxy per record, and
 * the transaction would then compare the whole list with what is stored).
 */
export function removeRecords(state: CloudState, coll: "servers" | "volumes", ids: ReadonlySet<string>): void {
  if (ids.size === 0) return;
  const tracked = trackedStates.get(state);
  if (tracked) tracked.remove(coll, ids);
  else (state as unknown as Record<string, { id: string }[]>)[coll] = state[coll].filter((r) => !ids.has(r.id));
}

export function recordId(coll: Collection, t: Obj): Id {
  const id = t.id;
  if (typeof id !== "string" && typeof id !== "number") {
    throw new TypeError(`simulated cloud: a record of ${coll} has no id`);
  }
  return id;
}
