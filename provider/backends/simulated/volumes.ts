// Volume operations of the simulated cloud, as Cinder does them: validation, quota, scheduling onto
// a storage backend, attachments, and the transition the clock finishes (see clock.ts).
import { randomUUID } from "node:crypto";
import { pickDefined } from "../../model/records";
import { BackendError, type VolumeCreate, type VolumeInfo } from "../backend";
import { mustServer, mustVolume, requireServerStatus, unknownRef } from "./checks";
import { takeMatching } from "./fault-plan";
import { indexOf } from "./indexes";
import { nextDevice } from "./network";
import type { OpEnv, Tx, View } from "./op";
import { unproxied } from "./proxies";
import { checkQuota } from "./quota";
import { backendByName, backendUsage, backendZone, backendZones, scheduleVolume } from "./scheduler";
import type { VolumeRecord } from "./store";

export function createVolume(tx: Tx, env: OpEnv, req: VolumeCreate): VolumeInfo {
  const { state, now } = tx;
  if (!Number.isInteger(req.sizeGb) || req.sizeGb < 1) {
    throw new BackendError("bad_request", `Volume size must be a positive whole number of GB, not ${req.sizeGb}.`);
  }
  if (req.backend !== undefined && env.view === "tenant") {
    throw new BackendError("forbidden", "Policy doesn't allow choosing a storage backend (pool) for a volume.");
  }
  const zones = backendZones(state);
  if (req.zone !== undefined && !zones.has(req.zone)) {
    throw unknownRef(
      "Availability zone",
      req.zone,
      [...zones].filter((z) => z !== undefined),
    );
  }
  if (req.backend !== undefined && !backendByName(state, req.backend)) {
    throw unknownRef(
      "Storage backend",
      req.backend,
      state.topology.storageBackends.map((b) => b.name),
    );
  }
  const type = req.volumeType;
  if (
    type !== undefined &&
    !state.topology.storageBackends.some((b) => !b.volumeTypes || b.volumeTypes.includes(type))
  ) {
    throw new BackendError("bad_request", `Volume type "${type}" could not be found.`);
  }
  if (req.localToServer !== undefined && !indexOf(state).server(req.localToServer)) {
    throw new BackendError(
      "bad_request",
      `Server "${req.localToServer}" in the local_to_instance hint could not be found.`,
    );
  }
  checkQuota(state, { volumes: 1, gigabytes: req.sizeGb });

  const named = { name: req.name, metadata: req.metadata };
  const fail = takeMatching(state, "volume-error", named);
  const placed = scheduleVolume(state, {
    sizeGb: req.sizeGb,
    ...pickDefined(req, ["volumeType", "zone", "backend", "sameBackendAs", "differentBackendFrom", "localToServer"]),
  });
  const volume: VolumeRecord = {
    id: randomUUID(),
    name: req.name,
    status: "creating",
    sizeGb: req.sizeGb,
    ...(type !== undefined ? { volumeType: type } : {}),
    attachedTo: [],
    metadata: { ...req.metadata },
    createdAt: now,
  };
  if (placed.ok) {
    const zone = req.zone ?? backendZone(state, placed.value);
    Object.assign(volume, { backend: placed.value.name, ...(zone !== undefined ? { zone } : {}) });
    volume.pending = {
      kind: "create",
      at: now + env.latency.volumeCreateMs + tx.slow(named),
      outcome: fail ? "error" : "available",
      ...(fail ? { fault: "Volume creation failed: injected fault." } : {}),
    };
  } else {
    Object.assign(volume, { status: "error", fault: placed.fault, ...(req.zone ? { zone: req.zone } : {}) });
  }
  state.volumes.push(volume);
  return volumeInfo(volume, env.view);
}

