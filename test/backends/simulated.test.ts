import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BackendError, type BackendErrorCode, type ServerInfo, TAG_MEMBER } from "../../provider/backends/backend";
import {
  defaultSimulatedTopology,
  type Fault,
  NO_VALID_HOST,
  renderCloudTree,
  SIM_FAULTS_ENV,
  SimulatedCloud,
  type SimulatedCloudOptions,
} from "../../provider/backends/simulated";
import type { Host, Topology } from "../../provider/model/topology";
import { describeBackendConformance } from "./conformance";

const REPO = path.resolve(__dirname, "../..");
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "vcluster-sim-"));
  dirs.push(d);
  return path.join(d, "cloud");
}

function defaultWithHuge(): Topology {
  const t = defaultSimulatedTopology();
  t.flavors["x.huge"] = { vcpus: 64, ramMb: 262144, diskGb: 4000 };
  return t;
}

for (const view of ["admin", "tenant"] as const) {
  describeBackendConformance(`simulated (${view})`, async () => {
    const dir = tempDir();
    const backend = await SimulatedCloud.open({ dir, view, topology: defaultWithHuge() });
    return {
      backend,
      imageRef: "debian-12",
      otherImageRef: "ubuntu-24.04",
      flavorRef: "m1.small",
      biggerFlavorRef: "m1.medium",
      hugeFlavorRef: "x.huge",
      zone: "az2",
      // The simulated cloud keeps no keypairs, Neutron networks or groups: any name is accepted.
      keyNames: ["key-1", "key-2"],
      securityGroup: "web",
      volumeTypes: ["hdd", "ssd"],
      networks: ["net-a", "net-b"],
      cleanup: () => SimulatedCloud.destroyDir(dir),
    };
  });
}

// ---- builders ----

function host(name: string, zone: string, rack: string, over: Partial<Host> = {}): Host {
  return { name, zone, rack, vcpus: 4, ramMb: 8192, diskGb: 100, ...over };
}

/** 2 zones: "a" with two hosts in one rack, "b" with one host; a zonal and a local backend each. */
function smallTopology(): Topology {
  return {
    flavors: {
      one: { vcpus: 1, ramMb: 1024, diskGb: 10 },
      two: { vcpus: 2, ramMb: 2048, diskGb: 20 },
      four: { vcpus: 4, ramMb: 4096, diskGb: 40 },
      huge: { vcpus: 64, ramMb: 65536, diskGb: 1000 },
    },
    hosts: [host("a1", "a", "r1"), host("a2", "a", "r1", { ramMb: 16384 }), host("b1", "b", "r1")],
    storageBackends: [
      { name: "shared-a", zone: "a", capacityGb: 100 },
      { name: "shared-b", zone: "b", capacityGb: 100 },
      { name: "lvm@a1", host: "a1", capacityGb: 50 },
      { name: "lvm@a2", host: "a2", capacityGb: 50 },
    ],
  };
}

function fakeClock() {
  let t = 1_000_000;
  return {
    now: () => t,
    advance: (ms = 1000) => {
      t += ms;
    },
  };
}

async function openSmall(over: Partial<SimulatedCloudOptions> = {}) {
  const clock = fakeClock();
  const dir = tempDir();
  const cloud = await SimulatedCloud.open({ dir, topology: smallTopology(), now: clock.now, ...over });
  return { cloud, clock, dir };
}

const srv = (name: string, over: Partial<Parameters<SimulatedCloud["createServer"]>[0]> = {}) => ({
  name,
  imageRef: "cirros",
  flavorRef: "one",
  metadata: { [TAG_MEMBER]: name },
  ...over,
});

async function errorOf(p: Promise<unknown>): Promise<BackendError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(BackendError);
  return e as BackendError;
}

async function expectCode(p: Promise<unknown>, code: BackendErrorCode): Promise<string> {
  const e = await errorOf(p);
  expect(e.code).toBe(code);
  return e.message;
}

afterEach(() => {
  delete process.env[SIM_FAULTS_ENV];
});

// ---- simulated-only behaviour ----

