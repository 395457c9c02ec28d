// The tenant view (delegated mode): host-level rules become Nova server groups, verified through
// hostId; what a tenant can't express is refused before anything is made.
import { afterEach, describe, expect, it } from "vitest";
import { LifecycleError } from "../../provider/lifecycle";
import { callCounts, expectEmpty, type Harness, inventory, MUTATING_OPS, openHarness } from "../support/lifecycle";
import { grouping, server, spec, volume } from "../support/model";

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const web = () =>
  spec(
    "web",
    [server("web-1"), server("web-2"), server("web-3"), volume("logs", 5, { attachTo: "web-1" })],
    [grouping("spread", "anti-affinity", ["web-1", "web-2", "web-3"])],
  );

describe("delegated mode (tenant view)", () => {
  it("maps host anti-affinity to a Nova anti-affinity group and verifies it by hostId", async () => {
    h = await openHarness({ view: "tenant" });
    const plan = await h.controller.plan(web());
    expect(plan.mode).toBe("delegated");
    expect(plan.warnings).toEqual([]);
    expect(plan.steps[0]).toEqual({
      kind: "create-server-group",
      grouping: "spread",
      detail: 'create server group "web-spread" with policy anti-affinity for "web-1", "web-2", "web-3"',
    });

    const state = await h.controller.apply(web());
    expect(state.mode).toBe("delegated");
    expect(state.serverGroups.spread).toMatchObject({ grouping: "spread", policy: "anti-affinity" });
    const servers = ["web-1", "web-2", "web-3"].map((n) => state.members[n]);
    for (const s of servers) {
      expect(s?.host).toBeUndefined();
      expect(s?.hostId).toBeDefined();
      expect(s?.serverGroup).toBe(state.serverGroups.spread?.id);
    }
    expect(new Set(servers.map((s) => s?.hostId)).size).toBe(3);
    expect(state.members.logs).toMatchObject({
      status: "in-use",
      attachedTo: "web-1",
      zone: state.members["web-1"]?.zone,
    });
    const inv = await inventory(h.cloud);
    expect(inv.groups.map((g) => g.policy)).toEqual(["anti-affinity"]);
    expect([...(inv.groups[0]?.members ?? [])].sort()).toEqual(servers.map((s) => s?.id).sort());

    const before = await callCounts(h.cloud, MUTATING_OPS);
    await h.controller.apply(web(), state);
    expect(await callCounts(h.cloud, MUTATING_OPS)).toEqual(before);

    await h.controller.destroy(state);
    await expectEmpty(h.cloud);
  });

  it("repairs a member the scheduler put next to another one", async () => {
    h = await openHarness({ view: "tenant", controller: { concurrency: 1 } });
    await h.cloud.injectFault({ kind: "ignore-placement", member: "web-3" });
    const state = await h.controller.apply(web());
    expect(new Set(["web-1", "web-2", "web-3"].map((n) => state.members[n]?.hostId)).size).toBe(3);
    expect(h.logs.some((l) => l.includes('recreating "web-3"'))).toBe(true);
  });

  it("maps soft and bounded rules onto the matching policies", async () => {
    h = await openHarness({ view: "tenant" });
    const s = spec(
      "mix",
      [server("a-1"), server("a-2"), server("b-1"), server("b-2"), server("b-3")],
      [
        grouping("pair", "affinity", ["a-1", "a-2"], { enforcement: "soft" }),
        grouping("pack", "anti-affinity", ["b-1", "b-2", "b-3"], { maxPerDomain: 2 }),
      ],
    );
    const state = await h.controller.apply(s);
    expect(state.serverGroups).toEqual({
      pack: { grouping: "pack", id: expect.any(String), policy: "anti-affinity", maxServerPerHost: 2 },
      pair: { grouping: "pair", id: expect.any(String), policy: "soft-affinity" },
    });
  });

  it("refuses what a tenant can't express, before anything is made", async () => {
    h = await openHarness({ view: "tenant" });
    const s = spec(
      "web",
      [server("web-1"), server("web-2"), server("web-3")],
      [
        grouping("apart", "anti-affinity", ["web-1", "web-2"]),
        grouping("together", "affinity", ["web-2", "web-3"], { enforcement: "soft" }),
        grouping("racks", "anti-affinity", ["web-1", "web-3"], { scope: "rack" }),
      ],
    );
    const plan = await h.controller.plan(s);
    expect(plan.blocking).toEqual(plan.warnings);
    expect(plan.warnings).toMatchInlineSnapshot(`
      [
        "cluster "web": grouping "racks" uses scope "rack", which can't be expressed when the cloud places hosts itself (delegated mode: racks are not visible); hint: use scope "host" or "zone", or credentials that can see hosts (pinned mode)",
        "cluster "web": server "web-2" would need the Nova server groups of host-scope groupings "apart", "together", but a server can be in only one server group when the cloud places hosts itself (delegated mode); hint: merge those rules into one grouping, move all but one of them to scope "zone", or use credentials that can see hosts (pinned mode)",
      ]
    `);
    const e = await h.controller.apply(s).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LifecycleError);
    expect((e as LifecycleError).code).toBe("invalid");
    expect((e as LifecycleError).message).toBe(plan.blocking.join("\n"));
    expect(await callCounts(h.cloud, ["createServer", "createServerGroup", "createVolume"])).toEqual({
      createServer: 0,
      createServerGroup: 0,
      createVolume: 0,
    });
  });
});
