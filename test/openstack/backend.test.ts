import type { MockAgent } from "undici";
import { describe, expect, it } from "vitest";
import { OpenStackBackend } from "../../provider/backends/openstack/openstack-backend";
import {
  CINDER,
  GLANCE,
  interceptAuth,
  interceptNovaVersion,
  json,
  mockCloud,
  NOVA,
  PLACEMENT,
  PROJECT,
  passwordConfig,
} from "../support/openstack-mock";

async function connect(novaMax: string, roles = ["member"]): Promise<{ agent: MockAgent; backend: OpenStackBackend }> {
  const c = mockCloud();
  interceptAuth(c.agent, { roles });
  interceptNovaVersion(c.agent, novaMax);
  const backend = await OpenStackBackend.connect(passwordConfig(), {
    http: { dispatcherFor: () => c.agent, sleep: async () => {} },
    now: () => Date.parse("2030-01-01T00:00:00Z"),
  });
  return { agent: c.agent, backend };
}

function capture(agent: MockAgent, origin: string, path: string, method: string, status: number, reply: unknown) {
  const seen: { body?: unknown; version?: string } = {};
  agent
    .get(origin)
    .intercept({
      path,
      method,
      body: (b) => {
        seen.body = b ? JSON.parse(b) : undefined;
        return true;
      },
      headers: (h) => {
        seen.version = h["openstack-api-version"];
        return true;
      },
    })
    .reply(status, reply as object, json);
  return seen;
}

