import { describe, expect, it } from "vitest";
import { type ClusterSpec, ENFORCEMENTS, type Grouping, RULES, SCOPES, validateSpec } from "../../provider/clusterspec";
import { blueprint, cluster, grouping, server, servers, volume } from "../support/clusterspec";

function specOf(input: unknown): ClusterSpec {
  const result = validateSpec(input);
  expect(result.issues).toEqual([]);
  return result.spec as ClusterSpec;
}

/** Every rule × scope (default or given) × enforcement (default or given), and what it normalizes to. */
const combinations = RULES.flatMap((rule) =>
  [undefined, ...SCOPES].flatMap((scope) =>
    [undefined, ...ENFORCEMENTS].map((enforcement) => ({
      rule,
      scope,
      enforcement,
      expected: {
        rule,
        // proximity's scope is its hard bound, "zone" unless given; the others default to "host".
        scope: scope ?? (rule === "proximity" ? "zone" : "host"),
        // proximity is always a preference inside its bound.
        enforcement: rule === "proximity" ? "soft" : (enforcement ?? "hard"),
        weight: 50,
        maxPerDomain: 1,
      },
    })),
  ),
);

describe("normalize: rule × scope × enforcement", () => {
  it.each(combinations)("$rule, scope $scope, enforcement $enforcement", ({ rule, scope, enforcement, expected }) => {
    const spec = specOf(
      cluster(servers("a", "b"), [
        grouping("g", ["a", "b"], { rule, ...(scope ? { scope } : {}), ...(enforcement ? { enforcement } : {}) }),
      ]),
    );
    expect(spec.groupings).toEqual([{ name: "g", members: ["a", "b"], ...expected }]);
  });

  it("keeps weight and maxPerDomain as given", () => {
    const spec = specOf(
      cluster(servers("a", "b", "c"), [
        grouping("spread", ["a", "b", "c"], {
          rule: "anti-affinity",
          scope: "rack",
          maxPerDomain: 2,
          enforcement: "soft",
          weight: 7,
        }),
      ]),
    );
    expect(spec.groupings[0]).toMatchObject({ maxPerDomain: 2, weight: 7, enforcement: "soft" });
  });
});

describe("normalize: members", () => {
  it("renames the blueprint's field names and keeps every optional field", () => {
    const spec = specOf(
      cluster([
        server("a", {
          zone: "az1",
          networks: ["net-1"],
          key_name: "me",
          security_groups: ["default"],
          user_data: "#cloud-config",
          metadata: { role: "db" },
        }),
        { name: "v", type: "block-storage", spec: { size: 5, volume_type: "ssd", zone: "az1", metadata: { k: "v" } } },
        volume("w", { volume_type: "" }),
      ]),
    );
    expect(spec.members).toEqual([
      {
        type: "server",
        name: "a",
        imageRef: "debian-12",
        flavorRef: "m1.small",
        zone: "az1",
        networks: ["net-1"],
        keyName: "me",
        securityGroups: ["default"],
        userData: "#cloud-config",
        metadata: { role: "db" },
      },
      { type: "volume", name: "v", sizeGb: 5, volumeType: "ssd", zone: "az1", metadata: { k: "v" } },
      { type: "volume", name: "w", sizeGb: 10 },
    ]);
  });

  it("removes a repeated membersRef entry only by reporting it", () => {
    expect(validateSpec(cluster(servers("a", "b"), [grouping("g", ["a", "b", "b"])])).spec).toBeUndefined();
  });
});

describe("normalize: attachTo", () => {
  const implied = (volumeName: string, serverName: string): Grouping => ({
    name: `attach:${volumeName}`,
    members: [serverName, volumeName],
    rule: "affinity",
    scope: "zone",
    enforcement: "hard",
    weight: 50,
    maxPerDomain: 1,
    implied: true,
  });

  it("adds an implied hard zone affinity after the user's groupings", () => {
    const spec = specOf(
      cluster([server("s"), server("t"), volume("v", { attachTo: "s" })], [grouping("g", ["s", "t"])]),
    );
    expect(spec.groupings.map((g) => g.name)).toEqual(["g", "attach:v"]);
    expect(spec.groupings[1]).toEqual(implied("v", "s"));
  });

  it("blueprint form: a volume in a hard affinity with exactly one server is attached to it", () => {
    const spec = specOf(blueprint([server("s"), volume("v")], [grouping("g", ["s", "v"])]));
    expect(spec.members[1]).toMatchObject({ attachTo: "s" });
    expect(spec.groupings[1]).toEqual(implied("v", "s"));
  });

  it.each([
    ["args form", cluster([server("s"), volume("v")], [grouping("g", ["s", "v"])])],
    ["two servers", blueprint([server("s"), server("t"), volume("v")], [grouping("g", ["s", "t", "v"])])],
    [
      "two servers in two groupings",
      blueprint(
        [server("s"), server("t"), volume("v")],
        [grouping("g", ["s", "v"]), grouping("h", ["t", "v"], { rule: "affinity", scope: "zone" })],
      ),
    ],
    [
      "soft affinity",
      blueprint([server("s"), volume("v")], [grouping("g", ["s", "v"], { rule: "affinity", enforcement: "soft" })]),
    ],
    ["proximity", blueprint([server("s"), volume("v")], [grouping("g", ["s", "v"], { rule: "proximity" })])],
    ["only volumes", blueprint([volume("u"), volume("v")], [grouping("g", ["u", "v"])])],
  ])("no attachment is inferred for %s", (_what, input) => {
    const spec = specOf(input);
    expect(spec.members.some((m) => m.type === "volume" && m.attachTo !== undefined)).toBe(false);
    expect(spec.groupings.some((g) => g.implied)).toBe(false);
  });

  it("blueprint form: an explicit attachTo wins over inference", () => {
    const spec = specOf(
      blueprint([server("s"), server("t"), volume("v", { attachTo: "t" })], [grouping("g", ["s", "v"])]),
    );
    expect(spec.members[2]).toMatchObject({ attachTo: "t" });
  });
});
