// What the OpenStack backend reads of a member's reachability, pure: Nova's `addresses` (fixed and
// floating per network, OS-EXT-IPS:type), os-interface's port ids, Cinder's attachment device; and
// the address the outputs offer to reach a server at.
import { describe, expect, it } from "vitest";
import { parseVolume } from "../../provider/backends/openstack/cinder";
import { parseAddresses, parseInterfaces, parseServer } from "../../provider/backends/openstack/nova";
import { OpenStackBackend } from "../../provider/backends/openstack/openstack-backend";
import { accessIpV4, reachOf } from "../../provider/lifecycle/addresses";
import { interceptAuth, interceptNovaVersion, json, mockCloud, NOVA, passwordConfig } from "../support/openstack-mock";

const NOVA_ADDRESSES = {
  private: [
    { version: 4, addr: "10.0.0.12", "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01" },
    { version: 6, addr: "fd00::c", "OS-EXT-IPS:type": "fixed" },
    { version: 4, addr: "203.0.113.7", "OS-EXT-IPS:type": "floating" },
  ],
  storage: [{ version: 4, addr: "192.168.10.5" }],
};

describe("Nova addresses", () => {
  it("fixed and floating per network, in Nova's order; an untyped entry is fixed", () => {
    expect(parseAddresses(NOVA_ADDRESSES)).toEqual({
      private: { fixed: ["10.0.0.12", "fd00::c"], floating: ["203.0.113.7"] },
      storage: { fixed: ["192.168.10.5"], floating: [] },
    });
    expect(Object.keys(parseAddresses(NOVA_ADDRESSES))).toEqual(["private", "storage"]);
  });

  it("none yet (BUILD), or malformed: nothing made up", () => {
    expect(parseAddresses(undefined)).toEqual({});
    expect(parseAddresses({ net: "x" } as never)).toEqual({});
    expect(parseAddresses({ net: [{ version: 4 }, null, { addr: "" }] } as never)).toEqual({
      net: { fixed: [], floating: [] },
    });
  });

  it("a network named __proto__ stays a network", () => {
    const parsed = parseAddresses(JSON.parse('{"__proto__": [{"addr": "10.1.1.1"}]}'));
    expect(Object.keys(parsed)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });

  it("parseServer carries them", () => {
    const s = parseServer({ id: "s1", status: "ACTIVE", addresses: NOVA_ADDRESSES });
    expect(s.addresses?.private?.floating).toEqual(["203.0.113.7"]);
    expect(s.ports).toBeUndefined();
  });
});

describe("os-interface ports", () => {
  it("the port ids in Nova's order", () => {
    expect(
      parseInterfaces({
        interfaceAttachments: [
          { port_id: "p-1", net_id: "n-1", port_state: "ACTIVE" },
          { port_id: "p-2", net_id: "n-2" },
          { net_id: "no-port" },
        ],
      }),
    ).toEqual(["p-1", "p-2"]);
    expect(parseInterfaces({})).toEqual([]);
  });
});

describe("serverPorts through Nova's os-interface", () => {
  it('asks once per server; a policy refusal or a server gone is "can\'t tell", not an error', async () => {
    const c = mockCloud();
    interceptAuth(c.agent);
    interceptNovaVersion(c.agent, "2.93");
    const backend = await OpenStackBackend.connect(passwordConfig(), {
      http: { dispatcherFor: () => c.agent, sleep: async () => {} },
    });
    const nova = c.agent.get(NOVA);
    nova
      .intercept({ path: "/v2.1/servers/s1/os-interface", method: "GET" })
      .reply(200, { interfaceAttachments: [{ port_id: "p-1", net_id: "n-1" }] }, json);
    nova.intercept({ path: "/v2.1/servers/s2/os-interface", method: "GET" }).reply(403, { forbidden: {} }, json);
    nova.intercept({ path: "/v2.1/servers/s3/os-interface", method: "GET" }).reply(404, { itemNotFound: {} }, json);
    expect(await backend.serverPorts("s1")).toEqual(["p-1"]);
    expect(await backend.serverPorts("s2")).toBeUndefined();
    expect(await backend.serverPorts("s3")).toBeUndefined();
    await backend.close();
  });
});

describe("Cinder attachment device", () => {
  it("the device of the volume's attachment; none when detached", () => {
    const attached = parseVolume({
      id: "v1",
      status: "in-use",
      attachments: [{ server_id: "s1", device: "/dev/vdb", attachment_id: "a1" } as never],
    });
    expect(attached.device).toBe("/dev/vdb");
    expect(parseVolume({ id: "v1", status: "available", attachments: [] }).device).toBeUndefined();
    expect(
      parseVolume({ id: "v1", status: "attaching", attachments: [{ server_id: "s1", device: null }] }).device,
    ).toBeUndefined();
  });
});

describe("the address to reach a server at", () => {
  it("a floating IPv4 first, else the first fixed IPv4, networks in the cloud's order", () => {
    expect(accessIpV4(parseAddresses(NOVA_ADDRESSES))).toBe("203.0.113.7");
    expect(
      accessIpV4({ a: { fixed: ["fd00::1", "10.0.0.3"], floating: [] }, b: { fixed: ["10.9.9.9"], floating: [] } }),
    ).toBe("10.0.0.3");
    expect(accessIpV4({ v6: { fixed: ["fd00::1"], floating: [] } })).toBeUndefined();
    expect(accessIpV4({})).toBeUndefined();
  });

  it("a member's state: addresses, accessIpV4 and ports of a server; the device of a volume", () => {
    const server = parseServer({ id: "s1", status: "ACTIVE", addresses: NOVA_ADDRESSES });
    expect(reachOf({ ...server, ports: ["p-1"] })).toEqual({
      addresses: parseAddresses(NOVA_ADDRESSES),
      accessIpV4: "203.0.113.7",
      ports: ["p-1"],
    });
    expect(reachOf(parseVolume({ id: "v", attachments: [{ server_id: "s1", device: "/dev/vdc" }] }))).toEqual({
      device: "/dev/vdc",
    });
  });
});
