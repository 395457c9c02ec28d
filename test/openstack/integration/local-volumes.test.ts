// Host-local volumes on the real dev cloud (one Cinder volume host per compute host, Cinder running
// InstanceLocalityFilter): the controller sends a volume's local_to_instance hint as soon as its server
// shows a host, not once it is ACTIVE. Cinder's filter reads only the server's OS-EXT-SRV-ATTR:host; a
// hint naming a server without one puts the volume in error ("No valid backend"), so a volume that
// comes out available, on its server's host, proves the hint was sent no earlier than Nova allows.
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { type Backend, TAG_CLUSTER, TAG_MEMBER, type VolumeCreate } from "../../../provider/backends/backend";
import type { OpenStackBackend } from "../../../provider/backends/openstack/openstack-backend";
import { ClusterController } from "../../../provider/lifecycle";
import type { ClusterSpec } from "../../../provider/model/cluster";
import { connectDevcloud, DEVCLOUD } from "../../support/devcloud";

/** The backend, recording the hinted server's status when each volume is asked for. */
function recording(b: Backend): { backend: Backend; seen: Map<string, string | undefined> } {
  const seen = new Map<string, string | undefined>();
  const backend = new Proxy(b, {
    get(target, prop, receiver) {
      if (prop !== "createVolume") return Reflect.get(target, prop, receiver);
      return async (req: VolumeCreate) => {
        const s = req.localToServer !== undefined ? await target.getServer(req.localToServer) : undefined;
        seen.set(req.metadata[TAG_MEMBER] ?? "", s?.status);
        return target.createVolume(req);
      };
    },
  });
  return { backend, seen };
}

for (const who of ["admin", "member"] as const) {
  describe(`host-local volumes on the openstack devcloud as ${who}`, () => {
    const opened: OpenStackBackend[] = [];
    afterAll(async () => {
      await Promise.all(opened.map((b) => b.close()));
    });

    it("are made next to their server's host, the hint sent once the server has one, and attached", async () => {
      const b = await connectDevcloud(who);
      opened.push(b);
      const { backend, seen } = recording(b);
      const ctl = new ClusterController(backend, {
        timeouts: { serverMs: 120_000, volumeMs: 120_000, deleteMs: 120_000 },
      });
      const name = `lv-${who}-${randomBytes(3).toString("hex")}`;
      const spec: ClusterSpec = {
        name,
        members: [
          { type: "server", name: "db", imageRef: DEVCLOUD.image, flavorRef: DEVCLOUD.flavor, zone: DEVCLOUD.zone },
          { type: "volume", name: "data", sizeGb: 1, zone: DEVCLOUD.zone, attachTo: "db" },
        ],
        // Delegated mode sends the hint for a host-scope affinity; pinned mode for every host-local backend.
        groupings: [
          {
            name: "together",
            members: ["db", "data"],
            rule: "affinity",
            scope: "host",
            enforcement: "hard",
            weight: 50,
            maxPerDomain: 1,
          },
        ],
      };
      const state = await ctl.apply(spec);
      try {
        expect(seen.has("data")).toBe(true);
        // BUILD or ACTIVE, depending on how fast the fake driver spawned it; never without a host.
        expect(["BUILD", "ACTIVE"]).toContain(seen.get("data"));
        expect(state.members.data).toMatchObject({ status: "in-use", attachedTo: "db" });
        if (who === "admin") expect(state.members.data?.backend?.split("@")[0]).toBe(state.members.db?.host);
      } finally {
        await ctl.destroy(state);
      }
      const tag = { [TAG_CLUSTER]: name };
      const [s, v] = await Promise.all([b.findServers(tag), b.findVolumes(tag)]);
      expect(s.length + v.length).toBe(0);
    });
  });
}
