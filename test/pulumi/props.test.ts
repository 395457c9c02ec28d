import { describe, expect, test } from "vitest";
import type { SpecIssue } from "../../provider/model/issues";
import { type ClusterState, MISSING, STATE_VERSION } from "../../provider/model/state";
import { InitializationError, toUserFacing, UserFacingError } from "../../provider/pulumi/errors";
import {
  failuresFrom,
  inputsOf,
  outputsOf,
  PROVIDER_KEY,
  specInputOf,
  specProblems,
  stateOf,
} from "../../provider/pulumi/props";

function state(overrides: Partial<ClusterState> = {}): ClusterState {
  return {
    stateVersion: STATE_VERSION,
    clusterName: "c",
    backendKind: "simulated",
    backendId: "simulated:abc",
    mode: "pinned",
    members: { a: { name: "a", type: "server", id: "s-1", status: "ACTIVE", zone: "az1", host: undefined } },
    serverGroups: {},
    placement: { a: { type: "server", zone: "az1", rack: "r1", host: "h1" } },
    softViolations: [],
    brokenRules: [],
    missing: [],
    ...overrides,
  };
}

describe("inputs and state in property bags", () => {
  test("inputsOf keeps only the user's inputs, never __provider or state", () => {
    const props = {
      clusterName: "c",
      instances: [],
      groupings: [],
      [PROVIDER_KEY]: "code",
      members: {},
      mode: "pinned",
    };
    expect(inputsOf(props)).toEqual({ clusterName: "c", instances: [], groupings: [] });
  });

  test("specInputOf maps clusterName to the args form's name", () => {
    expect(specInputOf({ clusterName: "c", instances: [1] })).toEqual({ name: "c", instances: [1] });
    expect(specInputOf({ instances: [] })).toEqual({ instances: [] });
  });

  test("outputs round-trip to the same state, undefined fields dropped", () => {
    const s = state();
    const outs = outputsOf({ clusterName: "c", instances: [] }, s);
    expect(JSON.stringify(outs)).not.toContain("undefined");
    expect(outs.instances).toEqual([]);
    expect(stateOf(outs)).toEqual(JSON.parse(JSON.stringify(s)));
  });

  test.each([
    ["a bag of inputs only", { clusterName: "c", instances: [] }],
    ["members not an object", { clusterName: "c", members: "x" }],
    ["members an array", { clusterName: "c", members: [] }],
  ])("stateOf: %s has no state", (_name, props) => {
    expect(stateOf(props)).toBeUndefined();
  });

  test("stateOf fills what an earlier version did not write", () => {
    const s = stateOf({ clusterName: "c", members: { a: { name: "a", type: "server", id: "", status: MISSING } } });
    expect(s).toMatchObject({ stateVersion: 1, backendKind: "simulated", backendId: "", mode: "pinned", missing: [] });
  });

  test("stateOf refuses state from a newer release, with the fix", () => {
    expect(() =>
      stateOf({ clusterName: "c", stateVersion: STATE_VERSION + 1, members: {} }),
    ).toThrowErrorMatchingInlineSnapshot(
      `[ProviderStateError: cluster "c": the state was written by a newer openstack-vcluster (state version 2, this one reads up to 1) (hint: upgrade the pulumi-openstack-vcluster package in this program)]`,
    );
  });
});

describe("check failures", () => {
  test("one per issue, sorted by path, cluster name first, the path inside the reason", () => {
    const failures = failuresFrom("shop", [
      {
        code: "unknown_member",
        path: "groupings[10].membersRef[0]",
        message: 'no member named "db-3"',
        hint: 'did you mean "db-2"?',
      },
      {
        code: "unknown_field",
        path: "instances[2].spec.flavour",
        message: 'unknown field "flavour"',
        hint: 'did you mean "flavorRef"?',
      },
      {
        code: "invalid_type",
        path: "groupings[2].spec.rule",
        message: "expected one of affinity, anti-affinity, proximity",
      },
      { code: "missing_field", path: "name", message: "the cluster has no name" },
      { code: "duplicate_member", path: "instances[3].name", message: 'member "a" is named twice', cluster: "shop" },
    ]);
    expect(failures.every((f) => f.property === "")).toBe(true);
    expect(failures.map((f) => f.reason)).toMatchInlineSnapshot(`
      [
        "cluster "shop": groupings[2].spec.rule: expected one of affinity, anti-affinity, proximity",
        "cluster "shop": groupings[10].membersRef[0]: no member named "db-3" (hint: did you mean "db-2"?)",
        "cluster "shop": instances[2].spec.flavour: unknown field "flavour" (hint: did you mean "flavorRef"?)",
        "cluster "shop": instances[3].name: member "a" is named twice",
        "cluster "shop": clusterName: the cluster has no name",
      ]
    `);
  });
});

