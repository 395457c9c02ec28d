// What the provider keeps per provider object (the deserialized instance lives as long as the plugin
// process): the stack config it was configured with and the cloud selected from it, opened on first
// use. And the rule that a cluster's cloud is part of the cluster (cloudOf).
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { type BackendSelection, NoCloudConfiguredError, selectBackend } from "../backends/select";
import { ClusterController, type ControllerOptions } from "../lifecycle";
import { CONFIG_PREFIX } from "../model/names";
import type { ClusterState } from "../model/state";
import { quote } from "../model/text";
import { UserFacingError } from "./errors";
import { type ProgressSink, stdoutProgress } from "./progress";

export interface ProviderContext {
  config: Record<string, string>;
  selection?: Promise<BackendSelection>;
  log: ProgressSink;
}

const contexts = new WeakMap<object, ProviderContext>();

export function contextOf(host: object): ProviderContext {
  let ctx = contexts.get(host);
  if (!ctx) {
    // configure() was not called (an engine older than 3.139): environment only.
    ctx = { config: {}, log: stdoutProgress };
    contexts.set(host, ctx);
  }
  return ctx;
}

/** Test seam: where progress goes for this provider object. */
export function setProgressSink(host: object, log: ProgressSink): void {
  contextOf(host).log = log;
}

/** Keeps this project's stack config (`openstack-vcluster:*`) on the provider object. */
export async function configure(host: object, req: dynamic.ConfigureRequest): Promise<void> {
  const ctx = contextOf(host);
  ctx.config = configFrom(req.config);
  ctx.selection = undefined;
}

/** The SDK's Config keeps the whole decrypted stack config in `rawConfig`; fall back to `get`. */
function configFrom(config: dynamic.ConfigureRequest["config"]): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = (config as { rawConfig?: unknown }).rawConfig;
  if (raw !== null && typeof raw === "object") {
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (!k.startsWith(CONFIG_PREFIX) || v === undefined || v === null) continue;
      out[k] = typeof v === "string" ? v : JSON.stringify(v);
    }
    return out;
  }
  for (const key of KNOWN_CONFIG_KEYS) {
    const v = config.get(`${CONFIG_PREFIX}${key}`);
    if (v !== undefined) out[`${CONFIG_PREFIX}${key}`] = v;
  }
  return out;
}

const KNOWN_CONFIG_KEYS = [
  "backend",
  "simulatedDir",
  "simulatedTopology",
  "simulatedView",
  "cloud",
  "authUrl",
  "username",
  "password",
  "projectName",
  "projectId",
  "userDomainName",
  "projectDomainName",
  "region",
  "interface",
  "cacert",
  "insecure",
  "applicationCredentialId",
  "applicationCredentialName",
  "applicationCredentialSecret",
  "token",
  "endpoints",
];

/** One backend per provider process, opened on first use (never at deserialization). */
export function backendFor(ctx: ProviderContext): Promise<BackendSelection> {
  if (!ctx.selection) {
    const pending = selectBackend(ctx.config, process.env, process.cwd()).then((sel) => {
      if (sel.notice) ctx.log("info", sel.notice);
      return sel;
    });
    // A failed selection (bad config) is retried on the next call, not remembered.
    pending.catch(() => {
      if (ctx.selection === pending) ctx.selection = undefined;
    });
    ctx.selection = pending;
  }
  return ctx.selection;
}

/**
 * The backend for a cluster that already exists: the cloud its state names, or a failure that names both
 * clouds and the fix. A cluster's cloud is part of the cluster: a missing OS_CLOUD in one run, or a
 * stack pointed elsewhere, must never replace it (its members would be left behind, untracked) nor
 * refresh it against the wrong cloud (every member would look missing and be recreated there).
 */
export async function cloudOf(
  ctx: ProviderContext,
  name: string,
  state: ClusterState | undefined,
): Promise<BackendSelection> {
  let sel: BackendSelection;
  try {
    sel = await backendFor(ctx);
  } catch (err) {
    if (state && err instanceof NoCloudConfiguredError) {
      throw new UserFacingError(
        `cluster ${quote(name)} lives on ${cloudName(state)}, but no cloud is configured for this stack; nothing was changed (hint: ${KEEP_HINT})`,
      );
    }
    throw err;
  }
  if (state && isOtherCloud(state, sel)) {
    throw new UserFacingError(
      `cluster ${quote(name)} lives on ${cloudName(state)}, but this stack is now configured for ${sel.backend.kind} cloud "${sel.backendId}" (${sel.backend.description}); nothing was changed (hint: ${KEEP_HINT}; to move the cluster, destroy it with its own cloud configured, then configure the new cloud and run pulumi up)`,
    );
  }
  return sel;
}

const KEEP_HINT =
  "configure the cluster's cloud again, as it was when the cluster was built (OS_CLOUD, OS_AUTH_URL or openstack-vcluster:*)";

function cloudName(state: ClusterState): string {
  return `${state.backendKind} cloud "${state.backendId}"`;
}

export function controllerFor(
  ctx: ProviderContext,
  sel: BackendSelection,
  limits: Pick<ControllerOptions, "operationTimeout" | "rollbackTimeout"> = {},
): ClusterController {
  return new ClusterController(sel.backend, { log: ctx.log, backendId: sel.backendId, ...limits });
}

export function isOtherCloud(state: ClusterState, sel: BackendSelection): boolean {
  return state.backendKind !== sel.backend.kind || (state.backendId !== "" && state.backendId !== sel.backendId);
}
