// The controller against the real simulated cloud (admin view, pinned mode): create, no-op,
// add, resize, rebuild, extend, remove, out-of-band delete -> refresh -> repair, destroy.
import { afterEach, describe, expect, it } from "vitest";
import type { ClusterState } from "../../provider/lifecycle";
import { ClusterController, LifecycleError, MISSING } from "../../provider/lifecycle";
import type { ClusterSpec } from "../../provider/model/cluster";
import {
  callCounts,
  expectEmpty,
  type Harness,
  inventory,
  MUTATING_OPS,
  openHarness,
  perMember,
} from "../support/lifecycle";
import { grouping, server, spec, volume } from "../support/model";

function dbCluster(over: { servers?: number; flavor?: string; image?: string; vol1Size?: number } = {}): ClusterSpec {
  const n = over.servers ?? 5;
  const servers = Array.from({ length: n }, (_, i) =>
    server(`db-${i + 1}`, "m1.small", {
      ...(i === 0 && over.flavor ? { flavorRef: over.flavor } : {}),
      ...(i === 1 && over.image ? { imageRef: over.image } : {}),
    }),
  );
  const volumes = [
    volume("vol-1", over.vol1Size ?? 10, { attachTo: "db-1" }),
    volume("vol-2", 10, { attachTo: "db-2" }),
    volume("vol-3", 10, { attachTo: "db-3" }),
  ];
  return spec(
    "db",
    [...servers, ...volumes],
    [
      grouping(
        "spread",
        "anti-affinity",
        servers.map((s) => s.name),
      ),
    ],
  );
}

/** Polls until `ok` (the simulated cloud's transitions take a few ms here). */
async function waitUntil(ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400 && !(await ok()); i++) await new Promise((r) => setTimeout(r, 5));
  if (!(await ok())) throw new Error("the simulated cloud never got there");
}

