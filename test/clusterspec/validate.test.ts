import { describe, expect, it } from "vitest";
import { ISSUE_CODES, LIMITS, parseSpecText, UNKNOWN, validateParsed, validateSpec } from "../../provider/clusterspec";
import { blueprint, cluster, codes, grouping, server, servers, volume } from "../support/clusterspec";

const ok = cluster(servers("a", "b"), [grouping("g", ["a", "b"])]);

/** One row per issue code: a small input that must produce exactly that issue at that path. */
const everyCode: { code: string; input: unknown; text?: [string, "json" | "yaml"]; path: string }[] = [
  { code: "invalid_type", input: cluster([server("a", { flavorRef: 5 })]), path: "instances[0].spec.flavorRef" },
  {
    code: "invalid_value",
    input: cluster(servers("a", "b"), [grouping("g", ["a", "b"], { rule: "afinity" })]),
    path: "groupings[0].spec.rule",
  },
  {
    code: "missing_field",
    input: cluster([{ name: "a", type: "server", spec: { imageRef: "i" } }]),
    path: "instances[0].spec.flavorRef",
  },
  {
    code: "unknown_field",
    input: cluster([server("a", { flavourRef: "m1.small" })]),
    path: "instances[0].spec.flavourRef",
  },
  {
    code: "duplicate_field",
    input: cluster([server("a", { keyName: "k", key_name: "k" })]),
    path: "instances[0].spec.key_name",
  },
  { code: "too_small", input: cluster([volume("v", { size: 0 })]), path: "instances[0].spec.size" },
  { code: "too_big", input: cluster([volume("v", { size: 1_000_001 })]), path: "instances[0].spec.size" },
  { code: "invalid_json", input: undefined, text: ['{"name": "c",, }', "json"], path: "" },
  { code: "invalid_yaml", input: undefined, text: ["name: c\n  instances: [", "yaml"], path: "" },
  {
    code: "duplicate_key",
    input: undefined,
    text: ['{"name": "c", "name": "d", "instances": []}', "json"],
    path: "name",
  },
  { code: "duplicate_member", input: cluster(servers("a", "a")), path: "instances[1].name" },
  {
    code: "duplicate_grouping",
    input: cluster(servers("a", "b", "c"), [grouping("g", ["a", "b"]), grouping("g", ["b", "c"])]),
    path: "groupings[1].name",
  },
  {
    code: "unknown_member",
    input: cluster(servers("a", "b"), [grouping("g", ["a", "bb"])]),
    path: "groupings[0].membersRef[1]",
  },
  {
    code: "duplicate_member_ref",
    input: cluster(servers("a", "b"), [grouping("g", ["a", "b", "a"])]),
    path: "groupings[0].membersRef[2]",
  },
  {
    code: "attach_to_non_server",
    input: cluster([volume("v"), volume("w", { attachTo: "v" })]),
    path: "instances[1].spec.attachTo",
  },
  {
    code: "attach_to_unknown",
    input: cluster([server("a"), volume("v", { attachTo: "b" })]),
    path: "instances[1].spec.attachTo",
  },
  {
    code: "rule_not_for_volumes",
    input: cluster([server("a"), volume("v")], [grouping("g", ["a", "v"], { rule: "anti-affinity" })]),
    path: "groupings[0]",
  },
  {
    code: "option_not_for_rule",
    input: cluster(servers("a", "b"), [grouping("g", ["a", "b"], { rule: "affinity", maxPerDomain: 2 })]),
    path: "groupings[0].spec.maxPerDomain",
  },
  {
    code: "grouping_too_small",
    input: cluster(servers("a", "b"), [grouping("g", ["a"])]),
    path: "groupings[0].membersRef",
  },
  {
    code: "affinity_vs_anti_affinity",
    input: cluster(servers("a", "b"), [
      grouping("t", ["a", "b"]),
      grouping("apart", ["a", "b"], { rule: "anti-affinity" }),
    ]),
    path: "groupings[1]",
  },
  {
    code: "anti_affinity_over_capacity",
    input: cluster(servers("a", "b", "c"), [
      grouping("t", ["a", "b", "c"]),
      grouping("q", ["a", "b", "c"], { rule: "anti-affinity", maxPerDomain: 2 }),
    ]),
    path: "groupings[1]",
  },
  {
    code: "zone_pin_conflict",
    input: cluster(
      [server("a", { zone: "az1" }), server("b", { zone: "az2" })],
      [grouping("t", ["a", "b"], { rule: "affinity", scope: "zone" })],
    ),
    path: "instances[1].spec.zone",
  },
];

