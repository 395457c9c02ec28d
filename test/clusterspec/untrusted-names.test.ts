// What the user's own text can do to messages and to the model: issues are data until the edge
// (the cluster's name added once, where they are printed), control and bidi characters never
// reach the output raw, and names that are special to JS objects are either carried as data
// or refused by name.
import { describe, expect, it } from "vitest";
import { jsonMode } from "../../provider/cli/failure";
import { reportSpecIssues } from "../../provider/cli/load";
import {
  type ClusterSpec,
  formatIssues,
  parseSpecText,
  type SpecIssue,
  validateParsed,
  validateSpec,
} from "../../provider/clusterspec";
import { escapeControls, escapeJsonText, quote } from "../../provider/model/text";
import { failuresFrom, specProblems } from "../../provider/pulumi/props";
import { cluster, codes, grouping, server, servers, volume } from "../support/clusterspec";

/** C0/C1 controls, DEL, bidi controls, line/paragraph separators: none may be printed raw. */
const UNSAFE = /[\p{Cc}\p{Bidi_Control}\u2028\u2029]/u;
const ESC = "\u001b[31m";
const RLO = "\u202e";
const NUL = "\u0000";

function expectPrintable(text: string): void {
  for (const line of text.split("\n")) expect(line).not.toMatch(UNSAFE);
}