describe("OpenStackBackend request shaping", () => {
  it.each([
    ["2.60", { name: "g [vcluster:cluster=c1]", policies: ["anti-affinity"] }],
    ["2.93", { name: "g [vcluster:cluster=c1]", policy: "anti-affinity", rules: { max_server_per_host: 1 } }],
  ])("a cloud at %s gets %j", async (max, group) => {
    const { agent, backend } = await connect(max);
    const seen = capture(agent, NOVA, "/v2.1/os-server-groups", "POST", 200, {
      server_group: { id: "sg1", ...group, members: [] },
    });
    const info = await backend.createServerGroup({
      name: "g",
      policy: "anti-affinity",
      maxServerPerHost: 1,
      metadata: { "vcluster:cluster": "c1" },
    });
    expect(seen.body).toEqual({ server_group: group });
    expect(seen.version).toBe(`compute ${max}`);
    expect(info).toMatchObject({
      id: "sg1",
      name: "g",
      policy: "anti-affinity",
      metadata: { "vcluster:cluster": "c1" },
    });
  });

  it("resolves flavor and image names, creates the server and reads it back", async () => {
    const { agent, backend } = await connect("2.93");
    const nova = agent.get(NOVA);
    nova
      .intercept({ path: "/v2.1/flavors/detail?is_public=None", method: "GET" })
      .reply(200, { flavors: [{ id: "2", name: "m1.small", vcpus: 1, ram: 2048, disk: 20 }] }, json);
    agent
      .get(GLANCE)
      .intercept({ path: "/v2/images?name=cirros", method: "GET" })
      .reply(200, { images: [{ id: "img-9" }] }, json);
    const seen = capture(agent, NOVA, "/v2.1/servers", "POST", 202, { server: { id: "s1" } });
    nova
      .intercept({ path: "/v2.1/servers/s1", method: "GET" })
      .reply(200, { server: { id: "s1", name: "db-1", status: "BUILD", flavor: { original_name: "m1.small" } } }, json);
    const s = await backend.createServer({
      name: "db-1",
      imageRef: "cirros",
      flavorRef: "m1.small",
      zone: "az1",
      sameHost: ["s0"],
      metadata: { "vcluster:member": "db-1" },
    });
    expect(seen.body).toEqual({
      server: {
        name: "db-1",
        imageRef: "img-9",
        flavorRef: "2",
        networks: "none",
        availability_zone: "az1",
        metadata: { "vcluster:member": "db-1" },
      },
      "os:scheduler_hints": { same_host: ["s0"] },
    });
    expect(s.status).toBe("BUILD");
  });

  it("names the flavors that exist when one doesn't", async () => {
    const { agent, backend } = await connect("2.93");
    agent
      .get(NOVA)
      .intercept({ path: "/v2.1/flavors/detail?is_public=None", method: "GET" })
      .reply(200, { flavors: [{ id: "1", name: "m1.tiny", vcpus: 1, ram: 512, disk: 1 }] }, json);
    await expect(
      backend.createServer({
        name: "x",
        imageRef: "11111111-2222-3333-4444-555555555555",
        flavorRef: "m9",
        metadata: {},
      }),
    ).rejects.toThrowErrorMatchingInlineSnapshot(`[BackendError: nova: flavor "m9" does not exist; flavors: m1.tiny]`);
  });

  it("reads not-found as undefined and deletes of missing objects as success", async () => {
    const { agent, backend } = await connect("2.93");
    const nova = agent.get(NOVA);
    nova.intercept({ path: "/v2.1/servers/gone", method: "GET" }).reply(404, { itemNotFound: { message: "x" } }, json);
    nova
      .intercept({ path: "/v2.1/servers/gone", method: "DELETE" })
      .reply(404, { itemNotFound: { message: "x" } }, json);
    const cinder = agent.get(CINDER);
    cinder.intercept({ path: `/v3/${PROJECT}/volumes/gone`, method: "GET" }).reply(404, {}, json);
    cinder.intercept({ path: `/v3/${PROJECT}/volumes/gone`, method: "DELETE" }).reply(404, {}, json);
    expect(await backend.getServer("gone")).toBeUndefined();
    await backend.deleteServer("gone");
    expect(await backend.getVolume("gone")).toBeUndefined();
    await backend.deleteVolume("gone");
    agent.assertNoPendingInterceptors();
  });

  it("reads a cluster's servers and volumes in one list each; one not listed is read on its own", async () => {
    const { agent, backend } = await connect("2.93");
    const nova = agent.get(NOVA);
    const cinder = agent.get(CINDER);
    const tags = { "vcluster:cluster": "c.1" };
    const server = (id: string, status: string) => ({
      id,
      name: `c.1-${id}`,
      status,
      flavor: { original_name: "m1.small" },
      image: { id: "img" },
      metadata: tags,
    });
    const volume = (id: string, status: string) => ({ id, name: `c.1-${id}`, status, size: 1, metadata: tags });
    // What the backend has shown before (its tags name the cluster): a batched read lists only then.
    for (const id of ["a", "b", "renamed"]) {
      nova.intercept({ path: `/v2.1/servers/${id}`, method: "GET" }).reply(200, { server: server(id, "BUILD") }, json);
      await backend.getServer(id);
    }
    for (const id of ["v", "w"]) {
      cinder
        .intercept({ path: `/v3/${PROJECT}/volumes/${id}`, method: "GET" })
        .reply(200, { volume: volume(id, "creating") }, json);
      await backend.getVolume(id);
    }
    nova
      .intercept({ path: `/v2.1/servers/detail?limit=1000&name=${encodeURIComponent("^c\\.1-")}`, method: "GET" })
      .reply(200, { servers: [server("a", "ACTIVE"), server("b", "BUILD")] }, json);
    nova
      .intercept({ path: "/v2.1/servers/renamed", method: "GET" })
      .reply(404, { itemNotFound: { message: "x" } }, json);
    const servers = await backend.getServers(["a", "renamed", "b"]);
    expect(servers.map((x) => x && `${x.id} ${x.status}`)).toEqual(["a ACTIVE", undefined, "b BUILD"]);
    const filter = encodeURIComponent(JSON.stringify(tags));
    cinder
      .intercept({ path: `/v3/${PROJECT}/volumes/detail?limit=1000&metadata=${filter}`, method: "GET" })
      .reply(200, { volumes: [volume("w", "available"), volume("v", "available")] }, json);
    const volumes = await backend.getVolumes(["v", "w"]);
    expect(volumes.map((x) => x && `${x.id} ${x.status}`)).toEqual(["v available", "w available"]);
    // A cloud that refuses the filter (400): each is read on its own.
    cinder
      .intercept({ path: `/v3/${PROJECT}/volumes/detail?limit=1000&metadata=${filter}`, method: "GET" })
      .reply(400, { badRequest: { message: "Invalid filters metadata are found in query options." } }, json);
    for (const id of ["v", "w"])
      cinder
        .intercept({ path: `/v3/${PROJECT}/volumes/${id}`, method: "GET" })
        .reply(200, { volume: volume(id, "in-use") }, json);
    expect((await backend.getVolumes(["v", "w"])).map((x) => x?.status)).toEqual(["in-use", "in-use"]);
    // Ids it hasn't shown: one by one.
    nova
      .intercept({ path: "/v2.1/servers/unknown", method: "GET" })
      .reply(404, { itemNotFound: { message: "x" } }, json);
    nova.intercept({ path: "/v2.1/servers/a", method: "GET" }).reply(200, { server: server("a", "ACTIVE") }, json);
    expect((await backend.getServers(["unknown", "a"])).map((x) => x?.id)).toEqual([undefined, "a"]);
    agent.assertNoPendingInterceptors();
  });

  it("creates a volume with zone, type, metadata and Cinder hints", async () => {
    const { agent, backend } = await connect("2.93");
    const seen = capture(agent, CINDER, `/v3/${PROJECT}/volumes`, "POST", 202, {
      volume: { id: "v1", name: "data", status: "creating", size: 10, metadata: {} },
    });
    await backend.createVolume({
      name: "data",
      sizeGb: 10,
      volumeType: "ssd",
      zone: "az2",
      localToServer: "s1",
      differentBackendFrom: ["v0"],
      metadata: { "vcluster:member": "data" },
    });
    expect(seen.body).toEqual({
      volume: {
        name: "data",
        size: 10,
        volume_type: "ssd",
        availability_zone: "az2",
        metadata: { "vcluster:member": "data" },
      },
      "OS-SCH-HNT:scheduler_hints": { local_to_instance: "s1", different_host: ["v0"] },
    });
  });

  it("extends with os-extend and refuses to shrink", async () => {
    const { agent, backend } = await connect("2.93");
    const cinder = agent.get(CINDER);
    cinder
      .intercept({ path: `/v3/${PROJECT}/volumes/v1`, method: "GET" })
      .reply(200, { volume: { id: "v1", size: 10, status: "available" } }, json)
      .times(2);
    const seen = capture(agent, CINDER, `/v3/${PROJECT}/volumes/v1/action`, "POST", 202, {});
    await backend.extendVolume("v1", 20);
    expect(seen.body).toEqual({ "os-extend": { new_size: 20 } });
    await expect(backend.extendVolume("v1", 5)).rejects.toMatchObject({ code: "bad_request" });
  });

  it("treats attaching an already attached pair as success", async () => {
    const { agent, backend } = await connect("2.93");
    agent
      .get(NOVA)
      .intercept({ path: "/v2.1/servers/s1/os-volume_attachments", method: "POST" })
      .reply(409, { conflictingRequest: { message: "volume v1 already attached" } }, json);
    agent
      .get(CINDER)
      .intercept({ path: `/v3/${PROJECT}/volumes/v1`, method: "GET" })
      .reply(200, { volume: { id: "v1", status: "in-use", attachments: [{ server_id: "s1" }] } }, json);
    await backend.attachVolume("s1", "v1");
  });
});

