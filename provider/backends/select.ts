// Which cloud a cluster lives on, from Pulumi stack config (`openstack-vcluster:*`), the
// command's flags (passed as the same keys) or the environment, never from resource inputs.
// Credentials are read here, at call time, and go only into the backend object.
import * as path from "node:path";
import { loadTopologyFile, TopologyFileError } from "../clusterspec/topology-file";
import { formatIssues } from "../model/issues";
import { CONFIG_NAMESPACE } from "../model/names";
import type { BackendKind } from "../model/state";
import { type Backend, BackendError } from "./backend";
import { OpenStackBackend, OpenStackConfigError, resolveOpenStackConfig } from "./openstack";
import { SimulatedCloud } from "./simulated";

/** Where the simulated cloud lives when nothing says otherwise: beside the program. */
export const DEFAULT_SIM_DIR = path.join(".openstack-vcluster", "sim");

export interface BackendSelection {
  backend: Backend;
  /** Non-secret identity of the cloud, stored in state; a change replaces the cluster. */
  backendId: string;
  /** One line for the user when a default was chosen. */
  notice?: string;
}

/** Reads `key` from config given as `openstack-vcluster:key` (Pulumi) or bare `key` (command flags). */
export function configValue(config: Record<string, string>, key: string): string | undefined {
  const v = config[`${CONFIG_NAMESPACE}:${key}`] ?? config[key];
  return v === undefined || v === "" ? undefined : v;
}

export type BackendChoice = BackendKind;

/**
 * Nothing says which cloud: a Pulumi program must say so (a cluster's cloud is part of the cluster, and an
 * environment variable missing in one run must never move it); the command defaults to the simulated cloud.
 */
export class NoCloudConfiguredError extends BackendError {
  constructor() {
    super(
      "bad_request",
      `no cloud is configured: for the embedded simulated cloud run "pulumi config set ${CONFIG_NAMESPACE}:backend simulated"; for OpenStack set OS_CLOUD (or OS_AUTH_URL and the other OS_* variables) or "${CONFIG_NAMESPACE}:cloud"`,
    );
    this.name = "NoCloudConfiguredError";
  }
}

export interface SelectOptions {
  /** The command: nothing configured means the simulated cloud beside it, with a one-line notice. */
  defaultToSimulated?: boolean;
}

const SIMULATED_KEYS = ["simulatedDir", "simulatedTopology", "simulatedView"];

export function chooseBackendKind(
  config: Record<string, string>,
  env: NodeJS.ProcessEnv,
  opts: SelectOptions = {},
): BackendChoice {
  const explicit = configValue(config, "backend");
  if (explicit !== undefined) {
    if (explicit !== "simulated" && explicit !== "openstack") {
      throw new BackendError(
        "bad_request",
        `config "${CONFIG_NAMESPACE}:backend" is "${explicit}": use "simulated" or "openstack".`,
      );
    }
    return explicit;
  }
  // Configuration beats the environment: it is kept with the stack, the environment is not.
  if (configValue(config, "cloud") || configValue(config, "authUrl")) return "openstack";
  if (SIMULATED_KEYS.some((k) => configValue(config, k) !== undefined)) return "simulated";
  if (env.OS_CLOUD || env.OS_AUTH_URL) return "openstack";
  if (opts.defaultToSimulated) return "simulated";
  throw new NoCloudConfiguredError();
}

export async function selectBackend(
  config: Record<string, string>,
  env: NodeJS.ProcessEnv,
  cwd: string,
  opts: SelectOptions = {},
): Promise<BackendSelection> {
  const kind = chooseBackendKind(config, env, opts);
  return kind === "openstack" ? openOpenStack(config, env, cwd) : openSimulated(config, env, cwd);
}

async function openOpenStack(
  config: Record<string, string>,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<BackendSelection> {
  let backend: OpenStackBackend;
  try {
    backend = await OpenStackBackend.connect(resolveOpenStackConfig(config, env, cwd));
  } catch (error) {
    // Missing settings and bad credentials are the user's to fix: one line, no stack.
    if (error instanceof OpenStackConfigError) throw new BackendError("bad_request", error.message);
    throw error;
  }
  return { backend, backendId: await backend.identity(), notice: backend.notice };
}

async function openSimulated(
  config: Record<string, string>,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<BackendSelection> {
  const dirSetting = configValue(config, "simulatedDir");
  const dir = path.resolve(cwd, dirSetting ?? DEFAULT_SIM_DIR);
  const topologyFile = configValue(config, "simulatedTopology");
  let topology: Parameters<typeof SimulatedCloud.open>[0]["topology"];
  if (topologyFile !== undefined) {
    let loaded: ReturnType<typeof loadTopologyFile>;
    try {
      loaded = loadTopologyFile(path.resolve(cwd, topologyFile));
    } catch (error) {
      if (error instanceof TopologyFileError) throw new BackendError("bad_request", error.message);
      throw error;
    }
    if (!loaded.topology) {
      throw new BackendError("bad_request", `topology "${topologyFile}" has problems:\n${formatIssues(loaded.issues)}`);
    }
    topology = loaded.topology;
  }
  const view = configValue(config, "simulatedView");
  if (view !== undefined && view !== "admin" && view !== "tenant") {
    throw new BackendError(
      "bad_request",
      `config "${CONFIG_NAMESPACE}:simulatedView" is "${view}": use "admin" (pinned placement) or "tenant" (delegated).`,
    );
  }
  const cloud = await SimulatedCloud.open({ dir, topology, view, env });
  const shown = path.relative(cwd, dir) || ".";
  return {
    backend: cloud,
    backendId: `simulated:${cloud.cloudId}`,
    // Say which cloud was chosen when nobody chose one.
    notice:
      configValue(config, "backend") === undefined
        ? `no OpenStack cloud configured (${CONFIG_NAMESPACE}:cloud, OS_CLOUD or OS_AUTH_URL): using the simulated cloud in ${shown}`
        : undefined,
  };
}
