// Names and references the cloud will see must be text it can carry: well-formed Unicode (a
// lone surrogate validated once, then every command that put the name in a URL failed with
// "URI malformed"), no control characters, and references that say something (not blank).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSpecText, type SpecIssue, validateParsed, validateSpec } from "../../provider/clusterspec";
import { isPlainName, nameSchema } from "../../provider/clusterspec/schema";
import { cluster, codes, grouping, server, volume } from "../support/clusterspec";

const LONE_HIGH = "\ud800";
const LONE_LOW = "\udc00";

function issueAt(issues: SpecIssue[], path: string): SpecIssue {
  const found = issues.find((i) => i.path === path);
  if (!found) throw new Error(`no issue at ${path}: ${JSON.stringify(issues)}`);
  return found;
}

describe("names must be well-formed Unicode", () => {
  it("a cluster name with a lone surrogate, read from JSON escapes, is refused naming the field", () => {
    const text =
      '{"name": "shop\\ud800", "instances": [{"name": "a", "type": "server", "spec": {"imageRef": "i", "flavorRef": "f"}}]}';
    const result = validateParsed(parseSpecText(text, "json"));
    expect(result.spec).toBeUndefined();
    expect(result.issues).toEqual([
      {
        code: "invalid_value",
        path: "name",
        message: '"name" is not well-formed Unicode: a lone surrogate \\ud800 at character 5',
        hint: "use complete characters only; a lone surrogate comes from a \\uD800-\\uDFFF escape without its pair or from text cut inside an emoji",
      },
    ]);
    // Printable: the message shows an escape, never the broken character itself.
    expect(() => encodeURIComponent(result.issues[0]?.message ?? "")).not.toThrow();
  });

  it("the same in YAML", () => {
    const result = validateParsed(
      parseSpecText(
        'name: "x\\udc00y"\ninstances: [{name: a, type: server, spec: {imageRef: i, flavorRef: f}}]\n',
        "yaml",
      ),
    );
    expect(codes(result)).toEqual(["invalid_value name"]);
    expect(result.issues[0]?.message).toContain("lone surrogate \\udc00 at character 2");
  });

  it("members, groupings, membersRef entries and attachTo: each refused where it is written", () => {
    const result = validateSpec(
      cluster(
        [server(`web${LONE_HIGH}`), server("db"), volume("v", { attachTo: `db${LONE_LOW}` })],
        [grouping(`g${LONE_LOW}`, ["db", `web${LONE_HIGH}`])],
      ),
    );
    expect(result.spec).toBeUndefined();
    for (const path of [
      "instances[0].name",
      "instances[2].spec.attachTo",
      "groupings[0].name",
      "groupings[0].membersRef[1]",
    ]) {
      const issue = issueAt(result.issues, path);
      expect(issue.code).toBe("invalid_value");
      expect(issue.message).toMatch(/ is not well-formed Unicode: a lone surrogate \\ud[8c]00 at character \d+$/);
      expect(() => encodeURIComponent(issue.message)).not.toThrow();
    }
    expect(issueAt(result.issues, "instances[0].name").message.startsWith('"name" ')).toBe(true);
    expect(issueAt(result.issues, "groupings[0].membersRef[1]").message.startsWith('each entry of "membersRef" ')).toBe(
      true,
    );
  });

  it("a surrogate pair (an emoji) is a complete character and is accepted", () => {
    const result = validateSpec(
      cluster([server("web-🚀"), server("db-😀")], [grouping("g-🔥", ["web-🚀", "db-😀"])], "shop-✨"),
    );
    expect(result.issues).toEqual([]);
    expect(result.spec?.name).toBe("shop-✨");
  });

  it.each([
    ["NUL", "a\u0000b"],
    ["a line break", "a\nb"],
    ["ESC", "a\u001b[31m"],
    ["DEL", "a\u007f"],
    ["a C1 control", "a\u0085"],
    ["a line separator", "a\u2028b"],
  ])("names with %s are refused: cluster, member and grouping", (_what, bad) => {
    const result = validateSpec(cluster([server(bad), server("b")], [grouping(bad, ["b", "b2"])], bad));
    for (const path of ["name", "instances[0].name", "groupings[0].name"]) {
      expect(issueAt(result.issues, path).message).toMatch(/must not contain control characters/);
      expect(issueAt(result.issues, path).hint).toBe("remove the line break, tab or other control character");
    }
  });
});

