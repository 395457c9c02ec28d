import { describe, expect, it } from "vitest";
import {
  type ClusterSpec,
  findContradictions,
  formatIssues,
  type Grouping,
  type Member,
  SCOPES,
  type Scope,
  scopeRank,
  validateSpec,
} from "../../provider/clusterspec";
import { cluster, codes, grouping, server, servers, volume } from "../support/clusterspec";

const affinity = (scope: Scope, enforcement = "hard") => ({ rule: "affinity", scope, enforcement });
const anti = (scope: Scope, maxPerDomain = 1, enforcement = "hard") => ({
  rule: "anti-affinity",
  scope,
  maxPerDomain,
  enforcement,
});

describe("affinity closure against anti-affinity", () => {
  it("reports the chain A~B, B~C (host) against A, C apart (rack)", () => {
    const result = validateSpec(
      cluster(servers("A", "B", "C"), [
        grouping("g-ab", ["A", "B"], affinity("host")),
        grouping("g-bc", ["B", "C"], affinity("host")),
        grouping("apart", ["A", "C"], anti("rack")),
      ]),
    );
    expect(result.issues).toEqual([
      {
        code: "affinity_vs_anti_affinity",
        path: "groupings[2]",
        message:
          'groupings "g-ab" (affinity, host) and "g-bc" (affinity, host) put "A" and "C" on one host through "B", but "apart" (anti-affinity, rack) wants them in different racks',
        hint: 'relax one of "apart", "g-ab" or "g-bc" to enforcement: soft, or raise maxPerDomain of "apart" to 2',
        cluster: "c",
        names: ["g-ab", "g-bc", "A", "C", "B", "apart"],
      },
    ]);
  });

  it("names the shortest chain, not just any", () => {
    const result = validateSpec(
      cluster(servers("A", "B", "C", "D", "E"), [
        grouping("long-1", ["A", "B"]),
        grouping("long-2", ["B", "C"]),
        grouping("long-3", ["C", "D"]),
        grouping("short", ["A", "E"]),
        grouping("short-2", ["E", "D"]),
        grouping("apart", ["A", "D"], anti("host")),
      ]),
    );
    expect(result.issues.map((i) => i.message)).toEqual([
      'groupings "short" (affinity, host) and "short-2" (affinity, host) put "A" and "D" on one host through "E", but "apart" (anti-affinity, host) wants them on different hosts',
    ]);
  });

  // Affinity at scope s forces one domain of every scope >= s; anti-affinity at t conflicts iff s <= t.
  const scopePairs = SCOPES.flatMap((a) => SCOPES.map((t) => ({ a, t, conflict: scopeRank(a) <= scopeRank(t) })));

  it.each(scopePairs)("affinity $a vs anti-affinity $t: conflict $conflict", ({ a, t, conflict }) => {
    const result = validateSpec(
      cluster(servers("x", "y"), [grouping("tie", ["x", "y"], affinity(a)), grouping("apart", ["x", "y"], anti(t))]),
    );
    expect(codes(result)).toEqual(conflict ? ["affinity_vs_anti_affinity groupings[1]"] : []);
  });

  it.each(scopePairs)("proximity bound $a vs anti-affinity $t: conflict $conflict", ({ a, t, conflict }) => {
    const result = validateSpec(
      cluster(servers("x", "y"), [
        grouping("near", ["x", "y"], { rule: "proximity", scope: a }),
        grouping("apart", ["x", "y"], anti(t)),
      ]),
    );
    expect(codes(result)).toEqual(conflict ? ["affinity_vs_anti_affinity groupings[1]"] : []);
  });

  it.each([
    ["soft affinity", affinity("host", "soft"), anti("host")],
    ["soft anti-affinity", affinity("host"), anti("host", 1, "soft")],
    ["both soft", affinity("host", "soft"), anti("host", 1, "soft")],
    ["maxPerDomain 2 for a pair", affinity("host"), anti("host", 2)],
  ])("%s is no contradiction", (_what, tie, apart) => {
    expect(
      validateSpec(cluster(servers("x", "y"), [grouping("tie", ["x", "y"], tie), grouping("apart", ["x", "y"], apart)]))
        .issues,
    ).toEqual([]);
  });

  it("mentions how many members are tied when more than two are", () => {
    const [issue] = validateSpec(
      cluster(servers("a", "b", "c"), [
        grouping("tie", ["a", "b", "c"]),
        grouping("apart", ["a", "b", "c"], anti("host")),
      ]),
    ).issues;
    expect(issue?.message).toBe(
      'grouping "tie" (affinity, host) puts "a" and "b" on one host, but "apart" (anti-affinity, host) wants them on different hosts (3 of its members are tied together: "a", "b" and "c")',
    );
    expect(issue?.hint).toBe(
      'relax one of "apart" or "tie" to enforcement: soft, or raise maxPerDomain of "apart" to 3',
    );
  });

  it("reports each separately tied set once", () => {
    const result = validateSpec(
      cluster(servers("a", "b", "c", "d"), [
        grouping("ab", ["a", "b"]),
        grouping("cd", ["c", "d"]),
        grouping("apart", ["a", "b", "c", "d"], anti("host")),
      ]),
    );
    expect(codes(result)).toEqual(["affinity_vs_anti_affinity groupings[2]", "affinity_vs_anti_affinity groupings[2]"]);
    expect(new Set(result.issues.map((i) => i.message)).size).toBe(2);
  });
});