describe("issues are data; the edges name the cluster", () => {
  const result = validateSpec(cluster(servers("a", "a"), [grouping("g", ["a", "nobody"])], "lc"));

  it("messages carry no cluster prefix; the name travels as data, with the names involved", () => {
    expect(result.issues).toEqual([
      {
        code: "unknown_member",
        path: "groupings[0].membersRef[1]",
        message: 'grouping "g" names "nobody", which is not a member of the cluster',
        hint: 'members are "a"; add an instance named "nobody" or remove it here',
        cluster: "lc",
        names: ["g", "nobody"],
      },
      {
        code: "duplicate_member",
        path: "instances[1].name",
        message: 'member name "a" is used by both instances[0] and instances[1]',
        hint: "give each member its own name",
        cluster: "lc",
        names: ["a"],
      },
    ]);
    for (const i of result.issues) expect(i.message).not.toMatch(/cluster "/);
  });

  it("the command's lines name it once each, after the path", () => {
    expect(formatIssues(result.issues)).toMatchInlineSnapshot(`
      "  groupings[0].membersRef[1]: cluster "lc": grouping "g" names "nobody", which is not a member of the cluster (hint: members are "a"; add an instance named "nobody" or remove it here)
        instances[1].name: cluster "lc": member name "a" is used by both instances[0] and instances[1] (hint: give each member its own name)"
    `);
  });

  it("the provider's reasons name it once, first; the thrown error names it once, in its head", () => {
    expect(failuresFrom("lc", result.issues).map((f) => f.reason)).toMatchInlineSnapshot(`
      [
        "cluster "lc": groupings[0].membersRef[1]: grouping "g" names "nobody", which is not a member of the cluster (hint: members are "a"; add an instance named "nobody" or remove it here)",
        "cluster "lc": instances[1].name: member name "a" is used by both instances[0] and instances[1] (hint: give each member its own name)",
      ]
    `);
    expect(specProblems("lc", result.issues)).toMatchInlineSnapshot(`
      "cluster "lc": 2 problems in the spec:
        groupings[0].membersRef[1]: grouping "g" names "nobody", which is not a member of the cluster (hint: members are "a"; add an instance named "nobody" or remove it here)
        instances[1].name: member name "a" is used by both instances[0] and instances[1] (hint: give each member its own name)"
    `);
  });

  it("the name comes from the options when the input has none, and is absent when nobody knows it", () => {
    const named = validateSpec({ instances: servers("a", "a") }, { name: "from-pulumi" });
    expect(named.issues.map((i) => i.cluster)).toEqual(["from-pulumi"]);
    const anonymous = validateSpec({ instances: servers("a", "a") });
    expect(anonymous.issues.every((i) => i.cluster === undefined)).toBe(true);
    expect(formatIssues(anonymous.issues)).not.toContain('cluster "');
    expect(failuresFrom(undefined, named.issues)[0]?.reason).toMatch(/^cluster "from-pulumi": instances\[1\]\.name: /);
  });

  it("contradictions found on a normalized spec carry the name too", () => {
    const result = validateSpec(
      cluster(servers("a", "b"), [
        grouping("tie", ["a", "b"]),
        grouping("apart", ["a", "b"], { rule: "anti-affinity" }),
      ]),
    );
    expect(result.issues.map((i) => [i.cluster, i.message.startsWith("grouping ")])).toEqual([["c", true]]);
  });
});

describe("quote", () => {
  it.each([
    ["plain", "db-1", '"db-1"'],
    ["ESC sequence", ESC, '"\\u001b[31m"'],
    ["right-to-left override", `a${RLO}b`, '"a\\u202eb"'],
    ["NUL", `a${NUL}b`, '"a\\u0000b"'],
    ["C1 control (NEL)", "a\u0085b", '"a\\u0085b"'],
    ["DEL", "a\u007fb", '"a\\u007fb"'],
    ["bidi isolate and mark", "\u2066x\u2069\u200f", '"\\u2066x\\u2069\\u200f"'],
    ["line separator", "a\u2028b", '"a\\u2028b"'],
    ["line break and tab", "a\nb\tc", '"a\\nb\\tc"'],
    ["quote and backslash", 'a"b\\c', '"a\\"b\\\\c"'],
    ["non-ASCII letters stay", "zürich-区", '"zürich-区"'],
  ])("%s", (_what, name, expected) => {
    expect(quote(name)).toBe(expected);
    expect(quote(name)).not.toMatch(UNSAFE);
  });

  it("escapeControls leaves quote's output as it is, and keeps line breaks only when asked", () => {
    expect(escapeControls(quote(ESC))).toBe(quote(ESC));
    expect(escapeControls(`a\n${RLO}`)).toBe("a\\u000a\\u202e");
    expect(escapeControls(`a\n${RLO}`, { lines: true })).toBe("a\n\\u202e");
  });

  it("escapeJsonText keeps the data and the layout", () => {
    const value = { names: [`a${RLO}b`, "c\u0085", ESC] };
    const text = escapeJsonText(JSON.stringify(value, null, 2));
    expectPrintable(text);
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe("control and bidi characters never reach a message raw", () => {
  it("a bidi override in member and grouping names (names may hold one) is escaped wherever they are quoted", () => {
    const m = `db${RLO}1`;
    const g = `spread${RLO}`;
    const result = validateSpec(
      cluster(
        [server(m), server("b"), server(m), volume("v", { attachTo: `x${RLO}` })],
        [grouping(g, [m, "b"]), grouping("apart", [m, "b"], { rule: "anti-affinity" }), grouping("one", [`y${RLO}`])],
        `shop${RLO}`,
      ),
    );
    expect(codes(result)).toEqual([
      "affinity_vs_anti_affinity groupings[1]",
      "grouping_too_small groupings[2].membersRef",
      "unknown_member groupings[2].membersRef[0]",
      "duplicate_member instances[2].name",
      "attach_to_unknown instances[3].spec.attachTo",
    ]);
    for (const i of result.issues) {
      expect(`${i.message} ${i.hint}`).not.toMatch(UNSAFE);
      expect(i.cluster).toBe(`shop${RLO}`);
    }
    // The data keeps the names as written; the text shows them escaped.
    expect(result.issues[3]?.names).toEqual([m]);
    expect(result.issues[3]?.message).toBe('member name "db\\u202e1" is used by both instances[0] and instances[2]');
    const text = formatIssues(result.issues);
    expectPrintable(text);
    expect(text).toContain(
      'cluster "shop\\u202e": grouping "spread\\u202e" (affinity, host) puts "db\\u202e1" and "b"',
    );
    for (const f of failuresFrom(`shop${RLO}`, result.issues)) {
      expect(f.reason).not.toMatch(UNSAFE);
      expect(f.reason.startsWith('cluster "shop\\u202e": ')).toBe(true);
    }
  });

  it("zones with ESC or NUL are refused where they stand; one with U+202E reaches contradictions escaped", () => {
    for (const zone of [ESC, `az${NUL}1`, `az${RLO}1`]) {
      const result = validateSpec(
        cluster(
          [server("a", { zone }), server("b", { zone: "az2" })],
          [
            grouping("tie", ["a", "b"], {
              rule: "affinity",
              scope: "zone",
            }),
          ],
        ),
      );
      if (zone.includes(RLO)) {
        expect(codes(result)).toEqual(["zone_pin_conflict instances[1].spec.zone"]);
        expect((result.issues[0] as SpecIssue).message).toContain(`zone ${quote(zone)}`);
      } else {
        expect(codes(result)).toEqual(["invalid_value instances[0].spec.zone"]);
      }
      expectPrintable(formatIssues(result.issues));
    }
  });

  it("a cluster name from Pulumi with controls in it is escaped in every head", () => {
    const name = `c${ESC}${NUL}${RLO}`;
    const result = validateSpec({ name, instances: servers("a", "a") }, { name });
    // The name itself is refused (control characters), and still names the cluster, escaped.
    expect(codes(result)).toEqual(["duplicate_member instances[1].name", "invalid_value name"]);
    const text = formatIssues(result.issues);
    expectPrintable(text);
    expect(text).toContain('cluster "c\\u001b[31m\\u0000\\u202e": ');
    for (const f of failuresFrom(name, result.issues)) expect(f.reason).not.toMatch(UNSAFE);
    expectPrintable(specProblems(name, result.issues));
  });

  it("keys and values echoed by the shape checks are escaped at the edge", () => {
    const result = validateSpec(
      cluster(
        [server("a", { [`zone${ESC}`]: "x", networks: [`n${NUL}`] }), server("b")],
        [grouping("g", ["a", "b"], { rule: `affinity${RLO}` })],
      ),
    );
    expect(result.issues.length).toBeGreaterThan(1);
    expectPrintable(formatIssues(result.issues));
    for (const f of failuresFrom("c", result.issues)) expect(f.reason).not.toMatch(UNSAFE);
  });

  it("names with controls are refused without being echoed, and their references stay quiet", () => {
    for (const bad of [ESC, `a${NUL}`, "a\u0085"]) {
      const result = validateSpec(cluster([server(bad), server("b")], [grouping("g", [bad, "b"])]));
      expect(codes(result)).toEqual(["invalid_value groupings[0].membersRef[0]", "invalid_value instances[0].name"]);
      expectPrintable(formatIssues(result.issues));
    }
  });

  it("the command's JSON output is valid, exact and printable", () => {
    const result = validateSpec(cluster([server(`a${RLO}`), server(`a${RLO}`)], undefined, `c${RLO}`));
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), cwd: "/", env: {} };
    const run = jsonMode(io);
    run.finish(reportSpecIssues(run.io, `spec${ESC}.json`, result.issues));
    expectPrintable(out.join(""));
    const parsed = JSON.parse(out.join("")) as { error: { issues: SpecIssue[] } };
    expect(parsed.error.issues[0]?.names).toEqual([`a${RLO}`]);
    expect(parsed.error.issues[0]?.cluster).toBe(`c${RLO}`);
    err.length = 0;
    reportSpecIssues(io, `spec${ESC}.json`, result.issues);
    expectPrintable(err.join(""));
    expect(err.join("")).toContain("spec\\u001b[31m.json: 1 problem:");
  });
});

describe('"__proto__" and other names special to JS objects', () => {
  const PROTO = "__proto__";
  /** An object with an own key of that name (even "__proto__"), as JSON.parse and the YAML reader make them. */
  const ownKey = (key: string, value: unknown): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
    return o;
  };

  it('"__proto__" is refused as a member name, naming the field', () => {
    const result = validateSpec(cluster([server(PROTO), server("b")], [grouping("g", [PROTO, "b"])]));
    expect(result.spec).toBeUndefined();
    expect(codes(result)).toEqual(["invalid_value groupings[0].membersRef[0]", "invalid_value instances[0].name"]);
    expect(formatIssues(result.issues)).toMatchInlineSnapshot(`
      "  groupings[0].membersRef[0]: cluster "c": grouping "g" names "__proto__", which is reserved and can't be a member's name (hint: choose another name for that member)
        instances[0].name: cluster "c": member name "__proto__" is reserved: objects keyed by name, such as the cluster's state, can't hold it (hint: choose another name)"
    `);
  });

  it('"__proto__" is refused as a grouping name, in attachTo and as a metadata key', () => {
    const result = validateSpec(
      cluster(
        [
          server("a", { metadata: ownKey(PROTO, "x") }),
          server("b"),
          volume("v", { attachTo: PROTO, metadata: { ...ownKey(PROTO, "y"), k: "v" } }),
        ],
        [grouping(PROTO, ["a", "b"])],
      ),
    );
    expect(result.spec).toBeUndefined();
    expect(codes(result)).toEqual([
      "invalid_value groupings[0].name",
      "invalid_value instances[0].spec.metadata.__proto__",
      "invalid_value instances[2].spec.attachTo",
      "invalid_value instances[2].spec.metadata.__proto__",
    ]);
    expect(result.issues.map((i) => i.message)).toEqual([
      "grouping name \"__proto__\" is reserved: objects keyed by name, such as the cluster's state, can't hold it",
      'metadata key "__proto__" is reserved: it would be lost on the way to the cloud',
      'volume "v" is attached to "__proto__", which is reserved and can\'t be a member\'s name',
      'metadata key "__proto__" is reserved: it would be lost on the way to the cloud',
    ]);
  });

  it.each(["json", "yaml"] as const)(
    "a %s file with them is refused too (the readers keep the key as data)",
    (format) => {
      const text =
        format === "json"
          ? '{"name": "c", "instances": [{"name": "__proto__", "type": "server", "spec": {"imageRef": "i", "flavorRef": "f", "metadata": {"__proto__": "x"}}}, {"name": "b", "type": "server", "spec": {"imageRef": "i", "flavorRef": "f"}}], "groupings": [{"name": "__proto__", "membersRef": ["__proto__", "b"], "spec": {"rule": "affinity"}}]}'
          : [
              "name: c",
              "instances:",
              "  - {name: __proto__, type: server, spec: {imageRef: i, flavorRef: f, metadata: {__proto__: x}}}",
              "  - {name: b, type: server, spec: {imageRef: i, flavorRef: f}}",
              "groupings:",
              "  - {name: __proto__, membersRef: [__proto__, b], spec: {rule: affinity}}",
            ].join("\n");
      const result = validateParsed(parseSpecText(text, format));
      expect(result.spec).toBeUndefined();
      expect(codes(result)).toEqual([
        "invalid_value groupings[0].membersRef[0]",
        "invalid_value groupings[0].name",
        "invalid_value instances[0].name",
        "invalid_value instances[0].spec.metadata.__proto__",
      ]);
    },
  );

  it("the provider's check names the field", () => {
    const result = validateSpec({ instances: [server(PROTO)] }, { name: "lc" });
    expect(failuresFrom("lc", result.issues).map((f) => f.reason)).toEqual([
      'cluster "lc": instances[0].name: member name "__proto__" is reserved: objects keyed by name, such as the cluster\'s state, can\'t hold it (hint: choose another name)',
    ]);
  });

  const special = ["constructor", "toString", "hasOwnProperty", "valueOf", "__defineGetter__", "prototype"];

  it.each(special)(
    "%s is an ordinary name: member, grouping, rule, attachment and metadata key all carried through",
    (name) => {
      const result = validateSpec(
        cluster(
          [
            server(name, {
              zone: name,
              metadata: { ...ownKey(name, "m"), [name === "valueOf" ? "x" : "valueOf"]: "n" },
            }),
            server("other"),
            volume(`${name}-disk`, { attachTo: name }),
          ],
          [grouping(name, [name, "other"], { rule: "anti-affinity", scope: "host" })],
          name,
        ),
      );
      expect(result.issues).toEqual([]);
      const spec = result.spec as ClusterSpec;
      expect(spec.name).toBe(name);
      expect(spec.members.map((m) => m.name)).toEqual([name, "other", `${name}-disk`]);
      const first = spec.members[0];
      expect(first?.zone).toBe(name);
      expect(Object.hasOwn(first?.metadata ?? {}, name)).toBe(true);
      expect(first?.metadata?.[name]).toBe("m");
      expect(spec.groupings.map((g) => [g.name, g.members, g.rule, g.implied ?? false])).toEqual([
        [name, [name, "other"], "anti-affinity", false],
        [`attach:${name}-disk`, [name, `${name}-disk`], "affinity", true],
      ]);
    },
  );

  it.each(special)("%s takes part in contradictions and reference checks like any name", (name) => {
    const result = validateSpec(
      cluster(servers(name, "b"), [
        grouping("tie", [name, "b"]),
        grouping("apart", [name, "b"], { rule: "anti-affinity" }),
        grouping("typo", [`${name}x`, "b"]),
      ]),
    );
    expect(codes(result)).toEqual([
      "affinity_vs_anti_affinity groupings[1]",
      "unknown_member groupings[2].membersRef[0]",
    ]);
    expect(result.issues[1]?.hint).toBe(`did you mean ${quote(name)}?`);
    // A name that is not a member is not found on Object.prototype either.
    const missing = validateSpec(cluster(servers("a", "b"), [grouping("g", ["a", name])]));
    expect(codes(missing)).toEqual(["unknown_member groupings[0].membersRef[1]"]);
    const attach = validateSpec(cluster([server("a"), volume("v", { attachTo: name })]));
    expect(codes(attach)).toEqual(["attach_to_unknown instances[1].spec.attachTo"]);
  });
});
