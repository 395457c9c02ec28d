// A request body into a validated cluster spec, through the spec layer's own JSON parser (it finds
// repeated keys, which JSON.parse would silently drop, and says where a syntax error is) and its
// validation (every problem at once, each with a code, a path and a hint). Pure: text in, spec or
// ApiError out.
//
// Both forms a spec file has are read, with the command's semantics: the blueprint's
// `{"vcluster": {...}}` and the args form `{"name", "instances", ...}`. They differ in more than where
// the body is (the blueprint form attaches a volume that shares a hard affinity with exactly one
// server), so `--endpoint` sends a file in the form it was written in, never wrapped.
import { type ClusterSpec, parseSpecText, validateParsed } from "../clusterspec";
import { sortIssues } from "../model/issues";
import { clusterHead, escapeControls, plural } from "../model/text";
import { type ApiIssue, apiIssue, badRequest } from "./errors";

const SHAPE =
  '{"vcluster": {"name": …, "instances": [ … ], "groupings": [ … ]}} (or the args form {"name": …, "instances": [ … ]})';
/** Issues the top-level message spells out; all of them are in `issues`. */
const SHOWN = 5;

function summary(issues: ApiIssue[]): string {
  const shown = issues
    .slice(0, SHOWN)
    .map((i) => escapeControls(`${i.path || "(body)"}: ${i.message}${i.hint ? ` (hint: ${i.hint})` : ""}`));
  const more = issues.length > SHOWN ? `; and ${issues.length - SHOWN} more (see issues)` : "";
  return `${shown.join("; ")}${more}`;
}

/** The spec in a request body (a string, as the JSON content-type parser hands it over), or throws a 400. */
export function specFromBody(body: unknown): ClusterSpec {
  if (body === undefined || body === null || (typeof body === "string" && body.trim() === "")) {
    throw badRequest(`the request has no body; hint: send ${SHAPE} as application/json`);
  }
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const parsed = parseSpecText(text, "json");
  if (parsed.value === undefined) {
    const issues = sortIssues(parsed.issues).map(apiIssue);
    throw badRequest(`the request body is not valid JSON: ${summary(issues)}`, issues);
  }
  const value = parsed.value;
  const either = (key: string) => Object.hasOwn(value as object, key);
  if (
    value === null ||
    typeof value !== "object" ||
    Array.isArray(value) ||
    !(either("vcluster") || either("instances"))
  ) {
    const issue: ApiIssue = {
      code: "missing_field",
      path: "vcluster",
      message: 'the body must hold the cluster under "vcluster" (or its "instances" at the top, the args form)',
      hint: `send ${SHAPE}`,
    };
    throw badRequest(`the request body has 1 problem: ${summary([issue])}`, [issue]);
  }
  const result = validateParsed(parsed);
  if (!result.spec || result.issues.length > 0) {
    const issues = result.issues.map(apiIssue);
    const cluster = result.issues.find((i) => i.cluster !== undefined)?.cluster;
    throw badRequest(
      `${clusterHead(cluster)}the request body has ${plural(issues.length, "problem")}: ${summary(issues)}`,
      issues,
    );
  }
  return result.spec;
}