describe("validateSpec: every issue code", () => {
  it("covers every code in ISSUE_CODES", () => {
    expect(new Set(everyCode.map((r) => r.code))).toEqual(new Set(ISSUE_CODES));
  });

  it.each(everyCode)("$code at $path", ({ code, input, text, path }) => {
    const result = text ? validateParsed(parseSpecText(text[0], text[1])) : validateSpec(input);
    expect(result.spec).toBeUndefined();
    expect(codes(result)).toContain(`${code} ${path}`);
    const issue = result.issues.find((i) => i.code === code);
    expect(issue?.message.length).toBeGreaterThan(10);
  });
});

describe("validateSpec: valid input", () => {
  it("returns the normalized spec and no issues", () => {
    const result = validateSpec(ok);
    expect(result.issues).toEqual([]);
    expect(result.hasUnknowns).toBe(false);
    expect(result.spec?.members.map((m) => m.name)).toEqual(["a", "b"]);
  });

  it("takes the cluster name from the options when the input has none", () => {
    const { name: _n, ...noName } = ok;
    expect(validateSpec(noName, { name: "from-pulumi" }).spec?.name).toBe("from-pulumi");
    expect(codes(validateSpec(noName))).toEqual(["missing_field name"]);
    expect(codes(validateSpec({ vcluster: noName }))).toEqual(["missing_field vcluster.name"]);
  });

  it("prefers the input's name over the option", () => {
    expect(validateSpec(ok, { name: "other" }).spec?.name).toBe("c");
  });

  it("accepts unicode names", () => {
    const result = validateSpec(
      cluster(
        servers("datenbank-ü", "数据库-2", "🚀"),
        [grouping("gruppe-α", ["datenbank-ü", "数据库-2"])],
        "クラスタ",
      ),
    );
    expect(result.issues).toEqual([]);
    expect(result.spec?.name).toBe("クラスタ");
  });
});

describe("validateSpec: names", () => {
  it.each([
    ["empty", "", "too_small"],
    ["too long", "x".repeat(256), "too_big"],
    ["a line break", "db\n1", "invalid_value"],
    ["a tab", "db\t1", "invalid_value"],
    ["a C1 control", "db\u00851", "invalid_value"],
    ["leading space", " db", "invalid_value"],
    ["trailing space", "db ", "invalid_value"],
    ["not a string", 7, "invalid_type"],
  ])("rejects a member name with %s", (_what, name, code) => {
    expect(codes(validateSpec(cluster([server(name as string)])))).toContain(`${code} instances[0].name`);
  });

  it("allows 255 characters", () => {
    expect(validateSpec(cluster([server("x".repeat(255))])).issues).toEqual([]);
  });

  it("names both occurrences of a duplicate member and of a duplicate grouping", () => {
    const result = validateSpec(
      cluster(servers("a", "b", "a"), [
        grouping("g", ["a", "b"]),
        grouping("g", ["a", "b"], { rule: "anti-affinity", scope: "rack", enforcement: "soft" }),
      ]),
    );
    const messages = result.issues.filter((i) => i.code.startsWith("duplicate_")).map((i) => i.message);
    expect(messages).toEqual([
      'grouping name "g" is used by both groupings[0] and groupings[1]',
      'member name "a" is used by both instances[0] and instances[2]',
    ]);
  });

  it("reserves the attach: prefix for implied groupings", () => {
    expect(codes(validateSpec(cluster(servers("a", "b"), [grouping("attach:x", ["a", "b"])])))).toEqual([
      "invalid_value groupings[0].name",
    ]);
  });

  it("suggests a close member name for an unknown reference", () => {
    const result = validateSpec(
      cluster(servers("db-server-1", "db-server-2"), [grouping("g", ["db-server-1", "db-sever-2"])]),
    );
    expect(result.issues[0]?.hint).toBe('did you mean "db-server-2"?');
  });

  it("reports an unknown member in a grouping that is otherwise wrong, too", () => {
    const result = validateSpec(cluster(servers("a", "b"), [grouping("g", ["a", "x"], { rule: "nope" })]));
    expect(codes(result)).toEqual([
      "unknown_member groupings[0].membersRef[1]",
      "invalid_value groupings[0].spec.rule",
    ]);
  });
});