describe("references (imageRef, flavorRef, zone, networks, key_name, …) must say something", () => {
  it.each([
    ["NUL", "debian\u0000", /"imageRef" must not contain control characters/],
    ["a newline", "debian\n12", /"imageRef" must not contain control characters/],
    ["a tab", "\tdebian", /"imageRef" must not contain control characters/],
    ["only spaces", "   ", /^"imageRef" must not be blank$/],
    ["a lone surrogate", `debian${LONE_HIGH}`, /^"imageRef" is not well-formed Unicode/],
  ])("imageRef with %s is refused", (_what, imageRef, message) => {
    const result = validateSpec(cluster([server("a", { imageRef })]));
    expect(codes(result)).toEqual(["invalid_value instances[0].spec.imageRef"]);
    expect(result.issues[0]?.message).toMatch(message);
    expect(result.issues[0]?.hint).toBeTruthy();
  });

  it("a blank flavorRef gets the flavor hint", () => {
    const result = validateSpec(cluster([server("a", { flavorRef: " " })]));
    expect(result.issues).toEqual([
      {
        code: "invalid_value",
        path: "instances[0].spec.flavorRef",
        message: '"flavorRef" must not be blank',
        hint: 'name the flavor, e.g. "flavorRef": "m1.small"',
        cluster: "c",
      },
    ]);
  });

  it("zones, networks, key names, security groups, volume types and metadata keys too", () => {
    const result = validateSpec(
      cluster([
        server("a", {
          zone: "az\n1",
          networks: ["net", " "],
          key_name: "k\u0000",
          security_groups: ["\u001b"],
          metadata: { "role\n": "x", ok: `y${LONE_HIGH}` },
        }),
        volume("v", { volume_type: "ssd\r" }),
      ]),
    );
    expect(codes(result)).toEqual([
      "invalid_value instances[0].spec.key_name",
      'invalid_value instances[0].spec.metadata["role\\n"]',
      "invalid_value instances[0].spec.metadata.ok",
      "invalid_value instances[0].spec.networks[1]",
      "invalid_value instances[0].spec.security_groups[0]",
      "invalid_value instances[0].spec.zone",
      "invalid_value instances[1].spec.volume_type",
    ]);
    expect(issueAt(result.issues, 'instances[0].spec.metadata["role\\n"]').message).toBe(
      '"metadata" has a key "role\\n" that must not contain control characters (line breaks, tabs, …)',
    );
    for (const i of result.issues) expect(i.message).not.toMatch(/\p{Cc}/u);
  });

  it("an empty volume_type still means the default type, and ordinary references pass", () => {
    const result = validateSpec(
      cluster([
        server("a", { zone: "az1", networks: ["private net"], metadata: { note: "two\nlines" } }),
        volume("v", { volume_type: "" }),
      ]),
    );
    expect(result.issues).toEqual([]);
  });
});

describe("the quick name check only ever says yes where the name schema does", () => {
  it("on printable ASCII, controls, spaces, Unicode and every length around the limit", () => {
    const edges = ["a", " a", "a ", " ", "a b", "~", "\u007f", "é", "a\u0000", "a\t"];
    for (const n of [253, 254, 255, 256]) edges.push("n".repeat(n), ` ${"n".repeat(n - 1)}`);
    const text = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: "grapheme", maxLength: 20 }),
      fc.constantFrom(...edges),
    );
    fc.assert(
      fc.property(text, (s) => {
        expect(isPlainName(s) && !nameSchema.safeParse(s).success, JSON.stringify(s)).toBe(false);
      }),
      { numRuns: 3000, seed: 143 },
    );
    expect(["a", "db-1", "n".repeat(255)].every(isPlainName)).toBe(true);
    expect(["", " a", "a ", "n".repeat(256), "é"].some(isPlainName)).toBe(false);
  });
});
