// A volume on a host-local storage backend reaches it through Cinder's local_to_instance hint (Cinder
// takes no exact pool on create, so pinned mode sends it too). Cinder's InstanceLocalityFilter reads
// the named server's host, which Nova sets when the compute host claims the server, during BUILD: the
// controller sends the hint as soon as it sees that host (not once the server is ACTIVE), attaches once
// both are ready, and makes the volume again should the server move before it is ACTIVE (a reschedule).
import { afterEach, describe, expect, it } from "vitest";
import { type Backend, type ServerInfo, TAG_MEMBER, type VolumeCreate } from "../../provider/backends/backend";
import type { Fault } from "../../provider/backends/simulated";
import { ClusterController } from "../../provider/lifecycle";
import { type Harness, inventory, openHarness } from "../support/lifecycle";
import { grouping, server, smallTopology, spec, volume } from "../support/model";

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

interface Sent {
  req: VolumeCreate;
  /** The hinted server as the cloud had it when the volume was asked for. */
  server?: ServerInfo;
  /** How many reads of that server the controller had made by then. */
  readsBefore: number;
}

/**
 * The backend, recording each createVolume request (and its hinted server at that moment); `shown`
 * may change what the controller reads of a server (`reads`: its reads of that server so far).
 */
function recording(
  b: Backend,
  shown: (s: ServerInfo, reads: number) => ServerInfo = (s) => s,
): { backend: Backend; sent: Sent[] } {
  const sent: Sent[] = [];
  const reads = new Map<string, number>();
  const show = (s: ServerInfo | undefined) => {
    if (!s) return s;
    const n = (reads.get(s.id) ?? 0) + 1;
    reads.set(s.id, n);
    return shown(s, n);
  };
  const backend = new Proxy(b, {
    get(target, prop, receiver) {
      if (prop === "createServer") return async (req: never) => show(await target.createServer(req));
      if (prop === "getServer") return async (id: string) => show(await target.getServer(id));
      if (prop === "getServers")
        return async (ids: string[]) => ((await target.getServers?.(ids)) ?? []).map((s) => show(s));
      if (prop !== "createVolume") return Reflect.get(target, prop, receiver);
      return async (req: VolumeCreate) => {
        const id = req.localToServer;
        const s = id !== undefined ? await target.getServer(id) : undefined;
        sent.push({ req, ...(s ? { server: s } : {}), readsBefore: id !== undefined ? (reads.get(id) ?? 0) : 0 });
        return target.createVolume(req);
      };
    },
  });
  return { backend, sent };
}

const member = (x: Sent) => x.req.metadata[TAG_MEMBER];

/** Builds long enough that "sent while the server builds" can't depend on how busy the machine is. */
const slowBuilds = (...servers: string[]): Fault[] =>
  servers.map((m) => ({ kind: "slow", op: "createServer", member: m, ms: 1500 }));

/** Host-local backends only (like the dev cloud's one Cinder volume host per compute host). */
function localOnly() {
  const topology = smallTopology();
  topology.storageBackends = topology.storageBackends.filter((b) => b.host !== undefined);
  return topology;
}

const pinnedSpec = () =>
  spec(
    "uc2",
    [server("db-1"), server("db-2"), volume("vol-1", 10, { attachTo: "db-1" }), volume("vol-2", 10)],
    [
      grouping("data-1", "affinity", ["db-1", "vol-1"]),
      grouping("data-2", "affinity", ["db-2", "vol-2"]),
      grouping("apart", "anti-affinity", ["db-1", "db-2"]),
    ],
  );