describe("validateSpec: shapes", () => {
  it.each([
    ["null", null, "invalid_type "],
    ["an array", [], "invalid_type "],
    ["a string", "spec", "invalid_type "],
    ["no instances", { name: "c" }, "missing_field instances"],
    ["empty instances", cluster([]), "too_small instances"],
    ["instances as an object", cluster({ instance: server("a") }), "invalid_type instances"],
    ["a number as an instance", cluster([1]), "invalid_type instances[0]"],
    ["an instance without type", cluster([{ name: "a", spec: {} }]), "missing_field instances[0].type"],
    ["a wrong type", cluster([{ name: "a", type: "vm", spec: {} }]), "invalid_value instances[0].type"],
    ["a server without spec", cluster([{ name: "a", type: "server" }]), "missing_field instances[0].spec"],
    ["a fractional size", cluster([volume("v", { size: 1.5 })]), "invalid_type instances[0].spec.size"],
    ["a NaN size", cluster([volume("v", { size: Number.NaN })]), "invalid_type instances[0].spec.size"],
    [
      "an infinite size",
      cluster([volume("v", { size: Number.POSITIVE_INFINITY })]),
      "invalid_type instances[0].spec.size",
    ],
    ["a huge integer size", cluster([volume("v", { size: 1e300 })]), "too_big instances[0].spec.size"],
    ["a string size (args form)", cluster([volume("v", { size: "10" })]), "invalid_type instances[0].spec.size"],
    [
      "a non-numeric string size",
      blueprint([volume("v", { size: "ten" })]),
      "invalid_type vcluster.instances[0].spec.size",
    ],
    ["networks not a list", cluster([server("a", { networks: "net" })]), "invalid_type instances[0].spec.networks"],
    [
      "metadata not strings",
      cluster([server("a", { metadata: { k: 1 } })]),
      "invalid_type instances[0].spec.metadata.k",
    ],
    [
      "membersRef as a string",
      cluster(servers("a", "b"), [grouping("g", '["a", "b"]')]),
      "invalid_type groupings[0].membersRef",
    ],
    [
      "a weight of 0",
      cluster(servers("a", "b"), [grouping("g", ["a", "b"], { rule: "affinity", weight: 0 })]),
      "too_small groupings[0].spec.weight",
    ],
    [
      "a weight of 101",
      cluster(servers("a", "b"), [grouping("g", ["a", "b"], { rule: "affinity", weight: 101 })]),
      "too_big groupings[0].spec.weight",
    ],
    [
      "maxPerDomain 0",
      cluster(servers("a", "b"), [grouping("g", ["a", "b"], { rule: "anti-affinity", maxPerDomain: 0 })]),
      "too_small groupings[0].spec.maxPerDomain",
    ],
    [
      "maxPerDomain 10001",
      cluster(servers("a", "b"), [grouping("g", ["a", "b"], { rule: "anti-affinity", maxPerDomain: 10_001 })]),
      "too_big groupings[0].spec.maxPerDomain",
    ],
    [
      "a wrong scope",
      cluster(servers("a", "b"), [grouping("g", ["a", "b"], { rule: "affinity", scope: "region" })]),
      "invalid_value groupings[0].spec.scope",
    ],
    [
      "a grouping without spec",
      cluster(servers("a", "b"), [{ name: "g", membersRef: ["a", "b"] }]),
      "missing_field groupings[0].spec",
    ],
    [
      "a grouping without rule",
      cluster(servers("a", "b"), [grouping("g", ["a", "b"], {})]),
      "missing_field groupings[0].spec.rule",
    ],
    [
      "an empty membersRef",
      cluster(servers("a", "b"), [grouping("g", [])]),
      "grouping_too_small groupings[0].membersRef",
    ],
    ["an unknown top-level field", { ...ok, extra: 1 }, "unknown_field extra"],
    ["an unknown blueprint root field", { vcluster: ok, extra: 1 }, "unknown_field extra"],
    ["vcluster not an object", { vcluster: [] }, "invalid_type vcluster"],
  ])("%s", (_what, input, expected) => {
    expect(codes(validateSpec(input))).toContain(expected);
  });

  it("suggests the field a typo meant, at every level", () => {
    const result = validateSpec({
      name: "c",
      Instances: [],
      instances: [
        { name: "a", type: "server", spec: { imageRef: "i", flavorref: "f" } },
        { name: "v", type: "volume", spec: { size: 1, volumetype: "ssd", attach_to: "a" } },
      ],
      groupings: [{ name: "g", membersref: ["a", "v"], spec: { rule: "affinity", maxPerdomain: 1 } }],
    });
    const hints = Object.fromEntries(
      result.issues.filter((i) => i.code === "unknown_field").map((i) => [i.path, i.hint]),
    );
    expect(hints).toEqual({
      Instances: 'did you mean "instances"?',
      "instances[0].spec.flavorref": 'did you mean "flavorRef"?',
      "instances[1].spec.volumetype": 'did you mean "volumeType"?',
      "instances[1].spec.attach_to": 'did you mean "attachTo"?',
      "groupings[0].membersref": 'did you mean "membersRef"?',
      "groupings[0].spec.maxPerdomain": 'did you mean "maxPerDomain"?',
    });
  });

  it("lists the allowed fields when nothing is close", () => {
    const issue = validateSpec(cluster([server("a", { colour: "red" })])).issues[0];
    expect(issue?.hint).toBe(
      'allowed here: "imageRef", "flavorRef", "zone", "networks", "keyName", "securityGroups", "userData", "metadata"',
    );
  });

  it("reports every problem at once, across elements", () => {
    const result = validateSpec(
      cluster(
        [
          server("a", { flavorRef: 1 }),
          volume("v", { size: -1, attachTo: "zz" }),
          { name: "b", type: "server", spec: { imageRef: "i" } },
        ],
        [grouping("g", ["a", "nobody"]), grouping("h", ["a"], { rule: "proximity", scope: "planet" })],
      ),
    );
    expect(codes(result)).toEqual([
      "unknown_member groupings[0].membersRef[1]",
      "grouping_too_small groupings[1].membersRef",
      "invalid_value groupings[1].spec.scope",
      "invalid_type instances[0].spec.flavorRef",
      "attach_to_unknown instances[1].spec.attachTo",
      "too_small instances[1].spec.size",
      "missing_field instances[2].spec.flavorRef",
    ]);
  });

  it("refuses arrays beyond the limits with one issue, without looking at every element", () => {
    const many = Array.from({ length: LIMITS.members + 1 }, () => 0);
    expect(codes(validateSpec(cluster(many)))).toEqual(["too_big instances"]);
    const groupings = Array.from({ length: LIMITS.groupings + 1 }, () => 0);
    expect(codes(validateSpec(cluster(servers("a"), groupings)))).toEqual(["too_big groupings"]);
  });
});

