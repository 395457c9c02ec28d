// Images and flavors the cloud doesn't have are found in one round and refused the same way, in
// both placement modes (the tenant view places through a coarse topology: another code path), for a
// new cluster and for a resize; nothing is made.
import { afterEach, describe, expect, it } from "vitest";
import { LifecycleError, placementFailure } from "../../provider/lifecycle";
import { callCounts, expectEmpty, type Harness, MUTATING_OPS, openHarness } from "../support/lifecycle";
import { server, spec } from "../support/model";

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const typos = () =>
  spec("c", [
    server("web-1", "m1.small", { imageRef: "debain-12" }),
    server("web-2", "m1.smal"),
    server("web-3", "m1.smal", { imageRef: "debain-12" }),
    server("ok"),
  ]);

const IMAGE =
  'cluster "c": image "debain-12" of "web-1", "web-3" does not exist (known images: debian-12, ubuntu-24.04, cirros)';
const FLAVOR =
  /^cluster "c": flavor "m1\.smal" of "web-2", "web-3" does not exist \(known flavors: "m1\.large", .*\); hint: did you mean "m1\.small"\?$/;

describe.each(["admin", "tenant"] as const)("an unknown image and an unknown flavor (%s view)", (view) => {
  it("are both blocking in one plan, and apply refuses with both, making nothing", async () => {
    h = await openHarness({ view });
    const plan = await h.controller.plan(typos());
    expect(plan.blocking).toHaveLength(2);
    expect(plan.blocking[1]).toBe(IMAGE);
    expect(plan.blocking[0]).toMatch(FLAVOR);
    expect(plan.references.map((r) => [r.kind, r.ref, r.members])).toEqual([
      ["image", "debain-12", ["web-1", "web-3"]],
      ["flavor", "m1.smal", ["web-2", "web-3"]],
    ]);
    // The engine's own "unknown flavor" says nothing more.
    expect(plan.placement.placed).toBe(false);
    expect(placementFailure("c", plan.placement)).toBeUndefined();

    const e = await h.controller.apply(typos()).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(LifecycleError);
    expect((e as LifecycleError).code).toBe("invalid");
    expect((e as LifecycleError).message.split("\n")).toEqual([expect.stringMatching(FLAVOR), IMAGE]);
    expect((e as LifecycleError).references?.map((r) => r.kind)).toEqual(["image", "flavor"]);
    const counts = await callCounts(h.cloud, MUTATING_OPS);
    expect(Object.values(counts).every((n) => n === 0)).toBe(true);
    await expectEmpty(h.cloud);
  });
});

describe("images", () => {
  it("are looked up once, beside discovery without state; a lookup that fails matters only when an image is used", async () => {
    h = await openHarness();
    const two = spec("c", [server("web-1"), server("web-2", "m1.small", { imageRef: "ubuntu-24.04" })]);
    const state = await h.controller.apply(two);
    // With state and nothing to create, no image is asked about.
    const asked = await h.cloud.callCount("imageProblems");
    expect((await h.controller.plan(two, state)).blocking).toEqual([]);
    expect(await h.cloud.callCount("imageProblems")).toBe(asked);
    // Without state (a retry after a crash): looked up early, but nothing is created, so the failed
    // lookup nobody needs fails nothing.
    await h.cloud.injectFault({ kind: "error", op: "imageProblems", nth: 1, code: "internal", message: "glance down" });
    const again = await h.controller.plan(two);
    expect(again.blocking).toEqual([]);
    expect(await h.cloud.callCount("imageProblems")).toBe(asked + 1);
    // A server to create needs its image: the same failure is the plan's.
    await h.cloud.injectFault({ kind: "error", op: "imageProblems", nth: 1, code: "internal", message: "glance down" });
    const grown = spec("c", [...two.members, server("web-3")]);
    const e = await h.controller.plan(grown, state).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((e as Error).message).toMatch(/^cluster "c": can't look up images on the simulated cloud .*glance down/);
    await h.controller.destroy(state);
  });
});

describe("flavors", () => {
  it("a resize of a built server to a flavor the cloud doesn't have is refused, naming it", async () => {
    h = await openHarness();
    const state = await h.controller.apply(spec("c", [server("web-1")]));
    const plan = await h.controller.plan(spec("c", [server("web-1", "m1.huge")]), state);
    expect(plan.blocking).toEqual([expect.stringMatching(/^cluster "c": flavor "m1\.huge" of "web-1" does not exist/)]);
    await h.controller.destroy(state);
  });

  it("what the placement adds beyond the unknown flavors: its other causes, summed up anew", () => {
    const cause = (code: "unknown_flavor" | "unknown_zone", message: string) => ({
      code,
      groupings: [],
      members: ["a"],
      message,
      hint: "h",
    });
    const explanation = {
      summary: 'cluster "c" can\'t be placed: flavor "f" of "a" is not in the topology (and 1 more cause)',
      causes: [cause("unknown_flavor", 'flavor "f" of "a" is not in the topology'), cause("unknown_zone", "zone z")],
      members: {},
    };
    expect(placementFailure("c", { placed: false, explanation })).toEqual({
      summary: 'cluster "c" can\'t be placed: zone z',
      causes: [explanation.causes[1]],
      members: {},
    });
    const zoneOnly = { ...explanation, causes: [explanation.causes[1] as (typeof explanation.causes)[1]] };
    expect(placementFailure("c", { placed: false, explanation: zoneOnly })).toBe(zoneOnly);
  });
});
