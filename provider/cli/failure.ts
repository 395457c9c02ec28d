// A failed command as data. With --json every command prints exactly one JSON document on stdout:
// what it prints on success, or on failure `{"error": {exitCode, kind, message, issues, ...}}`
// (README, "The command"). The human text still goes to stderr. Commands report a failure through
// fail(); run() (program.ts) wraps the Io in JSON mode with jsonMode() and prints the document.
import { type ReferenceProblem, referenceLine } from "../lifecycle";
import type { Explanation } from "../model/placement";
import { clusterHead, escapeJsonText, plural } from "../model/text";
import { formatExplanation } from "../placement";
import { EXIT, type Io, json } from "./io";

/** What went wrong, for a script to branch on. Stable: README lists them. */
export type FailureKind =
  /** The command line: an unknown option, a missing argument, a flag's bad value (exit 3). */
  | "usage"
  /** A file that can't be read or written: missing, not a regular file, too large (exit 3). */
  | "file"
  /** The spec has problems: every one in `issues` (exit 1). */
  | "invalid_spec"
  /** The topology file has problems: every one in `issues` (exit 3). */
  | "invalid_topology"
  /** The spec is valid, but the cloud can't do it: an unknown image or flavor, quota, an edit it can't make (exit 1). */
  | "refused"
  /** No placement keeps every hard rule: `explanation` says why (exit 2). */
  | "unplaceable"
  /** The cloud can't be reached or configured, or refused a call (exit 3). */
  | "cloud"
  /** Another run holds the cluster's lock (exit 3). */
  | "locked"
  /** The cluster's state here: none, unreadable, or of another cloud (exit 3). */
  | "state"
  /** An apply or destroy began and did not finish: `message` says what exists now (exit 3). */
  | "failed"
  /** Anything else (exit 3). */
  | "error";

export interface FailureIssue {
  /** Stable code: a spec issue's (validate), a placement cause's, or one of the cloud's (unknown_image, unknown_flavor, refused). */
  code: string;
  /** Where in the file, e.g. `instances[2].spec.flavorRef`; "" for the whole file or none. */
  path: string;
  message: string;
  hint?: string;
  /** The members it is about, where known. */
  members?: string[];
}

export interface Failure {
  exitCode: number;
  kind: FailureKind;
  /** One line (the human text's first line, or a summary of it). */
  message: string;
  issues: FailureIssue[];
  /** Unplaceable: the engine's explanation (summary, causes with hints, per-member counts). */
  explanation?: Explanation;
  /** What the user should read besides (plan warnings), one line each. */
  warnings?: string[];
}

export type FailureInput = Omit<Failure, "issues" | "exitCode"> & { exitCode?: number; issues?: FailureIssue[] };

const DEFAULT_EXIT: Record<FailureKind, number> = {
  usage: EXIT.usage,
  file: EXIT.usage,
  invalid_spec: EXIT.invalidSpec,
  invalid_topology: EXIT.usage,
  refused: EXIT.invalidSpec,
  unplaceable: EXIT.unplaceable,
  cloud: EXIT.usage,
  locked: EXIT.usage,
  state: EXIT.usage,
  failed: EXIT.usage,
  error: EXIT.usage,
};

/**
 * Reports a failure: `human` (default: the message) on stderr, the data to a --json run. Returns
 * the exit code, so a command ends with `return fail(io, {...})`.
 */
export function fail(io: Io, input: FailureInput, human: string = input.message): number {
  io.err(human);
  return record(io, input);
}

/** Records a failure whose human text is already on stderr (commander's own messages). */
export function record(io: Io, input: FailureInput): number {
  const failure: Failure = {
    ...input,
    exitCode: input.exitCode ?? DEFAULT_EXIT[input.kind],
    issues: input.issues ?? [],
    message: input.message.split("\n")[0] ?? "",
  };
  io.failed?.(failure);
  return failure.exitCode;
}

