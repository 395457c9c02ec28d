// Adopting a cluster whose members exist (Pulumi's `import`): found by tags, and by the ids named for
// members that carry none; verified against the spec; nothing on the cloud changed. What differs is
// reported and recorded (pending edits, missing members, members the spec lacks) so that the next
// apply makes it so, and an import of a cluster that matches leaves the next apply nothing to do.
import { afterEach, describe, expect, it } from "vitest";
import { TAG_CLUSTER, TAG_MEMBER } from "../../provider/backends/backend";
import { LifecycleError, MISSING } from "../../provider/lifecycle";
import type { ClusterSpec } from "../../provider/model/cluster";
import { callCounts, type Harness, MUTATING_OPS, openHarness, perMember } from "../support/lifecycle";
import { grouping, server, spec, volume } from "../support/model";

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const shop = (over: { flavor?: string; extra?: boolean; groups?: string[] } = {}): ClusterSpec =>
  spec(
    "shop",
    [
      server("web-1", "m1.small", over.groups ? { securityGroups: over.groups } : {}),
      server("web-2", "m1.small"),
      server("db-1", over.flavor ?? "m1.medium"),
      volume("db-data", 10, { attachTo: "db-1" }),
      ...(over.extra ? [server("web-3", "m1.small")] : []),
    ],
    [grouping("web-apart", "anti-affinity", ["web-1", "web-2"])],
  );

async function mutations(harness: Harness): Promise<number> {
  const counts = await callCounts(harness.cloud, MUTATING_OPS);
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** Until the simulated cloud shows `id` in one of `statuses`. */
async function settled(harness: Harness, kind: "server" | "volume", id: string, statuses: string[]): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const o = kind === "server" ? await harness.cloud.getServer(id) : await harness.cloud.getVolume(id);
    if (o && statuses.includes(o.status)) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`${kind} ${id} never became ${statuses.join("/")}`);
}

describe("import of a cluster built before (tags)", () => {
  it("finds every member by its tags, changes nothing, and the next apply has nothing to do", async () => {
    h = await openHarness();
    const built = await h.controller.apply(shop());
    const before = await mutations(h);

    const r = await h.controller.adopt(shop());
    expect(await mutations(h)).toBe(before);
    expect(r.found.map((f) => `${f.member} ${f.by}`)).toEqual([
      "db-1 tags",
      "db-data tags",
      "web-1 tags",
      "web-2 tags",
    ]);
    expect(r.missing).toEqual([]);
    expect(r.differences).toEqual([]);
    for (const [name, m] of Object.entries(built.members)) {
      expect(r.state.members[name]).toMatchObject({ id: m.id, status: m.status, ...(m.host ? { host: m.host } : {}) });
    }
    expect(r.state.members["db-data"]).toMatchObject({ attachedTo: "db-1", device: "/dev/vdb" });
    expect(r.state.members["web-1"]?.accessIpV4).toMatch(/^10\./);
    expect(r.state.brokenRules).toEqual([]);
    expect(r.state.missing).toEqual([]);
    expect(Object.values(r.state.members).some((m) => m.pending)).toBe(false);

    // Recorded as Pulumi records the import, the next up changes nothing on the cloud.
    const next = await h.controller.apply(shop(), r.state, { spec: shop() });
    expect(await mutations(h)).toBe(before);
    expect(Object.fromEntries(Object.entries(next.members).map(([n, m]) => [n, m.id]))).toEqual(
      Object.fromEntries(Object.entries(built.members).map(([n, m]) => [n, m.id])),
    );
  });

  it("what differs is reported and marked for the next apply, which makes it", async () => {
    h = await openHarness();
    await h.controller.apply(shop());
    const wanted = shop({ flavor: "m1.large", extra: true, groups: ["default", "web"] });
    const r = await h.controller.adopt(wanted);
    expect(r.missing).toEqual(["web-3"]);
    expect(r.state.missing).toEqual(["web-3"]);
    expect(r.state.members["web-3"]?.status).toBe(MISSING);
    expect(r.differences).toEqual([
      'cluster "shop": server "db-1": resize "m1.medium" → "m1.large"',
      'cluster "shop": server "web-1": security groups "default", the spec says "default", "web"',
    ]);
    expect(r.state.members["db-1"]?.pending).toEqual(["flavor"]);
    expect(r.state.members["web-1"]?.pending).toEqual(["security_groups"]);

    const next = await h.controller.apply(wanted, r.state, { spec: wanted });
    expect(next.members["db-1"]?.flavorRef).toBe("m1.large");
    expect(next.members["web-3"]?.status).toBe("ACTIVE");
    expect((await h.cloud.getServer(next.members["web-1"]?.id ?? ""))?.securityGroups).toEqual(["default", "web"]);
    expect(Object.values(next.members).some((m) => m.pending)).toBe(false);
  });

  it("a tagged member the spec doesn't name is reported; the next apply deletes it", async () => {
    h = await openHarness();
    await h.controller.apply(shop({ extra: true }));
    const r = await h.controller.adopt(shop());
    expect(r.differences).toEqual([
      expect.stringMatching(
        /^cluster "shop": server "web-3" \(.+\) is tagged as a member but the spec has none of that name: the next pulumi up deletes it/,
      ),
    ]);
    expect(r.state.members["web-3"]).toBeDefined();
    await h.controller.apply(shop(), r.state, { spec: shop() });
    expect(await perMember(h.cloud, "shop")).toEqual({ "db-1": 1, "db-data": 1, "web-1": 1, "web-2": 1 });
  });
});

