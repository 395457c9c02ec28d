// The VCluster provider's hooks, as the installed package runs them. The object the SDK
// serializes into the state (`__provider`, see sdk/index.ts) only `require`s this module by
// its package path and delegates, so state written by an older release runs the code that
// is installed now, nothing large is serialized, and no credential can be captured.
//
// Everything per process (stack config, the selected backend) is kept per provider object
// (the deserialized instance lives as long as the plugin process) in a WeakMap, never in
// inputs or outputs (context.ts). Credentials are read from config and the environment at call time.
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { clusterLockDir, withClusterLock } from "../backends/cluster-lock";
import type { BackendSelection } from "../backends/select";
import type { ClusterSpec } from "../clusterspec";
import { validateSpec } from "../clusterspec";
import { containsUnknown } from "../clusterspec/unknown";
import {
  type ControllerOptions,
  type ImportResult,
  importSummary,
  LifecycleError,
  type PreviousInputs,
  placementFailure,
} from "../lifecycle";
import type { SpecIssue } from "../model/issues";
import type { ClusterState } from "../model/state";
import { MISSING } from "../model/state";
import { clusterHead, escapeControls } from "../model/text";
import { formatExplanation } from "../placement";
import { backendFor, cloudOf, contextOf, controllerFor, type ProviderContext } from "./context";
import { type EngineLevel, logUnder, takeDiffUrn, watchDiffUrns } from "./engine-log";
import { InitializationError, toUserFacing, UserFacingError } from "./errors";
import { parseImportId } from "./import-id";
import {
  type CheckFailure,
  failuresFrom,
  inputsOf,
  knownClusterName,
  outputsOf,
  PROVIDER_KEY,
  type Props,
  specInputOf,
  specProblems,
  stateOf,
  type VClusterInputs,
  warningLines,
} from "./props";
import { operationTimeout, sameTimeouts, type TimeoutOperation, timeoutProblems } from "./timeouts";

export { configure, setProgressSink } from "./context";

/** Messages may span lines; everything else in them that a terminal would act on is escaped. */
const LINES = { lines: true };

// So that a diff's lines show under its resource (engine-log.ts).
watchDiffUrns();

/** The customTimeouts of an operation (and of a failed create's rollback, the delete's), from the inputs it runs with. */
function limitsFor(
  inputs: VClusterInputs,
  op: TimeoutOperation,
): Pick<ControllerOptions, "operationTimeout" | "rollbackTimeout"> {
  const own = operationTimeout(inputs.customTimeouts, op);
  const rollback = op === "create" ? operationTimeout(inputs.customTimeouts, "delete") : undefined;
  return { ...(own ? { operationTimeout: own } : {}), ...(rollback ? { rollbackTimeout: rollback } : {}) };
}

interface Validated {
  spec?: ClusterSpec;
  issues: SpecIssue[];
  failures: CheckFailure[];
  hasUnknowns: boolean;
  /** Deprecations (the spec's old snake_case names), one line each. */
  warnings: string[];
}

function validate(inputs: VClusterInputs, tolerateUnknowns: boolean): Validated {
  const name = knownClusterName(inputs as Props);
  // The SDK's names are camelCase; state and programs written before keep working (key_name, …), warned.
  const result = validateSpec(specInputOf(inputs), { name, tolerateUnknowns, legacyNames: "warn" });
  return {
    spec: result.spec,
    issues: result.issues,
    failures: failuresFrom(name, result.issues),
    hasUnknowns: result.hasUnknowns,
    warnings: warningLines(name, result.warnings ?? []),
  };
}

/** Validates or throws one error listing every problem (create/update/diff paths). */
function requireSpec(inputs: VClusterInputs): ClusterSpec {
  const v = validate(inputs, false);
  if (!v.spec || v.issues.length > 0)
    throw new UserFacingError(specProblems(knownClusterName(inputs as Props), v.issues));
  return v.spec;
}