describe("OpenStackBackend in-place edits", () => {
  it("rebuilds with the image's id, a new key and base64 user data (the root disk is wiped)", async () => {
    const { agent, backend } = await connect("2.96");
    agent
      .get(GLANCE)
      .intercept({ path: "/v2/images?name=cirros", method: "GET" })
      .reply(200, { images: [{ id: "img-9" }] }, json);
    const seen = capture(agent, NOVA, "/v2.1/servers/s1/action", "POST", 202, {});
    await backend.rebuildServer("s1", "cirros", { keyName: "deploy-2", userData: "#cloud-config\nx: 1" });
    expect(seen.body).toEqual({
      rebuild: {
        imageRef: "img-9",
        key_name: "deploy-2",
        user_data: Buffer.from("#cloud-config\nx: 1").toString("base64"),
      },
    });
    expect(seen.version).toBe("compute 2.96");
  });

  it("an image-only rebuild sends neither key_name nor user_data", async () => {
    const { agent, backend } = await connect("2.60");
    const seen = capture(agent, NOVA, "/v2.1/servers/s1/action", "POST", 202, {});
    await backend.rebuildServer("s1", "11111111-2222-3333-4444-555555555555");
    expect(seen.body).toEqual({ rebuild: { imageRef: "11111111-2222-3333-4444-555555555555" } });
  });

  it("sets server metadata with one POST (merged by Nova) and deletes each dropped key; a key already gone is fine", async () => {
    const { agent, backend } = await connect("2.93");
    const set = capture(agent, NOVA, "/v2.1/servers/s1/metadata", "POST", 200, { metadata: { role: "db" } });
    agent.get(NOVA).intercept({ path: "/v2.1/servers/s1/metadata/old", method: "DELETE" }).reply(204, "");
    agent
      .get(NOVA)
      .intercept({ path: "/v2.1/servers/s1/metadata/gone", method: "DELETE" })
      .reply(404, { itemNotFound: { message: "Metadata item was not found" } }, json);
    await backend.updateServerMetadata("s1", { role: "db" }, ["old", "gone"]);
    expect(set.body).toEqual({ metadata: { role: "db" } });
  });

  it("adds and removes security groups by name; already there / not there is success, anything else is not", async () => {
    const { agent, backend } = await connect("2.93");
    const nova = agent.get(NOVA);
    const add = capture(agent, NOVA, "/v2.1/servers/s1/action", "POST", 202, {});
    await backend.addSecurityGroup("s1", "web");
    expect(add.body).toEqual({ addSecurityGroup: { name: "web" } });

    nova
      .intercept({ path: "/v2.1/servers/s1/action", method: "POST" })
      .reply(400, { badRequest: { message: "Security group web is already associated with the instance s1" } }, json);
    nova
      .intercept({ path: "/v2.1/servers/s1", method: "GET" })
      .reply(200, { server: { id: "s1", status: "ACTIVE", security_groups: [{ name: "web" }] } }, json);
    await backend.addSecurityGroup("s1", "web");

    const remove = capture(agent, NOVA, "/v2.1/servers/s1/action", "POST", 400, {
      badRequest: { message: "Security group default not associated with the instance s1" },
    });
    nova
      .intercept({ path: "/v2.1/servers/s1", method: "GET" })
      .reply(200, { server: { id: "s1", status: "ACTIVE", security_groups: [{ name: "web" }] } }, json);
    await backend.removeSecurityGroup("s1", "default");
    expect(remove.body).toEqual({ removeSecurityGroup: { name: "default" } });

    // A server without ports: Nova can't find a port to put the group on.
    nova.intercept({ path: "/v2.1/servers/s2/action", method: "POST" }).reply(
      404,
      {
        itemNotFound: { message: "instance_id s2 could not be found as device id on any ports" },
      },
      json,
    );
    await expect(backend.addSecurityGroup("s2", "web")).rejects.toMatchObject({
      code: "not_found",
      message: expect.stringContaining("could not be found as device id on any ports"),
    });
  });

  it("retypes with os-retype, migrating on demand; sets and deletes volume metadata", async () => {
    const { agent, backend } = await connect("2.93");
    const retype = capture(agent, CINDER, `/v3/${PROJECT}/volumes/v1/action`, "POST", 202, {});
    await backend.retypeVolume("v1", "ssd");
    expect(retype.body).toEqual({ "os-retype": { new_type: "ssd", migration_policy: "on-demand" } });

    const set = capture(agent, CINDER, `/v3/${PROJECT}/volumes/v1/metadata`, "POST", 200, { metadata: {} });
    agent
      .get(CINDER)
      .intercept({ path: `/v3/${PROJECT}/volumes/v1/metadata/owner`, method: "DELETE" })
      .reply(200, "");
    await backend.updateVolumeMetadata("v1", { backup: "weekly" }, ["owner"]);
    expect(set.body).toEqual({ metadata: { backup: "weekly" } });
  });

  it("an edit with nothing to set sends no POST", async () => {
    const { agent, backend } = await connect("2.93");
    agent.get(NOVA).intercept({ path: "/v2.1/servers/s1/metadata/old", method: "DELETE" }).reply(204, "");
    await backend.updateServerMetadata("s1", {}, ["old"]);
    agent.assertNoPendingInterceptors();
  });
});

