// What discovery sees on the dev cloud: the admin gets the real inventory (pinned), a member zones only (delegated).
import { afterAll, describe, expect, it } from "vitest";
import type { OpenStackBackend } from "../../../provider/backends/openstack/openstack-backend";
import { connectDevcloud } from "../../support/devcloud";

describe("openstack devcloud discovery", () => {
  const open: OpenStackBackend[] = [];
  afterAll(async () => {
    await Promise.all(open.map((b) => b.close()));
  });

  it("is pinned for the admin: fake hosts in two zones and racks from aggregates, Cinder pools", async () => {
    const b = await connectDevcloud("admin");
    open.push(b);
    const d = await b.discover();
    expect(d.mode).toBe("pinned");
    expect(d.zones).toEqual(["az1", "az2"]);
    const hosts = d.topology.hosts.map((h) => `${h.name} ${h.zone} ${h.rack}`);
    expect(hosts).toEqual(["fake-host-1 az1 r1", "fake-host-2 az1 r2", "fake-host-3 az2 r3", "fake-host-4 az2 r3"]);
    expect(d.topology.storageBackends.map((s) => `${s.name} ${s.host ?? s.zone}`)).toEqual([
      "fake-host-1@fake#fake fake-host-1",
      "fake-host-2@fake#fake fake-host-2",
      "fake-host-3@fake#fake fake-host-3",
      "fake-host-4@fake#fake fake-host-4",
    ]);
    expect(d.topology.flavors["m1.tiny"]).toMatchObject({ vcpus: 1, ramMb: 512, diskGb: 1 });
  });

  it("is delegated for a project member: zones only", async () => {
    const b = await connectDevcloud("member");
    open.push(b);
    const d = await b.discover();
    expect(d.mode).toBe("delegated");
    expect(d.zones).toEqual(["az1", "az2"]);
    expect(d.topology.hosts).toEqual([]);
  });
});
