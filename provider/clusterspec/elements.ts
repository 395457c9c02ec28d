// What validation learns of one instance or one grouping, element by element, even when its shape
// is wrong; the issues go to the shared Validation (validate.ts then checks names and references
// across elements, and contradictions).
import type { z } from "zod";
import type { Enforcement, Rule, Scope } from "../model/cluster";
import type { SpecIssue } from "../model/issues";
import { quote } from "../model/text";
import { joinPath, type PathSegment } from "./paths";
import {
  ALLOWED_KEYS,
  blueprintVolumeInstanceSchema,
  groupingSchema,
  groupingSpecShape,
  type InstanceInput,
  instanceHeadSchema,
  isPlainName,
  LIMITS,
  nameSchema,
  SNAKE_CASE_NAMES,
  serverInstanceSchema,
  volumeInstanceSchema,
} from "./schema";
import { UNKNOWN } from "./unknown";
import { convertZodIssues, describeValue } from "./zod-issues";

export type Obj = Record<string, unknown>;

/**
 * Names no member, grouping or metadata key may have. "__proto__" is not an ordinary key of a
 * JS object: the cluster's state keys members and groupings by name, and the Pulumi SDK reads
 * its state back into plain objects, where such a member would vanish (created, then never
 * seen again). Other names such as "constructor" are ordinary data everywhere in this layer.
 */
const RESERVED_NAMES: ReadonlySet<string> = new Set(["__proto__"]);
const RESERVED_WHY = "objects keyed by name, such as the cluster's state, can't hold it";