describe("simulated cloud: lifecycle over time", () => {
  it("builds, resizes, rebuilds and deletes on the clock", async () => {
    const { cloud, clock } = await openSmall();
    const s = await cloud.createServer(srv("web"));
    expect(s).toMatchObject({ status: "BUILD", host: "a2", zone: "a" }); // a2 has the most free RAM
    expect((await cloud.getServer(s.id))?.status).toBe("BUILD");
    clock.advance();
    expect((await cloud.getServer(s.id))?.status).toBe("ACTIVE");

    await cloud.resizeServer(s.id, "four");
    expect((await cloud.getServer(s.id))?.status).toBe("RESIZE");
    clock.advance();
    expect(await cloud.getServer(s.id)).toMatchObject({ status: "ACTIVE", flavorRef: "four" });
    const used = (await cloud.discover()).topology.hosts.find((h) => h.name === "a2")?.used;
    expect(used).toEqual({ vcpus: 4, ramMb: 4096, diskGb: 40 });

    await cloud.rebuildServer(s.id, "debian-12");
    expect((await cloud.getServer(s.id))?.status).toBe("REBUILD");
    clock.advance();
    expect(await cloud.getServer(s.id)).toMatchObject({ status: "ACTIVE", imageRef: "debian-12" });

    await cloud.deleteServer(s.id);
    expect(await cloud.getServer(s.id)).toBeDefined(); // the deleting window
    clock.advance();
    expect(await cloud.getServer(s.id)).toBeUndefined();
    expect((await cloud.discover()).topology.hosts.find((h) => h.name === "a2")?.used).toEqual({
      vcpus: 0,
      ramMb: 0,
      diskGb: 0,
    });
  });

  it("refuses actions in the wrong state, and resizes that change nothing", async () => {
    const { cloud, clock } = await openSmall();
    const s = await cloud.createServer(srv("web"));
    expect(await expectCode(cloud.resizeServer(s.id, "two"), "conflict")).toMatchInlineSnapshot(
      `"Cannot resize server "web" while it is BUILD; wait until it is ACTIVE or SHUTOFF."`,
    );
    clock.advance();
    expect(await expectCode(cloud.resizeServer(s.id, "one"), "bad_request")).toMatchInlineSnapshot(
      `"Server "web" already has flavor "one"; a resize must change the flavor."`,
    );
    expect(await expectCode(cloud.resizeServer(s.id, "nope"), "bad_request")).toMatchInlineSnapshot(
      `"Flavor "nope" could not be found; known: four, huge, one, two."`,
    );
    expect(await expectCode(cloud.resizeServer(s.id, "huge"), "conflict")).toMatch(/No valid host was found/);
    expect((await cloud.getServer(s.id))?.status).toBe("ACTIVE");
  });

  it("moves a resize to another host when the current one is full", async () => {
    const { cloud, clock } = await openSmall();
    const a = await cloud.createServer(srv("a", { host: "a1", flavorRef: "two" }));
    await cloud.createServer(srv("filler", { host: "a1", flavorRef: "two" }));
    clock.advance();
    await cloud.resizeServer(a.id, "four");
    clock.advance();
    expect(await cloud.getServer(a.id)).toMatchObject({ status: "ACTIVE", host: "a2", flavorRef: "four" });
  });

  it("walks a volume through creating, attaching, detaching, extending and deleting", async () => {
    const { cloud, clock } = await openSmall();
    const s = await cloud.createServer(srv("db", { zone: "a" }));
    const v = await cloud.createVolume({ name: "data", sizeGb: 10, zone: "a", metadata: {} });
    expect(v).toMatchObject({ status: "creating", backend: "shared-a", zone: "a" });
    expect(await expectCode(cloud.attachVolume(s.id, v.id), "conflict")).toMatch(/must be available/);
    clock.advance();
    await cloud.attachVolume(s.id, v.id);
    expect(await cloud.getVolume(v.id)).toMatchObject({ status: "attaching", attachedTo: [s.id] });
    expect(await expectCode(cloud.deleteVolume(v.id), "conflict")).toMatchInlineSnapshot(
      `"Volume "data" is attaching; it must be available or error, and not attached, to be deleted."`,
    );
    clock.advance();
    expect((await cloud.getVolume(v.id))?.status).toBe("in-use");
    await cloud.extendVolume(v.id, 20); // in-use extend is allowed
    expect((await cloud.getVolume(v.id))?.status).toBe("extending");
    clock.advance();
    expect(await cloud.getVolume(v.id)).toMatchObject({ status: "in-use", sizeGb: 20 });
    expect(await expectCode(cloud.extendVolume(v.id, 20), "bad_request")).toMatchInlineSnapshot(
      `"New size for extend must be greater than the current size of volume "data" (20 GB), not 20."`,
    );
    expect(await expectCode(cloud.extendVolume(v.id, 500), "conflict")).toMatchInlineSnapshot(
      `"Volume "data" cannot grow to 500 GB: its backend has 100 GB free."`,
    );
    await cloud.detachVolume(s.id, v.id);
    clock.advance();
    expect(await cloud.getVolume(v.id)).toMatchObject({ status: "available", attachedTo: [] });
    await cloud.deleteVolume(v.id);
    expect((await cloud.getVolume(v.id))?.status).toBe("deleting");
    clock.advance();
    expect(await cloud.getVolume(v.id)).toBeUndefined();
  });

  it("refuses to attach across zones, and detaches a deleted server's volumes", async () => {
    const { cloud, clock } = await openSmall();
    const s = await cloud.createServer(srv("db", { zone: "a" }));
    const far = await cloud.createVolume({ name: "far", sizeGb: 1, zone: "b", metadata: {} });
    const near = await cloud.createVolume({ name: "near", sizeGb: 1, zone: "a", metadata: {} });
    clock.advance();
    expect(await expectCode(cloud.attachVolume(s.id, far.id), "bad_request")).toMatchInlineSnapshot(
      `"Server "db" (zone "a") and volume "far" (zone "b") are not in the same availability zone."`,
    );
    await cloud.attachVolume(s.id, near.id);
    clock.advance();
    await cloud.deleteServer(s.id);
    clock.advance();
    expect(await cloud.getVolume(near.id)).toMatchObject({ status: "available", attachedTo: [] });
  });
});

