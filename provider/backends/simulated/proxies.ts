// The proxies behind the simulated cloud's state as operations see it (tracking.ts): every object
// of the cache sits behind one, whose only traps are writes (and, for reads, wrapping what is read
// in its own proxy), and each collection's array behind a list view. A write reports what it belongs
// to — its anchor: the record, meta value or counters object; a list, its collection — to the cache,
// before it happens. What is stored is made free of proxies first (`own`), what leaves a call too,
// and `plain` copies a state object.
//
// structuredClone refuses proxies (a DataCloneError): an operation copies a state object with
// `plain`, never with structuredClone (this module leaves the process's globals alone).
import { copyPlain, isPlainObject } from "../../model/records";

export type Obj = Record<PropertyKey, unknown>;

/** The cache a write reports to (tracking.ts). */
export interface Tracker {
  touched(root: Root, t: object, k: PropertyKey): void;
}

/** What a write lands on: a record of a collection, one meta key, or the call counters. */
export type Root =
  | { tracker: Tracker; kind: "record"; coll: string; target: Obj }
  | { tracker: Tracker; kind: "meta"; key: string }
  | { tracker: Tracker; kind: "calls" };

interface Registry {
  /** proxy -> its target, for every proxy made here. */
  targets: WeakMap<object, object>;
  /** target -> its proxy (one per object). */
  proxies: WeakMap<object, object>;
  /** The real arrays behind list views, and state shells: `plain` walks them instead of cloning. */
  lists: WeakSet<object>;
  shells: WeakSet<object>;
  /** Every tracked object -> its anchor: the record, meta value or counters object it is part of. */
  owners: WeakMap<object, object>;
  /** anchor -> where its writes land (re-pointed when a new cache adopts a record). */
  roots: WeakMap<object, Root>;
}

// On globalThis, so two copies of this module in one process (source and dist) know each other's proxies.
const REGISTRY = Symbol.for("openstack-vcluster.state-proxies");
const global = globalThis as unknown as Record<symbol, Registry | undefined>;
const registry: Registry = global[REGISTRY] ?? {
  targets: new WeakMap(),
  proxies: new WeakMap(),
  lists: new WeakSet(),
  shells: new WeakSet(),
  owners: new WeakMap(),
  roots: new WeakMap(),
};
global[REGISTRY] = registry;
export const { targets, proxies, lists, shells, owners, roots } = registry;

const handler: ProxyHandler<Obj> = {
  get(t, k) {
    const v = t[k];
    return typeof v === "object" && v !== null ? proxyFor(v as Obj, owners.get(t) as object) : v;
  },
  set(t, k, v) {
    touch(t, k);
    t[k] = own(v);
    return true;
  },
  deleteProperty(t, k) {
    touch(t, k);
    delete t[k];
    return true;
  },
  defineProperty(t, k, d) {
    touch(t, k);
    return Reflect.defineProperty(t, k, "value" in d ? { ...d, value: own(d.value) } : d);
  },
};

export function proxyFor(v: Obj, anchor: object): object {
  let p = proxies.get(v);
  if (!p) {
    p = new Proxy(v, handler);
    proxies.set(v, p);
    targets.set(p, v);
    owners.set(v, anchor);
  }
  return p;
}

function touch(t: object, k: PropertyKey): void {
  const root = roots.get(owners.get(t) as object);
  if (!root) throw new Error("simulated cloud: a state object of an earlier call was changed");
  root.tracker.touched(root, t, k);
}

/** What a collection's list view tells its cache (tracking.ts) of a write, before it happens. */
export interface ListHooks {
  touch(arr: object[], k: PropertyKey, v: unknown, removal?: boolean): void;
  /** Slots `from` to `to` of `arr` leave (delta -1) or join (+1) the collection. */
  listed(arr: object[], from: number, to: number, delta: 1 | -1): void;
  /** The record proxy to store for a value put into the list. */
  adopt(v: unknown): object;
}

/** The view of a collection's array that operations get: every write goes through `hooks`. */
export function listView(arr: object[], hooks: ListHooks): object[] {
  lists.add(arr);
  const view = new Proxy(arr, {
    set(a, k, v) {
      hooks.touch(a, k, v);
      if (k === "length") {
        hooks.listed(a, v as number, a.length, -1);
        a.length = v as number;
      } else if (typeof k === "string" && isIndex(k)) {
        hooks.listed(a, Number(k), Number(k) + 1, -1);
        (a as unknown as Obj)[k] = hooks.adopt(v);
        hooks.listed(a, Number(k), Number(k) + 1, 1);
      } else (a as unknown as Obj)[k] = v;
      return true;
    },
    deleteProperty(a, k) {
      hooks.touch(a, k, undefined, true);
      if (typeof k === "string" && isIndex(k)) hooks.listed(a, Number(k), Number(k) + 1, -1);
      delete (a as unknown as Obj)[k];
      return true;
    },
    defineProperty(a, k, d) {
      hooks.touch(a, k, undefined, true);
      const at = "value" in d && typeof k === "string" && isIndex(k) ? Number(k) : undefined;
      if (at !== undefined) hooks.listed(a, at, at + 1, -1);
      const value = at !== undefined ? hooks.adopt(d.value) : d.value;
      const ok = Reflect.defineProperty(a, k, "value" in d ? { ...d, value } : d);
      if (at !== undefined) hooks.listed(a, at, at + 1, 1);
      return ok;
    },
  });
  targets.set(view, arr);
  return view;
}

/** An array index ("0", "12"), as a property key of a list. */
export function isIndex(k: string): boolean {
  return /^(0|[1-9]\d*)$/.test(k);
}

/** The object behind a state proxy (`v` when none): for a read that copies what it keeps, without a trap per field. */
export function unproxied<T extends object>(v: T): T {
  return (targets.get(v) as T | undefined) ?? v;
}

/** Whether `v` is one of the state's proxies (or a view of a list or the whole state). */
export function isTracked(v: unknown): boolean {
  return typeof v === "object" && v !== null && targets.has(v);
}

/** A deep copy of `v` holding no proxy: what may leave a call. */
export function plain<T>(v: T): T {
  if (typeof v !== "object" || v === null) return v;
  const t = targets.get(v);
  if (t && !lists.has(t) && !shells.has(t)) return copyPlain(t) as T;
  if (Array.isArray(v)) return v.map((x) => plain(x)) as T;
  if (!isPlainObject(v)) return v;
  const out: Obj = {};
  for (const k of Object.keys(v)) out[k] = plain((v as Obj)[k]);
  return out as T;
}

/**
 * Makes `v` free of proxies in place (a proxy inside is replaced by a copy); a proxy itself
 * becomes a copy. What is stored into the state and what a call returns goes through here.
 */
export function own<T>(v: T): T {
  if (typeof v !== "object" || v === null) return v;
  if (targets.has(v)) return plain(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === "object" && x !== null) {
        const y = own(x);
        if (y !== x) v[i] = y;
      }
    }
    return v;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return v;
  for (const k of Object.keys(v)) {
    const x = (v as Obj)[k];
    if (typeof x === "object" && x !== null) {
      const y = own(x);
      if (y !== x) (v as Obj)[k] = y;
    }
  }
  return v;
}