describe("anti-affinity over capacity", () => {
  it("counts members forced into one domain against maxPerDomain", () => {
    const result = validateSpec(
      cluster(servers("q1", "q2", "q3", "q4"), [
        grouping("rack-a", ["q1", "q2"], affinity("rack")),
        grouping("rack-b", ["q2", "q3", "q4"], affinity("host")),
        grouping("quorum", ["q1", "q2", "q3", "q4"], anti("rack", 3)),
      ]),
    );
    expect(result.issues).toEqual([
      {
        code: "anti_affinity_over_capacity",
        path: "groupings[2]",
        message:
          '4 members of "quorum" ("q1", "q2", "q3" and "q4"), tied by groupings "rack-a" (affinity, rack) and "rack-b" (affinity, host), must share one rack but maxPerDomain is 3',
        hint: 'raise maxPerDomain of "quorum" to 4, or relax one of "rack-a" or "rack-b" to enforcement: soft',
        cluster: "c",
        names: ["quorum", "q1", "q2", "q3", "q4", "rack-a", "rack-b"],
      },
    ]);
  });

  it("allows exactly maxPerDomain tied members", () => {
    const result = validateSpec(
      cluster(servers("q1", "q2", "q3", "q4"), [
        grouping("t", ["q1", "q2", "q3"]),
        grouping("quorum", ["q1", "q2", "q3", "q4"], anti("host", 3)),
      ]),
    );
    expect(result.issues).toEqual([]);
  });
});

describe("volumes", () => {
  it("server–volume affinity is not transitive below zone scope (a zonal backend serves both hosts)", () => {
    const groupings = (scope: Scope) => [
      grouping("s1-v", ["s1", "v"], affinity("host")),
      grouping("v-s2", ["v", "s2"], affinity("host")),
      grouping("apart", ["s1", "s2"], anti(scope)),
    ];
    const members = [server("s1"), server("s2"), volume("v")];
    expect(validateSpec(cluster(members, groupings("host"))).issues).toEqual([]);
    expect(validateSpec(cluster(members, groupings("rack"))).issues).toEqual([]);
    expect(codes(validateSpec(cluster(members, groupings("zone"))))).toEqual([
      "affinity_vs_anti_affinity groupings[2]",
    ]);
  });

  it("volume–volume affinity is transitive at its scope", () => {
    const result = validateSpec(
      cluster(
        [volume("u"), volume("v"), volume("w")],
        [
          grouping("uv", ["u", "v"], affinity("host")),
          grouping("vw", ["v", "w"], affinity("host")),
          grouping("apart", ["u", "w"], anti("host")),
        ],
      ),
    );
    expect(codes(result)).toEqual(["affinity_vs_anti_affinity groupings[2]"]);
  });

  it("a mixed grouping ties its volumes together", () => {
    const result = validateSpec(
      cluster(
        [server("s"), volume("u"), volume("v")],
        [grouping("all", ["s", "u", "v"]), grouping("apart", ["u", "v"], anti("host"))],
      ),
    );
    expect(codes(result)).toEqual(["affinity_vs_anti_affinity groupings[1]"]);
  });

  it("attachTo ties at zone scope, and is named as an attachment", () => {
    const result = validateSpec(
      cluster(
        [server("s1"), server("s2"), volume("v", { attachTo: "s1" })],
        [grouping("v-s2", ["v", "s2"], affinity("zone")), grouping("zones", ["s1", "s2"], anti("zone"))],
      ),
    );
    expect(result.issues).toEqual([
      {
        code: "affinity_vs_anti_affinity",
        path: "groupings[1]",
        message:
          'the attachment of "v" to "s1" and "v-s2" (affinity, zone) put "s1" and "s2" in one zone through "v", but "zones" (anti-affinity, zone) wants them in different zones',
        hint: 'relax one of "zones" or "v-s2" to enforcement: soft, remove the attachTo of "v", or raise maxPerDomain of "zones" to 2',
        cluster: "c",
        names: ["v", "s1", "v-s2", "s2", "zones"],
      },
    ]);
  });

  it.each([
    [
      "anti-affinity mixing servers and volumes",
      [server("s"), volume("v")],
      anti("host"),
      ["rule_not_for_volumes groupings[0]"],
    ],
    [
      "proximity among volumes only",
      [volume("u"), volume("v")],
      { rule: "proximity" },
      ["rule_not_for_volumes groupings[0]"],
    ],
    [
      "soft mixed anti-affinity (still meaningless)",
      [server("s"), volume("v")],
      anti("rack", 1, "soft"),
      ["rule_not_for_volumes groupings[0]"],
    ],
    ["proximity of a server and a volume", [server("s"), volume("v")], { rule: "proximity" }, []],
    ["anti-affinity among volumes", [volume("u"), volume("v")], anti("host"), []],
    ["hard host affinity among volumes (same backend)", [volume("u"), volume("v")], affinity("host"), []],
    ["affinity of a server and a volume", [server("s"), volume("v")], affinity("rack"), []],
  ])("%s", (_what, members, spec, expected) => {
    expect(
      codes(
        validateSpec(
          cluster(members, [
            grouping(
              "g",
              members.map((m) => m.name),
              spec,
            ),
          ]),
        ),
      ),
    ).toEqual(expected);
  });

  it("explains the mixed anti-affinity", () => {
    const [issue] = validateSpec(cluster([server("s"), volume("v")], [grouping("g", ["s", "v"], anti("host"))])).issues;
    expect(issue?.message).toBe(
      'anti-affinity grouping "g" mixes servers ("s") and volumes ("v"); keeping a server apart from a volume means nothing',
    );
    expect(issue?.hint).toBe("split it into one grouping of servers and one of volumes");
  });
});

