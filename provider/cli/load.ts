// Reading the files a command is given: one-line errors for files that can't be read (exit 3),
// every spec problem at once (exit 1).
import { resolve } from "node:path";
import { type ClusterSpec, formatIssues, loadSpecFile, SpecFileError, type SpecIssue } from "../clusterspec";
import { loadTopologyFile, TopologyFileError } from "../clusterspec/topology-file";
import { escapeControls, plural } from "../model/text";
import type { Topology } from "../model/topology";
import { fail } from "./failure";
import type { Io } from "./io";

export type Loaded<T> = { ok: true; value: T } | { ok: false; code: number };

function fileError(io: Io, error: unknown): Loaded<never> {
  if (error instanceof SpecFileError || error instanceof TopologyFileError) {
    return { ok: false, code: fail(io, { kind: "file", message: `openstack-vcluster: ${error.message}` }) };
  }
  throw error;
}

/**
 * Every problem of a spec: one line each on stderr, each naming the cluster (formatIssues); as data
 * to a --json run (each message without the cluster's name, which is in `cluster`; names unescaped).
 */
export function reportSpecIssues(io: Io, file: string, issues: SpecIssue[]): number {
  const head = `${escapeControls(file)}: ${plural(issues.length, "problem")}`;
  return fail(io, { kind: "invalid_spec", message: head, issues }, `${head}:\n${formatIssues(issues)}`);
}

/** Loads and validates a spec; reports what is wrong itself. */
export function loadSpec(io: Io, file: string): Loaded<ClusterSpec> {
  let result: ReturnType<typeof loadSpecFile>;
  try {
    result = loadSpecFile(resolve(io.cwd, file));
  } catch (error) {
    return fileError(io, error);
  }
  if (result.issues.length > 0 || !result.spec) {
    return { ok: false, code: reportSpecIssues(io, file, result.issues) };
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
    const head = `${escapeControls(file)}: ${plural(result.issues.length, "problem")} in the topology`;
    const code = fail(
      io,
      { kind: "invalid_topology", message: head, issues: result.issues },
      `${head}:\n${formatIssues(result.issues)}`,
    );
    return { ok: false, code };
  }
  return { ok: true, value: result.topology };
}

export function describeSpec(spec: ClusterSpec): string {
  const servers = spec.members.filter((m) => m.type === "server").length;
  const volumes = spec.members.length - servers;
  const explicit = spec.groupings.filter((g) => !g.implied).length;
  return `${plural(spec.members.length, "member")} (${plural(servers, "server")}, ${plural(volumes, "volume")}), ${plural(explicit, "grouping")}`;
}
