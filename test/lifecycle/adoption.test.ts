// Retry after a crash, on the simulated cloud made to report servers as Nova does: a flavor by its name
// (2.47+), an image by its id, whatever the request named. A spec naming them the other way must adopt
// what a crashed run made as is: no resize, no rebuild, no duplicate, and no wait for a state that
// can't be told apart from the one it started in. And every wait says what it waits for while it lasts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Backend, ServerInfo } from "../../provider/backends/backend";
import { SimulatedCloud } from "../../provider/backends/simulated";
import { ClusterController } from "../../provider/lifecycle";
import type { ImageResolver } from "../../provider/lifecycle/identity";
import { SERVER_ACTIVE, until, WaitError, waitFor } from "../../provider/lifecycle/wait";
import type { ClusterSpec } from "../../provider/model/cluster";
import { findFlavor, type Topology } from "../../provider/model/topology";
import { callCounts, MUTATING_OPS, perMember } from "../support/lifecycle";
import { grouping, server, smallTopology, spec, volume } from "../support/model";

/** Glance's ids of the simulated cloud's images. */
const IMAGE_IDS: Record<string, string> = {
  "debian-12": "0c6b1b4e-7d3a-4f57-9a43-2f0d1c6e8a01",
  "ubuntu-24.04": "0c6b1b4e-7d3a-4f57-9a43-2f0d1c6e8a02",
};
const IMAGE_NAMES = Object.fromEntries(Object.entries(IMAGE_IDS).map(([name, id]) => [id, name]));

/** smallTopology with Nova's flavor ids. */
function topologyWithIds(): Topology {
  const t = smallTopology();
  const ids: Record<string, string> = { "m1.small": "2", "m1.medium": "3", "m1.large": "4" };
  for (const [name, id] of Object.entries(ids)) {
    const f = t.flavors[name];
    if (f) f.id = id;
  }
  return t;
}

/**
 * The simulated cloud as Nova shows it: servers carry their flavor's name and their image's id, and
 * image names resolve to ids (Glance) for the controller. Requests may use either form.
 */
function novaLike(cloud: SimulatedCloud, topology: Topology): Backend & ImageResolver {
  const flavorName = (ref: string): string => {
    const f = findFlavor(topology.flavors, ref);
    return Object.entries(topology.flavors).find(([, x]) => x === f)?.[0] ?? ref;
  };
  const imageName = (ref: string): string => IMAGE_NAMES[ref] ?? ref;
  const show = (s: ServerInfo): ServerInfo => ({
    ...s,
    flavorRef: flavorName(s.flavorRef),
    imageRef: IMAGE_IDS[s.imageRef] ?? s.imageRef,
  });
  const overrides: Partial<Backend> & ImageResolver = {
    getServer: async (id) => {
      const s = await cloud.getServer(id);
      return s && show(s);
    },
    getServers: async (ids) => (await cloud.getServers(ids)).map((s) => s && show(s)),
    findServers: async (tags) => (await cloud.findServers(tags)).map(show),
    createServer: async (req) => show(await cloud.createServer({ ...req, imageRef: imageName(req.imageRef) })),
    rebuildServer: (id, ref) => cloud.rebuildServer(id, imageName(ref)),
    imageProblems: (refs) => cloud.imageProblems(refs.map(imageName)),
    imageIds: async (refs) =>
      Object.fromEntries(
        refs.flatMap((r) => {
          const id = IMAGE_IDS[r] ?? (IMAGE_NAMES[r] !== undefined ? r : undefined);
          return id !== undefined ? [[r, id]] : [];
        }),
      ),
  };
  return new Proxy(cloud, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof typeof overrides];
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as unknown as Backend & ImageResolver;
}

/**
 * The backend as a process sees it until it is killed: from the first call `when` picks, no call
 * returns and none reaches the cloud (what was already sent goes on, as Nova's builds do).
 */
