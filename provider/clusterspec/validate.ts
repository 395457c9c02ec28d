// validateSpec: either input form into the normalized model, reporting every problem at once.
// Order of work: shape (zod, element by element), then names and references, then
// contradictions on whatever parsed (a subset of the rules only ever finds real
// contradictions, so they are reported even while other parts are still wrong).
import type { z } from "zod";
import type { ClusterSpec, Enforcement, Rule, Scope } from "../model/cluster";
import { type SpecIssue, sortIssues } from "../model/issues";
import { quote } from "../model/text";
import { detectContradictions } from "./contradictions";
import { IMPLIED_PREFIX, normalizeSpec } from "./normalize";
import { joinPath, type PathSegment } from "./paths";
import {
  ALLOWED_KEYS,
  blueprintRootSchema,
  blueprintVolumeInstanceSchema,
  bodySchema,
  type GroupingInput,
  groupingSchema,
  groupingSpecShape,
  type InstanceInput,
  instanceHeadSchema,
  LIMITS,
  nameSchema,
  serverInstanceSchema,
  volumeInstanceSchema,
} from "./schema";
import { NameSuggester } from "./suggest";
import { containsUnknown, UNKNOWN } from "./unknown";
import { convertZodIssues, describeValue } from "./zod-issues";

export interface ValidateOptions {
  /** Cluster name when the input doesn't carry one (Pulumi: the resource's cluster name). */
  name?: string;
  /** Preview: any value may be UNKNOWN (even whole arrays/objects); skip checks that need it, check the rest. */
  tolerateUnknowns?: boolean;
}

export interface ValidationResult {
  /** Present iff there are no issues and nothing is unknown. */
  spec?: ClusterSpec;
  /** Sorted with sortIssues. */
  issues: SpecIssue[];
  /** True when tolerateUnknowns was set and some value was UNKNOWN (so no spec could be built). */
  hasUnknowns: boolean;
}

type Obj = Record<string, unknown>;

/**
 * Names no member, grouping or metadata key may have. "__proto__" is not an ordinary key of a
 * JS object: the cluster's state keys members and groupings by name, and the Pulumi SDK reads
 * its state back into plain objects, where such a member would vanish (created, then never
 * seen again). Other names such as "constructor" are ordinary data everywhere in this layer.
 */
const RESERVED_NAMES: ReadonlySet<string> = new Set(["__proto__"]);
const RESERVED_WHY = "objects keyed by name, such as the cluster's state, can't hold it";

