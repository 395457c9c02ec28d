// validateSpec: either input form into the normalized model, reporting every problem at once.
// Order of work: shape (zod, element by element, elements.ts), then names and references, then
// contradictions on whatever parsed (a subset of the rules only ever finds real
// contradictions, so they are reported even while other parts are still wrong).
import type { ClusterSpec } from "../model/cluster";
import { type SpecIssue, type SpecWarning, sortIssues } from "../model/issues";
import { quote } from "../model/text";
import { detectContradictions } from "./contradictions";
import {
  checkGrouping,
  checkInstance,
  type GroupingFacts,
  type InstanceFacts,
  isObject,
  type LegacyNames,
  type Obj,
  Validation,
} from "./elements";
import { IMPLIED_PREFIX, normalizePlacementStrategy, normalizeSpec } from "./normalize";
import { joinPath } from "./paths";
import {
  ALLOWED_KEYS,
  blueprintRootSchema,
  bodySchema,
  type GroupingInput,
  type InstanceInput,
  LIMITS,
} from "./schema";
import { NameSuggester } from "./suggest";
import { containsUnknown } from "./unknown";
import { describeValue } from "./zod-issues";

export interface ValidateOptions {
  /** Cluster name when the input doesn't carry one (Pulumi: the resource's cluster name). */
  name?: string;
  /** Preview: any value may be UNKNOWN (even whole arrays/objects); skip checks that need it, check the rest. */
  tolerateUnknowns?: boolean;
  /**
   * Spec fields in Nova's snake_case (key_name, security_groups, user_data, volume_type) outside the
   * blueprint form: "accept" (files, the REST API; default) or "warn" (a Pulumi program, where the SDK's
   * names are camelCase): accepted, with one deprecation warning per spelling. The blueprint form
   * accepts both spellings silently either way.
   */
  legacyNames?: LegacyNames;
}

export interface ValidationResult {
  /** Present iff there are no issues and nothing is unknown. */
  spec?: ClusterSpec;
  /** Sorted with sortIssues. */
  issues: SpecIssue[];
  /** True when tolerateUnknowns was set and some value was UNKNOWN (so no spec could be built). */
  hasUnknowns: boolean;
  /** What works but should change (deprecated spellings); never a reason the spec is refused. */
  warnings?: SpecWarning[];
}

function quoteList(names: readonly string[], limit = 5): string {
  const shown = names.slice(0, limit).map(quote);
  return names.length > limit ? `${shown.join(", ")}, …` : shown.join(", ");
}

/** Validates either input form (object): args form `{name?, instances, groupings?}` or blueprint form `{vcluster: {name, instances, groupings}}`. */
export function validateSpec(input: unknown, opts: ValidateOptions = {}): ValidationResult {
  const v = new Validation(opts.tolerateUnknowns === true, opts.legacyNames);
  const hasUnknowns = v.tolerate && containsUnknown(input);
  const done = (spec?: ClusterSpec): ValidationResult => {
    const cluster = v.cluster;
    const issues = sortIssues(cluster ? v.issues.map((i) => ({ ...i, cluster })) : v.issues);
    const warnings = legacyWarnings(v, cluster);
    const more = warnings.length > 0 ? { warnings } : {};
    return issues.length === 0 && !hasUnknowns && spec
      ? { spec, issues, hasUnknowns, ...more }
      : { issues, hasUnknowns, ...more };
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
  // Built on the first unknown name only: indexing 100,000 names costs more than the rest of this step.
  let suggester: NameSuggester | undefined;
  const suggest = (name: string) => {
    suggester ??= new NameSuggester([...byName.keys()]);
    return suggester.suggest(name);
  };

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
        const suggestion = suggest(name);
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
      const suggestion = suggest(f.attachTo);
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
  const strategy = normalizePlacementStrategy(bodyObj.placementStrategy);
  if (strategy) spec.placementStrategy = strategy;
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

/** One deprecation warning per snake_case spelling used, at its first use, counting the others. */
function legacyWarnings(v: Validation, cluster: string | undefined): SpecWarning[] {
  return [...v.legacyUses]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([written, { canonical, paths }]) => {
      const more = paths.length > 1 ? ` (and ${paths.length - 1} more ${paths.length === 2 ? "place" : "places"})` : "";
      return {
        code: "deprecated_field" as const,
        path: paths[0] as string,
        message: `${quote(written)} is deprecated${more}: the field is ${quote(canonical)} now`,
        hint: `rename ${quote(written)} to ${quote(canonical)}; the old name keeps working until then`,
        ...(cluster ? { cluster } : {}),
      };
    });
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
