// The lifecycle controller against the real dev cloud: anti-affinity on real hosts, growth, refresh after an
// out-of-band delete, all-or-nothing create, and a destroy that leaves nothing.
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { TAG_CLUSTER } from "../../../provider/backends/backend";
import type { OpenStackBackend } from "../../../provider/backends/openstack/openstack-backend";
import { ClusterController, LifecycleError } from "../../../provider/lifecycle";
import type { ClusterSpec, Grouping, ServerMember, VolumeMember } from "../../../provider/model/cluster";
import { connectDevcloud, DEVCLOUD } from "../../support/devcloud";

const srv = (name: string, over: Partial<ServerMember> = {}): ServerMember => ({
  type: "server",
  name,
  imageRef: DEVCLOUD.image,
  flavorRef: DEVCLOUD.flavor,
  zone: DEVCLOUD.zone,
  ...over,
});
const spread = (members: string[]): Grouping => ({
  name: "spread",
  members,
  rule: "anti-affinity",
  scope: "host",
  enforcement: "hard",
  weight: 50,
  maxPerDomain: 1,
});

async function leftovers(b: OpenStackBackend, cluster: string) {
  const tag = { [TAG_CLUSTER]: cluster };
  const [s, v, g] = await Promise.all([b.findServers(tag), b.findVolumes(tag), b.findServerGroups(tag)]);
  return s.length + v.length + g.length;
}

for (const who of ["admin", "member"] as const) {
  describe(`lifecycle on the openstack devcloud as ${who}`, () => {
    const run = randomBytes(3).toString("hex");
    const opened: OpenStackBackend[] = [];
    const connect = async () => {
      const b = await connectDevcloud(who);
      opened.push(b);
      return b;
    };
    afterAll(async () => {
      await Promise.all(opened.map((b) => b.close()));
    });

    it("creates with anti-affinity on distinct hosts, grows, sees an out-of-band delete, destroys clean", async () => {
      const b = await connect();
      const ctl = new ClusterController(b, { timeouts: { serverMs: 120_000, volumeMs: 120_000, deleteMs: 120_000 } });
      const name = `lc-${who}-${run}`;
      const two: ClusterSpec = { name, members: [srv("a"), srv("b")], groupings: [spread(["a", "b"])] };
      let state = await ctl.apply(two);
      const a = state.members.a;
      const bb = state.members.b;
      expect([a?.status, bb?.status]).toEqual(["ACTIVE", "ACTIVE"]);
      if (who === "admin") expect(a?.host).not.toBe(bb?.host);
      expect(a?.hostId).not.toBe(bb?.hostId);

      state = await ctl.apply({ ...two, members: [...two.members, srv("c")] }, state);
      expect(state.members.c?.status).toBe("ACTIVE");

      await b.deleteServer(state.members.c?.id ?? "");
      for (let i = 0; i < 120 && (await b.getServer(state.members.c?.id ?? "")); i++) {
        await new Promise((r) => setTimeout(r, 500));
      }
      state = await ctl.refresh(state);
      expect(state.members.c?.status).toBe("MISSING");

      await ctl.destroy(state);
      expect(await leftovers(b, name)).toBe(0);
    });

    it("fails an unplaceable cluster before any server exists", async () => {
      const b = await connect();
      const ctl = new ClusterController(b);
      const name = `lc-huge-${who}-${run}`;
      await expect(
        ctl.apply({ name, members: [srv("x", { flavorRef: DEVCLOUD.hugeFlavor })], groupings: [] }),
      ).rejects.toThrow();
      expect(await leftovers(b, name)).toBe(0);
    });

    it("rolls everything back when the last member fails mid-create (a volume type Cinder doesn't have)", async () => {
      // Flavors and images are checked before anything is made; a volume type is only refused by
      // Cinder at create time, after the servers exist: a real mid-create failure.
      const b = await connect();
      const ctl = new ClusterController(b, { concurrency: 1 });
      const name = `lc-rollback-${who}-${run}`;
      const z: VolumeMember = { type: "volume", name: "z", sizeGb: 1, volumeType: "no-such-type" };
      const failure = await ctl.apply({ name, members: [srv("a"), srv("b"), z], groupings: [] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(LifecycleError);
      expect((failure as LifecycleError).code).toBe("create_failed");
      expect((failure as LifecycleError).message).toContain("no-such-type");
      for (let i = 0; i < 120 && (await leftovers(b, name)) > 0; i++) await new Promise((r) => setTimeout(r, 500));
      expect(await leftovers(b, name)).toBe(0);
    });
  });
}