describe("OpenStackBackend.discover", () => {
  function common(agent: MockAgent) {
    const nova = agent.get(NOVA);
    nova
      .intercept({ path: "/v2.1/flavors/detail?is_public=None", method: "GET" })
      .reply(200, { flavors: [{ id: "1", name: "m1.tiny", vcpus: 1, ram: 512, disk: 1 }] }, json);
    nova.intercept({ path: "/v2.1/limits", method: "GET" }).reply(
      200,
      {
        limits: {
          absolute: {
            maxTotalInstances: 10,
            totalInstancesUsed: 3,
            maxTotalCores: -1,
            maxTotalRAMSize: 51200,
            totalRAMUsed: 1024,
          },
        },
      },
      json,
    );
    agent
      .get(CINDER)
      .intercept({ path: `/v3/${PROJECT}/limits`, method: "GET" })
      .reply(
        200,
        {
          limits: {
            absolute: {
              maxTotalVolumes: 10,
              totalVolumesUsed: 1,
              maxTotalVolumeGigabytes: 1000,
              totalGigabytesUsed: 100,
            },
          },
        },
        json,
      );
  }

  it("is delegated (zones only) for a tenant who can't list hypervisors", async () => {
    const { agent, backend } = await connect("2.93");
    common(agent);
    const nova = agent.get(NOVA);
    nova
      .intercept({ path: "/v2.1/os-hypervisors/detail", method: "GET" })
      .reply(403, { forbidden: { message: "Policy" } }, json);
    nova.intercept({ path: "/v2.1/os-availability-zone", method: "GET" }).reply(
      200,
      {
        availabilityZoneInfo: [
          { zoneName: "az2", zoneState: { available: true }, hosts: null },
          { zoneName: "az1", zoneState: { available: true }, hosts: null },
          { zoneName: "down", zoneState: { available: false }, hosts: null },
        ],
      },
      json,
    );
    expect(await backend.discover()).toEqual({
      mode: "delegated",
      topology: {
        flavors: { "m1.tiny": { vcpus: 1, ramMb: 512, diskGb: 1, id: "1" } },
        hosts: [],
        storageBackends: [],
      },
      zones: ["az1", "az2"],
      quota: { instances: 7, ramMb: 50176, volumes: 9, gigabytes: 900 },
    });
  });

  it("is pinned for an admin: hosts from Placement at 2.88+, racks from aggregates, zones, Cinder pools", async () => {
    const { agent, backend } = await connect("2.93", ["admin"]);
    common(agent);
    const nova = agent.get(NOVA);
    nova.intercept({ path: "/v2.1/os-hypervisors/detail", method: "GET" }).reply(
      200,
      {
        hypervisors: [
          { hypervisor_hostname: "h1", state: "up", status: "enabled", service: { host: "h1" } },
          { hypervisor_hostname: "h2", state: "up", status: "enabled", service: { host: "h2" } },
          { hypervisor_hostname: "h3", state: "down", status: "enabled", service: { host: "h3" } },
        ],
      },
      json,
    );
    nova.intercept({ path: "/v2.1/os-availability-zone/detail", method: "GET" }).reply(
      200,
      {
        availabilityZoneInfo: [
          { zoneName: "internal", zoneState: { available: true }, hosts: { ctl: { "nova-scheduler": {} } } },
          { zoneName: "az1", zoneState: { available: true }, hosts: { h1: { "nova-compute": {} } } },
          { zoneName: "az2", zoneState: { available: true }, hosts: { h2: { "nova-compute": {} } } },
        ],
      },
      json,
    );
    nova.intercept({ path: "/v2.1/os-aggregates", method: "GET" }).reply(
      200,
      {
        aggregates: [
          { name: "az1", availability_zone: "az1", hosts: ["h1"], metadata: { availability_zone: "az1" } },
          { name: "rack-a", hosts: ["h1"], metadata: { rack: "ra" } },
        ],
      },
      json,
    );
    const placement = agent.get(PLACEMENT);
    placement.intercept({ path: "/resource_providers", method: "GET" }).reply(
      200,
      {
        resource_providers: [
          { uuid: "u1", name: "h1" },
          { uuid: "u2", name: "h2" },
        ],
      },
      json,
    );
    for (const [uuid, used] of [
      ["u1", 2],
      ["u2", 0],
    ] as const) {
      placement.intercept({ path: `/resource_providers/${uuid}/inventories`, method: "GET" }).reply(
        200,
        {
          inventories: {
            VCPU: { total: 16, reserved: 0, allocation_ratio: 4 },
            MEMORY_MB: { total: 65536, reserved: 512, allocation_ratio: 1 },
            DISK_GB: { total: 1000, reserved: 0, allocation_ratio: 1 },
          },
        },
        json,
      );
      placement
        .intercept({ path: `/resource_providers/${uuid}/usages`, method: "GET" })
        .reply(200, { usages: { VCPU: used, MEMORY_MB: used * 512, DISK_GB: used } }, json);
    }
    const cinder = agent.get(CINDER);
    cinder.intercept({ path: `/v3/${PROJECT}/scheduler-stats/get_pools?detail=true`, method: "GET" }).reply(
      200,
      {
        pools: [
          { name: "h1@lvm#lvm", capabilities: { total_capacity_gb: 500, free_capacity_gb: 400 } },
          { name: "ceph@rbd#rbd", capabilities: { total_capacity_gb: "infinite", free_capacity_gb: "infinite" } },
        ],
      },
      json,
    );
    cinder.intercept({ path: `/v3/${PROJECT}/os-services?binary=cinder-volume`, method: "GET" }).reply(
      200,
      {
        services: [
          { host: "ceph@rbd", zone: "az2" },
          { host: "h1@lvm", zone: "az1" },
        ],
      },
      json,
    );
    const d = await backend.discover();
    expect(d.mode).toBe("pinned");
    expect(d.zones).toEqual(["az1", "az2"]);
    expect(d.topology.hosts).toEqual([
      {
        name: "h1",
        zone: "az1",
        rack: "ra",
        vcpus: 64,
        ramMb: 65024,
        diskGb: 1000,
        used: { vcpus: 2, ramMb: 1024, diskGb: 2 },
      },
      {
        name: "h2",
        zone: "az2",
        rack: "h2",
        vcpus: 64,
        ramMb: 65024,
        diskGb: 1000,
        used: { vcpus: 0, ramMb: 0, diskGb: 0 },
      },
    ]);
    expect(d.topology.storageBackends).toEqual([
      { name: "ceph@rbd#rbd", zone: "az2", capacityGb: 1_000_000_000, usedGb: 0 },
      { name: "h1@lvm#lvm", host: "h1", capacityGb: 500, usedGb: 100 },
    ]);
    agent.assertNoPendingInterceptors();
  });
});