describe("validateSpec: blueprint form", () => {
  it("prefixes paths with vcluster.", () => {
    expect(codes(validateSpec(blueprint([server("a", { flavorRef: 1 })])))).toEqual([
      "invalid_type vcluster.instances[0].spec.flavorRef",
    ]);
  });

  it("accepts a size written as a string of digits, and block-storage", () => {
    const result = validateSpec(
      blueprint([{ name: "v", type: "block-storage", spec: { size: "10", volume_type: "" } }]),
    );
    expect(result.issues).toEqual([]);
    expect(result.spec?.members).toEqual([{ type: "volume", name: "v", sizeGb: 10 }]);
  });

  it("rejects a single {instance: …} object, with the array hint", () => {
    const issue = validateSpec(blueprint({ instance: server("a") })).issues[0];
    expect(issue).toEqual({
      code: "invalid_type",
      path: "vcluster.instances",
      message: '"instances" must be an array, got an object',
      hint: 'write an array: "instances": [ {...}, {...} ]',
      cluster: "c",
    });
  });
});

describe("validateSpec: unknowns during preview", () => {
  const U = UNKNOWN;
  it.each([
    ["the whole input", U],
    ["the body", { vcluster: U }],
    ["instances", cluster(U)],
    ["groupings", cluster(servers("a", "b"), U)],
    ["an instance", cluster([U, server("a")])],
    ["a member name", cluster([server(U), server("a")], [grouping("g", [U, "a"])])],
    ["a flavorRef", cluster([server("a", { flavorRef: U })])],
    ["a spec", cluster([{ name: "a", type: "server", spec: U }])],
    ["a size", cluster([volume("v", { size: U })])],
    ["a type", cluster([{ name: "a", type: U, spec: { size: 1 } }])],
    ["membersRef", cluster(servers("a", "b"), [grouping("g", U)])],
    ["a membersRef entry", cluster(servers("a", "b"), [grouping("g", ["a", U])])],
    ["a rule", cluster(servers("a", "b"), [grouping("g", ["a", "b"], { rule: U })])],
    [
      "a maxPerDomain",
      cluster(servers("a", "b"), [grouping("g", ["a", "b"], { rule: "anti-affinity", maxPerDomain: U })]),
    ],
    ["metadata", cluster([server("a", { metadata: U })])],
  ])("tolerates UNKNOWN as %s", (_what, input) => {
    const result = validateSpec(input, { name: "c", tolerateUnknowns: true });
    expect(result).toEqual({ issues: [], hasUnknowns: true });
  });

  it("still reports what is known", () => {
    const result = validateSpec(
      cluster(
        [server("a", { flavorRef: UNKNOWN }), server("b", { imageRef: 3 })],
        [grouping("g", ["a", "c"]), grouping("h", ["a", UNKNOWN])],
      ),
      { tolerateUnknowns: true },
    );
    expect(result.hasUnknowns).toBe(true);
    expect(codes(result)).toEqual([
      "unknown_member groupings[0].membersRef[1]",
      "invalid_type instances[1].spec.imageRef",
    ]);
  });

  it("skips unknown-member checks when some member name is unknown", () => {
    const result = validateSpec(cluster([server("a"), server(UNKNOWN)], [grouping("g", ["a", "b"])]), {
      tolerateUnknowns: true,
    });
    expect(result.issues).toEqual([]);
  });

  it("still finds contradictions among the known rules", () => {
    const result = validateSpec(
      cluster(
        [server("a"), server("b"), server("c", { zone: UNKNOWN })],
        [
          grouping("t", ["a", "b"]),
          grouping("apart", ["a", "b", UNKNOWN], { rule: "anti-affinity" }),
          grouping("u", ["b", "c"], { rule: UNKNOWN }),
        ],
      ),
      { tolerateUnknowns: true },
    );
    expect(codes(result)).toEqual(["affinity_vs_anti_affinity groupings[1]"]);
  });

  it("treats UNKNOWN as an ordinary string without tolerateUnknowns", () => {
    const result = validateSpec(cluster([server("a", { flavorRef: UNKNOWN })]));
    expect(result.hasUnknowns).toBe(false);
    expect(result.spec?.members[0]).toMatchObject({ flavorRef: UNKNOWN });
  });

  it("builds the spec when tolerating but nothing is unknown", () => {
    const result = validateSpec(ok, { tolerateUnknowns: true });
    expect(result.hasUnknowns).toBe(false);
    expect(result.spec).toBeDefined();
  });
});