describe("import of members without tags, by id", () => {
  it("adopts the named ids, tagged ones by tags; the next apply attaches what the spec attaches", async () => {
    h = await openHarness();
    const { cloud } = h;
    const db = await cloud.createServer({
      name: "old-db",
      imageRef: "debian-12",
      flavorRef: "m1.medium",
      zone: "az1",
      metadata: {},
    });
    const data = await cloud.createVolume({ name: "old-data", sizeGb: 10, zone: "az1", metadata: { owner: "ops" } });
    await settled(h, "server", db.id, ["ACTIVE"]);
    await settled(h, "volume", data.id, ["available"]);
    const wanted = spec("shop", [server("db-1", "m1.medium"), volume("db-data", 10, { attachTo: "db-1" })]);

    const before = await mutations(h);
    const r = await h.controller.adopt(wanted, { "db-1": db.id, "db-data": data.id });
    expect(await mutations(h)).toBe(before);
    expect(r.found).toEqual([
      { member: "db-1", type: "server", id: db.id, by: "id" },
      { member: "db-data", type: "volume", id: data.id, by: "id" },
    ]);
    expect(r.differences).toEqual(['cluster "shop": volume "db-data": attach to server "db-1"']);

    const next = await h.controller.apply(wanted, r.state, { spec: wanted });
    expect(next.members["db-1"]?.id).toBe(db.id);
    expect(next.members["db-data"]).toMatchObject({ id: data.id, attachedTo: "db-1", device: "/dev/vdb" });
    // Metadata the spec doesn't manage stays.
    expect((await cloud.getVolume(data.id))?.metadata.owner).toBe("ops");
  });

  it("refuses ids that can't be what they are named for, all at once, naming each", async () => {
    h = await openHarness();
    const { cloud } = h;
    const other = await cloud.createServer({
      name: "x",
      imageRef: "debian-12",
      flavorRef: "m1.small",
      metadata: { [TAG_CLUSTER]: "other", [TAG_MEMBER]: "x" },
    });
    const vol = await cloud.createVolume({ name: "v", sizeGb: 1, metadata: {} });
    const err = await h.controller
      .adopt(shop(), {
        "web-1": other.id,
        "web-2": vol.id,
        "db-1": "00000000-0000-4000-8000-000000000000",
        nobody: "x",
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LifecycleError);
    expect((err as LifecycleError).code).toBe("invalid");
    const lines = (err as Error).message.split("\n");
    expect(lines[0]).toBe('cluster "shop": the import can\'t be made:');
    expect(lines.slice(1)).toEqual([
      `  cluster "shop": no server "00000000-0000-4000-8000-000000000000" (named for "db-1") on the ${cloud.description}`,
      '  cluster "shop": the import names member "nobody", which the spec doesn\'t have',
      `  cluster "shop": server "${other.id}" (named for "web-1") belongs to cluster "other"`,
      `  cluster "shop": "${vol.id}", named for server "web-2", is a volume`,
    ]);
  });

  it("nothing of the cluster anywhere: refused, with the way to name ids or to create it", async () => {
    h = await openHarness();
    const err = await h.controller.adopt(shop()).catch((e: unknown) => e);
    expect((err as LifecycleError).code).toBe("invalid");
    expect((err as Error).message).toMatch(/^cluster "shop": nothing to import: .*"shop:<member>=<id>,…"/);
  });
});
