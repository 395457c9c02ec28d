// Validation for the simulated cloud: the topology of a new cloud, and the lookups and state checks
// the operations share, with Nova/Cinder's wording.
import type { Topology } from "../../model/topology";
import { BackendError } from "../backend";
import { indexOf } from "./indexes";
import type { CloudState, ServerRecord, VolumeRecord } from "./store";

export function checkTopology(t: Topology, dir: string): void {
  const problems: string[] = [];
  const hosts = new Set<string>();
  for (const h of t.hosts) {
    if (hosts.has(h.name)) problems.push(`host "${h.name}" appears twice`);
    hosts.add(h.name);
  }
  const backends = new Set<string>();
  for (const b of t.storageBackends) {
    if (backends.has(b.name)) problems.push(`storage backend "${b.name}" appears twice`);
    backends.add(b.name);
    if ((b.host === undefined) === (b.zone === undefined))
      problems.push(`storage backend "${b.name}" must set exactly one of host and zone`);
    if (b.host !== undefined && !hosts.has(b.host))
      problems.push(`storage backend "${b.name}" serves unknown host "${b.host}"`);
  }
  if (problems.length > 0) {
    throw new Error(
      problems
        .sort()
        .map((p) => `simulated cloud in "${dir}": topology: ${p}`)
        .join("\n"),
    );
  }
}

export function mustServer(state: CloudState, id: string): ServerRecord {
  const s = indexOf(state).server(id);
  if (!s) throw new BackendError("not_found", `Server "${id}" could not be found.`);
  return s;
}

export function mustVolume(state: CloudState, id: string): VolumeRecord {
  const v = indexOf(state).volume(id);
  if (!v) throw new BackendError("not_found", `Volume "${id}" could not be found.`);
  return v;
}

export function requireServerStatus(s: ServerRecord, action: string, ok: string[]): void {
  if (s.pending?.kind === "delete")
    throw new BackendError("conflict", `Cannot ${action} server "${s.name}" while it is being deleted.`);
  if (!ok.includes(s.status)) {
    throw new BackendError(
      "conflict",
      `Cannot ${action} server "${s.name}" while it is ${s.status}; wait until it is ${ok.join(" or ")}.`,
    );
  }
}

export function unknownRef(what: string, name: string, known: string[]): BackendError {
  return new BackendError(
    "bad_request",
    `${what} "${name}" could not be found; known: ${[...known].sort().join(", ") || "none"}.`,
  );
}
