// Pinned mode puts a volume on a host-local storage backend; Cinder takes no exact pool on create, so
// the controller names the server placed on that host in a local_to_instance hint, and only once that
// server is ACTIVE (Cinder's InstanceLocalityFilter reads the server's host, unset while it builds).
import { afterEach, describe, expect, it } from "vitest";
import type { Backend, VolumeCreate } from "../../provider/backends/backend";
import { ClusterController } from "../../provider/lifecycle";
import { type Harness, openHarness } from "../support/lifecycle";
import { grouping, server, smallTopology, spec, volume } from "../support/model";

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

/** The backend, recording each createVolume request and the status of its hinted server at that moment. */
function recording(b: Backend): { backend: Backend; seen: { req: VolumeCreate; serverStatus?: string }[] } {
  const seen: { req: VolumeCreate; serverStatus?: string }[] = [];
  const backend = new Proxy(b, {
    get(target, prop, receiver) {
      if (prop !== "createVolume") return Reflect.get(target, prop, receiver);
      return async (req: VolumeCreate) => {
        const s = req.localToServer !== undefined ? await target.getServer(req.localToServer) : undefined;
        seen.push({ req, ...(s ? { serverStatus: s.status } : {}) });
        return target.createVolume(req);
      };
    },
  });
  return { backend, seen };
}

describe("host-local volumes in pinned mode", () => {
  it("carry local_to_instance for the server on their host, sent once it is ACTIVE", async () => {
    // Host-local backends only (like the dev cloud's one Cinder volume host per compute host).
    const topology = smallTopology();
    topology.storageBackends = topology.storageBackends.filter((b) => b.host !== undefined);
    h = await openHarness({ view: "admin", topology });
    const { backend, seen } = recording(h.cloud);
    const ctl = new ClusterController(backend);
    const c = spec(
      "uc2",
      [server("db-1"), server("db-2"), volume("vol-1", 10, { attachTo: "db-1" }), volume("vol-2", 10)],
      [
        grouping("data-1", "affinity", ["db-1", "vol-1"]),
        grouping("data-2", "affinity", ["db-2", "vol-2"]),
        grouping("apart", "anti-affinity", ["db-1", "db-2"]),
      ],
    );
    const plan = await ctl.plan(c);
    if (!plan.placement.placed) throw new Error("unplaceable");
    const at = plan.placement.placement;
    const state = await ctl.apply(c);
    const byName = new Map(seen.map((x) => [x.req.metadata["vcluster:member"], x]));
    for (const [vol, srv] of [
      ["vol-1", "db-1"],
      ["vol-2", "db-2"],
    ] as const) {
      const v = at[vol];
      const x = byName.get(vol);
      expect(x?.req.localToServer).toBe(state.members[srv]?.id);
      expect(x?.serverStatus).toBe("ACTIVE");
      expect(state.members[vol]?.backend).toBe(v?.type === "volume" ? v.backend : undefined);
      expect(state.members[vol]?.backend).toBe(`lvm@${state.members[srv]?.host}`);
    }
  });
});
