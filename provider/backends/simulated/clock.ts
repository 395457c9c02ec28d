// The simulated cloud's clock: every change that takes time (build, resize, attach, delete, ...) is
// stored as a pending transition with its due time; each call first applies those that are due.
import { indexOf } from "./indexes";
import type { CloudState, ServerRecord, VolumeRecord } from "./store";
import { removeRecords } from "./tracking";

export interface LatencyModel {
  /** Added to every API call (outside the lock). Default 0. */
  perCallMs?: number;
  /** BUILD -> ACTIVE, and REBUILD -> ACTIVE. Default 40. */
  serverBuildMs?: number;
  /** creating -> available, extending -> back. Default 20. */
  volumeCreateMs?: number;
  /** attaching -> in-use, detaching -> available. Default 10. */
  attachMs?: number;
  /** The window between a delete and the 404. Default 10. */
  deleteMs?: number;
  /** RESIZE -> ACTIVE. Default 40. */
  resizeMs?: number;
  /** Max API calls of this instance in flight; more wait. Default unlimited. */
  concurrency?: number;
}

/** Transition times, every field set. */
export type Latency = Required<Omit<LatencyModel, "concurrency">>;

export const DEFAULT_LATENCY: Latency = {
  perCallMs: 0,
  serverBuildMs: 40,
  volumeCreateMs: 20,
  attachMs: 10,
  deleteMs: 10,
  resizeMs: 40,
};

/**
 * Applies every transition whose time has come. `due`: the servers and volumes whose transition
 * may be due (the database's index on due times), so a call doesn't scan every object; default all.
 */
export function settle(
  state: CloudState,
  now: number,
  due?: { servers: Iterable<ServerRecord>; volumes: Iterable<VolumeRecord> },
): void {
  const goneServers = new Set<string>();
  for (const s of due?.servers ?? state.servers) {
    const p = s.pending;
    if (!p || p.at > now) continue;
    delete s.pending;
    switch (p.kind) {
      case "build":
        s.status = p.outcome;
        if (p.outcome === "ERROR") {
          // A failed build gives its host back, like Nova after the last reschedule.
          s.fault = p.fault ?? "Build failed.";
          delete s.claim;
          delete s.host;
        }
        break;
      case "resize":
        Object.assign(s, { status: "ACTIVE", flavorRef: p.flavorRef });
        break;
      case "rebuild":
        Object.assign(s, { status: "ACTIVE", imageRef: p.imageRef });
        if (p.keyName === null) delete s.keyName;
        else if (p.keyName !== undefined) s.keyName = p.keyName;
        if (p.userDataDigest === null) delete s.userDataDigest;
        else if (p.userDataDigest !== undefined) s.userDataDigest = p.userDataDigest;
        break;
      case "delete":
        goneServers.add(s.id);
        break;
    }
  }
  if (goneServers.size > 0) {
    const index = indexOf(state);
    const groups = new Set<string>();
    for (const id of goneServers) {
      const groupId = index.server(id)?.groupId;
      if (groupId !== undefined) groups.add(groupId);
    }
    removeRecords(state, "servers", goneServers);
    for (const id of groups) {
      const g = index.serverGroup(id);
      if (g) g.members = g.members.filter((m) => !goneServers.has(m));
    }
    // Nova detaches a deleted server's volumes.
    const attached = new Set([...goneServers].flatMap((id) => index.attachedTo(id)));
    for (const v of attached) {
      v.attachedTo = v.attachedTo.filter((id) => !goneServers.has(id));
      if (v.attachedTo.length === 0) delete v.device;
      if (v.pending?.kind === "attach" || v.pending?.kind === "detach") delete v.pending;
      if (v.attachedTo.length === 0 && ["attaching", "in-use", "detaching"].includes(v.status)) v.status = "available";
    }
  }
  const goneVolumes = new Set<string>();
  for (const v of due?.volumes ?? state.volumes) {
    const p = v.pending;
    if (!p || p.at > now) continue;
    delete v.pending;
    switch (p.kind) {
      case "create":
        v.status = p.outcome;
        if (p.fault !== undefined) v.fault = p.fault;
        break;
      case "attach":
        v.status = "in-use";
        break;
      case "detach":
        v.attachedTo = v.attachedTo.filter((id) => id !== p.serverId);
        v.status = v.attachedTo.length > 0 ? "in-use" : "available";
        if (v.attachedTo.length === 0) delete v.device;
        break;
      case "extend":
        v.status = p.back;
        break;
      case "retype":
        Object.assign(v, { status: p.back, volumeType: p.volumeType, ...(p.backend ? { backend: p.backend } : {}) });
        break;
      case "delete":
        goneVolumes.add(v.id);
        break;
    }
  }
  removeRecords(state, "volumes", goneVolumes);
}