function killedAt(
  backend: Backend,
  when: { op: keyof Backend; nth: number },
): { backend: Backend; killed: Promise<void> } {
  let dead = false;
  let seen = 0;
  let onKill!: () => void;
  const killed = new Promise<void>((resolve) => {
    onKill = resolve;
  });
  const proxy = new Proxy(backend, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if (prop === when.op && ++seen === when.nth) {
          dead = true;
          onKill();
        }
        if (dead) return new Promise(() => {});
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { backend: proxy, killed };
}

/** Four servers in host anti-affinity, two with a volume attached; images by name, flavors by id. */
function crashSpec(): ClusterSpec {
  const servers = ["w1", "w2", "w3", "w4"].map((n) => server(n, "2", { imageRef: "debian-12" }));
  return spec(
    "crash",
    [...servers, volume("d1", 10, { attachTo: "w1" }), volume("d2", 10, { attachTo: "w2" })],
    [
      grouping(
        "spread",
        "anti-affinity",
        servers.map((s) => s.name),
      ),
    ],
  );
}

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups) await c();
  cleanups = [];
});

async function openCloud(serverBuildMs = 15): Promise<{ cloud: SimulatedCloud; backend: Backend & ImageResolver }> {
  const dir = mkdtempSync(path.join(tmpdir(), "vcluster-adoption-"));
  const topology = topologyWithIds();
  const cloud = await SimulatedCloud.open({
    dir,
    topology,
    view: "admin",
    latency: { serverBuildMs, volumeCreateMs: 10, attachMs: 5, deleteMs: 5, resizeMs: 15 },
    env: {},
  });
  cleanups.push(async () => {
    await cloud.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { cloud, backend: novaLike(cloud, topology) };
}

/** Short deadlines: a wait for a state that never comes fails the test in seconds, not minutes. */
function controller(backend: Backend, logs: string[] = []): ClusterController {
  return new ClusterController(backend, {
    timeouts: { serverMs: 3000, volumeMs: 3000, deleteMs: 3000 },
    log: (level, message) => logs.push(`${level}: ${message}`),
  });
}

describe("adoption compares flavors and images by identity, not by how they are written", () => {
  it("a re-apply without state (the first run crashed before writing it) adopts everything and changes nothing", async () => {
    const { cloud, backend } = await openCloud();
    const first = await controller(backend).apply(crashSpec());
    // Nova's way of showing them: not what the spec wrote.
    expect(first.members.w1?.imageRef).toBe(IMAGE_IDS["debian-12"]);
    expect(first.members.w1?.flavorRef).toBe("m1.small");
    const before = await callCounts(cloud, MUTATING_OPS);

    const plan = await controller(backend).plan(crashSpec());
    expect(plan.steps).toEqual([]);
    const logs: string[] = [];
    const again = await controller(backend, logs).apply(crashSpec());

    expect(await callCounts(cloud, MUTATING_OPS)).toEqual(before);
    expect(logs.filter((l) => /resiz|rebuil/.test(l))).toEqual([]);
    for (const name of Object.keys(first.members)) expect(again.members[name]?.id).toBe(first.members[name]?.id);
    expect(again.members.w1?.serverGroup).toBe(first.serverGroups.spread?.id);
  });

  it("a real change of image or flavor, named the other way round, still rebuilds and resizes, and the waits end", async () => {
    const { cloud, backend } = await openCloud();
    const state = await controller(backend).apply(crashSpec());
    const changed = crashSpec();
    changed.members = changed.members.map((m) =>
      m.name === "w1" && m.type === "server"
        ? { ...m, flavorRef: "3" }
        : m.name === "w2" && m.type === "server"
          ? { ...m, imageRef: "ubuntu-24.04" }
          : m,
    );
    const steps = (await controller(backend).plan(changed, state)).steps.map((s) => s.detail);
    expect(steps).toEqual([
      'resize server "w1" from "m1.small" to "3"',
      `rebuild server "w2" from "${IMAGE_IDS["debian-12"]}" to "ubuntu-24.04"`,
    ]);
    const after = await controller(backend).apply(changed, state);
    expect(after.members.w1?.flavorRef).toBe("m1.medium");
    expect(after.members.w2?.imageRef).toBe(IMAGE_IDS["ubuntu-24.04"]);
    expect(await callCounts(cloud, ["resizeServer", "rebuildServer"])).toEqual({ resizeServer: 1, rebuildServer: 1 });
  });

  for (const point of [
    { label: "after the server group", op: "createServer", nth: 1 },
    { label: "mid server creation", op: "createServer", nth: 3 },
    { label: "after the servers, before the volumes", op: "createVolume", nth: 1 },
    { label: "before the attachments", op: "attachVolume", nth: 1 },
  ] as const) {
    it(`a run killed ${point.label} is finished by the next apply: each member once, nothing rebuilt`, async () => {
      // Builds slow enough that the retry meets servers the killed run left in BUILD.
      const { cloud, backend } = await openCloud(300);
      const crash = killedAt(backend, { op: point.op, nth: point.nth });
      void controller(crash.backend).apply(crashSpec()); // never returns: the process is gone
      await crash.killed;
      const madeBefore = (await cloud.findServers({})).map((s) => s.id);

      const logs: string[] = [];
      const state = await controller(backend, logs).apply(crashSpec());

      expect(await perMember(cloud, "crash")).toEqual({ d1: 1, d2: 1, w1: 1, w2: 1, w3: 1, w4: 1 });
      const snap = await cloud.snapshot();
      expect(snap.serverGroups).toHaveLength(1);
      expect(snap.servers.map((s) => s.status)).toEqual(["ACTIVE", "ACTIVE", "ACTIVE", "ACTIVE"]);
      expect(new Set(snap.servers.map((s) => s.host)).size).toBe(4);
      expect(snap.volumes.map((v) => v.status)).toEqual(["in-use", "in-use"]);
      // What the killed run made was adopted, not replaced.
      const ids = Object.values(state.members).map((m) => m.id);
      for (const id of madeBefore) expect(ids).toContain(id);
      expect(await callCounts(cloud, ["resizeServer", "rebuildServer", "deleteServer"])).toEqual({
        resizeServer: 0,
        rebuildServer: 0,
        deleteServer: 0,
      });
      if (point.nth === 3) {
        expect(logs.some((l) => l.includes("waiting for what a previous run left in progress to settle"))).toBe(true);
      }
    });
  }
});

describe("waits say what they wait for", () => {
  const srv = (status: string, flavorRef = "m1.small"): ServerInfo => ({
    id: "1",
    name: "s",
    status,
    flavorRef,
    imageRef: "i",
    metadata: {},
    volumes: [],
  });

  it("reports progress while a wait lasts, naming the goal and what it sees", async () => {
    const messages: string[] = [];
    const machine = until(
      SERVER_ACTIVE,
      (s) => s.flavorRef === "m1.large",
      'ACTIVE with flavor "m1.large"',
      (s) => `flavor "${s.flavorRef}"`,
    );
    const e = await waitFor(machine, {
      what: 'server "w2"',
      read: async () => srv("ACTIVE"),
      status: (s) => s.status,
      timeoutMs: 120,
      intervalMs: 5,
      maxIntervalMs: 5,
      progress: (m) => messages.push(m),
      progressEveryMs: 30,
    }).catch((x: unknown) => x);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(messages[0]).toMatch(
      /^server "w2": waiting for ACTIVE with flavor "m1.large", now ACTIVE, flavor "m1.small" \(/,
    );
    expect(e).toBeInstanceOf(WaitError);
    expect((e as WaitError).message).toBe(
      'server "w2" did not become ACTIVE with flavor "m1.large" within 120 ms (still ACTIVE, flavor "m1.small")',
    );
  });

  it("a change the cloud undoes (back to the old flavor after RESIZE) fails at once instead of waiting", async () => {
    const seq = [srv("RESIZE"), srv("ACTIVE")];
    const machine = until(
      SERVER_ACTIVE,
      (s) => s.flavorRef === "m1.large",
      'ACTIVE with flavor "m1.large"',
      (s) => `flavor "${s.flavorRef}"`,
      (s) => s.flavorRef === "m1.small",
    );
    const e = await waitFor(machine, {
      what: 'server "w2"',
      read: async () => seq.shift() ?? srv("ACTIVE"),
      status: (s) => s.status,
      timeoutMs: 60_000,
      intervalMs: 1,
      maxIntervalMs: 1,
    }).catch((x: unknown) => x);
    expect((e as WaitError).kind).toBe("failed");
    expect((e as WaitError).message).toBe(
      'server "w2" went back to ACTIVE, flavor "m1.small" instead of becoming ACTIVE with flavor "m1.large": the cloud undid the change',
    );
  });

  it("a short wait says nothing", async () => {
    const messages: string[] = [];
    let i = 0;
    await waitFor(SERVER_ACTIVE, {
      what: 'server "w2"',
      read: async () => srv(i++ < 2 ? "BUILD" : "ACTIVE"),
      status: (s) => s.status,
      timeoutMs: 1000,
      intervalMs: 1,
      maxIntervalMs: 1,
      progress: (m) => messages.push(m),
    });
    expect(messages).toEqual([]);
  });
});
