// zod's issues into SpecIssues: stable codes, dot paths into the user's input, and messages
// written from the user's own value ("must be a number, got the string \"ten\"").
import type { z } from "zod";
import type { IssueCode, SpecIssue } from "../model/issues";
import { quote } from "../model/text";
import { hasPath, type PathSegment, pathOf, valueAt } from "./paths";
import { closest } from "./suggest";
import { pathTouchesUnknown } from "./unknown";

export interface ConvertContext {
  /** The value that was parsed (an element, the body, …); zod paths are relative to it. */
  root: unknown;
  /** Path of `root` in the user's input. */
  base: string;
  /** What `root` is, for messages about the root itself ("an instance"). */
  noun: string;
  /** Allowed keys of the object at a relative path, for "did you mean". */
  allowedKeys: (relative: readonly PathSegment[]) => readonly string[] | undefined;
  /** Drop issues about values that are (inside) Pulumi's UNKNOWN. */
  tolerateUnknowns: boolean;
  /** `cluster "c": ` or "". */
  prefix: string;
}

/** What to write for a missing required field. */
const MISSING_HINTS: Record<string, string> = {
  name: 'give it a name, e.g. "name": "db-1"',
  type: 'say what it is: "type": "server" or "type": "volume"',
  spec: 'add its "spec" object',
  imageRef: 'name the image, e.g. "imageRef": "debian-12"',
  flavorRef: 'name the flavor, e.g. "flavorRef": "m1.small"',
  size: 'give the size in GB, e.g. "size": 10',
  membersRef: 'list the member names, e.g. "membersRef": ["db-1", "db-2"]',
  rule: 'choose "affinity", "anti-affinity" or "proximity"',
  instances: 'list the members: "instances": [ {"name": …, "type": "server", "spec": {…}} ]',
};

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  array: "an array",
  object: "an object",
  record: "an object",
  boolean: "true or false",
};

/** At most n characters, never ending inside a surrogate pair. */
export function truncate(s: string, n = 40): string {
  if (s.length <= n) return s;
  const code = s.charCodeAt(n - 1);
  return `${s.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n)}…`;
}

export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `the string ${quote(truncate(v))}`;
  if (typeof v === "number") return `the number ${v}`;
  if (typeof v === "boolean") return String(v);
  if (typeof v === "object") return "an object";
  return `a ${typeof v}`;
}

function label(ctx: ConvertContext, rel: readonly PathSegment[]): string {
  if (rel.length === 0) return ctx.noun;
  const last = rel[rel.length - 1] as PathSegment;
  if (typeof last === "number") {
    const owner = rel[rel.length - 2];
    return typeof owner === "string" ? `each entry of ${quote(truncate(owner))}` : `entry ${last}`;
  }
  return quote(truncate(last));
}

function issue(
  ctx: ConvertContext,
  code: IssueCode,
  rel: readonly PathSegment[],
  message: string,
  hint?: string,
): SpecIssue {
  return { code, path: pathOf(ctx.base, rel), message: `${ctx.prefix}${message}`, ...(hint ? { hint } : {}) };
}

function arrayHint(key: PathSegment | undefined, value: unknown): string | undefined {
  if ((key === "instances" || key === "groupings") && value !== null && typeof value === "object") {
    return `write an array: "${key}": [ {...}, {...} ]`;
  }
  return undefined;
}

/** The hint a refinement in schema.ts attached to its issue. */
function customHint(raw: z.core.$ZodIssue | undefined): string | undefined {
  const hint = (raw as { params?: { hint?: unknown } } | undefined)?.params?.hint;
  return typeof hint === "string" ? hint : undefined;
}

function blankHint(raw: z.core.$ZodIssue, key: PathSegment | undefined): string | undefined {
  if ((raw as { params?: { blank?: unknown } }).params?.blank !== true) return undefined;
  return (typeof key === "string" ? MISSING_HINTS[key] : undefined) ?? "write the name or id it refers to";
}