export function extendVolume(tx: Tx, env: OpEnv, id: string, sizeGb: number): void {
  const { state } = tx;
  const v = mustVolume(state, id);
  if (!Number.isInteger(sizeGb) || sizeGb <= v.sizeGb) {
    throw new BackendError(
      "bad_request",
      `New size for extend must be greater than the current size of volume "${v.name}" (${v.sizeGb} GB), not ${sizeGb}.`,
    );
  }
  if (v.status !== "available" && v.status !== "in-use") {
    throw new BackendError(
      "conflict",
      `Volume "${v.name}" is ${v.status}; it can be extended when available or in-use.`,
    );
  }
  checkQuota(state, { gigabytes: sizeGb - v.sizeGb });
  const b = backendByName(state, v.backend);
  const free = b ? b.capacityGb - (backendUsage(state, v.id).get(b.name) ?? 0) : 0;
  if (!b || free < sizeGb) {
    throw new BackendError(
      "conflict",
      `Volume "${v.name}" cannot grow to ${sizeGb} GB: its backend has ${free} GB free.`,
    );
  }
  v.pending = { kind: "extend", at: tx.now + env.latency.volumeCreateMs + tx.slow(v), back: v.status };
  Object.assign(v, { sizeGb, status: "extending" });
}

export function deleteVolume(tx: Tx, env: OpEnv, id: string): void {
  const v = indexOf(tx.state).volume(id);
  if (!v || v.pending?.kind === "delete") return;
  if (v.attachedTo.length > 0 || (v.status !== "available" && v.status !== "error")) {
    throw new BackendError(
      "conflict",
      `Volume "${v.name}" is ${v.status}; it must be available or error, and not attached, to be deleted.`,
    );
  }
  v.status = "deleting";
  v.pending = { kind: "delete", at: tx.now + env.latency.deleteMs + tx.slow(v) };
}

export function attachVolume(tx: Tx, env: OpEnv, serverId: string, volumeId: string): void {
  const { state } = tx;
  const s = mustServer(state, serverId);
  const v = mustVolume(state, volumeId);
  if (v.attachedTo.includes(s.id) && v.pending?.kind !== "detach") return;
  if (v.attachedTo.length > 0) {
    throw new BackendError("conflict", `Volume "${v.name}" is already attached to another server.`);
  }
  if (v.status !== "available") {
    throw new BackendError("conflict", `Volume "${v.name}" is ${v.status}; it must be available to be attached.`);
  }
  requireServerStatus(s, "attach a volume to", ["ACTIVE", "SHUTOFF"]);
  if (s.zone !== undefined && v.zone !== undefined && s.zone !== v.zone) {
    throw new BackendError(
      "bad_request",
      `Server "${s.name}" (zone "${s.zone}") and volume "${v.name}" (zone "${v.zone}") are not in the same availability zone.`,
    );
  }
  v.device = nextDevice(indexOf(state).attachedTo(s.id), s.id);
  v.attachedTo = [s.id];
  v.status = "attaching";
  v.pending = { kind: "attach", at: tx.now + env.latency.attachMs + tx.slow(v), serverId: s.id };
}

export function detachVolume(tx: Tx, env: OpEnv, serverId: string, volumeId: string): void {
  const v = indexOf(tx.state).volume(volumeId);
  if (!v?.attachedTo.includes(serverId) || v.pending?.kind === "detach") return;
  if (v.status === "attaching") {
    throw new BackendError("conflict", `Volume "${v.name}" is still attaching; detach it once it is in-use.`);
  }
  v.status = "detaching";
  v.pending = { kind: "detach", at: tx.now + env.latency.attachMs + tx.slow(v), serverId };
}

export function volumeInfo(record: VolumeRecord, view: View): VolumeInfo {
  // Read from the record itself: every field is copied below.
  const v = unproxied(record);
  const info: VolumeInfo = {
    id: v.id,
    name: v.name,
    status: v.status,
    sizeGb: v.sizeGb,
    attachedTo: [...v.attachedTo],
    metadata: { ...v.metadata },
  };
  if (v.fault !== undefined) info.fault = v.fault;
  if (v.volumeType !== undefined) info.volumeType = v.volumeType;
  if (v.zone !== undefined) info.zone = v.zone;
  if (v.backend !== undefined && view === "admin") info.backend = v.backend;
  if (v.device !== undefined && v.attachedTo.length > 0) info.device = v.device;
  return info;
}