describe("OpenStackBackend.identity", () => {
  it("never carries credentials from the auth URL into the cluster's state", async () => {
    const c = mockCloud();
    interceptAuth(c.agent);
    interceptNovaVersion(c.agent, "2.93");
    const cfg = passwordConfig();
    if (cfg.auth.type === "password") cfg.auth.authUrl = "http://u:url-pass@keystone.test:5000/v3/";
    const backend = await OpenStackBackend.connect(cfg, { http: { dispatcherFor: () => c.agent } });
    expect(await backend.identity()).toBe(`openstack:http://keystone.test:5000/v3|project=${PROJECT}|region=RegionOne`);
    expect(backend.description).not.toContain("url-pass");
  });

  it("nor from a compute endpoint without Keystone", async () => {
    const c = mockCloud();
    c.agent
      .get("http://127.0.0.1:8774")
      .intercept({ path: "/v2.1/", method: "GET" })
      .reply(200, { version: { id: "v2.1", version: "2.93", min_version: "2.1" } }, json);
    const cfg = passwordConfig({
      auth: { type: "noauth", token: "admin:abc", projectId: "abc" },
      endpointOverrides: { compute: "http://admin:url-pass@127.0.0.1:8774/v2.1" },
      region: undefined,
    });
    const backend = await OpenStackBackend.connect(cfg, { http: { dispatcherFor: () => c.agent } });
    expect(await backend.identity()).toBe("openstack:http://127.0.0.1:8774/v2.1|project=abc|region=");
  });
});