/** The placement engine's causes as issues. */
export function causeIssues(explanation: Explanation): FailureIssue[] {
  return explanation.causes.map((c) => ({
    code: c.code,
    path: "",
    message: c.message,
    hint: c.hint,
    ...(c.members.length > 0 ? { members: c.members } : {}),
  }));
}

/** Why a plan or an apply is refused, as the lifecycle says it. */
export interface Refusal {
  /** What makes apply refuse, one line each (ClusterPlan.blocking). */
  blocking: readonly string[];
  /** The images and flavors among them, as data. */
  references?: readonly ReferenceProblem[];
  /** Why it can't be placed, beyond an unknown flavor (lifecycle placementFailure). */
  explanation?: Explanation;
  warnings?: string[];
}

/**
 * A spec the cloud refuses or can't place, everything in one round: exit 1 when anything blocks
 * (an unknown image or flavor, quota, an edit the cloud can't make), else 2 (unplaceable). Issues:
 * one per blocking line (unknown_image, unknown_flavor with members and hint; else "refused"),
 * then the placement's causes.
 */
export function refusal(clusterName: string, r: Refusal): { failure: FailureInput; human: string } {
  const references = r.references ?? [];
  const referenceLines = new Set(references.map((x) => referenceLine(clusterName, x)));
  const issues: FailureIssue[] = [
    ...references.map(({ hint, ...x }) => ({
      code: x.kind === "image" ? "unknown_image" : "unknown_flavor",
      path: "",
      message: referenceLine("", x),
      ...(hint !== undefined ? { hint } : {}),
      members: x.members,
    })),
    ...r.blocking.filter((l) => !referenceLines.has(l)).map((message) => ({ code: "refused", path: "", message })),
    ...(r.explanation ? causeIssues(r.explanation) : []),
  ];
  const human = [...r.blocking, ...(r.explanation ? [formatExplanation(r.explanation)] : [])].join("\n");
  const refused = r.blocking.length > 0;
  const message = !refused
    ? (r.explanation?.summary ?? `${clusterHead(clusterName)}can't be placed`)
    : r.blocking.length === 1 && !r.explanation
      ? (r.blocking[0] as string)
      : `${clusterHead(clusterName)}refused: ${plural(issues.length, "problem")}`;
  return {
    failure: {
      kind: refused ? "refused" : "unplaceable",
      message,
      issues,
      ...(r.explanation ? { explanation: r.explanation } : {}),
      ...(r.warnings && r.warnings.length > 0 ? { warnings: r.warnings } : {}),
    },
    human,
  };
}

const KIND_OF_EXIT: Record<number, FailureKind> = {
  [EXIT.invalidSpec]: "invalid_spec",
  [EXIT.unplaceable]: "unplaceable",
};

/**
 * The Io of a --json run: stdout is held until the command ends, so a failure replaces whatever it
 * printed with the error document (one document, always); stderr goes through. A failure that was
 * not reported through fail() (a path that only wrote to stderr) still becomes a document, from the
 * last thing it wrote there.
 */
export function jsonMode(io: Io): { io: Io; finish(code: number): number } {
  let held = "";
  let lastErr = "";
  let failure: Failure | undefined;
  const wrapped: Io = {
    ...io,
    out: (t) => {
      held += t.endsWith("\n") ? t : `${t}\n`;
    },
    err: (t) => {
      lastErr = t;
      io.err(t);
    },
    failed: (f) => {
      failure ??= f;
    },
  };
  return {
    io: wrapped,
    finish(code: number): number {
      if (code === EXIT.ok) {
        if (held !== "") io.out(held);
        return code;
      }
      const text = lastErr.trim();
      const error: Failure = failure ?? {
        exitCode: code,
        kind: KIND_OF_EXIT[code] ?? "error",
        message: text.split("\n")[0] ?? "",
        issues: [],
      };
      // The exit code is the command's; a failure reported on the way may have been recovered from.
      io.out(escapeJsonText(json({ error: { ...error, exitCode: code } })));
      return code;
    },
  };
}