describe("simulated cloud: scheduling like Nova", () => {
  it("fills hosts, then puts the next server in ERROR with Nova's words and no claim", async () => {
    const { cloud } = await openSmall();
    const made: ServerInfo[] = [];
    for (let i = 0; i < 4; i++) made.push(await cloud.createServer(srv(`s${i}`, { flavorRef: "four" })));
    // a1 and b1 hold one "four" each (4 vCPUs), a2 holds one: three fit, the fourth can't.
    expect(made.map((s) => s.host ?? s.status)).toEqual(["a2", "a1", "b1", "ERROR"]);
    const last = made[3] as ServerInfo;
    expect(last.fault).toBe(NO_VALID_HOST);
    expect(last.fault).toMatchInlineSnapshot(`"No valid host was found. There are not enough hosts available."`);
    const snap = await cloud.snapshot();
    expect(snap.servers.find((s) => s.id === last.id)?.claim).toBeUndefined();
    expect((await cloud.discover()).topology.hosts.map((h) => h.used?.vcpus)).toEqual([4, 4, 4]);
  });

  it("honours a pinned host, and puts a misfit in ERROR saying why", async () => {
    const { cloud } = await openSmall();
    expect((await cloud.createServer(srv("p", { host: "a1" }))).host).toBe("a1");
    const cases: [string, Partial<Parameters<SimulatedCloud["createServer"]>[0]>][] = [
      ["wrong zone", { host: "b1", zone: "a" }],
      ["too big", { host: "a1", flavorRef: "huge" }],
    ];
    const faults = [];
    for (const [label, over] of cases) {
      const s = await cloud.createServer(srv(label, over));
      expect(s.status).toBe("ERROR");
      faults.push(s.fault);
    }
    expect(faults).toMatchInlineSnapshot(`
      [
        "No valid host was found. Host "b1" is in zone "b", not "a".",
        "No valid host was found. Host "a1" lacks vCPUs (need 64, free 3), RAM (need 65536 MB, free 7168 MB), disk (need 1000 GB, free 90 GB).",
      ]
    `);
    expect(await expectCode(cloud.createServer(srv("x", { host: "zz" })), "bad_request")).toMatchInlineSnapshot(
      `"Compute host "zz" could not be found; known: a1, a2, b1."`,
    );
  });

  it.each([
    ["affinity", undefined, ["a2", "a2", "a2"]],
    ["anti-affinity", undefined, ["a2", "a1", "ERROR"]],
    ["anti-affinity", 2, ["a2", "a2", "a1"]],
    ["soft-anti-affinity", undefined, ["a2", "a1", "a2"]],
    ["soft-affinity", undefined, ["a2", "a2", "a2"]],
  ] as const)("server group %s (max %s per host) in zone a places three servers on %j", async (policy, max, want) => {
    const { cloud } = await openSmall();
    const g = await cloud.createServerGroup({
      name: "g",
      policy,
      ...(max !== undefined ? { maxServerPerHost: max } : {}),
      metadata: {},
    });
    const hosts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await cloud.createServer(srv(`m${i}`, { zone: "a", serverGroupId: g.id }));
      hosts.push(s.host ?? s.status);
    }
    expect(hosts).toEqual(want);
    expect((await cloud.getServerGroup(g.id))?.members).toHaveLength(3);
  });

  it("rejects a bad group request and an unknown group", async () => {
    const { cloud } = await openSmall();
    expect(
      await expectCode(
        cloud.createServerGroup({ name: "g", policy: "affinity", maxServerPerHost: 2, metadata: {} }),
        "bad_request",
      ),
    ).toMatchInlineSnapshot(`"max_server_per_host applies only to the "anti-affinity" policy, not "affinity"."`);
    await expectCode(cloud.createServer(srv("x", { serverGroupId: "nope" })), "bad_request");
  });

  it("follows same_host and different_host hints", async () => {
    const { cloud } = await openSmall();
    const first = await cloud.createServer(srv("first", { zone: "a" }));
    const same = await cloud.createServer(srv("same", { sameHost: [first.id] }));
    const diff = await cloud.createServer(srv("diff", { zone: "a", differentHost: [first.id] }));
    expect([first.host, same.host, diff.host]).toEqual(["a2", "a2", "a1"]);
  });

  it("places volumes by zone, pinned backend and hints, and puts a misfit in error", async () => {
    const { cloud } = await openSmall();
    const s = await cloud.createServer(srv("s", { host: "a1" }));
    const make = (name: string, over: Partial<Parameters<SimulatedCloud["createVolume"]>[0]> = {}) =>
      cloud.createVolume({ name, sizeGb: 10, metadata: {}, ...over });
    const local = await make("local", { localToServer: s.id });
    const zonal = await make("zonal", { zone: "b" });
    const pinned = await make("pinned", { backend: "lvm@a2" });
    const same = await make("same", { sameBackendAs: [pinned.id] });
    const other = await make("other", { zone: "a", differentBackendFrom: [pinned.id, local.id] });
    const tooBig = await make("too-big", { sizeGb: 1000 });
    expect([local, zonal, pinned, same, other].map((v) => `${v.name}@${v.backend}/${v.zone}`)).toEqual([
      "local@lvm@a1/a",
      "zonal@shared-b/b",
      "pinned@lvm@a2/a",
      "same@lvm@a2/a",
      "other@shared-a/a",
    ]);
    expect(tooBig).toMatchObject({
      status: "error",
      fault: "No valid backend was found. No weighed backends available.",
    });
    const misfit = await make("misfit", { backend: "lvm@a1", zone: "b" });
    expect(misfit.fault).toMatchInlineSnapshot(
      `"No valid backend was found. Backend "lvm@a1" does not serve zone "b"."`,
    );
  });

  it("takes a local_to_instance hint once the server has a host, building or not, like Cinder's InstanceLocalityFilter", async () => {
    const { cloud, clock } = await openSmall();
    const building = await cloud.createServer(srv("building", { host: "a2" }));
    expect(building).toMatchObject({ status: "BUILD", host: "a2" });
    const local = await cloud.createVolume({ name: "local", sizeGb: 5, localToServer: building.id, metadata: {} });
    expect(local.backend).toBe("lvm@a2");
    // No host found: the filter compares every backend's host with none, and no backend passes.
    const homeless = await cloud.createServer(srv("homeless", { flavorRef: "huge" }));
    expect(homeless.status).toBe("ERROR");
    const orphan = await cloud.createVolume({ name: "orphan", sizeGb: 5, localToServer: homeless.id, metadata: {} });
    expect(orphan).toMatchObject({
      status: "error",
      fault: "No valid backend was found. No weighed backends available.",
    });
    clock.advance();
    expect((await cloud.getServer(building.id))?.status).toBe("ACTIVE");
  });
});

