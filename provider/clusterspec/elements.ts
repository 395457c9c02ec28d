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
  LIMITS,
  nameSchema,
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

export class Validation {
  readonly issues: SpecIssue[] = [];
  readonly tolerate: boolean;
  /** The cluster's name as far as it is known; every issue carries it (the edges print it). */
  cluster: string | undefined;

  constructor(tolerateUnknowns: boolean) {
    this.tolerate = tolerateUnknowns;
  }

  unknown(v: unknown): boolean {
    return this.tolerate && v === UNKNOWN;
  }

  /** A string that is a valid name, and not UNKNOWN when tolerating unknowns. */
  validName(v: unknown): string | undefined {
    return typeof v === "string" && !this.unknown(v) && nameSchema.safeParse(v).success ? v : undefined;
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
  const result = schema.safeParse(raw);
  v.zod(result, raw, path, "an instance", keys);
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