describe("OpenStackBackend.imageProblems", () => {
  it("looks ids up by id and names by name, and says what is wrong with each", async () => {
    const { agent, backend } = await connect("2.93");
    const glance = agent.get(GLANCE);
    glance
      .intercept({ path: "/v2/images/11111111-2222-3333-4444-555555555555", method: "GET" })
      .reply(200, { id: "x" }, json);
    glance
      .intercept({ path: "/v2/images/11111111-2222-3333-4444-000000000000", method: "GET" })
      .reply(404, { message: "No image found" }, json);
    glance.intercept({ path: "/v2/images?name=debian-12", method: "GET" }).reply(200, { images: [{ id: "a" }] }, json);
    glance.intercept({ path: "/v2/images?name=debain-12", method: "GET" }).reply(200, { images: [] }, json);
    glance
      .intercept({ path: "/v2/images?name=ubuntu", method: "GET" })
      .reply(200, { images: [{ id: "a" }, { id: "b" }] }, json);
    expect(
      await backend.imageProblems([
        "11111111-2222-3333-4444-000000000000",
        "11111111-2222-3333-4444-555555555555",
        "debain-12",
        "debian-12",
        "ubuntu",
      ]),
    ).toEqual({
      "11111111-2222-3333-4444-000000000000": "does not exist (no image has that id)",
      "debain-12": "does not exist (use an image id or an existing image name)",
      ubuntu: "names 2 images: use its id",
    });
  });
});