function hostsOf(state: ClusterState, names: string[]): string[] {
  return names.map((n) => state.members[n]?.host ?? "?");
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

describe("pinned lifecycle on the simulated cloud", () => {
  it("creates, keeps still, updates member by member, repairs and destroys", async () => {
    h = await openHarness();
    const { cloud, controller } = h;

    // Create.
    const s0 = await controller.apply(dbCluster());
    const servers = ["db-1", "db-2", "db-3", "db-4", "db-5"];
    expect(Object.keys(s0.members)).toEqual([...servers, "vol-1", "vol-2", "vol-3"]);
    for (const n of servers) expect(s0.members[n]?.status).toBe("ACTIVE");
    for (const n of ["vol-1", "vol-2", "vol-3"]) expect(s0.members[n]?.status).toBe("in-use");
    expect(s0.members["vol-1"]?.attachedTo).toBe("db-1");
    expect(new Set(hostsOf(s0, servers)).size).toBe(5);
    expect(s0.mode).toBe("pinned");
    expect(s0.serverGroups.spread?.policy).toBe("anti-affinity");
    expect(s0.members["db-1"]?.serverGroup).toBe(s0.serverGroups.spread?.id);
    expect(s0.brokenRules).toEqual([]);
    expect(s0.missing).toEqual([]);
    expect(Object.keys(s0.placement).sort()).toEqual(Object.keys(s0.members).sort());
    // Every volume sits in its server's zone.
    for (const [v, s] of [
      ["vol-1", "db-1"],
      ["vol-2", "db-2"],
    ] as const) {
      expect(s0.members[v]?.zone).toBe(s0.members[s]?.zone);
    }
    expect(h.logs).toContain('info: cluster "db": created 8/8 members');
    const inv0 = await inventory(cloud);
    expect(inv0.groups).toHaveLength(1);
    expect([...(inv0.groups[0]?.members ?? [])].sort()).toEqual(servers.map((n) => s0.members[n]?.id).sort());
    expect(inv0.servers.map((s) => s.name).sort()).toEqual(servers.map((n) => `db-${n}`));

    // Same spec again: nothing changes on the cloud.
    const before = await callCounts(cloud, MUTATING_OPS);
    const plan = await controller.plan(dbCluster(), s0);
    expect(plan.steps).toEqual([]);
    const s1 = await controller.apply(dbCluster(), s0);
    expect(await callCounts(cloud, MUTATING_OPS)).toEqual(before);
    expect(s1.members).toEqual(s0.members);

    // Add a member: the others stay where they are.
    const s2 = await controller.apply(dbCluster({ servers: 6 }), s1);
    expect(s2.members["db-6"]?.status).toBe("ACTIVE");
    for (const n of servers) {
      expect(s2.members[n]?.id).toBe(s1.members[n]?.id);
      expect(s2.members[n]?.host).toBe(s1.members[n]?.host);
    }
    expect(new Set(hostsOf(s2, [...servers, "db-6"])).size).toBe(6);
    expect(s2.members["db-6"]?.serverGroup).toBe(s2.serverGroups.spread?.id);

    // Change a flavor (resize, same id) and an image (rebuild, same id), grow a volume.
    const changed = dbCluster({ servers: 6, flavor: "m1.medium", image: "ubuntu-24.04", vol1Size: 20 });
    const planned = await controller.plan(changed, s2);
    expect(planned.steps.map((s) => s.detail)).toMatchInlineSnapshot(`
      [
        "resize server "db-1" from "m1.small" to "m1.medium"",
        "rebuild server "db-2" from "debian-12" to "ubuntu-24.04"",
        "extend volume "vol-1" from 10 GB to 20 GB",
      ]
    `);
    const s3 = await controller.apply(changed, s2);
    expect(s3.members["db-1"]).toMatchObject({ id: s2.members["db-1"]?.id, flavorRef: "m1.medium", status: "ACTIVE" });
    expect(s3.members["db-2"]).toMatchObject({ id: s2.members["db-2"]?.id, imageRef: "ubuntu-24.04" });
    expect(s3.members["vol-1"]).toMatchObject({ id: s2.members["vol-1"]?.id, sizeGb: 20, status: "in-use" });
    expect(await cloud.callCount("resizeServer")).toBe(1);
    expect(await cloud.callCount("rebuildServer")).toBe(1);

    // Shrinking is refused before anything changes.
    const shrink = dbCluster({ servers: 6, flavor: "m1.medium", image: "ubuntu-24.04", vol1Size: 5 });
    const refused = await controller.apply(shrink, s3).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LifecycleError);
    expect((refused as LifecycleError).code).toBe("invalid");
    expect((refused as LifecycleError).message).toMatchInlineSnapshot(
      `"cluster "db": volume "vol-1" can't shrink from 20 GB to 5 GB; hint: keep the size, or rename the member to replace it with a new volume (its data is lost)"`,
    );

    // Remove a server and its volume.
    const smaller = spec(
      "db",
      changed.members.filter((m) => m.name !== "db-3" && m.name !== "vol-3"),
      [grouping("spread", "anti-affinity", ["db-1", "db-2", "db-4", "db-5", "db-6"])],
    );
    const removePlan = await controller.plan(smaller, s3);
    expect(removePlan.steps.map((s) => s.kind)).toEqual(["delete-server", "delete-volume"]);
    const s4 = await controller.apply(smaller, s3);
    expect(Object.keys(s4.members)).not.toContain("db-3");
    expect(Object.keys(s4.members)).not.toContain("vol-3");
    expect(await perMember(cloud, "db")).toEqual({
      "db-1": 1,
      "db-2": 1,
      "db-4": 1,
      "db-5": 1,
      "db-6": 1,
      "vol-1": 1,
      "vol-2": 1,
    });

    // Out-of-band delete: refresh marks it missing, the next apply recreates it.
    await cloud.deleteServer(s4.members["db-2"]?.id as string);
    while (await cloud.getServer(s4.members["db-2"]?.id as string)) await new Promise((r) => setTimeout(r, 5));
    const r = await controller.refresh(s4, smaller);
    expect(r.members["db-2"]).toMatchObject({ status: MISSING, id: "" });
    expect(r.missing).toEqual(["db-2"]);
    expect(r.members["vol-2"]?.status).toBe("available");
    const repairPlan = await controller.plan(smaller, r);
    expect(repairPlan.steps.map((s) => `${s.kind} ${s.member}`)).toEqual(["recreate db-2", "attach vol-2"]);
    const s5 = await controller.apply(smaller, r);
    expect(s5.members["db-2"]?.status).toBe("ACTIVE");
    expect(s5.members["db-2"]?.id).not.toBe(s4.members["db-2"]?.id);
    expect(s5.members["vol-2"]).toMatchObject({ status: "in-use", attachedTo: "db-2", id: s4.members["vol-2"]?.id });
    expect(s5.missing).toEqual([]);
    const again = await controller.refresh(s5, smaller);
    expect(again.missing).toEqual([]);
    expect(again.brokenRules).toEqual([]);

    // Destroy leaves nothing; a second destroy is a no-op.
    await controller.destroy(s5);
    await expectEmpty(cloud);
    await controller.destroy(s5);
    await controller.destroy({ clusterName: "db" });
    await expectEmpty(cloud);
  });

  it("plans a new cluster without touching the cloud", async () => {
    h = await openHarness();
    const before = await callCounts(h.cloud, MUTATING_OPS);
    const plan = await h.controller.plan(dbCluster({ servers: 3 }));
    expect(await callCounts(h.cloud, MUTATING_OPS)).toEqual(before);
    expect(plan.placement.placed).toBe(true);
    expect(plan.warnings).toEqual([]);
    expect(plan.steps.map((s) => `${s.kind} ${s.member ?? s.grouping}`)).toEqual([
      "create-server-group spread",
      "create-server db-1",
      "create-server db-2",
      "create-server db-3",
      "create-volume vol-1",
      "create-volume vol-2",
      "create-volume vol-3",
      "attach vol-1",
      "attach vol-2",
      "attach vol-3",
    ]);
  });

  it("destroy deletes a server nothing is attached to at once, without waiting for other volumes' detaches", async () => {
    h = await openHarness();
    const state = await h.controller.apply(dbCluster());
    await h.cloud.injectFault({ kind: "slow", op: "detachVolume", member: "vol-1", ms: 300 });
    const calls: string[] = [];
    const cloud = h.cloud;
    const member = (id: string) => Object.entries(state.members).find(([, m]) => m.id === id)?.[0] ?? id;
    const vol1 = state.members["vol-1"]?.id as string;
    const recorded = new Proxy(cloud, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (typeof v !== "function") return v;
        return async (...args: unknown[]) => {
          if (prop === "deleteServer" || prop === "deleteVolume") {
            // What vol-1 is doing as the delete is sent (read past the controller: no call counted by it).
            const seen = (await target.getVolume(vol1))?.status ?? "gone";
            calls.push(`${prop} ${member(String(args[0]))} (vol-1 ${seen})`);
          }
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    await new ClusterController(recorded).destroy(state);
    await expectEmpty(cloud);
    // db-4 and db-5 hold no volume: deleted while vol-1 still detaches; db-1 only once it has.
    expect(calls).toContain("deleteServer db-4 (vol-1 detaching)");
    expect(calls).toContain("deleteServer db-5 (vol-1 detaching)");
    expect(calls).toContain("deleteServer db-1 (vol-1 available)");
    expect(calls).toHaveLength(8);
  });

  it("destroy detaches first as many volumes as it sends calls at once; Nova detaches the rest as their servers go", async () => {
    h = await openHarness();
    const { cloud } = h;
    const state = await h.controller.apply(dbCluster());
    const id = (name: string) => state.members[name]?.id as string;
    // vol-3 now sits on a server outside the cluster: it must be detached, whatever the count.
    const zone = (await cloud.getVolume(id("vol-3")))?.zone;
    const other = await cloud.createServer({
      name: "other",
      imageRef: "cirros",
      flavorRef: "m1.small",
      metadata: {},
      ...(zone ? { zone } : {}),
    });
    await cloud.detachVolume(id("db-3"), id("vol-3"));
    await waitUntil(async () => (await cloud.getVolume(id("vol-3")))?.status === "available");
    await waitUntil(async () => (await cloud.getServer(other.id))?.status === "ACTIVE");
    await cloud.attachVolume(other.id, id("vol-3"));
    await waitUntil(async () => (await cloud.getVolume(id("vol-3")))?.status === "in-use");
    const name = (x: string) => Object.entries(state.members).find(([, m]) => m.id === x)?.[0] ?? x;
    const calls: string[] = [];
    const recorded = new Proxy(cloud, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          if (prop === "detachVolume") calls.push(`detach ${name(String(args[1]))}`);
          if (prop === "deleteServer") calls.push(`delete ${name(String(args[0]))}`);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    // One call at a time: one of vol-1 and vol-2 is detached first, the other left to Nova.
    await new ClusterController(recorded, { concurrency: 1 }).destroy(state);
    const detached = calls.filter((c) => c.startsWith("detach")).sort();
    expect(detached).toHaveLength(2);
    expect(detached[1]).toBe("detach vol-3");
    const first = detached[0] === "detach vol-1" ? "db-1" : "db-2";
    const novas = first === "db-1" ? "db-2" : "db-1";
    // The server whose volume Nova detaches is deleted first, before the one waiting for its detach.
    const deletes = calls.filter((c) => c.startsWith("delete"));
    expect(deletes[0]).toBe(`delete ${novas}`);
    expect(deletes.indexOf(`delete ${first}`)).toBeGreaterThan(0);
    const inv = await inventory(cloud);
    expect(inv.servers.map((s) => s.name)).toEqual(["other"]);
    expect(inv.volumes).toEqual([]);
    expect(inv.groups).toEqual([]);
  });

  it("destroy by name sweeps whatever carries the cluster's tag", async () => {
    h = await openHarness();
    await h.controller.apply(dbCluster({ servers: 3 }));
    await h.controller.destroy({ clusterName: "db" });
    await expectEmpty(h.cloud);
  });

  it("refuses an unplaceable cluster with the explanation and creates nothing", async () => {
    h = await openHarness();
    const tooMany = spec(
      "big",
      Array.from({ length: 9 }, (_, i) => server(`n-${i + 1}`)),
      [
        grouping(
          "apart",
          "anti-affinity",
          Array.from({ length: 9 }, (_, i) => `n-${i + 1}`),
        ),
      ],
    );
    const plan = await h.controller.plan(tooMany);
    expect(plan.placement.placed).toBe(false);
    expect(plan.steps).toEqual([]);
    const err = await h.controller.apply(tooMany).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LifecycleError);
    expect((err as LifecycleError).code).toBe("unplaceable");
    expect((err as LifecycleError).explanation?.causes.length).toBeGreaterThan(0);
    expect((err as LifecycleError).message.startsWith('cluster "big"')).toBe(true);
    expect(await callCounts(h.cloud, ["createServer", "createVolume", "createServerGroup"])).toEqual({
      createServer: 0,
      createVolume: 0,
      createServerGroup: 0,
    });
  });
});
