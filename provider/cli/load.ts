// Reading the files a command is given: one-line errors for files that can't be read (exit 3),
// every spec problem at once (exit 1).
import { resolve } from "node:path";
import { type ClusterSpec, formatIssues, loadSpecFile, SpecFileError, type SpecIssue } from "../clusterspec";
import { loadTopologyFile, TopologyFileError } from "../clusterspec/topology-file";
import { escapeControls, escapeJsonText, plural } from "../model/text";
import type { Topology } from "../model/topology";
import { EXIT, type Io, json } from "./io";

export type Loaded<T> = { ok: true; value: T } | { ok: false; code: number };

function fileError(io: Io, error: unknown): Loaded<never> {
  if (error instanceof SpecFileError || error instanceof TopologyFileError) {
    io.err(`openstack-vcluster: ${error.message}`);
    return { ok: false, code: EXIT.usage };
  }
  throw error;
}

/**
 * Human form: one line per issue, each naming the cluster (formatIssues). JSON form: the issues
 * as data (message without the cluster's name; `cluster` and `names` unescaped), with what JSON
 * leaves raw in strings (bidi, C1 controls) escaped so the output is safe on a terminal too.
 */
export function reportSpecIssues(io: Io, file: string, issues: SpecIssue[], asJson: boolean): void {
  if (asJson) {
    io.out(escapeJsonText(json({ valid: false, issues })));
    return;
  }
  io.err(`${escapeControls(file)}: ${plural(issues.length, "problem")}:\n${formatIssues(issues)}`);
}

/** Loads and validates a spec; prints issues itself. `jsonIssues` prints them as the validate JSON shape. */
export function loadSpec(io: Io, file: string, jsonIssues: boolean): Loaded<ClusterSpec> {
  let result: ReturnType<typeof loadSpecFile>;
  try {
    result = loadSpecFile(resolve(io.cwd, file));
  } catch (error) {
    return fileError(io, error);
  }
  if (result.issues.length > 0 || !result.spec) {
    reportSpecIssues(io, file, result.issues, jsonIssues);
    return { ok: false, code: EXIT.invalidSpec };
  }
  return { ok: true, value: result.spec };
}

/** Loads a topology file; a bad topology is a usage error (exit 3), reported with every problem. */
export function loadTopology(io: Io, file: string): Loaded<Topology> {
  let result: ReturnType<typeof loadTopologyFile>;
  try {
    result = loadTopologyFile(resolve(io.cwd, file));
  } catch (error) {
    return fileError(io, error);
  }
  if (result.issues.length > 0 || !result.topology) {
    io.err(
      `${escapeControls(file)}: ${plural(result.issues.length, "problem")} in the topology:\n${formatIssues(result.issues)}`,
    );
    return { ok: false, code: EXIT.usage };
  }
  return { ok: true, value: result.topology };
}

export function describeSpec(spec: ClusterSpec): string {
  const servers = spec.members.filter((m) => m.type === "server").length;
  const volumes = spec.members.length - servers;
  const explicit = spec.groupings.filter((g) => !g.implied).length;
  return `${plural(spec.members.length, "member")} (${plural(servers, "server")}, ${plural(volumes, "volume")}), ${plural(explicit, "grouping")}`;
}