describe("simulated cloud: quota", () => {
  it("reports what remains and refuses to go beyond it", async () => {
    const { cloud } = await openSmall({ quota: { instances: 2, vcpus: 3, gigabytes: 15 } });
    expect((await cloud.discover()).quota).toEqual({ instances: 2, vcpus: 3, gigabytes: 15 });
    const a = await cloud.createServer(srv("a", { flavorRef: "two" }));
    expect(
      await expectCode(cloud.createServer(srv("b", { flavorRef: "two" })), "quota_exceeded"),
    ).toMatchInlineSnapshot(`"Quota exceeded for vcpus: requested 2, but already used 2 of 3."`);
    await cloud.createServer(srv("c"));
    expect(await expectCode(cloud.createServer(srv("d")), "quota_exceeded")).toMatch(/instances/);
    await cloud.createVolume({ name: "v", sizeGb: 10, metadata: {} });
    await expectCode(cloud.createVolume({ name: "w", sizeGb: 10, metadata: {} }), "quota_exceeded");
    expect((await cloud.discover()).quota).toEqual({ instances: 0, vcpus: 0, gigabytes: 5 });
    await cloud.deleteServer(a.id); // quota is freed when the delete starts
    expect((await cloud.discover()).quota).toMatchObject({ instances: 1, vcpus: 2 });
  });
});

describe("simulated cloud: tenant view", () => {
  it("shows zones and flavors only, and hostId instead of host", async () => {
    const clock = fakeClock();
    const dir = tempDir();
    const tenant = await SimulatedCloud.open({ dir, topology: smallTopology(), view: "tenant", now: clock.now });
    const d = await tenant.discover();
    expect(d).toMatchObject({ mode: "delegated", zones: ["a", "b"], topology: { hosts: [], storageBackends: [] } });
    expect(Object.keys(d.topology.flavors).sort()).toEqual(["four", "huge", "one", "two"]);
    const g = await tenant.createServerGroup({ name: "g", policy: "affinity", metadata: {} });
    const a = await tenant.createServer(srv("a", { serverGroupId: g.id }));
    const b = await tenant.createServer(srv("b", { serverGroupId: g.id }));
    const c = await tenant.createServer(srv("c", { differentHost: [a.id] }));
    expect([a.host, b.host, c.host]).toEqual([undefined, undefined, undefined]);
    expect(a.hostId).toMatch(/^[0-9a-f]{56}$/);
    expect(b.hostId).toBe(a.hostId);
    expect(c.hostId).not.toBe(a.hostId);
    const v = await tenant.createVolume({ name: "v", sizeGb: 1, metadata: {} });
    expect(v.backend).toBeUndefined();
    expect(await expectCode(tenant.createServer(srv("pin", { host: "a1" })), "forbidden")).toMatch(/Policy/);
    await expectCode(tenant.createVolume({ name: "pin", sizeGb: 1, backend: "lvm@a1", metadata: {} }), "forbidden");
    // The admin of the same cloud sees the real host behind the same hostId.
    const admin = await SimulatedCloud.open({ dir, view: "admin", now: clock.now });
    expect(await admin.getServer(a.id)).toMatchObject({ host: "a2", hostId: a.hostId });
  });
});

