// Every edit of a built cluster's inputs through the controller on the simulated cloud: the cloud
// shows the new value afterwards, nothing else is rebuilt or replaced, the plan says it per member
// first; an edit a failed update did not finish stays pending and is made by the next apply.
import { afterEach, describe, expect, it } from "vitest";
import { TAG_MEMBER } from "../../provider/backends/backend";
import type { ClusterState, PreviousInputs } from "../../provider/lifecycle";
import { LifecycleError } from "../../provider/lifecycle";
import type { ClusterSpec, Member } from "../../provider/model/cluster";
import { callCounts, type Harness, MUTATING_OPS, openHarness } from "../support/lifecycle";
import { grouping, server, spec, volume } from "../support/model";

/** Two web servers, a db server with a data volume: each with every editable input set. */
function cluster(edit: (m: Member) => Member = (m) => m): ClusterSpec {
  const members: Member[] = [
    server("web-1", "m1.small", { keyName: "k1", securityGroups: ["default"], metadata: { role: "web" } }),
    server("web-2", "m1.small", { keyName: "k1", securityGroups: ["default"], metadata: { role: "web" } }),
    server("db-1", "m1.medium", { userData: "#cloud-config\npassword: one", networks: ["net-a"] }),
    volume("data", 10, { attachTo: "db-1", volumeType: "hdd", metadata: { backup: "daily" } }),
  ];
  return spec("shop", members.map(edit), [grouping("spread", "anti-affinity", ["web-1", "web-2", "db-1"])]);
}

const only =
  (name: string, over: Partial<Member>) =>
  (m: Member): Member =>
    m.name === name ? ({ ...m, ...over } as Member) : m;

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

async function built(): Promise<{ h: Harness; state: ClusterState; before: ClusterSpec }> {
  h = await openHarness();
  const before = cluster();
  const state = await h.controller.apply(before);
  return { h, state, before };
}

async function byMember(harness: Harness) {
  const snap = await harness.cloud.snapshot();
  const name = (o: { metadata: Record<string, string> }) => o.metadata[TAG_MEMBER] ?? "?";
  return {
    servers: Object.fromEntries(snap.servers.map((s) => [name(s), s])),
    volumes: Object.fromEntries(snap.volumes.map((v) => [name(v), v])),
  };
}