describe("spec problems as the provider words them", () => {
  const issues: SpecIssue[] = [
    { code: "unknown_field", path: "instances[0].spec.x\u001b", message: 'unknown field "x\u001b[2J"' },
    { code: "missing_field", path: "name", message: "the cluster has no name", hint: 'add "clusterName"' },
  ];

  test("the cluster's name from the issues when the caller has none; none when nobody knows it", () => {
    expect(failuresFrom(undefined, [{ ...(issues[1] as SpecIssue), cluster: "from-spec" }])[0]?.reason).toBe(
      'cluster "from-spec": clusterName: the cluster has no name (hint: add "clusterName")',
    );
    expect(failuresFrom(undefined, issues).map((f) => f.reason)).toEqual([
      'instances[0].spec.x\\u001b: unknown field "x\\u001b[2J"',
      'clusterName: the cluster has no name (hint: add "clusterName")',
    ]);
  });

  test("specProblems: the error create/update throw names the cluster once, escaped", () => {
    expect(specProblems("c\u202e", issues)).toMatchInlineSnapshot(`
      "cluster "c\\u202e": 2 problems in the spec:
        instances[0].spec.x\\u001b: unknown field "x\\u001b[2J"
        clusterName: the cluster has no name (hint: add "clusterName")"
    `);
  });
});

describe("errors the engine shows", () => {
  test("never carry a control or bidi character raw; line breaks stay", () => {
    const e = new UserFacingError('cluster "c": zone "\u001b[31maz\u202e1" is gone\n  and "\u0000" too');
    expect(e.message).toBe('cluster "c": zone "\\u001b[31maz\\u202e1" is gone\n  and "\\u0000" too');
    expect(e.stack).toBe(e.message);
    const init = new InitializationError("rollback of \u009b failed", "c", {});
    expect(init.reasons).toEqual(["rollback of \\u009b failed"]);
  });

  test("a foreign error already naming the cluster is not named twice, however the name is spelled", () => {
    const name = "c\u202e";
    expect(toUserFacing(new Error(`cluster "${name}": boom`), name).message).toBe('cluster "c\\u202e": boom');
    expect(toUserFacing(new Error('cluster "c\\u202e" can\'t be placed'), name).message).toBe(
      'cluster "c\\u202e" can\'t be placed',
    );
    expect(toUserFacing(new Error("boom"), name).message).toBe('cluster "c\\u202e": boom');
  });

  test("print the message once, without a stack trace", () => {
    const e = new UserFacingError('cluster "c": server "db-1" went to ERROR');
    // What the SDK's server prints to stderr for a failed check/diff/read/delete:
    expect(`${e}: ${e.stack}`).toBe('openstack-vcluster: cluster "c": server "db-1" went to ERROR');
    expect(e.message).toBe('cluster "c": server "db-1" went to ERROR');
  });

  test("foreign errors get the cluster name and lose their stack", () => {
    const e = toUserFacing(new TypeError("boom"), "c");
    expect(e.message).toBe('cluster "c": boom');
    expect(e.stack).not.toContain("at ");
    expect(toUserFacing(new Error('cluster "c": already named'), "c").message).toBe('cluster "c": already named');
  });

  test("an initialization error carries what the SDK packs into ErrorResourceInitFailed", () => {
    const e = new InitializationError('cluster "c": rollback failed', "c", { clusterName: "c" });
    expect({ id: e.id, properties: e.properties, reasons: e.reasons }).toEqual({
      id: "c",
      properties: { clusterName: "c" },
      reasons: ['cluster "c": rollback failed'],
    });
  });
});