export async function check(host: object, olds: Props, news: Props): Promise<dynamic.CheckResult> {
  const ctx = contextOf(host);
  const inputs = inputsOf(news);
  try {
    const v = validate(inputs, true);
    // The program's own spelling (check sees the new inputs; diff and update read old state silently).
    for (const w of v.warnings) ctx.log("warn", w);
    const failures = [...v.failures];
    const head = clusterHead(knownClusterName(inputs as Props));
    for (const p of timeoutProblems(inputs.customTimeouts)) failures.push({ property: "", reason: `${head}${p}` });
    const isNew = Object.keys(inputsOf(olds)).length === 0;
    const importing = isNew ? importIdsOf(inputs, failures) : undefined;
    // A dry run needs a complete spec; during preview unknowns mean "not yet", not "wrong".
    if (failures.length === 0 && v.spec && !v.hasUnknowns && !containsUnknown(inputs) && importing) {
      // An import: find and verify what exists (nothing is placed or made), say what differs.
      const sel = await backendFor(ctx);
      try {
        reportImport(ctx, v.spec.name, await controllerFor(ctx, sel).adopt(v.spec, importing));
      } catch (err) {
        if (!(err instanceof LifecycleError && err.code === "invalid")) throw err;
        failures.push({ property: "", reason: escapeControls(err.message, LINES) });
      }
    } else if (failures.length === 0 && v.spec && !v.hasUnknowns && !containsUnknown(inputs) && isNew) {
      const sel = await backendFor(ctx);
      const plan = await controllerFor(ctx, sel).plan(v.spec);
      // An unknown flavor is said once, among the blocking lines.
      const unplaceable = placementFailure(v.spec.name, plan.placement);
      if (unplaceable) failures.push({ property: "", reason: escapeControls(formatExplanation(unplaceable), LINES) });
      // What would make apply refuse (rules delegated mode can't express) fails the preview too.
      for (const w of plan.blocking) failures.push({ property: "", reason: escapeControls(w, LINES) });
      for (const w of plan.warnings) if (!plan.blocking.includes(w)) ctx.log("warn", escapeControls(w, LINES));
    }
    return { inputs: news, failures };
  } catch (err) {
    throw toUserFacing(err, knownClusterName(news));
  }
}

/**
 * olds are the old outputs (inputs + state), news the new inputs. Only the normalized spec
 * is compared, so a new release of the provider code never shows as a change.
 */
export async function diff(host: object, _id: string, olds: Props, news: Props): Promise<dynamic.DiffResult> {
  // First, before any await: the resource this diff is for (engine-log.ts).
  const urn = takeDiffUrn();
  const ctx = contextOf(host);
  const newInputs = inputsOf(news);
  const name = knownClusterName(news) ?? knownClusterName(olds);
  try {
    const state = stateOf(olds);
    if (containsUnknown(newInputs)) return { changes: true };
    const spec = requireSpec(newInputs);
    const sel = await cloudOf(ctx, spec.name, state);
    const oldSpec = safeSpec(inputsOf(olds));
    const needsRepair = state !== undefined && stateNeedsRepair(state, spec);
    const changed = oldSpec === undefined || !sameSpec(oldSpec, spec);
    if (!changed && !needsRepair) {
      // New customTimeouts alone change nothing on the cloud, but must be recorded: a later destroy reads
      // the delete timeout from the state (as the engine does), so the resource is updated, with nothing to do.
      if (sameTimeouts(inputsOf(olds).customTimeouts, newInputs.customTimeouts)) return { changes: false };
      ctx.log("info", `${clusterHead(spec.name)}only customTimeouts change; nothing on the cloud does`);
      return { changes: true };
    }
    await dryRun(ctx, sel, spec, state, oldSpec, urn);
    return { changes: true };
  } catch (err) {
    throw toUserFacing(err, name);
  }
}

/**
 * The inputs did not change but the cluster doesn't match them: members a refresh found
 * missing or broken, rules found broken, or a partial state (an earlier create that stopped
 * halfway) lacking members. The next `up` must run update to repair it.
 */
function stateNeedsRepair(state: ClusterState, spec: ClusterSpec): boolean {
  if (state.missing.length > 0 || state.brokenRules.length > 0) return true;
  // Members the spec doesn't name (found tagged by an import): the next apply deletes them.
  if (Object.keys(state.members).some((n) => !spec.members.some((m) => m.name === n))) return true;
  // A volume not attached where the spec attaches it (so found by an import, or by a refresh).
  const unattached = (m: ClusterSpec["members"][number]) =>
    m.type === "volume" &&
    m.attachTo !== undefined &&
    !!state.members[m.name]?.id &&
    state.members[m.name]?.attachedTo !== m.attachTo;
  if (spec.members.some(unattached)) return true;
  // Edits a failed update did not finish: its new inputs were recorded, so they look unchanged now.
  if (Object.values(state.members).some((m) => (m.pending?.length ?? 0) > 0)) return true;
  if (spec.members.some((m) => !state.members[m.name]?.id)) return true;
  return Object.values(state.members).some((m) => m.status === MISSING || m.status === "ERROR" || m.status === "error");
}

function safeSpec(inputs: VClusterInputs): ClusterSpec | undefined {
  try {
    return validate(inputs, false).spec;
  } catch {
    return undefined;
  }
}

function sameSpec(a: ClusterSpec, b: ClusterSpec): boolean {
  return stableJson(a) === stableJson(b);
}

function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val !== null && typeof val === "object" && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)))
      : val,
  );
}

/**
 * Fails the preview (by throwing) when the change can't be placed or applied; else shows under the
 * resource one line per member that changes (a warning for a step that destroys data: a rebuild
 * wipes the root disk, a replacement or a delete loses what the old object held), then the warnings.
 */
