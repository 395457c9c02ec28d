// The placement map: `plan --html <file>` (a placement, or what blocks an unplaceable cluster) and
// `show --html <file>` (a built cluster as the cloud reports it), one self-contained HTML page each.
// view.ts, causes.ts and live.ts say what is drawn; render.ts draws it.

import { writeFileSync } from "node:fs";
import * as path from "node:path";
import type { Backend } from "../../backends/backend";
import type { ClusterSpec } from "../../model/cluster";
import type { PlacementResult } from "../../model/placement";
import type { ClusterState } from "../../model/state";
import type { Topology } from "../../model/topology";
import { previousFromRecord } from "../applied";
import { EXIT, type Io } from "../io";
import { unplaceableView } from "./causes";
import { liveView } from "./live";
import { renderMap } from "./render";
import { planView } from "./view";

/** A plan's map: where every member goes, or, unplaced, each cause on the places it names. */
export function renderPlanHtml(spec: ClusterSpec, topology: Topology, result: PlacementResult, source: string): string {
  return renderMap(
    result.placed
      ? planView(spec, topology, result.placement, result.softViolations, result.cost, source)
      : unplaceableView(spec, topology, result.explanation, source),
  );
}

/** A built cluster's map, from its refreshed state and the inventory the cloud reports. */
export function renderLiveHtml(
  state: ClusterState,
  applied: ClusterSpec | undefined,
  topology: Topology,
  zones: string[],
  source: string,
): string {
  return renderMap(liveView(state, applied, topology, zones, source));
}

/**
 * `show --html`: asks the cloud for its inventory and writes the map. `appliedRecord` is the spec the
 * state file recorded at the last apply (for the groupings; the state has the members).
 */
export async function writeLiveMap(
  io: Io,
  file: string,
  state: ClusterState,
  appliedRecord: unknown,
  backend: Backend,
): Promise<number | undefined> {
  const discovery = await backend.discover();
  const applied = previousFromRecord(appliedRecord, undefined, state.clusterName)?.spec;
  return writeMap(io, file, renderLiveHtml(state, applied, discovery.topology, discovery.zones, backend.description));
}

/** Writes a map; on failure says so in one line and returns the exit code, else undefined. */
export function writeMap(io: Io, file: string, html: string): number | undefined {
  try {
    writeFileSync(path.resolve(io.cwd, file), html);
    return undefined;
  } catch (error) {
    io.err(`openstack-vcluster: can't write ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    return EXIT.usage;
  }
}
