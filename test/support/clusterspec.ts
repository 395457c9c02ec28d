// Builders for the clusterspec tests: members and groupings in the args form a user writes (what parse,
// validate and normalize read), untyped so tests can hand in anything; sensible defaults. The model's
// normalized values (ClusterSpec, Topology) are built by ./model instead.
import type { SpecIssue, ValidationResult } from "../../provider/clusterspec";

type Obj = Record<string, unknown>;

export function server(name: string, spec: Obj = {}): Obj {
  return { name, type: "server", spec: { imageRef: "debian-12", flavorRef: "m1.small", ...spec } };
}

export function volume(name: string, spec: Obj = {}): Obj {
  return { name, type: "volume", spec: { size: 10, ...spec } };
}

export function grouping(name: string, membersRef: unknown, spec: Obj = { rule: "affinity" }): Obj {
  return { name, membersRef, spec };
}

export function cluster(instances: unknown, groupings?: unknown, name = "c"): Obj {
  return { name, instances, ...(groupings !== undefined ? { groupings } : {}) };
}

export function blueprint(instances: unknown, groupings?: unknown, name = "c"): Obj {
  return { vcluster: cluster(instances, groupings, name) };
}

/** Issues as `code path`, the compact form most tables compare. */
export function codes(result: ValidationResult | { issues: SpecIssue[] }): string[] {
  return result.issues.map((i) => `${i.code} ${i.path}`);
}

export function servers(...names: string[]): Obj[] {
  return names.map((n) => server(n));
}