describe("simulated cloud: faults", () => {
  it("fails the nth call of an op from now, `times` times, then recovers", async () => {
    const { cloud } = await openSmall();
    await cloud.getServer("x");
    await cloud.injectFault({ kind: "error", op: "getServer", nth: 2, times: 2, code: "internal", message: "boom" });
    expect(await cloud.getServer("x")).toBeUndefined();
    const e = await errorOf(cloud.getServer("x"));
    expect([e.code, e.message, e.retryable]).toEqual(["internal", "boom", false]);
    await expectCode(cloud.getServer("x"), "internal");
    expect(await cloud.getServer("x")).toBeUndefined();
    expect(await cloud.callCount("getServer")).toBe(5);
    expect((await cloud.snapshot()).faults).toEqual([]);
  });

  it("an injected error changes nothing but the counter", async () => {
    const { cloud } = await openSmall({ faults: [{ kind: "error", op: "createServer" }] });
    const e = await errorOf(cloud.createServer(srv("a")));
    expect([e.code, e.retryable, e.message]).toEqual([
      "unavailable",
      true,
      "Simulated unavailable error on createServer (injected fault).",
    ]);
    expect((await cloud.snapshot()).servers).toEqual([]);
    expect(await cloud.callCount("createServer")).toBe(1);
  });

  it("puts the matching server in ERROR after its build, giving its host back", async () => {
    const { cloud, clock } = await openSmall();
    await cloud.injectFault({ kind: "server-error", member: "db-2", fault: "disk on fire" });
    const ok = await cloud.createServer(srv("db-1"));
    const bad = await cloud.createServer(srv("db-2"));
    expect(bad.status).toBe("BUILD");
    clock.advance();
    expect((await cloud.getServer(ok.id))?.status).toBe("ACTIVE");
    expect(await cloud.getServer(bad.id)).toMatchObject({ status: "ERROR", fault: "disk on fire" });
    expect((await cloud.getServer(bad.id))?.host).toBeUndefined();
    // Consumed: the next one with that member builds fine.
    const again = await cloud.createServer(srv("db-2"));
    clock.advance();
    expect((await cloud.getServer(again.id))?.status).toBe("ACTIVE");
  });

  it("puts the matching volume in error after creating", async () => {
    const { cloud, clock } = await openSmall({ faults: [{ kind: "volume-error", name: "v2" }] });
    const v1 = await cloud.createVolume({ name: "v1", sizeGb: 1, metadata: {} });
    const v2 = await cloud.createVolume({ name: "v2", sizeGb: 1, metadata: {} });
    clock.advance();
    expect((await cloud.getVolume(v1.id))?.status).toBe("available");
    expect(await cloud.getVolume(v2.id)).toMatchObject({
      status: "error",
      fault: "Volume creation failed: injected fault.",
    });
  });

  it("slows a matching build down", async () => {
    const { cloud, clock } = await openSmall({ faults: [{ kind: "slow", member: "slow-1", ms: 60_000 }] });
    const fast = await cloud.createServer(srv("fast-1"));
    const slow = await cloud.createServer(srv("slow-1"));
    clock.advance(10_000);
    expect((await cloud.getServer(fast.id))?.status).toBe("ACTIVE");
    expect((await cloud.getServer(slow.id))?.status).toBe("BUILD");
    clock.advance(60_000);
    expect((await cloud.getServer(slow.id))?.status).toBe("ACTIVE");
  });

  it("slows a plain call down, sleeping outside the lock", async () => {
    const { cloud, dir } = await openSmall({ faults: [{ kind: "slow", op: "discover", ms: 1500 }] });
    const other = await SimulatedCloud.open({ dir });
    let slowDone = false;
    const slowCall = cloud.discover().then(() => {
      slowDone = true;
    });
    // Once the slow call has consumed its fault it sleeps; the cloud must stay usable meanwhile.
    while ((await other.snapshot()).faults.length > 0) await new Promise((r) => setTimeout(r, 5));
    await other.getServer("x");
    expect(slowDone).toBe(false);
    await slowCall;
    expect(slowDone).toBe(true);
  });

  it("keeps at most `concurrency` calls of one instance in flight, each for its perCallMs", async () => {
    const { dir } = await openSmall();
    const limited = await SimulatedCloud.open({ dir, latency: { concurrency: 2, perCallMs: 40 } });
    const start = performance.now();
    const done: number[] = [];
    await Promise.all(
      Array.from({ length: 5 }, () => limited.getServer("x").then(() => done.push(performance.now() - start))),
    );
    done.sort((a, b) => a - b);
    // Two at a time: the 1st and 2nd take effect after 40 ms, the 3rd and 4th after 80, the 5th after 120
    // (timers may fire up to a millisecond early against performance.now()).
    expect(done.map((ms, k) => ms >= 40 * Math.ceil((k + 1) / 2) - 2)).toEqual([true, true, true, true, true]);
  });

  it("a slow call holds its slot: a call sent once it has taken effect waits for it", async () => {
    const { dir } = await openSmall({ faults: [{ kind: "slow", op: "discover", ms: 300 }] });
    // 10 ms per call: the waiting call takes effect 10 ms after the slow one answers, not in a tie.
    const limited = await SimulatedCloud.open({ dir, latency: { concurrency: 1, perCallMs: 10 } });
    const order: string[] = [];
    const first = limited.discover().then(() => order.push("slow discover"));
    // Its fault is taken as it takes effect; the slot is then held for the 300 ms.
    const other = await SimulatedCloud.open({ dir });
    while ((await other.snapshot()).faults.length > 0) await new Promise((r) => setTimeout(r, 5));
    const second = limited.getServer("x").then(() => order.push("getServer"));
    await Promise.all([first, second]);
    expect(order).toEqual(["slow discover", "getServer"]);
  });

  it("ignores placement for the matching server: the anti-affinity race", async () => {
    const { cloud } = await openSmall({ faults: [{ kind: "ignore-placement", member: "q2" }] });
    const g = await cloud.createServerGroup({ name: "quorum", policy: "anti-affinity", metadata: {} });
    const q1 = await cloud.createServer(srv("q1", { zone: "a", serverGroupId: g.id }));
    const q2 = await cloud.createServer(srv("q2", { zone: "a", serverGroupId: g.id }));
    expect(q2.host).toBe(q1.host);
    expect((await cloud.getServerGroup(g.id))?.members).toEqual([q1.id, q2.id]);
    // A pinned host is ignored too.
    await cloud.injectFault({ kind: "ignore-placement", member: "p" });
    expect((await cloud.createServer(srv("p", { host: "b1" }))).host).not.toBe("b1");
  });

  it("shares the fault plan between processes and reads faults from the environment", async () => {
    const dir = tempDir();
    process.env[SIM_FAULTS_ENV] = JSON.stringify([
      { kind: "error", op: "discover", code: "timeout" },
    ] satisfies Fault[]);
    const a = await SimulatedCloud.open({ dir, topology: smallTopology() });
    delete process.env[SIM_FAULTS_ENV];
    const b = await SimulatedCloud.open({ dir });
    await expectCode(b.discover(), "timeout");
    await a.discover();
    await a.injectFault({ kind: "error", op: "findServers" });
    await expectCode(b.findServers({}), "unavailable");
    await a.injectFault({ kind: "error", op: "findServers" });
    await b.clearFaults();
    expect(await a.findServers({})).toEqual([]);
    // An explicit environment instead of the process's.
    const c = await SimulatedCloud.open({ dir, env: { [SIM_FAULTS_ENV]: '[{"kind":"error","op":"getVolume"}]' } });
    await expectCode(a.getVolume("x"), "unavailable");
    expect(await c.getVolume("x")).toBeUndefined();
    // Once per process and directory: opening again does not add the same faults again.
    await SimulatedCloud.open({ dir, env: { [SIM_FAULTS_ENV]: '[{"kind":"error","op":"getVolume"}]' } });
    expect(await c.getVolume("x")).toBeUndefined();
  });

  it("says what is wrong with a bad fault plan in the environment", async () => {
    process.env[SIM_FAULTS_ENV] = '[{"kind":"error","op":"createServr"},{"kind":"slow"}]';
    const e = await SimulatedCloud.open({ dir: tempDir() }).then(
      () => undefined,
      (x: unknown) => x as Error,
    );
    expect(e?.message.split("\n")[0]).toMatch(/^OPENSTACK_VCLUSTER_SIM_FAULTS: 0\.op: /);
    expect(e?.message).toMatch(/1\.ms/);
    expect(e?.message).toMatch(/hint: /);
  });

  it("rejects a malformed injected fault with a readable message", async () => {
    const { cloud } = await openSmall();
    const bad = { kind: "slow", ms: -1, member: "m" } as Fault;
    await expect(cloud.injectFault(bad)).rejects.toThrowErrorMatchingInlineSnapshot(`
      [Error: injectFault: ms: Too small: expected number to be >=0
      hint: e.g. [{"kind":"error","op":"createServer","nth":2,"code":"unavailable"}]]
    `);
  });
});