describe("validateSpec: scale", () => {
  it("validates 100,000 members in 10,000 groupings", () => {
    const n = 100_000;
    const instances = Array.from({ length: n }, (_, i) =>
      i % 2 === 0 ? server(`s-${i}`) : volume(`v-${i}`, { attachTo: `s-${i - 1}` }),
    );
    const groupings = Array.from({ length: 10_000 }, (_, g) =>
      grouping(
        `g-${g}`,
        Array.from({ length: 10 }, (_, k) => `s-${((g * 10 + k) * 2) % n}`),
        g % 2 === 0
          ? { rule: "anti-affinity", scope: "host" }
          : { rule: "affinity", scope: "zone", enforcement: "soft" },
      ),
    );
    const result = validateSpec(cluster(instances, groupings));
    expect(result.issues).toEqual([]);
    expect(result.spec?.members).toHaveLength(n);
    expect(result.spec?.groupings).toHaveLength(10_000 + n / 2);
  });

  it("reports 10,000 unknown references without trouble", () => {
    const instances = Array.from({ length: 10_000 }, (_, i) => server(`member-${i}`));
    const refs = Array.from({ length: 10_000 }, (_, i) => `membr-${i}`);
    const result = validateSpec(cluster(instances, [grouping("g", refs)]));
    expect(result.issues.filter((i) => i.code === "unknown_member")).toHaveLength(10_000);
  });
});
