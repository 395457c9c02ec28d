import { describe, expect, it } from "vitest";
import type { ServerCreate } from "../../provider/backends/backend";
import { parseVolume } from "../../provider/backends/openstack/cinder";
import {
  formatMicroversion,
  negotiateMicroversion,
  parseServer,
  parseServerGroupName,
  rebuildBody,
  serverCreateBody,
  serverGroupBody,
  serverGroupName,
} from "../../provider/backends/openstack/nova";

const v = (minor: number) => ({ major: 2, minor });

describe("microversion negotiation", () => {
  it.each([
    [{ version: { version: "2.93", min_version: "2.1" } }, "2.93"],
    [{ version: { version: "2.101", min_version: "2.1" } }, "2.96"],
    [{ version: { version: "2.60", min_version: "2.1" } }, "2.60"],
    [{ versions: [{ id: "v2.0" }, { id: "v2.1", version: "2.79", min_version: "2.1" }] }, "2.79"],
  ])("%j -> %s", (body, chosen) => {
    const got = negotiateMicroversion(body);
    expect("error" in got ? got.error : formatMicroversion(got)).toBe(chosen);
  });

  it("refuses a cloud older than the client supports", () => {
    const got = negotiateMicroversion({ version: { version: "2.53", min_version: "2.1" } });
    expect(got).toEqual({
      error: "the cloud's compute API supports 2.1–2.53, this client needs 2.60–2.96 (Nova Rocky or newer)",
    });
  });

  it("refuses an endpoint without microversions", () => {
    expect(negotiateMicroversion({ version: { id: "v2.0" } })).toHaveProperty("error");
  });
});

describe("server group bodies", () => {
  const aa = { name: "spread", policy: "anti-affinity" as const, metadata: { "vcluster:cluster": "db" } };

  it("uses policy and rules at 2.64+", () => {
    expect(serverGroupBody({ ...aa, maxServerPerHost: 2 }, v(64))).toEqual({
      server_group: {
        name: "spread [vcluster:cluster=db]",
        policy: "anti-affinity",
        rules: { max_server_per_host: 2 },
      },
    });
  });

  it("sends no rules for other policies (Nova: only anti-affinity supports rules)", () => {
    expect(serverGroupBody({ name: "g", policy: "soft-affinity", maxServerPerHost: 3, metadata: {} }, v(88))).toEqual({
      server_group: { name: "g", policy: "soft-affinity" },
    });
  });

  it("uses policies below 2.64", () => {
    expect(serverGroupBody(aa, v(60))).toEqual({
      server_group: { name: "spread [vcluster:cluster=db]", policies: ["anti-affinity"] },
    });
  });

  it("refuses max_server_per_host below 2.64 instead of silently dropping it", () => {
    expect(() => serverGroupBody({ ...aa, maxServerPerHost: 2 }, v(60))).toThrow(/needs compute API 2.64/);
  });

  it.each([
    [{}, "g"],
    [{ "vcluster:cluster": "db", "vcluster:grouping": "spread" }, "g [vcluster:cluster=db vcluster:grouping=spread]"],
    [{ "a b": "x=y [z]", "%": "" }, "g [%25= a%20b=x%3dy%20%5bz%5d]"],
  ])("tags %j round-trip through the group name %s", (metadata, name) => {
    expect(serverGroupName("g", metadata)).toBe(name);
    expect(parseServerGroupName(name)).toEqual({ name: "g", metadata });
  });

  it("leaves a foreign group name alone", () => {
    expect(parseServerGroupName("my group [draft]")).toEqual({ name: "my group [draft]", metadata: {} });
  });
});