describe("simulated cloud: the built-in default", () => {
  it("is 3 zones x 2 racks x 4 hosts, a shared backend per zone, a local one per host", async () => {
    const cloud = await SimulatedCloud.open({ dir: tempDir() });
    const d = await cloud.discover();
    expect(d.mode).toBe("pinned");
    expect(d.zones).toEqual(["az1", "az2", "az3"]);
    expect(d.topology.hosts).toHaveLength(24);
    expect(d.topology.hosts[0]).toEqual({
      name: "az1-r1-h1",
      zone: "az1",
      rack: "r1",
      vcpus: 32,
      ramMb: 131072,
      diskGb: 2000,
      used: { vcpus: 0, ramMb: 0, diskGb: 0 },
    });
    expect(new Set(d.topology.hosts.map((h) => `${h.zone}/${h.rack}`)).size).toBe(6);
    const backends = d.topology.storageBackends;
    expect(backends.filter((b) => b.zone).map((b) => `${b.name}:${b.capacityGb}`)).toEqual([
      "ceph-az1:100000",
      "ceph-az2:100000",
      "ceph-az3:100000",
    ]);
    expect(backends.filter((b) => b.host)).toHaveLength(24);
    expect(backends.find((b) => b.host === "az3-r2-h4")).toMatchObject({ name: "lvm@az3-r2-h4", capacityGb: 2000 });
    expect(d.topology.flavors).toEqual({
      "m1.tiny": { vcpus: 1, ramMb: 512, diskGb: 1 },
      "m1.small": { vcpus: 1, ramMb: 2048, diskGb: 20 },
      "m1.medium": { vcpus: 2, ramMb: 4096, diskGb: 40 },
      "m1.large": { vcpus: 4, ramMb: 8192, diskGb: 80 },
      "m1.xlarge": { vcpus: 8, ramMb: 16384, diskGb: 160 },
    });
    expect((await cloud.snapshot()).images).toEqual(["debian-12", "ubuntu-24.04", "cirros"]);
  });
});