function isObject(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** What validation learned about one instance, even when its shape is wrong. */
interface InstanceFacts {
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

interface GroupingFacts {
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

class Validation {
  readonly issues: SpecIssue[] = [];
  readonly tolerate: boolean;
  /** The cluster's name as far as it is known; every issue carries it (the edges print it). */
  cluster: string | undefined;

  constructor(readonly opts: ValidateOptions) {
    this.tolerate = opts.tolerateUnknowns === true;
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

function checkInstance(v: Validation, raw: unknown, index: number, path: string, blueprint: boolean): InstanceFacts {
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

function checkGrouping(v: Validation, raw: unknown, index: number, path: string): GroupingFacts {
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

function quoteList(names: readonly string[], limit = 5): string {
  const shown = names.slice(0, limit).map(quote);
  return names.length > limit ? `${shown.join(", ")}, …` : shown.join(", ");
}

/** Validates either input form (object): args form `{name?, instances, groupings?}` or blueprint form `{vcluster: {name, instances, groupings}}`. */
export function validateSpec(input: unknown, opts: ValidateOptions = {}): ValidationResult {
  const v = new Validation(opts);
  const hasUnknowns = v.tolerate && containsUnknown(input);
  const done = (spec?: ClusterSpec): ValidationResult => {
    const cluster = v.cluster;
    const issues = sortIssues(cluster ? v.issues.map((i) => ({ ...i, cluster })) : v.issues);
    return issues.length === 0 && !hasUnknowns && spec ? { spec, issues, hasUnknowns } : { issues, hasUnknowns };
  };
  v.cluster = opts.name || undefined;
  if (v.unknown(input)) return done();
  if (!isObject(input)) {
    v.add(
      "invalid_type",
      "",
      `the spec must be an object, got ${describeValue(input)}`,
      'write {"name": …, "instances": [ … ], "groupings": [ … ]} or the blueprint form {"vcluster": { … }}',
    );
    return done();
  }

  // The two forms differ only in where the body is.
  const blueprint = Object.hasOwn(input, "vcluster");
  let body: unknown = input;
  let base = "";
  if (blueprint) {
    body = input.vcluster;
    base = "vcluster";
    v.cluster = (isObject(body) ? v.validName(body.name) : undefined) ?? v.cluster;
    v.zod(blueprintRootSchema.safeParse(input), input, "", "the spec", () => ALLOWED_KEYS.blueprintRoot);
    if (v.unknown(body)) return done();
    if (!isObject(body)) {
      v.add(
        "invalid_type",
        "vcluster",
        `"vcluster" must be an object, got ${describeValue(body)}`,
        '"vcluster": {"name": …, "instances": [ … ], "groupings": [ … ]}',
      );
      return done();
    }
  }
  const bodyObj = body as Obj;
  const clusterName = v.validName(bodyObj.name) ?? opts.name;
  v.cluster = clusterName || undefined;
  v.zod(bodySchema.safeParse(bodyObj), bodyObj, base, "the spec", (rel) =>
    rel.length === 0 ? [...ALLOWED_KEYS.body, ...(blueprint ? [] : ["vcluster"])] : undefined,
  );
  if (bodyObj.name === undefined && !opts.name) {
    v.add("missing_field", joinPath(base, "name"), "the cluster has no name", 'add "name": "my-cluster"');
  }

  // Elements one by one.
  const instancesPath = joinPath(base, "instances");
  const groupingsPath = joinPath(base, "groupings");
  const rawInstances =
    Array.isArray(bodyObj.instances) && bodyObj.instances.length <= LIMITS.members ? bodyObj.instances : undefined;
  const rawGroupings =
    Array.isArray(bodyObj.groupings) && bodyObj.groupings.length <= LIMITS.groupings ? bodyObj.groupings : undefined;
  const instances = (rawInstances ?? []).map((raw, j) =>
    checkInstance(v, raw, j, joinPath(instancesPath, j), blueprint),
  );
  const groupings = (rawGroupings ?? []).map((raw, i) => checkGrouping(v, raw, i, joinPath(groupingsPath, i)));
  const instancePath = (j: number) => joinPath(instancesPath, j);
  const groupingPath = (i: number) => joinPath(groupingsPath, i);

  // Member names: unique; known completely only when nothing about them is unknown.
  const membersComplete = rawInstances !== undefined && instances.every((f) => !f.nameUnknown);
  const byName = new Map<string, InstanceFacts>();
  for (const f of instances) {
    if (f.name === undefined) continue;
    const first = byName.get(f.name);
    if (first) {
      v.add(
        "duplicate_member",
        joinPath(instancePath(f.index), "name"),
        `member name ${quote(f.name)} is used by both ${instancePath(first.index)} and ${instancePath(f.index)}`,
        "give each member its own name",
        [f.name],
      );
    } else byName.set(f.name, f);
  }
  const suggester = new NameSuggester([...byName.keys()]);

  // Grouping names: unique (never merged), and not in the implied namespace.
  const groupingByName = new Map<string, GroupingFacts>();
  for (const g of groupings) {
    if (g.name === undefined) continue;
    const namePath = joinPath(groupingPath(g.index), "name");
    if (g.name.startsWith(IMPLIED_PREFIX)) {
      v.add(
        "invalid_value",
        namePath,
        `grouping name ${quote(g.name)} starts with ${quote(IMPLIED_PREFIX)}, which is reserved for groupings implied by attachTo`,
        "choose another name",
        [g.name],
      );
    }
    const first = groupingByName.get(g.name);
    if (first) {
      v.add(
        "duplicate_grouping",
        namePath,
        `grouping name ${quote(g.name)} is used by both ${groupingPath(first.index)} and ${groupingPath(g.index)}`,
        "give each grouping its own name; groupings that share a name are not merged",
        [g.name],
      );
    } else groupingByName.set(g.name, g);
  }

  // membersRef: every entry names a member, once; at least two members.
  for (const g of groupings) {
    const raw = g.rawRefs;
    if (raw === undefined) continue;
    const gName = g.name ? `grouping ${quote(g.name)}` : `the grouping at ${groupingPath(g.index)}`;
    const gNames = g.name ? [g.name] : [];
    const refsPath = joinPath(groupingPath(g.index), "membersRef");
    const seenAt = new Map<string, number>();
    raw.forEach((r, k) => {
      const name = v.knownName(r);
      if (name === undefined) return;
      const first = seenAt.get(name);
      if (first !== undefined) {
        v.add(
          "duplicate_member_ref",
          joinPath(refsPath, k),
          `${gName} lists ${quote(name)} twice (membersRef[${first}] and membersRef[${k}])`,
          "list each member once",
          [...gNames, name],
        );
        return;
      }
      seenAt.set(name, k);
      if (membersComplete && !byName.has(name)) {
        const suggestion = suggester.suggest(name);
        v.add(
          "unknown_member",
          joinPath(refsPath, k),
          `${gName} names ${quote(name)}, which is not a member of the cluster`,
          suggestion
            ? `did you mean ${quote(suggestion)}?`
            : byName.size > 0
              ? `members are ${quoteList([...byName.keys()])}; add an instance named ${quote(name)} or remove it here`
              : `add an instance named ${quote(name)}`,
          [...gNames, name],
        );
      }
    });
    if (g.refsComplete && seenAt.size < 2) {
      const only = [...seenAt.keys()];
      v.add(
        "grouping_too_small",
        refsPath,
        `${gName} has ${only[0] === undefined ? "no members" : `only one member (${quote(only[0])})`}; a grouping needs at least two to constrain anything`,
        "add members to it or remove the grouping",
        [...gNames, ...only],
      );
    }
  }

  // attachTo names a server of this cluster.
  for (const f of instances) {
    if (f.type !== "volume" || f.attachTo === undefined) continue;
    const path = joinPath(joinPath(instancePath(f.index), "spec"), "attachTo");
    const target = byName.get(f.attachTo);
    const who = f.name ? `volume ${quote(f.name)}` : "the volume";
    const names = [...(f.name ? [f.name] : []), f.attachTo];
    if (!target) {
      if (!membersComplete) continue;
      const suggestion = suggester.suggest(f.attachTo);
      v.add(
        "attach_to_unknown",
        path,
        `${who} is attached to ${quote(f.attachTo)}, which is not a member of the cluster`,
        suggestion ? `did you mean ${quote(suggestion)}?` : "name a server of this cluster",
        names,
      );
    } else if (target.type === "volume") {
      v.add(
        "attach_to_non_server",
        path,
        `${who} is attached to ${quote(f.attachTo)}, which is a volume; volumes attach to servers`,
        "name a server in attachTo",
        names,
      );
    }
  }

  // Contradictions among everything whose meaning is known.
  const memberOrigin: number[] = [];
  const inputs: InstanceInput[] = [];
  for (const f of instances) {
    if (f.name === undefined || f.type === undefined || byName.get(f.name) !== f) continue;
    const attachTo = f.attachTo !== undefined && byName.get(f.attachTo)?.type === "server" ? f.attachTo : undefined;
    inputs.push(memberInput(f, attachTo, hasUnknowns));
    memberOrigin.push(f.index);
  }
  const groupingOrigin: number[] = [];
  const groupingInputs: GroupingInput[] = [];
  for (const g of groupings) {
    if (g.name === undefined || g.refs === undefined || !g.specKnown || g.rule === undefined) continue;
    groupingInputs.push({
      name: g.name,
      membersRef: g.refs.filter((r) => byName.has(r)),
      spec: {
        rule: g.rule,
        ...(g.scope ? { scope: g.scope } : {}),
        ...(g.enforcement ? { enforcement: g.enforcement } : {}),
        ...(g.weight !== undefined ? { weight: g.weight } : {}),
        ...(g.maxPerDomain !== undefined ? { maxPerDomain: g.maxPerDomain } : {}),
      },
    });
    groupingOrigin.push(g.index);
  }
  const spec = normalizeSpec(clusterName ?? "", inputs, groupingInputs, blueprint ? "blueprint" : "args");
  const memberPos = new Map(spec.members.map((m, k) => [m.name, k]));
  v.issues.push(
    ...detectContradictions(spec, {
      grouping(i) {
        const g = spec.groupings[i];
        if (g?.implied) {
          const volume = g.members.find((m) => spec.members[memberPos.get(m) ?? -1]?.type === "volume") ?? "";
          return joinPath(joinPath(instancePath(memberOrigin[memberPos.get(volume) ?? 0] ?? 0), "spec"), "attachTo");
        }
        return groupingPath(groupingOrigin[i] ?? i);
      },
      memberZone: (k) => joinPath(joinPath(instancePath(memberOrigin[k] ?? k), "spec"), "zone"),
    }),
  );
  return done(spec);
}

/**
 * The instance as normalize.ts takes it. Parsed instances are used as written (with attachTo
 * only when it names a server); anything not fully known becomes a stand-in carrying just what
 * contradictions look at (name, type, zone, attachTo), never an UNKNOWN value.
 */
function memberInput(f: InstanceFacts, attachTo: string | undefined, hasUnknowns: boolean): InstanceInput {
  const name = f.name as string;
  const zone = f.zone ? { zone: f.zone } : {};
  if (f.parsed && !hasUnknowns) {
    if (f.parsed.type === "server") return f.parsed;
    const { attachTo: _written, ...spec } = f.parsed.spec;
    return { ...f.parsed, spec: { ...spec, ...(attachTo ? { attachTo } : {}) } };
  }
  if (f.type === "server") return { name, type: "server", spec: { imageRef: "", flavorRef: "", ...zone } };
  return { name, type: "volume", spec: { size: 1, ...zone, ...(attachTo ? { attachTo } : {}) } };
}