describe("host-local volumes", () => {
  it("pinned: carry local_to_instance for the server on their host, sent while it builds", async () => {
    h = await openHarness({ view: "admin", topology: localOnly(), faults: slowBuilds("db-1", "db-2") });
    const { backend, sent } = recording(h.cloud);
    const ctl = new ClusterController(backend);
    const c = pinnedSpec();
    const plan = await ctl.plan(c);
    if (!plan.placement.placed) throw new Error("unplaceable");
    const at = plan.placement.placement;
    const state = await ctl.apply(c);
    const byName = new Map(sent.map((x) => [member(x), x]));
    for (const [vol, srv] of [
      ["vol-1", "db-1"],
      ["vol-2", "db-2"],
    ] as const) {
      const v = at[vol];
      const x = byName.get(vol);
      expect(x?.req.localToServer).toBe(state.members[srv]?.id);
      // The simulated cloud schedules in the create call, like Nova's claim: the host is there at once.
      expect(x?.server).toMatchObject({ status: "BUILD", host: state.members[srv]?.host });
      expect(state.members[vol]?.backend).toBe(v?.type === "volume" ? v.backend : undefined);
      expect(state.members[vol]?.backend).toBe(`lvm@${state.members[srv]?.host}`);
    }
    // Attached once the server was ACTIVE (the cloud refuses an attach to a server that builds).
    expect(state.members["vol-1"]).toMatchObject({ status: "in-use", attachedTo: "db-1" });
  });

  it("delegated: the hint goes as soon as the server shows a hostId, and the volume lands on its host", async () => {
    h = await openHarness({ view: "tenant", topology: localOnly(), faults: slowBuilds("db-1") });
    const { backend, sent } = recording(h.cloud);
    const ctl = new ClusterController(backend);
    const c = spec(
      "uc3",
      [server("db-1"), volume("vol-1", 10, { attachTo: "db-1" })],
      [grouping("data-1", "affinity", ["db-1", "vol-1"])],
    );
    const state = await ctl.apply(c);
    expect(state.mode).toBe("delegated");
    const [x] = sent;
    expect(x?.req.localToServer).toBe(state.members["db-1"]?.id);
    expect(x?.server?.status).toBe("BUILD");
    expect(x?.server?.hostId).toBe(state.members["db-1"]?.hostId);
    const inv = await inventory(h.cloud);
    const s = inv.servers.find((y) => y.id === state.members["db-1"]?.id);
    const v = inv.volumes.find((y) => y.id === state.members["vol-1"]?.id);
    expect(v?.backend).toBe(`lvm@${s?.host}`);
    expect(state.members["vol-1"]).toMatchObject({ status: "in-use", attachedTo: "db-1" });
  });

  it("waits for a read that shows the host when the create's answer has none (Nova answers before it schedules)", async () => {
    h = await openHarness({ view: "admin", topology: localOnly(), faults: slowBuilds("db-1", "db-2") });
    // No host (nor hostId) in the create's answer; the polls show it.
    const { backend, sent } = recording(h.cloud, (s, reads) => {
      if (reads > 1) return s;
      const { host: _host, hostId: _hostId, ...rest } = s;
      return rest;
    });
    const state = await new ClusterController(backend).apply(pinnedSpec());
    expect(sent).toHaveLength(2);
    for (const x of sent) {
      expect(x.readsBefore).toBeGreaterThanOrEqual(2);
      expect(x.server?.status).toBe("BUILD");
    }
    expect(state.members["vol-1"]?.backend).toBe(`lvm@${state.members["db-1"]?.host}`);
  });

  it("makes a volume again when its server moved to another host before it was ACTIVE", async () => {
    h = await openHarness({ view: "tenant", topology: localOnly() });
    // While it builds, the server shows another host than the one it ends on (Nova rescheduled it).
    const { backend, sent } = recording(h.cloud, (s) =>
      s.status === "BUILD" && s.hostId !== undefined ? { ...s, hostId: `first-${s.hostId}` } : s,
    );
    const logs: string[] = [];
    const ctl = new ClusterController(backend, { log: (level, message) => logs.push(`${level}: ${message}`) });
    const c = spec(
      "uc4",
      [server("db-1"), volume("vol-1", 10, { attachTo: "db-1" })],
      [grouping("data-1", "affinity", ["db-1", "vol-1"])],
    );
    const state = await ctl.apply(c);
    expect(sent.map(member)).toEqual(["vol-1", "vol-1"]);
    expect(logs.filter((l) => l.startsWith("warn:"))).toEqual([
      'warn: cluster "uc4": server "db-1" moved to another host while it was built; volume "vol-1", made next to the host it left, is made again next to the new one',
    ]);
    const inv = await inventory(h.cloud);
    expect(inv.volumes.map((v) => v.id)).toEqual([state.members["vol-1"]?.id]);
    expect(state.members["vol-1"]).toMatchObject({ status: "in-use", attachedTo: "db-1" });
  });
});