describe("zone pins", () => {
  it("reports members pinned to different zones but tied together", () => {
    const result = validateSpec(
      cluster(
        [server("a", { zone: "az1" }), server("b"), server("c", { zone: "az2" })],
        [grouping("ab", ["a", "b"], affinity("rack")), grouping("bc", ["b", "c"], affinity("zone"))],
      ),
    );
    expect(result.issues).toEqual([
      {
        code: "zone_pin_conflict",
        path: "instances[2].spec.zone",
        message:
          '"a" is pinned to zone "az1" and "c" to zone "az2", but groupings "ab" (affinity, rack) and "bc" (affinity, zone) put them in one zone through "b"',
        hint: 'pin them to the same zone or drop one pin, or relax one of "ab" or "bc" to enforcement: soft',
        cluster: "c",
        names: ["a", "az1", "c", "az2", "ab", "bc", "b"],
      },
    ]);
  });

  it("reports a volume attached to a server pinned elsewhere", () => {
    const result = validateSpec(cluster([server("s", { zone: "az1" }), volume("v", { zone: "az2", attachTo: "s" })]));
    expect(result.issues.map((i) => [i.code, i.path, i.message])).toEqual([
      [
        "zone_pin_conflict",
        "instances[1].spec.zone",
        '"s" is pinned to zone "az1" and "v" to zone "az2", but the attachment of "v" to "s" puts them in one zone',
      ],
    ]);
  });

  it("reports zone anti-affinity members pinned to one zone beyond maxPerDomain", () => {
    const members = [
      server("a", { zone: "az1" }),
      server("b", { zone: "az1" }),
      server("c"),
      server("d", { zone: "az2" }),
    ];
    const result = validateSpec(
      cluster(members, [
        grouping("cd", ["c", "a"], affinity("zone")),
        grouping("zones", ["a", "b", "c", "d"], anti("zone", 2)),
      ]),
    );
    expect(result.issues.map((i) => [i.code, i.path, i.message])).toEqual([
      [
        "zone_pin_conflict",
        "groupings[1]",
        '"a", "b" and "c" of "zones" (anti-affinity, zone) are pinned to zone "az1" (some through hard affinity), but it allows at most 2 per zone',
      ],
    ]);
  });

  it("allows pins within maxPerDomain, and different pins in a soft affinity", () => {
    const members = [server("a", { zone: "az1" }), server("b", { zone: "az1" }), server("c", { zone: "az2" })];
    expect(validateSpec(cluster(members, [grouping("zones", ["a", "b", "c"], anti("zone", 2))])).issues).toEqual([]);
    expect(validateSpec(cluster(members, [grouping("soft", ["a", "c"], affinity("host", "soft"))])).issues).toEqual([]);
  });

  it("does not report the same conflict twice as a pin conflict", () => {
    const members = [server("a", { zone: "az1" }), server("b", { zone: "az1" })];
    const result = validateSpec(
      cluster(members, [grouping("tie", ["a", "b"], affinity("zone")), grouping("zones", ["a", "b"], anti("zone"))]),
    );
    expect(codes(result)).toEqual(["affinity_vs_anti_affinity groupings[1]"]);
  });
});