describe("server bodies", () => {
  const base: ServerCreate = { name: "db-1", imageRef: "cirros", flavorRef: "m1.small", metadata: { k: "v" } };
  const ctx = { microversion: v(88), flavorId: "2", imageId: "img-1", defaultNetworks: "none" as const };

  it("maps hints, zone, exact host, networks and user data", () => {
    expect(
      serverCreateBody(
        {
          ...base,
          zone: "az1",
          host: "fake-host-2",
          serverGroupId: "sg-1",
          sameHost: ["s1"],
          differentHost: ["s2", "s3"],
          networks: ["net-1"],
          keyName: "k",
          securityGroups: ["default"],
          userData: "#!/bin/sh",
        },
        ctx,
      ),
    ).toEqual({
      server: {
        name: "db-1",
        imageRef: "img-1",
        flavorRef: "2",
        networks: [{ uuid: "net-1" }],
        metadata: { k: "v" },
        host: "fake-host-2",
        availability_zone: "az1",
        key_name: "k",
        security_groups: [{ name: "default" }],
        user_data: Buffer.from("#!/bin/sh").toString("base64"),
      },
      "os:scheduler_hints": { group: "sg-1", same_host: ["s1"], different_host: ["s2", "s3"] },
    });
  });

  it("uses the default networks and no hints when none are asked for", () => {
    expect(serverCreateBody(base, { ...ctx, defaultNetworks: "auto" })).toEqual({
      server: { name: "db-1", imageRef: "img-1", flavorRef: "2", networks: "auto", metadata: { k: "v" } },
    });
  });

  it("falls back to zone:host below 2.74", () => {
    const body = serverCreateBody({ ...base, zone: "az2", host: "h3" }, { ...ctx, microversion: v(72) }) as {
      server: Record<string, unknown>;
    };
    expect(body.server.availability_zone).toBe("az2:h3");
    expect(body.server.host).toBeUndefined();
  });

  it("reads the fault, the admin host, hostId and attached volumes", () => {
    expect(
      parseServer({
        id: "s1",
        name: "db-1",
        status: "ERROR",
        fault: { code: 500, message: "No valid host was found. There are not enough hosts available." },
        flavor: { original_name: "m1.small" },
        image: { id: "img-1" },
        "OS-EXT-AZ:availability_zone": "az1",
        "OS-EXT-SRV-ATTR:host": "fake-host-1",
        hostId: "abc",
        metadata: { k: "v" },
        "os-extended-volumes:volumes_attached": [{ id: "v1" }],
      }),
    ).toEqual({
      id: "s1",
      name: "db-1",
      status: "ERROR",
      fault: "No valid host was found. There are not enough hosts available.",
      flavorRef: "m1.small",
      imageRef: "img-1",
      zone: "az1",
      host: "fake-host-1",
      hostId: "abc",
      metadata: { k: "v" },
      volumes: ["v1"],
      securityGroups: [],
    });
  });

  it("reads a tenant's view: no host, empty image for boot-from-volume", () => {
    const s = parseServer({ id: "s2", status: "BUILD", image: "", "OS-EXT-SRV-ATTR:host": null, flavor: { id: "1" } });
    expect(s).toEqual({
      id: "s2",
      name: "",
      status: "BUILD",
      flavorRef: "1",
      imageRef: "",
      metadata: {},
      volumes: [],
      securityGroups: [],
    });
  });

  it("reads the key (null: none) and the security groups, one per port: each once, sorted", () => {
    const s = parseServer({
      id: "s3",
      key_name: "deploy",
      security_groups: [{ name: "web" }, { name: "default" }, { name: "web" }],
    });
    expect(s).toMatchObject({ keyName: "deploy", securityGroups: ["default", "web"] });
    expect(parseServer({ id: "s4", key_name: null })).toMatchObject({ keyName: null, securityGroups: [] });
    // Nova leaves key_name out of no view it makes; a body without it says nothing of the key.
    expect(parseServer({ id: "s5" })).not.toHaveProperty("keyName");
  });
});

describe("rebuild bodies", () => {
  it("sends the image, and a new key and base64 user data only when asked; null removes either", () => {
    expect(rebuildBody("img-1", {}, v(96))).toEqual({ rebuild: { imageRef: "img-1" } });
    expect(rebuildBody("img-1", { keyName: "k2", userData: "#!/bin/sh\necho hi" }, v(96))).toEqual({
      rebuild: { imageRef: "img-1", key_name: "k2", user_data: Buffer.from("#!/bin/sh\necho hi").toString("base64") },
    });
    expect(rebuildBody("img-1", { keyName: null, userData: null }, v(60))).toEqual({
      rebuild: { imageRef: "img-1", key_name: null, user_data: null },
    });
  });

  it("refuses what the cloud's microversion can't take instead of silently dropping it", () => {
    expect(() => rebuildBody("img-1", { keyName: "k" }, v(53))).toThrow(
      "changing a server's key_name needs compute API 2.54; this cloud offers 2.53",
    );
    expect(() => rebuildBody("img-1", { userData: "x" }, v(56))).toThrow(
      "changing a server's user_data needs compute API 2.57; this cloud offers 2.56",
    );
  });
});

describe("volume mapping", () => {
  it.each([
    ["reserved", "attaching"],
    ["in-use", "in-use"],
    [undefined, "unknown"],
  ])("Cinder status %s reads as %s", (status, expected) => {
    expect(parseVolume({ id: "v1", ...(status ? { status } : {}) }).status).toBe(expected);
  });

  it("reads the admin-only backend, zone and attachments", () => {
    expect(
      parseVolume({
        id: "v1",
        name: "data",
        status: "in-use",
        size: 2,
        volume_type: "__DEFAULT__",
        availability_zone: "az1",
        "os-vol-host-attr:host": "fake-host-1@fake#fake",
        attachments: [{ server_id: "s1" }],
        metadata: { k: "v" },
      }),
    ).toEqual({
      id: "v1",
      name: "data",
      status: "in-use",
      sizeGb: 2,
      volumeType: "__DEFAULT__",
      zone: "az1",
      backend: "fake-host-1@fake#fake",
      attachedTo: ["s1"],
      metadata: { k: "v" },
    });
  });
});
