// Problems found in a spec. Detection produces these as data; formatting for humans
// happens at the edge (CLI, Pulumi check). Codes are stable: tests and users rely on them.

import { clusterHead, escapeControls, plural } from "./text";

export const ISSUE_CODES = [
  // shape
  "invalid_type",
  "invalid_value",
  "missing_field",
  "unknown_field",
  "duplicate_field",
  "too_small",
  "too_big",
  "invalid_json",
  "invalid_yaml",
  "duplicate_key",
  // names
  "duplicate_member",
  "duplicate_grouping",
  "unknown_member",
  "duplicate_member_ref",
  "attach_to_non_server",
  "attach_to_unknown",
  // rule semantics
  "rule_not_for_volumes",
  "option_not_for_rule",
  "grouping_too_small",
  // contradictions
  "affinity_vs_anti_affinity",
  "anti_affinity_over_capacity",
  "zone_pin_conflict",
] as const;
export type IssueCode = (typeof ISSUE_CODES)[number];

export interface SpecIssue {
  code: IssueCode;
  /** Dot path into the user's input, e.g. `groupings[3].membersRef[1]`. "" for the whole document. */
  path: string;
  /**
   * What is wrong, one line, without the cluster's name (the edges add it: formatIssues,
   * pulumi/props failuresFrom). The user's own names in it are written with quote().
   */
  message: string;
  /** What would work instead. */
  hint?: string;
  /** The cluster the spec describes, when its name is known (unescaped). */
  cluster?: string;
  /** The user's own names the issue is about (groupings, members, zones; long lists as far as the message shows them), unescaped. */
  names?: string[];
}

/** What a spec may still say that works but should change: never a reason to refuse it. */
export const WARNING_CODES = ["deprecated_field"] as const;
export type WarningCode = (typeof WARNING_CODES)[number];

/** A warning about a spec, shaped as an issue (path, message, hint; the edges add the cluster's name). */
export interface SpecWarning extends Omit<SpecIssue, "code"> {
  code: WarningCode;
}

/** Thrown (once, with every issue) where a caller needs an exception rather than a list. */
export class SpecError extends Error {
  readonly issues: SpecIssue[];
  constructor(clusterName: string | undefined, issues: SpecIssue[]) {
    super(`${clusterHead(clusterName)}${plural(issues.length, "problem")} in the spec:\n${formatIssues(issues)}`);
    this.name = "SpecError";
    this.issues = issues;
  }
}

/**
 * One line per issue, sorted by path then code: `  path: cluster "name": message (hint: …)`.
 * The cluster's name comes from the issue's data (issues about the file itself, such as a
 * JSON syntax error, have none). Anything a message carries raw from the input (a control
 * or bidi character) is escaped here, whatever produced the issue.
 */
export function formatIssues(issues: SpecIssue[]): string {
  return sortIssues(issues)
    .map((i) => `  ${escapeControls(i.path) || "(spec)"}: ${clusterHead(i.cluster)}${issueText(i)}`)
    .join("\n");
}

/** `message (hint: …)`, safe to print: the part of a line every edge writes the same way. */
export function issueText(issue: Pick<SpecIssue, "message" | "hint">): string {
  return escapeControls(`${issue.message}${issue.hint ? ` (hint: ${issue.hint})` : ""}`);
}

export function sortIssues(issues: SpecIssue[]): SpecIssue[] {
  return [...issues].sort(
    (a, b) => comparePaths(a.path, b.path) || a.code.localeCompare(b.code) || a.message.localeCompare(b.message),
  );
}

/** Compares dot paths so that `x[2]` sorts before `x[10]`. */
export function comparePaths(a: string, b: string): number {
  const pa = a.split(/[.[\]]+/).filter(Boolean);
  const pb = b.split(/[.[\]]+/).filter(Boolean);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x === y) continue;
    const nx = Number(x);
    const ny = Number(y);
    if (Number.isInteger(nx) && Number.isInteger(ny)) return nx - ny;
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}
