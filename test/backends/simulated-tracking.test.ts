// The simulated cloud's change tracking (provider/backends/simulated/tracking.ts): operations change a
// plain-looking CloudState in place, and each transaction learns exactly which rows to write.
import { describe, expect, it } from "vitest";
import { plain } from "../../provider/backends/simulated/proxies";
import type { CloudState } from "../../provider/backends/simulated/store";
import { type Changes, removeRecords, TrackedState } from "../../provider/backends/simulated/tracking";

function state(): CloudState {
  return {
    version: 1,
    cloudId: "c",
    createdAt: 0,
    projectSalt: "s",
    topology: {
      flavors: {},
      hosts: [{ name: "h1", zone: "z", rack: "r", vcpus: 1, ramMb: 1, diskGb: 1 }],
      storageBackends: [],
    },
    images: ["cirros"],
    servers: [1, 2, 3].map((i) => ({
      id: `s${i}`,
      name: `s${i}`,
      status: "ACTIVE",
      flavorRef: "one",
      imageRef: "cirros",
      metadata: { k: "v" },
      createdAt: 0,
    })),
    volumes: [],
    serverGroups: [{ id: "g1", name: "g", policy: "affinity", members: ["s1"], metadata: {} }],
    faults: [],
    nextFaultId: 1,
    calls: { getServer: 4 },
  };
}

/** A server record not yet in the state. */
function newServer(id: string): CloudState["servers"][number] {
  return { id, name: id, status: "BUILD", flavorRef: "one", imageRef: "cirros", metadata: {}, createdAt: 1 };
}

/** The ids written and removed per collection, meta keys and counters of a transaction. */
function summary(c: Changes) {
  const ids = (m: Map<string, unknown[]>) =>
    Object.fromEntries(
      [...m]
        .filter(([, l]) => l.length > 0)
        .map(([k, l]) => [k, l.map((x) => (typeof x === "object" ? (x as { id: string }).id : x))]),
    );
  return {
    upserts: ids(c.upserts as Map<string, unknown[]>),
    removes: ids(c.removes as Map<string, unknown[]>),
    meta: c.meta,
    calls: c.calls,
  };
}

describe("simulated cloud: change tracking", () => {
  it("a read changes nothing; a write marks its record, meta key or counter, and nothing else", () => {
    const t = new TrackedState(state());
    t.begin();
    const s = t.state;
    expect(s.servers.find((x) => x.id === "s2")?.metadata.k).toBe("v");
    expect(summary(t.finish())).toEqual({
      upserts: {},
      removes: {},
      meta: { set: [], remove: [] },
      calls: { replaceAll: false, set: [] },
    });

    t.begin();
    const s2 = t.state.servers[1];
    if (!s2) throw new Error("no s2");
    s2.metadata.k = "w";
    (t.state.serverGroups[0] as { members: string[] }).members.push("s2");
    t.state.calls.getServer = 5;
    t.state.nextFaultId++;
    delete t.state.servers[2]?.metadata.k;
    expect(summary(t.finish())).toEqual({
      upserts: { servers: ["s2", "s3"], serverGroups: ["g1"] },
      removes: {},
      meta: { set: ["nextFaultId"], remove: [] },
      calls: { replaceAll: false, set: ["getServer"] },
    });
  });

  it("finds records pushed and records filtered out, and writes a new record's later changes", () => {
    const t = new TrackedState(state());
    t.begin();
    const fresh = newServer("s4");
    t.state.servers.push(fresh);
    fresh.status = "ACTIVE"; // through the operation's own reference, after the push
    t.state.servers = t.state.servers.filter((x) => x.id !== "s1");
    const c = t.finish();
    expect(summary(c)).toMatchObject({ upserts: { servers: ["s4"] }, removes: { servers: ["s1"] } });
    expect(c.upserts.get("servers")?.[0]).toMatchObject({ id: "s4", status: "ACTIVE" });
    expect(t.snapshot().servers.map((x) => x.id)).toEqual(["s2", "s3", "s4"]);
  });

  it("removeRecords takes records out without comparing the list: removes, pushes, a rollback and an id made again", () => {
    const t = new TrackedState(state());
    t.begin();
    const s4 = newServer("s4");
    t.state.servers.push(s4);
    removeRecords(t.state, "servers", new Set(["s1", "nope"]));
    t.state.servers.push(newServer("s5"));
    expect(summary(t.finish())).toMatchObject({ upserts: { servers: ["s4", "s5"] }, removes: { servers: ["s1"] } });
    expect(t.snapshot().servers.map((x) => x.id)).toEqual(["s2", "s3", "s4", "s5"]);

    // Undone after a checkpoint: the removal before it stays, the one after it is back.
    t.begin();
    removeRecords(t.state, "servers", new Set(["s2"]));
    t.checkpoint();
    removeRecords(t.state, "servers", new Set(["s3"]));
    t.rollback();
    expect(summary(t.finish())).toMatchObject({ upserts: {}, removes: { servers: ["s2"] } });
    expect(t.snapshot().servers.map((x) => x.id)).toEqual(["s3", "s4", "s5"]);

    // Removed and made again under its id in one transaction: written, not deleted.
    t.begin();
    removeRecords(t.state, "servers", new Set(["s3"]));
    t.state.servers.push({ ...newServer("s3"), name: "again" });
    expect(summary(t.finish())).toMatchObject({ upserts: { servers: ["s3"] }, removes: {} });
    expect(t.snapshot().servers.map((x) => [x.id, x.name])).toEqual([
      ["s4", "s4"],
      ["s5", "s5"],
      ["s3", "again"],
    ]);

    // A plain state (no cache): the list is filtered.
    const bare = state();
    removeRecords(bare, "servers", new Set(["s2"]));
    expect(bare.servers.map((x) => x.id)).toEqual(["s1", "s3"]);
  });

  it("rolls back what happened after the checkpoint, keeping what happened before", () => {
    const t = new TrackedState(state());
    t.begin();
    t.state.calls.getServer = 5;
    t.checkpoint();
    const s1 = t.state.servers[0];
    if (!s1) throw new Error("no s1");
    s1.status = "DELETED";
    s1.metadata.extra = "x";
    t.state.servers.push({ ...s1, id: "s9" });
    t.state.images = [];
    t.rollback();
    t.finish();
    const snap = t.snapshot();
    expect(snap.servers.map((x) => [x.id, x.status, x.metadata])).toEqual([
      ["s1", "ACTIVE", { k: "v" }],
      ["s2", "ACTIVE", { k: "v" }],
      ["s3", "ACTIVE", { k: "v" }],
    ]);
    expect(snap.images).toEqual(["cirros"]);
    expect(snap.calls).toEqual({ getServer: 5 });
  });

  it("never lets two records share an object, copies with plain (structuredClone refuses a state object), and refuses a change outside a call", () => {
    const t = new TrackedState(state());
    t.begin();
    const [a, b] = t.state.servers;
    if (!a || !b) throw new Error("no servers");
    b.metadata = a.metadata;
    b.metadata.k = "only-b";
    expect(() => structuredClone(a)).toThrow();
    const copy = plain(a);
    copy.name = "changed copy";
    const changes = summary(t.finish());
    expect(changes.upserts).toEqual({ servers: ["s2"] });
    expect(t.snapshot().servers.map((x) => [x.name, x.metadata.k])).toEqual([
      ["s1", "v"],
      ["s2", "only-b"],
      ["s3", "v"],
    ]);
    expect(() => {
      a.status = "late";
    }).toThrow(/changed outside a call/);
  });
});