function convertOne(raw: z.core.$ZodIssue, ctx: ConvertContext): SpecIssue[] {
  const rel = raw.path as PathSegment[];
  const value = valueAt(ctx.root, rel);
  const what = label(ctx, rel);
  const key = rel[rel.length - 1];
  switch (raw.code) {
    case "invalid_type": {
      if (!hasPath(ctx.root, rel) && rel.length > 0 && typeof key === "string") {
        return [issue(ctx, "missing_field", rel, `missing required field "${key}"`, MISSING_HINTS[key])];
      }
      if (raw.expected === "int" && typeof value === "number" && Number.isInteger(value)) {
        return [issue(ctx, "too_big", rel, `${what} is ${value}, far too large`)];
      }
      const expected = EXPECTED[raw.expected] ?? `a ${raw.expected}`;
      const hint =
        arrayHint(key, value) ??
        (raw.expected === "number" && typeof value === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(value)
          ? `write it as a number, without quotes: ${value.trim()}`
          : undefined) ??
        (raw.expected === "int" && typeof value === "number"
          ? `use a whole number such as ${Math.round(value) || 1}`
          : undefined);
      return [issue(ctx, "invalid_type", rel, `${what} must be ${expected}, got ${describeValue(value)}`, hint)];
    }
    case "too_small":
    case "too_big": {
      const small = raw.code === "too_small";
      const bound = small ? (raw as z.core.$ZodIssueTooSmall).minimum : (raw as z.core.$ZodIssueTooBig).maximum;
      const origin = (raw as { origin?: string }).origin;
      let message: string;
      if (origin === "string") {
        message =
          small && Number(bound) === 1
            ? `${what} must not be empty`
            : `${what} is ${(value as string).length} characters long; ${small ? "at least" : "at most"} ${bound} allowed`;
      } else if (origin === "array") {
        message =
          small && Number(bound) === 1
            ? `${what} must not be empty`
            : `${what} has ${(value as unknown[]).length} entries; ${small ? "at least" : "at most"} ${bound} allowed`;
      } else {
        message = `${what} must be ${small ? "at least" : "at most"} ${bound}, got ${describeValue(value)}`;
      }
      return [issue(ctx, raw.code, rel, message)];
    }
    case "invalid_value": {
      const allowed = raw.values.map((v) => String(v));
      const suggestion = typeof value === "string" ? closest(value, allowed) : undefined;
      const list = allowed.map((v) => `"${v}"`).join(", ");
      const message =
        value === undefined
          ? `missing required field "${String(key)}"`
          : `${what} is ${typeof value === "string" ? quote(truncate(value)) : describeValue(value)}; expected ${allowed.length === 1 ? list : `one of ${list}`}`;
      const code: IssueCode = value === undefined ? "missing_field" : "invalid_value";
      return [
        issue(ctx, code, rel, message, suggestion ? `did you mean "${suggestion}"?` : MISSING_HINTS[String(key)]),
      ];
    }
    case "unrecognized_keys": {
      const allowed = ctx.allowedKeys(rel) ?? [];
      return raw.keys.map((k) => {
        const suggestion = closest(k, allowed);
        const hint = suggestion
          ? `did you mean "${suggestion}"?`
          : allowed.length > 0
            ? `allowed here: ${allowed.map((a) => `"${a}"`).join(", ")}`
            : undefined;
        return issue(ctx, "unknown_field", [...rel, k], `unknown field ${quote(truncate(k))}`, hint);
      });
    }
    case "invalid_key": {
      // zod's path ends with the key itself; the message is about the object holding it.
      const holder = rel.slice(0, -1);
      const inner = raw.issues[0];
      const why =
        inner?.code === "custom"
          ? inner.message
          : inner?.code === "too_small"
            ? "must not be empty"
            : inner?.code === "too_big"
              ? `is longer than ${(inner as z.core.$ZodIssueTooBig).maximum} characters`
              : "is not valid";
      const keyText = typeof key === "string" ? ` ${quote(truncate(key))}` : "";
      return [
        issue(
          ctx,
          "invalid_value",
          rel,
          `${label(ctx, holder)} has a key${keyText} that ${why}`,
          customHint(inner) ?? "keys must be non-empty text of at most 255 characters, without control characters",
        ),
      ];
    }
    case "invalid_element":
      return raw.issues.flatMap((i) => convertOne({ ...i, path: [...rel, ...i.path] } as z.core.$ZodIssue, ctx));
    case "custom":
      return [issue(ctx, "invalid_value", rel, `${what} ${raw.message}`, customHint(raw) ?? blankHint(raw, key))];
    default:
      return [issue(ctx, "invalid_value", rel, `${what} is not valid: ${raw.message}`)];
  }
}

/** Converts every zod issue; with tolerateUnknowns, issues about UNKNOWN values are dropped. */
export function convertZodIssues(raw: readonly z.core.$ZodIssue[], ctx: ConvertContext): SpecIssue[] {
  const out: SpecIssue[] = [];
  for (const r of raw) {
    if (ctx.tolerateUnknowns && pathTouchesUnknown(ctx.root, r.path as PathSegment[])) continue;
    out.push(...convertOne(r, ctx));
  }
  return out;
}
