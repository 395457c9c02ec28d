// Small helpers for the plain records every layer passes around: one place each.
import { cmp } from "./text";

/** The record without its undefined fields (protobuf Structs and JSON drop them anyway). */
export function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The named fields of `o` that are defined. */
export function pickDefined<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** The same record with its keys in code-point order, so output and state are deterministic. */
export function sortRecord<T>(r: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).sort((a, b) => cmp(a[0], b[0])));
}

/**
 * An empty record keyed by user names, with no prototype: looking up an absent member called
 * "constructor" or "toString" gives undefined, not Object's own function.
 */
export function record<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** An object made by a literal, JSON.parse or record(): what the copies below walk into. */
export function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * A deep copy of plain data (plain objects, arrays and JSON values; any other object is kept as it
 * is): a fraction of structuredClone's cost for the small objects copied by the thousand (a backend's
 * answers, the simulated cloud's records).
 */
export function copyPlain<T>(v: T): T {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) return v.map(copyPlain) as T;
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = copyPlain((v as Record<string, unknown>)[k]);
  return out as T;
}
