// Edits of a built cluster's inputs on a real Nova/Cinder/Neutron (the dev cloud, or OS_CLOUD): metadata set
// and deleted in place on a server and its volume, key_name by a rebuild of that server alone (Nova 2.54),
// security_groups added and removed in place, and networks attached and detached in place (os-interface),
// the server kept. The dev cloud's networks and group, or on another cloud VCLUSTER_TEST_NETWORK and
// VCLUSTER_TEST_NETWORK_2 (networks of the project) and VCLUSTER_TEST_SECURITY_GROUP (a group of it); a
// cloud without them refuses the group change at preview, with the reason. Every edit is read back from Nova.
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { TAG_CLUSTER } from "../../../provider/backends/backend";
import { MARKER_PUBLIC_KEY } from "../../../provider/backends/openstack/cluster-marker";
import type { OpenStackBackend } from "../../../provider/backends/openstack/openstack-backend";
import { ClusterController, LifecycleError, type PreviousInputs } from "../../../provider/lifecycle";
import type { ClusterSpec, Member, ServerMember } from "../../../provider/model/cluster";
import { connectDevcloud, DEVCLOUD, devcloudNetworks } from "../../support/devcloud";

const RUN = randomBytes(3).toString("hex");
const ON_DEVCLOUD = process.env.OS_CLOUD === undefined;
const NETWORK = process.env.VCLUSTER_TEST_NETWORK ?? (ON_DEVCLOUD ? devcloudNetworks().devnet : undefined);
const NETWORK_2 = process.env.VCLUSTER_TEST_NETWORK_2 ?? (ON_DEVCLOUD ? devcloudNetworks().devnet2 : undefined);
const GROUP = process.env.VCLUSTER_TEST_SECURITY_GROUP ?? (ON_DEVCLOUD ? DEVCLOUD.securityGroup : undefined);

const TIMEOUTS = { serverMs: 120_000, volumeMs: 120_000, deleteMs: 120_000 };

function cluster(name: string, keyName: string, web: Partial<ServerMember>, backup: string): ClusterSpec {
  const members: Member[] = [
    {
      type: "server",
      name: "web",
      imageRef: DEVCLOUD.image,
      flavorRef: DEVCLOUD.flavor,
      zone: DEVCLOUD.zone,
      keyName,
      metadata: { role: "web" },
      ...(NETWORK !== undefined ? { networks: [NETWORK] } : {}),
      ...web,
    },
    { type: "volume", name: "data", sizeGb: 1, zone: DEVCLOUD.zone, attachTo: "web", metadata: { backup } },
  ];
  return { name, members, groupings: [] };
}

