// The spec's field names: camelCase as the SDK (and @pulumi/openstack) spells them; Nova's snake_case
// (key_name, security_groups, user_data, volume_type) still accepted everywhere, silently in files of
// either form, with one deprecation warning per spelling where the caller asks (a Pulumi program);
// both spellings of one field at once is an error naming both.
import { describe, expect, it } from "vitest";
import { validateSpec } from "../../provider/clusterspec";
import { blueprint, cluster, codes, server, volume } from "../support/clusterspec";

const camel = cluster([
  server("a", { keyName: "deploy", securityGroups: ["web"], userData: "#cloud-config", metadata: { r: "1" } }),
  volume("v", { volumeType: "ssd", attachTo: "a" }),
]);
const snake = cluster([
  server("a", { key_name: "deploy", security_groups: ["web"], user_data: "#cloud-config", metadata: { r: "1" } }),
  volume("v", { volume_type: "ssd", attachTo: "a" }),
]);

describe("camelCase names, and Nova's snake_case ones", () => {
  it("camelCase is the spec's own: no issue, no warning", () => {
    const r = validateSpec(camel, { legacyNames: "warn" });
    expect(r.issues).toEqual([]);
    expect(r.warnings).toBeUndefined();
    expect(r.spec?.members).toEqual([
      {
        type: "server",
        name: "a",
        imageRef: "debian-12",
        flavorRef: "m1.small",
        keyName: "deploy",
        securityGroups: ["web"],
        userData: "#cloud-config",
        metadata: { r: "1" },
      },
      { type: "volume", name: "v", sizeGb: 10, volumeType: "ssd", attachTo: "a" },
    ]);
  });

  it("snake_case means the same cluster, in either form", () => {
    const want = validateSpec(camel).spec;
    expect(validateSpec(snake).spec).toEqual(want);
    expect(validateSpec(blueprint(snake.instances)).spec?.members).toEqual(want?.members);
    expect(validateSpec(blueprint(camel.instances)).spec?.members).toEqual(want?.members);
  });

  it("files take snake_case silently (the default), a Pulumi program is warned once per spelling", () => {
    expect(validateSpec(snake).warnings).toBeUndefined();
    const r = validateSpec(
      cluster([server("a", { user_data: "x" }), server("b", { user_data: "y", key_name: "k" })], undefined, "shop"),
      { legacyNames: "warn" },
    );
    expect(r.issues).toEqual([]);
    expect(r.spec).toBeDefined();
    expect(r.warnings).toEqual([
      {
        code: "deprecated_field",
        path: "instances[1].spec.key_name",
        message: '"key_name" is deprecated: the field is "keyName" now',
        hint: 'rename "key_name" to "keyName"; the old name keeps working until then',
        cluster: "shop",
      },
      {
        code: "deprecated_field",
        path: "instances[0].spec.user_data",
        message: '"user_data" is deprecated (and 1 more place): the field is "userData" now',
        hint: 'rename "user_data" to "userData"; the old name keeps working until then',
        cluster: "shop",
      },
    ]);
  });

  it("the blueprint form is Nova's own: never warned", () => {
    expect(validateSpec(blueprint(snake.instances), { legacyNames: "warn" }).warnings).toBeUndefined();
  });

  it("both spellings of one field at once: an error naming both, in either form", () => {
    for (const input of [
      cluster([server("a", { userData: "x", user_data: "x" })]),
      blueprint([server("a", { userData: "x", user_data: "x" })]),
    ]) {
      const r = validateSpec(input);
      expect(r.spec).toBeUndefined();
      const issue = r.issues.find((i) => i.code === "duplicate_field");
      expect(issue?.message).toBe('"userData" and "user_data" are two spellings of one field, and both are given');
      expect(issue?.hint).toBe('keep "userData" and remove "user_data"');
    }
    expect(codes(validateSpec(cluster([volume("v", { volume_type: "a", volumeType: "b" })])))).toEqual([
      "duplicate_field instances[0].spec.volume_type",
    ]);
  });

  it("a problem with a snake_case field is reported where the user wrote it", () => {
    const r = validateSpec(
      cluster([server("a", { key_name: 5, security_groups: ["ok", "\u0007"] }), volume("v", { volume_type: 1 })]),
    );
    expect(codes(r)).toEqual([
      "invalid_type instances[0].spec.key_name",
      "invalid_value instances[0].spec.security_groups[1]",
      "invalid_type instances[1].spec.volume_type",
    ]);
  });

  it("a typo of either spelling suggests the camelCase name", () => {
    const r = validateSpec(cluster([server("a", { keyname: "k" })]));
    expect(r.issues.map((i) => i.hint)).toEqual(['did you mean "keyName"?']);
  });

  it('a key "__proto__" beside a snake_case one stays a key, reported as unknown', () => {
    const spec = JSON.parse('{"imageRef": "i", "flavorRef": "f", "key_name": "k", "__proto__": {"x": 1}}');
    const r = validateSpec(cluster([{ name: "a", type: "server", spec }]));
    expect(codes(r)).toEqual(["unknown_field instances[0].spec.__proto__"]);
  });
});