export function isObject(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** What validation learned about one instance, even when its shape is wrong. */
export interface InstanceFacts {
  index: number;
  /** A valid, known name. */
  name?: string;
  /** The name (or the whole instance) is UNKNOWN. */
  nameUnknown: boolean;
  type?: "server" | "volume";
  parsed?: InstanceInput;
  zone?: string;
  attachTo?: string;
}

export interface GroupingFacts {
  index: number;
  name?: string;
  /** Valid refs in the user's order; undefined when membersRef is missing, malformed or UNKNOWN. */
  refs?: string[];
  /** membersRef as written, when it is an array. */
  rawRefs?: readonly unknown[];
  refsComplete: boolean;
  rule?: Rule;
  scope?: Scope;
  enforcement?: Enforcement;
  maxPerDomain?: number;
  weight?: number;
  /** All of rule/scope/enforcement/weight/maxPerDomain are known and valid (or absent). */
  specKnown: boolean;
}

/** What a spec field written in Nova's snake_case does: accepted as it is, or accepted with a deprecation warning. */
export type LegacyNames = "accept" | "warn";

export class Validation {
  readonly issues: SpecIssue[] = [];
  readonly tolerate: boolean;
  readonly legacyNames: LegacyNames;
  /** Where each snake_case spelling was used (legacyNames "warn"), by spelling: its camelCase name and the paths. */
  readonly legacyUses = new Map<string, { canonical: string; paths: string[] }>();
  /** The cluster's name as far as it is known; every issue carries it (the edges print it). */
  cluster: string | undefined;

  constructor(tolerateUnknowns: boolean, legacyNames: LegacyNames = "accept") {
    this.tolerate = tolerateUnknowns;
    this.legacyNames = legacyNames;
  }

  unknown(v: unknown): boolean {
    return this.tolerate && v === UNKNOWN;
  }

  /** A string that is a valid name, and not UNKNOWN when tolerating unknowns. */
  validName(v: unknown): string | undefined {
    if (typeof v !== "string" || this.unknown(v)) return undefined;
    return isPlainName(v) || nameSchema.safeParse(v).success ? v : undefined;
  }

  /** A valid name that a member or grouping may have (not reserved). */
  knownName(v: unknown): string | undefined {
    const name = this.validName(v);
    return name !== undefined && !RESERVED_NAMES.has(name) ? name : undefined;
  }

  /** `names`: the user's own names the message mentions, unescaped (the message quotes them with quote()). */
  add(code: SpecIssue["code"], path: string, message: string, hint?: string, names?: readonly string[]): void {
    this.issues.push({
      code,
      path,
      message,
      ...(hint ? { hint } : {}),
      ...(names && names.length > 0 ? { names: [...new Set(names)] } : {}),
    });
  }

  /** Reports a reserved name where the user wrote it; true when it was one. */
  reserved(v: unknown, path: string, message: (name: string) => string, hint = "choose another name"): boolean {
    if (typeof v !== "string" || !RESERVED_NAMES.has(v)) return false;
    this.add("invalid_value", path, message(quote(v)), hint, [v]);
    return true;
  }

  zod(
    result: { success: boolean; error?: z.ZodError },
    root: unknown,
    base: string,
    noun: string,
    keys: (rel: readonly PathSegment[]) => readonly string[] | undefined,
  ): void {
    if (result.success || !result.error) return;
    this.issues.push(
      ...convertZodIssues(result.error.issues, {
        root,
        base,
        noun,
        allowedKeys: keys,
        tolerateUnknowns: this.tolerate,
        prefix: "",
      }),
    );
  }
}

export function checkInstance(
  v: Validation,
  raw: unknown,
  index: number,
  path: string,
  blueprint: boolean,
): InstanceFacts {
  const facts: InstanceFacts = { index, nameUnknown: false };
  if (v.unknown(raw)) return { ...facts, nameUnknown: true };
  if (!isObject(raw)) {
    v.add(
      "invalid_type",
      path,
      `an instance must be an object, got ${describeValue(raw)}`,
      '{"name": …, "type": "server", "spec": {…}}',
    );
    return facts;
  }
  facts.name = v.knownName(raw.name);
  facts.nameUnknown = v.unknown(raw.name);
  v.reserved(raw.name, joinPath(path, "name"), (n) => `member name ${n} is reserved: ${RESERVED_WHY}`);
  const type = raw.type;
  const isServer = type === "server";
  const isVolume = type === "volume" || type === "block-storage";
  const specKeys = isServer ? ALLOWED_KEYS.serverSpec : isVolume ? ALLOWED_KEYS.volumeSpec : undefined;
  const keys = (rel: readonly PathSegment[]) =>
    rel.length === 0 ? ALLOWED_KEYS.instance : rel.length === 1 && rel[0] === "spec" ? specKeys : undefined;
  const schema = isServer
    ? serverInstanceSchema
    : isVolume
      ? blueprint
        ? blueprintVolumeInstanceSchema
        : volumeInstanceSchema
      : instanceHeadSchema;
  const renamed =
    isServer || isVolume ? renameSnakeCase(v, raw, path, isServer ? "server" : "volume", blueprint) : undefined;
  const checked = renamed?.instance ?? raw;
  const before = v.issues.length;
  const result = schema.safeParse(checked);
  v.zod(result, checked, path, "an instance", keys);
  // Problems with a field written in snake_case are reported where the user wrote it.
  if (renamed) for (const issue of v.issues.slice(before)) issue.path = renamed.userPath(issue.path);
  if (isServer || isVolume) facts.type = isServer ? "server" : "volume";
  if (result.success && (isServer || isVolume)) facts.parsed = result.data as InstanceInput;
  if (isObject(raw.spec)) {
    const specPath = joinPath(path, "spec");
    facts.zone = v.validName(raw.spec.zone);
    if (isVolume) {
      facts.attachTo = v.knownName(raw.spec.attachTo);
      const who = facts.name ? `volume ${quote(facts.name)}` : "the volume";
      v.reserved(
        raw.spec.attachTo,
        joinPath(specPath, "attachTo"),
        (n) => `${who} is attached to ${n}, which is reserved and can't be a member's name`,
        "name a server of this cluster",
      );
    }
    const metadata = raw.spec.metadata;
    if (isObject(metadata)) {
      for (const key of Object.keys(metadata)) {
        v.reserved(
          key,
          joinPath(joinPath(specPath, "metadata"), key),
          (n) => `metadata key ${n} is reserved: it would be lost on the way to the cloud`,
          "choose another key",
        );
      }
    }
  }
  return facts;
}

/**
 * An instance with the snake_case spellings of its spec's fields (key_name, …) renamed to the spec's
 * own camelCase names, and how to map a path back to what the user wrote. Both spellings of one field
 * is an error (the camelCase one is then the one checked). In a Pulumi program (legacyNames "warn")
 * each spelling used is recorded for one deprecation warning; files of either form take both silently.
 */
function renameSnakeCase(
  v: Validation,
  raw: Obj,
  path: string,
  type: "server" | "volume",
  blueprint: boolean,
): { instance: Obj; userPath: (p: string) => string } | undefined {
  const spec = raw.spec;
  if (!isObject(spec)) return undefined;
  const names: Readonly<Record<string, string>> = SNAKE_CASE_NAMES[type];
  // Most specs spell every field in camelCase: nothing to rename, nothing to copy.
  if (!Object.keys(spec).some((key) => Object.hasOwn(names, key))) return undefined;
  const specPath = joinPath(path, "spec");
  const written = new Map<string, string>();
  const out: Obj = {};
  for (const key of Object.keys(spec)) {
    const canonical = Object.hasOwn(names, key) ? (names[key] as string) : undefined;
    if (canonical === undefined) {
      // defineProperty: a key such as "__proto__" stays a key (and is reported as unknown), never a prototype.
      Object.defineProperty(out, key, { value: spec[key], enumerable: true, writable: true, configurable: true });
      continue;
    }
    if (Object.hasOwn(spec, canonical)) {
      v.add(
        "duplicate_field",
        joinPath(specPath, key),
        `${quote(canonical)} and ${quote(key)} are two spellings of one field, and both are given`,
        `keep ${quote(canonical)} and remove ${quote(key)}`,
      );
      continue;
    }
    out[canonical] = spec[key];
    written.set(canonical, key);
    if (v.legacyNames === "warn" && !blueprint) {
      const use = v.legacyUses.get(key) ?? { canonical, paths: [] };
      use.paths.push(joinPath(specPath, key));
      v.legacyUses.set(key, use);
    }
  }
  if (written.size === 0 && Object.keys(out).length === Object.keys(spec).length) return undefined;
  const userPath = (p: string): string => {
    for (const [canonical, key] of written) {
      const from = joinPath(specPath, canonical);
      if (p === from || p.startsWith(`${from}.`) || p.startsWith(`${from}[`))
        return `${joinPath(specPath, key)}${p.slice(from.length)}`;
    }
    return p;
  };
  return { instance: { ...raw, spec: out }, userPath };
}

export function checkGrouping(v: Validation, raw: unknown, index: number, path: string): GroupingFacts {
  const facts: GroupingFacts = { index, refsComplete: false, specKnown: false };
  if (v.unknown(raw)) return facts;
  if (!isObject(raw)) {
    v.add(
      "invalid_type",
      path,
      `a grouping must be an object, got ${describeValue(raw)}`,
      '{"name": …, "membersRef": [ … ], "spec": {"rule": "affinity"}}',
    );
    return facts;
  }
  const keys = (rel: readonly PathSegment[]) =>
    rel.length === 0
      ? ALLOWED_KEYS.grouping
      : rel.length === 1 && rel[0] === "spec"
        ? ALLOWED_KEYS.groupingSpec
        : undefined;
  v.zod(groupingSchema.safeParse(raw), raw, path, "a grouping", keys);
  facts.name = v.knownName(raw.name);
  v.reserved(raw.name, joinPath(path, "name"), (n) => `grouping name ${n} is reserved: ${RESERVED_WHY}`);
  if (Array.isArray(raw.membersRef) && raw.membersRef.length <= LIMITS.membersRefPerGrouping) {
    const refs: string[] = [];
    let complete = true;
    const gName = facts.name ? `grouping ${quote(facts.name)}` : `the grouping at ${path}`;
    raw.membersRef.forEach((r, k) => {
      const name = v.knownName(r);
      if (name === undefined) complete = false;
      else refs.push(name);
      v.reserved(
        r,
        joinPath(joinPath(path, "membersRef"), k),
        (n) => `${gName} names ${n}, which is reserved and can't be a member's name`,
        "choose another name for that member",
      );
    });
    facts.refs = refs;
    facts.rawRefs = raw.membersRef;
    facts.refsComplete = complete;
  }
  const spec = raw.spec;
  if (isObject(spec)) {
    const field = <T>(key: keyof typeof groupingSpecShape): { ok: boolean; value?: T } => {
      if (!Object.hasOwn(spec, key) || spec[key] === undefined) return { ok: true };
      const r = groupingSpecShape[key].safeParse(spec[key]);
      return r.success ? { ok: true, value: r.data as T } : { ok: false };
    };
    const rule = field<Rule>("rule");
    const scope = field<Scope>("scope");
    const enforcement = field<Enforcement>("enforcement");
    const weight = field<number>("weight");
    const maxPerDomain = field<number>("maxPerDomain");
    facts.rule = rule.value;
    facts.scope = scope.value;
    facts.enforcement = enforcement.value;
    facts.weight = weight.value;
    facts.maxPerDomain = maxPerDomain.value;
    facts.specKnown = rule.value !== undefined && scope.ok && enforcement.ok && weight.ok && maxPerDomain.ok;
    if (rule.value !== undefined && rule.value !== "anti-affinity" && Object.hasOwn(spec, "maxPerDomain")) {
      v.add(
        "option_not_for_rule",
        joinPath(joinPath(path, "spec"), "maxPerDomain"),
        `"maxPerDomain" applies only to anti-affinity, but grouping ${facts.name ? quote(facts.name) : `at ${path}`} is ${rule.value}`,
        'remove "maxPerDomain", or make the rule "anti-affinity"',
        facts.name ? [facts.name] : [],
      );
    }
  }
  return facts;
}