for (const who of ["admin", "member"] as const) {
  describe(`input edits on the openstack devcloud as ${who}`, () => {
    const opened: OpenStackBackend[] = [];
    const keys = [`vc-edit-${who}-${RUN}-1`, `vc-edit-${who}-${RUN}-2`];
    afterAll(async () => {
      for (const b of opened) {
        for (const k of keys) await b.nova.deleteKeypair(k).catch(() => undefined);
        await b.close();
      }
    });

    it("metadata in place, key_name by a rebuild of that server alone, security_groups and networks in place", async () => {
      const b = await connectDevcloud(who);
      opened.push(b);
      for (const k of keys) expect(await b.nova.createKeypair(k, MARKER_PUBLIC_KEY)).toBe(true);
      const ctl = new ClusterController(b, { timeouts: TIMEOUTS });
      const name = `edits-${who}-${RUN}`;
      try {
        const before = cluster(name, keys[0] as string, {}, "daily");
        let state = await ctl.apply(before);
        const serverId = state.members.web?.id as string;
        const volumeId = state.members.data?.id as string;
        expect(await b.getServer(serverId)).toMatchObject({ status: "ACTIVE", keyName: keys[0] });

        // metadata and key_name: planned per member, the rebuild a warning, then made.
        const after = cluster(name, keys[1] as string, { metadata: { tier: "front" } }, "weekly");
        const previous: PreviousInputs = { spec: before };
        const plan = await ctl.plan(after, state, previous);
        expect(plan.blocking).toEqual([]);
        expect(plan.members.map((l) => `${l.level}: ${l.text}`)).toEqual([
          `info: cluster "${name}": volume "data": metadata: "backup" "daily" → "weekly"`,
          `warn: cluster "${name}": server "web": rebuild (root disk is wiped): keyName "${keys[0]}" → "${keys[1]}"; metadata: set "tier" = "front", delete "role"`,
        ]);
        state = await ctl.apply(after, state, previous);
        const web = await b.getServer(serverId);
        expect(web).toMatchObject({ id: serverId, status: "ACTIVE", keyName: keys[1] });
        expect(web?.metadata).toMatchObject({ [TAG_CLUSTER]: name, tier: "front" });
        expect(web?.metadata).not.toHaveProperty("role");
        const data = await b.getVolume(volumeId);
        expect(data).toMatchObject({ status: "in-use", attachedTo: [serverId] });
        expect(data?.metadata).toMatchObject({ backup: "weekly" });
        // Nothing left to do.
        expect((await ctl.plan(after, state, { spec: after })).members).toEqual([]);

        // security_groups.
        const guarded = cluster(
          name,
          keys[1] as string,
          { metadata: { tier: "front" }, securityGroups: [GROUP ?? "default", "default"] },
          "weekly",
        );
        if (NETWORK !== undefined && GROUP !== undefined) {
          state = await ctl.apply(guarded, state, { spec: after });
          expect((await b.getServer(serverId))?.securityGroups).toEqual([GROUP, "default"].sort());
          const back = cluster(name, keys[1] as string, { metadata: { tier: "front" } }, "weekly");
          state = await ctl.apply(back, state, { spec: guarded });
          expect((await b.getServer(serverId))?.securityGroups).toEqual(["default"]);

          // networks: one attached, then the first detached; the server (and its volume) kept.
          if (NETWORK_2 !== undefined) {
            const fields = { metadata: { tier: "front" } };
            const two = cluster(name, keys[1] as string, { ...fields, networks: [NETWORK, NETWORK_2] }, "weekly");
            const plan2 = await ctl.plan(two, state, { spec: back });
            expect(plan2.members.map((l) => `${l.level}: ${l.text}`)).toEqual([
              `info: cluster "${name}": server "web": networks: attach "${NETWORK_2}"`,
            ]);
            state = await ctl.apply(two, state, { spec: back });
            expect(state.members.web?.id).toBe(serverId);
            expect(Object.keys(state.members.web?.addresses ?? {})).toHaveLength(2);
            expect(state.members.web?.ports).toHaveLength(2);
            const one = cluster(name, keys[1] as string, { ...fields, networks: [NETWORK_2] }, "weekly");
            state = await ctl.apply(one, state, { spec: two });
            expect(state.members.web?.id).toBe(serverId);
            expect(state.members.web?.ports).toHaveLength(1);
            // The outputs show the network left only (Nova's address cache lags the port's detach).
            expect(Object.keys(state.members.web?.addresses ?? {})).toHaveLength(1);
            expect(Object.keys((await b.getServer(serverId))?.addresses ?? {})).toHaveLength(1);
            expect(await b.getVolume(volumeId)).toMatchObject({ status: "in-use", attachedTo: [serverId] });
            expect((await ctl.plan(one, state, { spec: one })).members).toEqual([]);
          }
        } else {
          // A server with no port (a cloud without tenant networks): Nova shows no group, and none can be added.
          expect((await b.getServer(serverId))?.securityGroups).toEqual([]);
          const web2 = cluster(
            name,
            keys[1] as string,
            { metadata: { tier: "front" }, securityGroups: ["web-only"] },
            "weekly",
          );
          const refused = await ctl.plan(web2, state, { spec: after });
          expect(refused.blocking).toEqual([
            `cluster "${name}": server "web" can't change its securityGroups to "web-only": it has no network port that takes security groups (no network, or port security off); hint: give it networks, or keep its securityGroups as they were`,
          ]);
          const failure = await ctl.apply(web2, state, { spec: after }).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(failure).toBeInstanceOf(LifecycleError);
          expect((failure as LifecycleError).code).toBe("invalid");
          expect(await b.getServer(serverId)).toMatchObject({ status: "ACTIVE", keyName: keys[1] });
        }
      } finally {
        await ctl.destroy({ clusterName: name });
      }
      const tag = { [TAG_CLUSTER]: name };
      expect((await b.findServers(tag)).length + (await b.findVolumes(tag)).length).toBe(0);
    });
  });
}