async function dryRun(
  ctx: ProviderContext,
  sel: BackendSelection,
  spec: ClusterSpec,
  state: ClusterState | undefined,
  oldSpec: ClusterSpec | undefined,
  urn?: string,
): Promise<void> {
  const plan = await controllerFor(ctx, sel).plan(spec, state, previousOf(oldSpec));
  // Everything in one round: what the cloud lacks or refuses, and why it can't be placed.
  const unplaceable = placementFailure(spec.name, plan.placement);
  const refusals = [...plan.blocking, ...(unplaceable ? [formatExplanation(unplaceable)] : [])];
  if (refusals.length > 0) throw new UserFacingError(refusals.join("\n"));
  // Under the resource when the engine can be told which one it is, else as before (engine-log.ts).
  const say = async (level: EngineLevel, text: string) => {
    if (!(await logUnder(urn, level, text))) ctx.log(level, text);
  };
  for (const line of plan.members) await say(line.level, escapeControls(line.text));
  for (const w of plan.warnings) if (!plan.blocking.includes(w)) await say("warn", w);
}

/**
 * The spec the last apply was asked for: the resource's previous inputs, which Pulumi keeps (their
 * user_data a secret in the state). Edits of what the cloud doesn't show back (user_data, networks,
 * security_groups) are seen against it.
 */
function previousOf(oldSpec: ClusterSpec | undefined): PreviousInputs | undefined {
  return oldSpec ? { spec: oldSpec } : undefined;
}

/**
 * The member ids of an import (the `import` option, which the SDK hands over as `importId`), or
 * undefined when the resource is not imported; a malformed id is a check failure.
 */
function importIdsOf(inputs: VClusterInputs, failures: CheckFailure[]): Record<string, string> | undefined {
  if (inputs.importId === undefined) return undefined;
  const name = knownClusterName(inputs as Props);
  if (typeof inputs.importId !== "string" || name === undefined) return undefined;
  const parsed = parseImportId(inputs.importId, name);
  if ("ids" in parsed) return parsed.ids;
  failures.push({ property: "", reason: `${clusterHead(name)}${escapeControls(parsed.problem)}` });
  return undefined;
}

/** What an import found and what differs, under the resource: differences are warnings (the next up changes them). */
function reportImport(ctx: ProviderContext, name: string, r: ImportResult): void {
  ctx.log("info", escapeControls(importSummary(name, r)));
  for (const line of r.differences) ctx.log("warn", escapeControls(line));
  for (const line of r.unverified) ctx.log("info", escapeControls(line));
}

/** `import`: adopt what exists (under the cluster's lock), record it; nothing on the cloud changes. */
async function importInto(ctx: ProviderContext, spec: ClusterSpec, inputs: VClusterInputs): Promise<ClusterState> {
  const failures: CheckFailure[] = [];
  const ids = importIdsOf(inputs, failures);
  if (!ids) throw new UserFacingError(failures.map((f) => f.reason).join("\n"));
  try {
    const sel = await cloudOf(ctx, spec.name, undefined);
    const r = await withClusterLock(clusterLockDir(sel), spec.name, () => controllerFor(ctx, sel).adopt(spec, ids), {
      purpose: "pulumi up (import)",
      log: ctx.log,
      cloud: sel.backend,
    });
    reportImport(ctx, spec.name, r);
    return r.state;
  } catch (err) {
    throw toUserFacing(err, spec.name);
  }
}

export async function create(host: object, props: Props): Promise<dynamic.CreateResult> {
  const ctx = contextOf(host);
  const inputs = inputsOf(props);
  const spec = requireSpecOrThrow(inputs);
  if (inputs.importId !== undefined) {
    return { id: spec.name, outs: outputsOf(inputs, await importInto(ctx, spec, inputs)) };
  }
  const state = await applyOrRecord(
    ctx,
    spec,
    inputs,
    props,
    undefined,
    spec.name,
    undefined,
    limitsFor(inputs, "create"),
  );
  return { id: spec.name, outs: outputsOf(inputs, state) };
}

export async function update(host: object, id: string, olds: Props, news: Props): Promise<dynamic.UpdateResult> {
  const ctx = contextOf(host);
  const inputs = inputsOf(news);
  const spec = requireSpecOrThrow(inputs);
  let previous: ClusterState | undefined;
  try {
    previous = stateOf(olds);
  } catch (err) {
    throw toUserFacing(err, spec.name);
  }
  const state = await applyOrRecord(
    ctx,
    spec,
    inputs,
    news,
    previous,
    id,
    safeSpec(inputsOf(olds)),
    limitsFor(inputs, "update"),
  );
  return { outs: outputsOf(inputs, state) };
}

function requireSpecOrThrow(inputs: VClusterInputs): ClusterSpec {
  try {
    return requireSpec(inputs);
  } catch (err) {
    throw toUserFacing(err, knownClusterName(inputs as Props));
  }
}

