// Errors the lifecycle controller throws, with a stable `code` the Pulumi provider and the
// command map onto their own outcomes (partial state, exit codes).
import { BackendError } from "../backends/backend";
import type { Explanation } from "../model/placement";
import type { ClusterState } from "../model/state";
import { clusterHead } from "../model/text";
import type { ReferenceProblem } from "./references";

export type LifecycleErrorCode =
  | "invalid"
  | "unplaceable"
  | "create_failed"
  | "update_failed"
  | "rollback_failed"
  | "timeout"
  | "backend";

export class LifecycleError extends Error {
  readonly code: LifecycleErrorCode;
  /** Set when something was left behind that the next apply must resume or clean up (Pulumi records it as partial state). */
  partialState?: ClusterState;
  explanation?: Explanation;
  /** "invalid": the images and flavors the cloud doesn't have, among the lines of the message. */
  references?: ReferenceProblem[];
  constructor(
    code: LifecycleErrorCode,
    message: string,
    options?: {
      cause?: unknown;
      partialState?: ClusterState;
      explanation?: Explanation;
      references?: ReferenceProblem[];
    },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LifecycleError";
    this.code = code;
    if (options?.partialState) this.partialState = options.partialState;
    if (options?.explanation) this.explanation = options.explanation;
    if (options?.references && options.references.length > 0) this.references = options.references;
  }
}

/** `cluster "c": ` — every message users read starts with the cluster's name. */
export function clusterPrefix(clusterName: string): string {
  return clusterHead(clusterName);
}

/** One line of text for any thrown value: the message only, never a stack. */
export function describeError(e: unknown): string {
  if (e instanceof BackendError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Header plus causes: one line when there is one cause, else one cause per line, sorted. */
export function withCauses(header: string, causes: string[]): string {
  const sorted = [...new Set(causes)].sort();
  if (sorted.length === 0) return header;
  if (sorted.length === 1) return `${header}: ${sorted[0]}`;
  return `${header}:\n${sorted.map((c) => `  ${c}`).join("\n")}`;
}