describe("simulated cloud: state on disk", () => {
  it("persists between opens; the stored topology wins over a new one", async () => {
    const dir = tempDir();
    const first = await SimulatedCloud.open({ dir, topology: smallTopology(), images: ["only-image"] });
    const s = await first.createServer(srv("keep", { imageRef: "only-image" }));
    await first.close();
    const second = await SimulatedCloud.open({ dir, topology: defaultSimulatedTopology() });
    expect((await second.getServer(s.id))?.name).toBe("keep");
    expect(second.cloudId).toBe(first.cloudId);
    expect(first.cloudId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await SimulatedCloud.open({ dir: tempDir() })).cloudId).not.toBe(first.cloudId);
    expect((await second.discover()).zones).toEqual(["a", "b"]);
    await expectCode(second.createServer(srv("x", { imageRef: "debian-12" })), "bad_request");
  });

  it("resets to an empty cloud with the same topology, and destroys its directory", async () => {
    const { cloud, dir } = await openSmall({ faults: [{ kind: "slow", ms: 1 }] });
    await cloud.createServer(srv("a"));
    await cloud.createVolume({ name: "v", sizeGb: 1, metadata: {} });
    await cloud.createServerGroup({ name: "g", policy: "affinity", metadata: {} });
    await cloud.reset();
    const snap = await cloud.snapshot();
    expect([snap.servers, snap.volumes, snap.serverGroups, snap.faults, snap.calls]).toEqual([[], [], [], [], {}]);
    expect(snap.topology).toEqual(smallTopology());
    await SimulatedCloud.destroyDir(dir);
    expect(existsSync(dir)).toBe(false);
    await SimulatedCloud.destroyDir(dir); // gone already: fine
  });

  it("refuses to destroy a directory holding other files", async () => {
    const { dir } = await openSmall();
    writeFileSync(path.join(dir, "notes.txt"), "mine");
    await expect(SimulatedCloud.destroyDir(dir)).rejects.toThrow(/also holds "notes.txt"/);
  });

  it("renders the cloud as a tree with capacity used", async () => {
    const { cloud, clock } = await openSmall();
    const g = await cloud.createServerGroup({ name: "spread", policy: "anti-affinity", metadata: {} });
    const web = await cloud.createServer(srv("web-1", { flavorRef: "two", serverGroupId: g.id }));
    await cloud.createServer(srv("web-2", { serverGroupId: g.id }));
    await cloud.createServer(srv("big", { flavorRef: "huge" }));
    const v = await cloud.createVolume({ name: "data", sizeGb: 5, localToServer: web.id, metadata: {} });
    await cloud.createVolume({ name: "logs", sizeGb: 7, zone: "b", metadata: { [TAG_MEMBER]: "logs" } });
    clock.advance();
    await cloud.attachVolume(web.id, v.id);
    clock.advance();
    expect(renderCloudTree(await cloud.snapshot())).toMatchInlineSnapshot(`
      "zone a
        rack r1
          host a1  vcpus 1/4, ram 1024/8192 MB, disk 10/100 GB
            server "web-2"  member "web-2"  ACTIVE  one
          host a2  vcpus 2/4, ram 2048/16384 MB, disk 20/100 GB
            server "web-1"  member "web-1"  ACTIVE  two
            backend lvm@a2  5/50 GB
              volume "data"  in-use  5 GB  attached to "web-1"
        backend shared-a  0/100 GB
      zone b
        rack r1
          host b1  vcpus 0/4, ram 0/8192 MB, disk 0/100 GB
        backend shared-b  7/100 GB
          volume "logs"  member "logs"  available  7 GB
      not placed
        server "big"  member "big"  ERROR  huge  fault: No valid host was found. There are not enough hosts available.
      server groups
        group "spread"  anti-affinity  members: "web-1", "web-2"
      "
    `);
  });
});

describe("simulated cloud: concurrent use by several processes", () => {
  const distIndex = path.join(REPO, "dist/provider/backends/simulated/index.js");

  /** Builds dist/ when it is missing or older than the simulated cloud's sources. */
  function ensureBuilt(): void {
    const srcDir = path.join(REPO, "provider/backends/simulated");
    const newest = Math.max(...readdirSync(srcDir).map((f) => statSync(path.join(srcDir, f)).mtimeMs));
    if (existsSync(distIndex) && statSync(distIndex).mtimeMs >= newest) return;
    try {
      execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: REPO, stdio: "pipe" });
    } catch (e) {
      // Type errors elsewhere in the repo still emit; only a missing output is fatal.
      if (!existsSync(distIndex)) throw e;
    }
  }

  function runChild(dir: string, count: number): Promise<void> {
    const script = path.join(path.dirname(dir), "child.js");
    writeFileSync(
      script,
      `const { SimulatedCloud } = require(${JSON.stringify(distIndex)});
(async () => {
  const cloud = await SimulatedCloud.open({ dir: process.argv[2] });
  const n = Number(process.argv[3]);
  await Promise.all(Array.from({ length: n }, (_, i) =>
    cloud.createServer({ name: "child-" + i, imageRef: "cirros", flavorRef: "one", metadata: {} })));
})().catch((e) => { console.error(e); process.exit(1); });
`,
    );
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [script, dir, String(count)], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.on("data", (d) => {
        err += String(d);
      });
      child.on("error", reject);
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`child exited ${code}: ${err}`))));
    });
  }

  it("loses no update and never oversubscribes a host", { timeout: 180_000 }, async () => {
    ensureBuilt();
    const dir = tempDir();
    const topology: Topology = {
      flavors: { one: { vcpus: 1, ramMb: 1024, diskGb: 10 } },
      hosts: [host("h1", "z", "r1"), host("h2", "z", "r1"), host("h3", "z", "r2"), host("h4", "z", "r2")],
      storageBackends: [],
    };
    const clouds = await Promise.all([0, 1, 2].map(() => SimulatedCloud.open({ dir, topology })));
    const perInstance = 6;
    const inProcess = clouds.flatMap((c, k) =>
      Array.from({ length: perInstance }, (_, i) => c.createServer(srv(`p${k}-${i}`))),
    );
    await Promise.all([...inProcess, runChild(dir, 6)]);

    const snap = await (clouds[0] as SimulatedCloud).snapshot();
    expect(snap.servers).toHaveLength(24); // 3 x 6 here + 6 in the child
    expect(snap.servers.filter((s) => s.status !== "ERROR")).toHaveLength(16); // 4 hosts x 4 vCPUs
    for (const h of (await (clouds[0] as SimulatedCloud).discover()).topology.hosts) {
      expect(h.used?.vcpus, h.name).toBe(4);
    }
    expect(snap.calls.createServer).toBe(24);
    // Once every connection is closed, SQLite has folded its WAL into the database: nothing else is left.
    for (const c of clouds) await c.close();
    expect(readdirSync(dir)).toEqual(["cloud.db"]);
  });
});