describe("findContradictions on a normalized spec", () => {
  const g = (name: string, members: string[], rest: Partial<Grouping>): Grouping => ({
    name,
    members,
    rule: "affinity",
    scope: "host",
    enforcement: "hard",
    weight: 50,
    maxPerDomain: 1,
    ...rest,
  });

  it("uses groupings[i] paths that count only the user's groupings", () => {
    const spec: ClusterSpec = {
      name: "n",
      members: [
        { type: "server", name: "s1", imageRef: "i", flavorRef: "f" },
        { type: "server", name: "s2", imageRef: "i", flavorRef: "f" },
        { type: "volume", name: "v", sizeGb: 1, attachTo: "s1" },
      ],
      groupings: [
        g("zones", ["s1", "s2"], { rule: "anti-affinity", scope: "zone" }),
        g("mixed", ["s2", "v"], { rule: "anti-affinity" }),
        g("attach:v", ["s1", "v"], { scope: "zone", implied: true }),
        g("v-s2", ["v", "s2"], { scope: "zone" }),
        g("late", ["s1", "s2"], { rule: "anti-affinity", scope: "zone", enforcement: "hard" }),
      ],
    };
    expect(formatIssues(findContradictions(spec))).toMatchInlineSnapshot(`
      "  groupings[0]: cluster "n": the attachment of "v" to "s1" and "v-s2" (affinity, zone) put "s1" and "s2" in one zone through "v", but "zones" (anti-affinity, zone) wants them in different zones (hint: relax one of "zones" or "v-s2" to enforcement: soft, remove the attachTo of "v", or raise maxPerDomain of "zones" to 2)
        groupings[1]: cluster "n": anti-affinity grouping "mixed" mixes servers ("s2") and volumes ("v"); keeping a server apart from a volume means nothing (hint: split it into one grouping of servers and one of volumes)
        groupings[3]: cluster "n": the attachment of "v" to "s1" and "v-s2" (affinity, zone) put "s1" and "s2" in one zone through "v", but "late" (anti-affinity, zone) wants them in different zones (hint: relax one of "late" or "v-s2" to enforcement: soft, remove the attachTo of "v", or raise maxPerDomain of "late" to 2)"
    `);
  });
});

describe("scale", () => {
  const members = (n: number): Member[] =>
    Array.from({ length: n }, (_, i) => ({ type: "server" as const, name: `m-${i}`, imageRef: "i", flavorRef: "f" }));
  const base = { weight: 50, maxPerDomain: 1, enforcement: "hard" as const };

  it("checks 100,000 members in 10,000 groupings", () => {
    const n = 100_000;
    const groupings: Grouping[] = Array.from({ length: 10_000 }, (_, k) => ({
      ...base,
      name: `g-${k}`,
      // Affinity pairs inside blocks of ten; anti-affinity across blocks.
      members:
        k % 2 === 0
          ? [`m-${k * 10}`, `m-${k * 10 + 1}`]
          : Array.from({ length: 10 }, (_, j) => `m-${((k * 10 + j * 10) % n) + 2}`),
      rule: k % 2 === 0 ? ("affinity" as const) : ("anti-affinity" as const),
      scope: "host" as const,
    }));
    const issues = findContradictions({ name: "big", members: members(n), groupings });
    expect(issues).toEqual([]);
  });

  it("stays bounded when thousands of anti-affinity pairs sit on one long affinity chain", () => {
    const n = 20_000;
    const chain: Grouping[] = Array.from({ length: n - 1 }, (_, i) => ({
      ...base,
      name: `link-${i}`,
      members: [`m-${i}`, `m-${i + 1}`],
      rule: "affinity" as const,
      scope: "host" as const,
    }));
    const apart: Grouping[] = Array.from({ length: 5_000 }, (_, k) => ({
      ...base,
      name: `apart-${k}`,
      members: [`m-${k}`, `m-${n - 1 - k}`],
      rule: "anti-affinity" as const,
      scope: "zone" as const,
    }));
    const issues = findContradictions({ name: "chain", members: members(n), groupings: [...chain, ...apart] });
    expect(issues).toHaveLength(5_000);
    expect(new Set(issues.map((i) => i.path)).size).toBe(5_000);
  });
});