/** Applies `after` on a built cluster, previous spec given as Pulumi gives it; the cloud's calls meanwhile. */
async function edit(
  harness: Harness,
  state: ClusterState,
  before: ClusterSpec,
  after: ClusterSpec,
): Promise<{ state: ClusterState; calls: Record<string, number>; lines: string[] }> {
  const previous: PreviousInputs = { spec: before };
  const plan = await harness.controller.plan(after, state, previous);
  const lines = plan.members.map((l) => `${l.level}: ${l.text}`);
  const start = await callCounts(harness.cloud, MUTATING_OPS);
  const next = await harness.controller.apply(after, state, previous);
  const end = await callCounts(harness.cloud, MUTATING_OPS);
  const calls = Object.fromEntries(
    Object.entries(end)
      .map(([op, n]) => [op, n - (start[op] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  );
  return { state: next, calls, lines };
}

describe("each input edit of a built cluster is made, and nothing else", () => {
  it("metadata of a server: set and deleted in place, no rebuild", async () => {
    const { h, state, before } = await built();
    const ids = await byMember(h);
    const r = await edit(h, state, before, cluster(only("web-1", { metadata: { tier: "front" } })));
    expect(r.lines).toEqual(['info: cluster "shop": server "web-1": metadata: set "tier" = "front", delete "role"']);
    expect(r.calls).toEqual({ updateServerMetadata: 1 });
    const now = await byMember(h);
    expect(now.servers["web-1"]?.metadata).toEqual({
      ...ids.servers["web-1"]?.metadata,
      tier: "front",
      role: undefined,
    });
    expect(now.servers["web-1"]?.metadata).not.toHaveProperty("role");
    expect(now.servers["web-1"]?.id).toBe(ids.servers["web-1"]?.id);
  });

  it("key_name: a rebuild of that server alone, the root disk wiped (a warning first)", async () => {
    const { h, state, before } = await built();
    const ids = await byMember(h);
    const r = await edit(h, state, before, cluster(only("web-2", { keyName: "k2" })));
    expect(r.lines).toEqual([
      'warn: cluster "shop": server "web-2": rebuild (root disk is wiped): keyName "k1" → "k2"',
    ]);
    expect(r.calls).toEqual({ rebuildServer: 1 });
    const now = await byMember(h);
    expect(now.servers["web-2"]).toMatchObject({ keyName: "k2", id: ids.servers["web-2"]?.id, imageRef: "debian-12" });
    expect(now.servers["web-1"]?.keyName).toBe("k1");
  });

  it("user_data: a rebuild with the new data (kept by the cloud as a digest), never shown", async () => {
    const { h, state, before } = await built();
    const was = (await byMember(h)).servers["db-1"]?.userDataDigest;
    const r = await edit(h, state, before, cluster(only("db-1", { userData: "#cloud-config\npassword: two" })));
    expect(r.lines).toEqual(['warn: cluster "shop": server "db-1": rebuild (root disk is wiped): userData changed']);
    expect(r.calls).toEqual({ rebuildServer: 1 });
    const now = (await byMember(h)).servers["db-1"]?.userDataDigest;
    expect(now).toBeDefined();
    expect(now).not.toBe(was);
    expect(JSON.stringify(r)).not.toContain("password");
    expect(h.logs.join("\n")).not.toContain("password");
  });

  it("security_groups: added and removed in place", async () => {
    const { h, state, before } = await built();
    const r = await edit(h, state, before, cluster(only("web-1", { securityGroups: ["web"] })));
    expect(r.lines).toEqual(['info: cluster "shop": server "web-1": securityGroups: add "web", remove "default"']);
    expect(r.calls).toEqual({ addSecurityGroup: 1, removeSecurityGroup: 1 });
    expect((await byMember(h)).servers["web-1"]?.securityGroups).toEqual(["web"]);
  });

  it("networks: attached and detached in place, the server and its volume kept, its addresses and ports new", async () => {
    const { h, state, before } = await built();
    const ids = await byMember(h);
    const r = await edit(h, state, before, cluster(only("db-1", { networks: ["net-b"] })));
    expect(r.lines).toEqual(['info: cluster "shop": server "db-1": networks: detach "net-a", attach "net-b"']);
    expect(r.calls).toEqual({ attachNetwork: 1, detachNetwork: 1 });
    const now = await byMember(h);
    expect(now.servers["db-1"]?.id).toBe(ids.servers["db-1"]?.id);
    expect(now.servers["db-1"]?.networks).toEqual(["net-b"]);
    expect(Object.keys(r.state.members["db-1"]?.addresses ?? {})).toEqual(["net-b"]);
    expect(r.state.members["db-1"]?.ports).toEqual(now.servers["db-1"]?.ports);
    expect(r.state.members["db-1"]?.ports).toHaveLength(1);
    expect(r.state.members["db-1"]?.ports).not.toEqual(state.members["db-1"]?.ports);
    expect(now.volumes.data).toMatchObject({ id: ids.volumes.data?.id, attachedTo: [ids.servers["db-1"]?.id] });
    // A server's security groups go on a port attached in place too.
    const guarded = cluster(only("web-1", { securityGroups: ["web"], networks: ["net-a"] }));
    const r2 = await edit(h, r.state, cluster(only("web-1", { securityGroups: ["web"] })), guarded);
    expect(r2.lines).toEqual([
      `warn: cluster "shop": server "web-1": replace (the old server is deleted: its disks are lost) on host "${r2.state.placement["web-1"]?.host}": replaces the old one (its networks change from the cloud's default to ["net-a"]: only networks the spec names change in place)`,
    ]);
    const r3 = await edit(
      h,
      r2.state,
      guarded,
      cluster(only("web-1", { securityGroups: ["web"], networks: ["net-a", "net-b"] })),
    );
    expect(r3.calls).toEqual({ attachNetwork: 1, addSecurityGroup: 1, removeSecurityGroup: 2 });
    expect((await byMember(h)).servers["web-1"]).toMatchObject({
      networks: ["net-a", "net-b"],
      securityGroups: ["web"],
    });
  });

  it("networks reordered: the server is replaced, its volume detached and attached to the new one", async () => {
    const { h, state, before } = await built();
    const ids = await byMember(h);
    const r = await edit(h, state, before, cluster(only("db-1", { networks: ["net-b", "net-a"] })));
    expect(r.lines).toEqual([
      'info: cluster "shop": volume "data": detach from server "db-1"; attach to server "db-1"',
      'warn: cluster "shop": server "db-1": replace (the old server is deleted: its disks are lost) on host "' +
        `${r.state.placement["db-1"]?.host}": replaces the old one (its networks change from ["net-a"] to ["net-b", "net-a"]: their order changes, and Nova puts an attached network last)`,
    ]);
    const now = await byMember(h);
    expect(now.servers["db-1"]?.id).not.toBe(ids.servers["db-1"]?.id);
    expect(now.servers["db-1"]?.networks).toEqual(["net-b", "net-a"]);
    expect(now.volumes.data?.id).toBe(ids.volumes.data?.id);
    expect(now.volumes.data?.attachedTo).toEqual([now.servers["db-1"]?.id]);
    expect(now.servers["web-1"]?.id).toBe(ids.servers["web-1"]?.id);
  });

  it("volume_type and volume metadata: retyped and changed in place, still attached", async () => {
    const { h, state, before } = await built();
    const ids = await byMember(h);
    const r = await edit(
      h,
      state,
      before,
      cluster(only("data", { volumeType: "ssd", metadata: { backup: "weekly" } } as Partial<Member>)),
    );
    expect(r.lines).toEqual([
      'info: cluster "shop": volume "data": retype "hdd" → "ssd"; metadata: "backup" "daily" → "weekly"',
    ]);
    expect(r.calls).toEqual({ retypeVolume: 1, updateVolumeMetadata: 1 });
    const v = (await byMember(h)).volumes.data;
    expect(v).toMatchObject({ id: ids.volumes.data?.id, volumeType: "ssd", status: "in-use" });
    expect(v?.metadata.backup).toBe("weekly");
    expect(r.state.members.data?.volumeType).toBe("ssd");
  });

  it("every edit at once: one plan line per member, then a second apply changes nothing", async () => {
    const { h, state, before } = await built();
    const after = cluster((m) => {
      if (m.name === "web-1") return { ...m, keyName: "k2", metadata: { role: "web", tier: "1" } } as Member;
      if (m.name === "db-1") return { ...m, userData: "#cloud-config\npassword: three" } as Member;
      if (m.name === "data") return { ...m, volumeType: "ssd" } as Member;
      return m;
    });
    const r = await edit(h, state, before, after);
    expect(r.lines.map((l) => l.split(":")[0])).toEqual(["info", "warn", "warn"]);
    expect(r.calls).toEqual({ rebuildServer: 2, updateServerMetadata: 1, retypeVolume: 1 });
    const again = await edit(h, r.state, after, after);
    expect(again.lines).toEqual([]);
    expect(again.calls).toEqual({});
  });
});

describe("an edit a failed update did not finish", () => {
  it("stays pending in the partial state, and the next apply makes it though the inputs then look unchanged", async () => {
    const { h, state, before } = await built();
    const after = cluster(only("web-1", { keyName: "k2", metadata: { tier: "1" } }));
    await h.cloud.injectFault({ kind: "error", op: "rebuildServer", code: "conflict", message: "Cannot rebuild now." });
    const failure = await h.controller.apply(after, state, { spec: before }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(LifecycleError);
    const partial = (failure as LifecycleError).partialState as ClusterState;
    expect(partial.members["web-1"]?.pending).toEqual(["key_name", "metadata"]);
    expect(partial.members["web-1"]?.staleMetadataKeys).toEqual(["role"]);
    // Pulumi records the failed update's new inputs: the next run's previous spec is `after` itself.
    const plan = await h.controller.plan(after, partial, { spec: after });
    expect(plan.members.map((l) => l.text)).toEqual([
      'cluster "shop": server "web-1": rebuild (root disk is wiped): keyName "k1" → "k2"; metadata: set "tier" = "1", delete "role"',
    ]);
    const done = await h.controller.apply(after, partial, { spec: after });
    expect(done.members["web-1"]?.pending).toBeUndefined();
    const web1 = (await byMember(h)).servers["web-1"];
    expect(web1?.keyName).toBe("k2");
    expect(web1?.metadata).toMatchObject({ tier: "1" });
    expect(web1?.metadata).not.toHaveProperty("role");
  });
});

describe("a network edit a failed update did not finish", () => {
  it("stays pending, and the next apply attaches again, what is there left as it is", async () => {
    const { h, state, before } = await built();
    const after = cluster(only("db-1", { networks: ["net-b", "net-c"] }));
    // net-a detached, net-b attached, then net-c fails.
    await h.cloud.injectFault({
      kind: "error",
      op: "attachNetwork",
      nth: 2,
      code: "bad_request",
      message: "No more IPs.",
    });
    const failure = await h.controller.apply(after, state, { spec: before }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(LifecycleError);
    const partial = (failure as LifecycleError).partialState as ClusterState;
    expect(partial.members["db-1"]?.pending).toEqual(["networks"]);
    expect((await byMember(h)).servers["db-1"]?.networks).toEqual(["net-b"]);
    // Pulumi records the failed update's new inputs: the next run's previous spec is `after` itself.
    const plan = await h.controller.plan(after, partial, { spec: after });
    expect(plan.members.map((l) => l.text)).toEqual([
      'cluster "shop": server "db-1": networks: attach "net-b", attach "net-c"',
    ]);
    const done = await h.controller.apply(after, partial, { spec: after });
    expect(done.members["db-1"]?.pending).toBeUndefined();
    expect((await byMember(h)).servers["db-1"]?.networks).toEqual(["net-b", "net-c"]);
  });
});

describe("what can't be made is refused at preview, or said", () => {
  it("without a previous spec (a state of an older release), user_data edits can't be seen: said, nothing rebuilt", async () => {
    const { h, state } = await built();
    const plan = await h.controller.plan(cluster(only("db-1", { userData: "new" })), state);
    expect(plan.members).toEqual([]);
    expect(plan.warnings.join("\n")).toContain(
      'no record of the spec last applied (a state of an older release): changes of userData, networks or securityGroups of "db-1", "web-1", "web-2" can\'t be seen in this run',
    );
  });

  it("a volume_type taken out of the spec: the volume keeps its type, and the plan says so", async () => {
    const { h, state, before } = await built();
    const after = cluster((m) =>
      m.name === "data" ? volume("data", 10, { attachTo: "db-1", metadata: { backup: "daily" } }) : m,
    );
    const plan = await h.controller.plan(after, state, { spec: before });
    expect(plan.members).toEqual([]);
    expect(plan.warnings).toContain(
      'cluster "shop": volume "data" keeps its type "hdd": volumeType was taken out of the spec, and a volume can\'t go back to "the cloud\'s default" (hint: name the type it should have)',
    );
  });
});
