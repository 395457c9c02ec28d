// In-place edits of existing objects in the simulated cloud, as Nova and Cinder make them: metadata
// set and delete (servers and volumes), security groups added to and removed from a server, networks
// attached to and detached from a server (Nova os-interface), a volume's type changed (Cinder retype,
// migrating on demand). Each runs inside SimulatedCloud's call(). The cloud keeps no keypairs, Neutron
// networks or security groups of its own: any name is accepted.
import { BackendError } from "../backend";
import { mustServer, mustVolume, requireServerStatus } from "./checks";
import { addressesOf, allocatePorts, DEFAULT_NETWORK } from "./network";
import type { OpEnv, Tx } from "./op";
import { backendByName, backendZone, scheduleVolume } from "./scheduler";
import { uniqueSorted } from "./servers";

/** Nova's and Cinder's limit on a metadata key and on a value. */
const METADATA_MAX = 255;

function checkMetadata(set: Record<string, string>): void {
  for (const [k, v] of Object.entries(set)) {
    if (k.length === 0 || k.length > METADATA_MAX) {
      throw new BackendError("bad_request", `Metadata property key must be 1 to ${METADATA_MAX} characters long.`);
    }
    if (v.length > METADATA_MAX) {
      throw new BackendError(
        "bad_request",
        `Metadata property value of "${k}" is longer than ${METADATA_MAX} characters.`,
      );
    }
  }
}

function applyMetadata(metadata: Record<string, string>, set: Record<string, string>, remove: string[]): void {
  for (const k of remove) delete metadata[k];
  Object.assign(metadata, set);
}

export function updateServerMetadata(tx: Tx, id: string, set: Record<string, string>, remove: string[]): void {
  const s = mustServer(tx.state, id);
  // Nova: only a server at rest (no task under way) takes a metadata change.
  requireServerStatus(s, "change the metadata of", ["ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"]);
  checkMetadata(set);
  applyMetadata(s.metadata, set, remove);
}

export function addSecurityGroup(tx: Tx, serverId: string, group: string): void {
  const s = mustServer(tx.state, serverId);
  if (s.pending?.kind === "delete") {
    throw new BackendError("conflict", `Cannot add a security group to server "${s.name}" while it is being deleted.`);
  }
  if (group.trim() === "") throw new BackendError("bad_request", "Security group name must not be empty.");
  s.securityGroups = uniqueSorted([...(s.securityGroups ?? ["default"]), group]);
}

export function removeSecurityGroup(tx: Tx, serverId: string, group: string): void {
  const s = mustServer(tx.state, serverId);
  if (s.pending?.kind === "delete") {
    throw new BackendError(
      "conflict",
      `Cannot remove a security group from server "${s.name}" while it is being deleted.`,
    );
  }
  s.securityGroups = (s.securityGroups ?? ["default"]).filter((g) => g !== group);
}

/** Nova os-interface attach: one new port, listed last; a server already on the network keeps it as it is. */
export function attachNetwork(tx: Tx, serverId: string, network: string): void {
  const s = mustServer(tx.state, serverId);
  requireServerStatus(s, "attach a network to", ["ACTIVE", "SHUTOFF", "PAUSED"]);
  if (network.trim() === "") throw new BackendError("bad_request", "Network id must not be empty.");
  const networks = s.networks ?? [DEFAULT_NETWORK];
  if (networks.includes(network)) return;
  const added = allocatePorts(tx.state, [network]);
  s.networks = [...networks, network];
  s.ports = [...(s.ports ?? []), ...added.ports];
  s.addresses = { ...addressesOf(s), ...added.addresses };
}

/** Nova os-interface detach of every port on the network; a server not on it (or gone) is success. */
export function detachNetwork(tx: Tx, serverId: string, network: string): void {
  const s = tx.state.servers.find((x) => x.id === serverId);
  const networks = s?.networks ?? [DEFAULT_NETWORK];
  if (!s || !networks.includes(network)) return;
  requireServerStatus(s, "detach a network from", ["ACTIVE", "SHUTOFF", "PAUSED"]);
  // Ports were made one per network, in the networks' order.
  const ports = s.ports;
  if (ports !== undefined && ports.length === networks.length) {
    s.ports = ports.filter((_, i) => networks[i] !== network);
  }
  s.networks = networks.filter((n) => n !== network);
  const addresses = addressesOf(s);
  delete addresses[network];
  s.addresses = addresses;
}

export function updateVolumeMetadata(tx: Tx, id: string, set: Record<string, string>, remove: string[]): void {
  const v = mustVolume(tx.state, id);
  if (v.pending?.kind === "delete" || v.status === "deleting") {
    throw new BackendError("conflict", `Volume "${v.name}" is being deleted; its metadata can't change.`);
  }
  checkMetadata(set);
  applyMetadata(v.metadata, set, remove);
}

/**
 * Cinder retype with migration_policy on-demand: in place when the volume's backend serves the new
 * type, else the data moves to a backend of the same zone that does (the scheduler picks it), and
 * "No valid backend" when none can take it.
 */
export function retypeVolume(tx: Tx, env: OpEnv, id: string, volumeType: string): void {
  const { state } = tx;
  const v = mustVolume(state, id);
  if (v.status !== "available" && v.status !== "in-use") {
    throw new BackendError(
      "conflict",
      `Volume "${v.name}" is ${v.status}; it can be retyped when available or in-use.`,
    );
  }
  const serves = (b: { volumeTypes?: string[] }) => !b.volumeTypes || b.volumeTypes.includes(volumeType);
  if (!state.topology.storageBackends.some(serves)) {
    throw new BackendError("bad_request", `Volume type "${volumeType}" could not be found.`);
  }
  if (v.volumeType === volumeType) {
    throw new BackendError("bad_request", `New volume type must be different from the original ("${volumeType}").`);
  }
  const own = backendByName(state, v.backend);
  let backend: string | undefined;
  if (!own || !serves(own)) {
    // Its backend can't hold the type: on demand, the data migrates within the volume's zone.
    const zone = own ? backendZone(state, own) : v.zone;
    const placed = scheduleVolume(state, {
      sizeGb: v.sizeGb,
      volumeType,
      selfId: v.id,
      ...(zone !== undefined ? { zone } : {}),
    });
    if (!placed.ok) {
      throw new BackendError("conflict", `Volume "${v.name}" can't be retyped to "${volumeType}": ${placed.fault}`);
    }
    backend = placed.value.name;
  }
  v.pending = {
    kind: "retype",
    at: tx.now + env.latency.volumeCreateMs + tx.slow(v),
    back: v.status,
    volumeType,
    ...(backend !== undefined ? { backend } : {}),
  };
  v.status = "retyping";
}