/**
 * Applies; when the controller reports objects left behind (a rollback that failed, an
 * update that stopped midway), rejects with an initialization error carrying the partial
 * state so Pulumi records it and the next `up` resumes from it.
 */
async function applyOrRecord(
  ctx: ProviderContext,
  spec: ClusterSpec,
  inputs: VClusterInputs,
  props: Props,
  previous: ClusterState | undefined,
  id: string = spec.name,
  previousSpec?: ClusterSpec,
  limits: Pick<ControllerOptions, "operationTimeout" | "rollbackTimeout"> = {},
): Promise<ClusterState> {
  try {
    const sel = await cloudOf(ctx, spec.name, previous);
    // One change at a time per cluster, shared with the command (and with other stacks on one machine,
    // and, through the cloud's own lock, with runs on other machines).
    return await withClusterLock(
      clusterLockDir(sel),
      spec.name,
      () => controllerFor(ctx, sel, limits).apply(spec, previous, previousOf(previousSpec)),
      {
        purpose: previous ? "pulumi up (update)" : "pulumi up (create)",
        log: ctx.log,
        cloud: sel.backend,
      },
    );
  } catch (err) {
    const failure = toUserFacing(err, spec.name);
    if (err instanceof LifecycleError && err.partialState) {
      const partial = err.partialState;
      // The SDK does not add `__provider` to an initialization error's properties; without
      // it the recorded state could not be deleted or refreshed.
      const properties = { ...outputsOf(inputs, partial), [PROVIDER_KEY]: props[PROVIDER_KEY] };
      throw new InitializationError(failure.message, id, properties);
    }
    throw failure;
  }
}

/**
 * Refresh. Returns the re-read state as outputs and the stored inputs as inputs, so the
 * next diff compares like with like. A cluster whose members are all gone keeps its id with
 * every member MISSING (rather than vanishing from the stack): the outputs show the drift and
 * the next `pulumi up` recreates it.
 */
export async function read(host: object, id: string, props: Props): Promise<dynamic.ReadResult> {
  const ctx = contextOf(host);
  const inputs = inputsOf(props);
  const name = knownClusterName(props) ?? id;
  try {
    const state = stateOf(props);
    if (!state) return await readExisting(ctx, id, props, inputs);
    const sel = await cloudOf(ctx, name, state);
    const spec = safeSpec(inputs);
    const refreshed = await controllerFor(ctx, sel).refresh(state, spec);
    return { id, props: outputsOf(inputs, refreshed), inputs };
  } catch (err) {
    throw toUserFacing(err, name);
  }
}

/**
 * A read with inputs but no state: a program's `new VCluster(name, args, { id })`, which reads a
 * cluster it doesn't manage. The id is an import id (import-id.ts); the cluster is found as an import
 * finds it, nothing on the cloud changes. Nothing of it found: no id (the engine says it doesn't exist).
 */
async function readExisting(
  ctx: ProviderContext,
  id: string,
  props: Props,
  inputs: VClusterInputs,
): Promise<dynamic.ReadResult> {
  const spec = safeSpec(inputs);
  if (!spec) return { id, props: { ...props }, inputs };
  const parsed = parseImportId(id, spec.name);
  if ("problem" in parsed) throw new UserFacingError(`${clusterHead(spec.name)}${parsed.problem}`);
  const sel = await cloudOf(ctx, spec.name, undefined);
  let r: ImportResult;
  try {
    r = await controllerFor(ctx, sel).adopt(spec, parsed.ids);
  } catch (err) {
    if (err instanceof LifecycleError && err.code === "invalid" && Object.keys(parsed.ids).length === 0) {
      return { id: "", props: {} };
    }
    throw err;
  }
  reportImport(ctx, spec.name, r);
  return { id: spec.name, props: outputsOf(inputs, r.state), inputs };
}

export async function deleteCluster(host: object, id: string, props: Props): Promise<void> {
  const ctx = contextOf(host);
  const name = knownClusterName(props) ?? id;
  try {
    const state = stateOf(props);
    // Sweeping this cluster's tags on another cloud could delete a namesake, and dropping it from the
    // stack would leave its members untracked: refuse, naming both clouds (cloudOf).
    const sel = await cloudOf(ctx, name, state);
    await withClusterLock(
      clusterLockDir(sel),
      name,
      // The delete timeout as recorded with the cluster: `pulumi destroy` runs no program.
      () => controllerFor(ctx, sel, limitsFor(inputsOf(props), "delete")).destroy(state ?? { clusterName: name }),
      {
        purpose: "pulumi destroy",
        log: ctx.log,
        cloud: sel.backend,
      },
    );
  } catch (err) {
    throw toUserFacing(err, name);
  }
}

export { deleteCluster as delete };
