// Destroy on the real dev cloud when a cluster has more attached volumes than the controller sends
// calls at once: the first are detached by a call, the rest are left to Nova, which detaches a
// server's volumes as it deletes the server (Cinder then shows them available). Every request is
// counted on its way out, so a destroy that detached everything itself, or left a volume behind,
// fails here.
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { TAG_CLUSTER } from "../../../provider/backends/backend";
import { ClusterController } from "../../../provider/lifecycle";
import type { ClusterSpec } from "../../../provider/model/cluster";
import { countingDevcloud, DEVCLOUD } from "../../support/devcloud";

describe("teardown on the openstack devcloud as member", () => {
  const closing: (() => Promise<void>)[] = [];
  afterAll(async () => {
    await Promise.all(closing.map((c) => c()));
  });

  it("lets Nova detach the volumes past the calls sent at once, and leaves nothing", async () => {
    const { backend: b, sent, close } = await countingDevcloud("member");
    closing.push(close);
    const timeouts = { serverMs: 180_000, volumeMs: 120_000, deleteMs: 120_000 };
    const name = `td-${randomBytes(3).toString("hex")}`;
    const server = (n: string) =>
      ({ type: "server", name: n, imageRef: DEVCLOUD.image, flavorRef: DEVCLOUD.flavor, zone: DEVCLOUD.zone }) as const;
    const spec: ClusterSpec = {
      name,
      members: [
        server("a"),
        server("b"),
        { type: "volume", name: "a-data", sizeGb: 1, zone: DEVCLOUD.zone, attachTo: "a" },
        { type: "volume", name: "b-data", sizeGb: 1, zone: DEVCLOUD.zone, attachTo: "b" },
      ],
      groupings: [],
    };
    const state = await new ClusterController(b, { timeouts }).apply(spec);
    for (const m of ["a-data", "b-data"]) expect(state.members[m]?.status).toBe("in-use");
    sent.length = 0;
    // One call at a time: one volume is detached by a call, the other by Nova as its server goes.
    await new ClusterController(b, { timeouts, concurrency: 1 }).destroy(state);
    const detaches = sent.filter((r) => /^DELETE \/[^ ]*servers\/[0-9a-f-]{36}\/os-volume_attachments\//.test(r));
    const serverDeletes = sent.filter((r) => /^DELETE \/[^ ]*servers\/[0-9a-f-]{36}$/.test(r));
    const volumeDeletes = sent.filter((r) => /^DELETE \/[^ ]*volumes\/[0-9a-f-]{36}$/.test(r));
    expect(detaches).toHaveLength(1);
    expect(serverDeletes).toHaveLength(2);
    expect(volumeDeletes).toHaveLength(2);
    const tag = { [TAG_CLUSTER]: name };
    const [servers, volumes, groups] = await Promise.all([
      b.findServers(tag),
      b.findVolumes(tag),
      b.findServerGroups(tag),
    ]);
    expect([...servers, ...volumes, ...groups]).toEqual([]);
  });
});
