// Pure mapping between the Pulumi property bags the engine hands the provider and the
// product's own shapes: which keys are the user's inputs, which are the cluster state,
// how spec issues become check failures. No I/O here, so it is unit-tested directly.

import { UNKNOWN } from "../clusterspec/unknown";
import type { SpecIssue, SpecWarning } from "../model/issues";
import { issueText, sortIssues } from "../model/issues";
import type { ClusterState } from "../model/state";
import { STATE_KEYS, STATE_VERSION } from "../model/state";
import { clusterHead, escapeControls, plural, quote, stripUrlCredentials } from "../model/text";

/** The key the SDK stores the serialized provider under; never ours to interpret. */
export const PROVIDER_KEY = "__provider";

/**
 * The user's inputs, exactly what `new VCluster(name, args, opts)` passes: its args, and the
 * `customTimeouts` and `import` options (timeouts.ts, import-id.ts: `import` as `importId`), which the
 * SDK copies in because no other way reaches a dynamic provider.
 */
export const INPUT_KEYS = [
  "clusterName",
  "instances",
  "groupings",
  "placementStrategy",
  "customTimeouts",
  "importId",
] as const;

export type Props = Record<string, unknown>;

export interface VClusterInputs {
  clusterName?: unknown;
  instances?: unknown;
  groupings?: unknown;
  placementStrategy?: unknown;
  customTimeouts?: unknown;
  importId?: unknown;
}

/** The inputs part of a property bag (old outputs or new inputs), without `__provider`. */
export function inputsOf(props: Props): VClusterInputs {
  const out: Props = {};
  for (const k of INPUT_KEYS) if (props[k] !== undefined) out[k] = props[k];
  return out;
}

/** The args-form document validateSpec reads: `clusterName` is the spec's `name`. */
export function specInputOf(inputs: VClusterInputs): Props {
  const doc: Props = { instances: inputs.instances };
  if (inputs.clusterName !== undefined) doc.name = inputs.clusterName;
  if (inputs.groupings !== undefined) doc.groupings = inputs.groupings;
  if (inputs.placementStrategy !== undefined) doc.placementStrategy = inputs.placementStrategy;
  return doc;
}

/** The cluster name when it is known (a string, not the preview sentinel). */
export function knownClusterName(props: Props): string | undefined {
  const n = props.clusterName;
  return typeof n === "string" && n !== UNKNOWN && n !== "" ? n : undefined;
}

/**
 * The cluster state stored in a property bag, or undefined when there is none (a bag of
 * inputs only). Tolerates state written by earlier versions: missing collections become
 * empty; a state from a newer version is refused, since guessing could lose members.
 */
export function stateOf(props: Props): ClusterState | undefined {
  const members = props.members;
  if (members === null || typeof members !== "object" || Array.isArray(members)) return undefined;
  const version = typeof props.stateVersion === "number" ? props.stateVersion : 1;
  const name = knownClusterName(props) ?? "";
  if (version > STATE_VERSION) {
    throw new ProviderStateError(
      `cluster ${quote(name)}: the state was written by a newer openstack-vcluster (state version ${version}, this one reads up to ${STATE_VERSION}) (hint: upgrade the pulumi-openstack-vcluster package in this program)`,
    );
  }
  const obj = <T>(v: unknown, fallback: T): T => (v !== null && typeof v === "object" ? (v as T) : fallback);
  return {
    stateVersion: version,
    clusterName: name,
    backendKind: props.backendKind === "openstack" ? "openstack" : "simulated",
    // States written before credentials were stripped from auth URLs may still hold them: never again.
    backendId: typeof props.backendId === "string" ? stripUrlCredentials(props.backendId) : "",
    mode: props.mode === "delegated" ? "delegated" : "pinned",
    members: members as ClusterState["members"],
    serverGroups: obj(props.serverGroups, {}),
    placement: obj(props.placement, {}),
    softViolations: Array.isArray(props.softViolations) ? (props.softViolations as ClusterState["softViolations"]) : [],
    brokenRules: Array.isArray(props.brokenRules) ? (props.brokenRules as ClusterState["brokenRules"]) : [],
    missing: Array.isArray(props.missing) ? (props.missing as string[]) : [],
  };
}

export class ProviderStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProviderStateError";
  }
}

/** Outputs: the inputs as given, then the state (plain JSON; never a credential). */
export function outputsOf(inputs: VClusterInputs, state: ClusterState): Props {
  const out: Props = { ...inputs };
  for (const k of STATE_KEYS) {
    const v = state[k];
    if (v !== undefined) out[k] = jsonClone(v);
  }
  return out;
}

/** Drops `undefined` (protobuf Structs can't carry it) and shares nothing with the caller. */
function jsonClone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export interface CheckFailure {
  property: string;
  reason: string;
}

/**
 * One failure per issue, sorted: `cluster "name": path: message (hint: …)`, the cluster's name
 * said once, first. `clusterName` is the resource's; an issue's own `cluster` stands in when
 * it is not known. `property` is left empty on purpose: the engine prints a failure that names
 * a property together with that property's whole value (every instance of the cluster), so
 * the path inside the user's input goes into the reason instead.
 */
export function failuresFrom(clusterName: string | undefined, issues: SpecIssue[]): CheckFailure[] {
  return sortIssues(issues).map((i) => ({
    property: "",
    reason: `${clusterHead(clusterName ?? i.cluster)}${issueLine(i)}`,
  }));
}

/** One line per warning, as failures are worded: `cluster "name": path: message (hint: …)`. */
export function warningLines(clusterName: string | undefined, warnings: readonly SpecWarning[]): string[] {
  return warnings.map((w) => `${clusterHead(clusterName ?? w.cluster)}${issueLine(w)}`);
}

/**
 * The one error create/update/diff throw for an invalid spec: the cluster's name once, then
 * one issue per line, as `check` words them.
 */
export function specProblems(clusterName: string | undefined, issues: SpecIssue[]): string {
  const name = clusterName ?? issues.find((i) => i.cluster)?.cluster;
  const lines = sortIssues(issues).map((i) => `  ${issueLine(i)}`);
  return `${clusterHead(name)}${plural(issues.length, "problem")} in the spec:\n${lines.join("\n")}`;
}

/** `path: message (hint: …)`, the path in the args vocabulary, safe to print. */
function issueLine(issue: SpecIssue | SpecWarning): string {
  return `${escapeControls(userPath(issue.path))}: ${issueText(issue)}`;
}

/** Paths are in the args vocabulary, where the cluster's name is `clusterName`. */
function userPath(path: string): string {
  if (path === "") return "(cluster)";
  return path === "name" || path.startsWith("name.") ? `clusterName${path.slice(4)}` : path;
}