describe("simulated cloud: edits in place", () => {
  it("a rebuild shows REBUILD and the new key at once, the image when done; user data is kept only as a digest", async () => {
    const { cloud, clock, dir } = await openSmall();
    const s = await cloud.createServer(srv("web", { keyName: "k1", userData: "password=hunter2" }));
    clock.advance();
    expect(await cloud.getServer(s.id)).toMatchObject({ status: "ACTIVE", keyName: "k1", securityGroups: ["default"] });
    await cloud.rebuildServer(s.id, "debian-12", { keyName: "k2", userData: "token=swordfish" });
    expect(await cloud.getServer(s.id)).toMatchObject({ status: "REBUILD", keyName: "k2", imageRef: "cirros" });
    clock.advance();
    expect(await cloud.getServer(s.id)).toMatchObject({ status: "ACTIVE", keyName: "k2", imageRef: "debian-12" });
    const digest = `sha256:${createHash("sha256").update("token=swordfish").digest("hex")}`;
    expect((await cloud.snapshot()).servers[0]?.userDataDigest).toBe(digest);
    await cloud.rebuildServer(s.id, "debian-12", { keyName: null, userData: null });
    clock.advance();
    const after = (await cloud.snapshot()).servers[0];
    expect(after?.keyName).toBeUndefined();
    expect(after?.userDataDigest).toBeUndefined();
    await cloud.close();
    for (const f of readdirSync(dir)) {
      const bytes = readFileSync(path.join(dir, f));
      expect(bytes.includes("hunter2"), f).toBe(false);
      expect(bytes.includes("swordfish"), f).toBe(false);
    }
  });

  it("metadata: set merges, delete of a key not there is fine; refused while the server rebuilds or its key is too long", async () => {
    const { cloud, clock } = await openSmall();
    const s = await cloud.createServer(srv("web"));
    expect(await expectCode(cloud.updateServerMetadata(s.id, { a: "1" }, []), "conflict")).toMatchInlineSnapshot(
      `"Cannot change the metadata of server "web" while it is BUILD; wait until it is ACTIVE or SHUTOFF or PAUSED or SUSPENDED."`,
    );
    clock.advance();
    await cloud.updateServerMetadata(s.id, { a: "1", b: "2" }, ["nope"]);
    await cloud.updateServerMetadata(s.id, { a: "3" }, ["b"]);
    expect((await cloud.getServer(s.id))?.metadata).toEqual({ [TAG_MEMBER]: "web", a: "3" });
    expect(await expectCode(cloud.updateServerMetadata(s.id, { ["k".repeat(256)]: "v" }, []), "bad_request")).toMatch(
      /key must be 1 to 255 characters/,
    );
    await expectCode(cloud.updateServerMetadata("no-such-id", { a: "1" }, []), "not_found");
  });

  it("security groups: added and removed by name, each once, listed sorted", async () => {
    const { cloud, clock } = await openSmall();
    const s = await cloud.createServer(srv("web", { securityGroups: ["web", "default", "web"] }));
    clock.advance();
    expect((await cloud.getServer(s.id))?.securityGroups).toEqual(["default", "web"]);
    await cloud.addSecurityGroup(s.id, "ssh");
    await cloud.removeSecurityGroup(s.id, "default");
    await cloud.removeSecurityGroup(s.id, "default");
    expect((await cloud.getServer(s.id))?.securityGroups).toEqual(["ssh", "web"]);
  });

  it("a retype stays on a backend that serves the new type, and migrates within the zone when its own can't", async () => {
    const topology = smallTopology();
    for (const b of topology.storageBackends) b.volumeTypes = b.name === "lvm@a1" ? ["hdd"] : ["hdd", "ssd"];
    const { cloud, clock } = await openSmall({ topology });
    const shared = await cloud.createVolume({
      name: "shared",
      sizeGb: 1,
      volumeType: "hdd",
      backend: "shared-a",
      metadata: {},
    });
    const local = await cloud.createVolume({
      name: "local",
      sizeGb: 1,
      volumeType: "hdd",
      backend: "lvm@a1",
      metadata: {},
    });
    clock.advance();
    await cloud.retypeVolume(shared.id, "ssd");
    await cloud.retypeVolume(local.id, "ssd");
    expect((await cloud.getVolume(local.id))?.status).toBe("retyping");
    clock.advance();
    expect(await cloud.getVolume(shared.id)).toMatchObject({
      status: "available",
      volumeType: "ssd",
      backend: "shared-a",
    });
    // lvm@a1 holds hdd only: the data moved to the zone's other backend that takes ssd and has room.
    expect(await cloud.getVolume(local.id)).toMatchObject({ status: "available", volumeType: "ssd", zone: "a" });
    expect((await cloud.getVolume(local.id))?.backend).not.toBe("lvm@a1");
  });

  it("a retype is refused to its own type, to a type no backend has, nowhere to go, or while the volume is busy", async () => {
    const topology = smallTopology();
    for (const b of topology.storageBackends) b.volumeTypes = b.zone === "b" ? ["gold"] : ["hdd"];
    const { cloud, clock } = await openSmall({ topology });
    const v = await cloud.createVolume({ name: "v", sizeGb: 1, volumeType: "hdd", zone: "a", metadata: {} });
    expect(await expectCode(cloud.retypeVolume(v.id, "ssd"), "conflict")).toMatch(/Volume "v" is creating/);
    clock.advance();
    expect(await expectCode(cloud.retypeVolume(v.id, "hdd"), "bad_request")).toMatch(/must be different/);
    expect(await expectCode(cloud.retypeVolume(v.id, "platinum"), "bad_request")).toMatch(/could not be found/);
    expect(await expectCode(cloud.retypeVolume(v.id, "gold"), "conflict")).toMatch(
      /can't be retyped to "gold": No valid backend/,
    );
    expect(await cloud.getVolume(v.id)).toMatchObject({ status: "available", volumeType: "hdd" });
  });
});
