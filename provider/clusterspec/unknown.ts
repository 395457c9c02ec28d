// Pulumi's "unknown during preview" sentinel. During preview any input value, even a whole
// array or object, may be this string; validation skips what depends on it and checks the rest.

/** The value Pulumi uses for unknown inputs during preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export function isUnknown(value: unknown): value is typeof UNKNOWN {
  return value === UNKNOWN;
}

/** True when the root or any value on the way down `segments` is UNKNOWN. */
export function pathTouchesUnknown(root: unknown, segments: readonly (string | number)[]): boolean {
  let v: unknown = root;
  if (v === UNKNOWN) return true;
  for (const s of segments) {
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, s)) return false;
    v = (v as Record<string | number, unknown>)[s];
    if (v === UNKNOWN) return true;
  }
  return false;
}

/** Whether UNKNOWN occurs anywhere in `value` (iterative: deep or cyclic input never overflows the stack). */
export function containsUnknown(value: unknown): boolean {
  const stack: unknown[] = [value];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === UNKNOWN) return true;
    if (v === null || typeof v !== "object" || seen.has(v)) continue;
    seen.add(v);
    if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else {
      for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k]);
    }
  }
  return false;
}
