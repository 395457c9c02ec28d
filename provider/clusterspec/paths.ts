// Dot paths into the user's own input (`vcluster.instances[2].spec.flavorRef`), the one
// vocabulary every issue uses. Keys that aren't plain identifiers are quoted.

export type PathSegment = string | number;

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

export function joinPath(base: string, segment: PathSegment): string {
  if (typeof segment === "number") return `${base}[${segment}]`;
  if (PLAIN_KEY.test(segment)) return base ? `${base}.${segment}` : segment;
  return `${base}[${JSON.stringify(segment)}]`;
}

export function pathOf(base: string, segments: readonly PathSegment[]): string {
  let path = base;
  for (const s of segments) path = joinPath(path, s);
  return path;
}

/** The value at `segments` below `root`, or undefined when the path leaves the data. */
export function valueAt(root: unknown, segments: readonly PathSegment[]): unknown {
  let v: unknown = root;
  for (const s of segments) {
    if (v === null || typeof v !== "object") return undefined;
    if (!Object.hasOwn(v, s)) return undefined;
    v = (v as Record<PathSegment, unknown>)[s];
  }
  return v;
}

/** True when the key the path names exists in its parent object (distinguishes missing from undefined). */
export function hasPath(root: unknown, segments: readonly PathSegment[]): boolean {
  if (segments.length === 0) return true;
  const parent = valueAt(root, segments.slice(0, -1));
  const last = segments[segments.length - 1] as PathSegment;
  return parent !== null && typeof parent === "object" && Object.hasOwn(parent, last);
}
