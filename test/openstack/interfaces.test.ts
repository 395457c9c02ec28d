// A server's networks through Nova's os-interface, against a mocked Nova: attach only where the server
// has no port on the network, detach every port there and wait until Nova lists none, each idempotent.
import type { MockAgent } from "undici";
import { describe, expect, it } from "vitest";
import { parseInterfaceAttachments } from "../../provider/backends/openstack/nova";
import { OpenStackBackend } from "../../provider/backends/openstack/openstack-backend";
import { interceptAuth, interceptNovaVersion, json, mockCloud, NOVA, passwordConfig } from "../support/openstack-mock";

async function connect(): Promise<{ agent: MockAgent; backend: OpenStackBackend }> {
  const c = mockCloud();
  interceptAuth(c.agent);
  interceptNovaVersion(c.agent, "2.93");
  let now = Date.parse("2030-01-01T00:00:00Z");
  const backend = await OpenStackBackend.connect(passwordConfig(), {
    http: { dispatcherFor: () => c.agent, sleep: async () => {} },
    pollIntervalMs: 1,
    resizeTimeoutMs: 5_000,
    // Each poll moves the clock a second on: the deadline is reached without real waiting.
    now: () => (now += 1000),
  });
  return { agent: c.agent, backend };
}

const port = (id: string, net: string) => ({ port_id: id, net_id: net, port_state: "ACTIVE", fixed_ips: [] });

function listing(agent: MockAgent, server: string, ports: unknown[], times = 1) {
  agent
    .get(NOVA)
    .intercept({ path: `/v2.1/servers/${server}/os-interface`, method: "GET" })
    .reply(200, { interfaceAttachments: ports }, json)
    .times(times);
}

describe("os-interface", () => {
  it("reads each port with its network; malformed entries are dropped", () => {
    expect(
      parseInterfaceAttachments({ interfaceAttachments: [port("p1", "n1"), { port_id: "p2" }, { net_id: "n3" }] }),
    ).toEqual([
      { port: "p1", network: "n1", fixedIps: [] },
      { port: "p2", fixedIps: [] },
    ]);
    expect(
      parseInterfaceAttachments({
        interfaceAttachments: [{ ...port("p1", "n1"), fixed_ips: [{ ip_address: "10.0.0.5" }, { subnet_id: "x" }] }],
      }),
    ).toEqual([{ port: "p1", network: "n1", fixedIps: ["10.0.0.5"] }]);
    expect(parseInterfaceAttachments(undefined)).toEqual([]);
  });

  it("attaches a network with net_id, and only where the server has no port on it", async () => {
    const { agent, backend } = await connect();
    listing(agent, "s1", [port("p1", "n1")]);
    let body: unknown;
    agent
      .get(NOVA)
      .intercept({
        path: "/v2.1/servers/s1/os-interface",
        method: "POST",
        body: (b) => {
          body = JSON.parse(b);
          return true;
        },
      })
      .reply(200, { interfaceAttachment: port("p2", "n2") }, json);
    await backend.attachNetwork("s1", "n2");
    expect(body).toEqual({ interfaceAttachment: { net_id: "n2" } });

    listing(agent, "s1", [port("p1", "n1"), port("p2", "n2")]);
    await backend.attachNetwork("s1", "n2"); // already on it: no POST
    agent.assertNoPendingInterceptors();

    agent.get(NOVA).intercept({ path: "/v2.1/servers/gone/os-interface", method: "GET" }).reply(404, {}, json);
    await expect(backend.attachNetwork("gone", "n2")).rejects.toMatchObject({ code: "not_found" });
  });

  it("detaches every port on the network and returns once Nova lists none; not on it is success", async () => {
    const { agent, backend } = await connect();
    listing(agent, "s1", [port("p1", "n1"), port("p2", "n2"), port("p3", "n2")]);
    const deleted: string[] = [];
    for (const p of ["p2", "p3"]) {
      agent
        .get(NOVA)
        .intercept({ path: `/v2.1/servers/s1/os-interface/${p}`, method: "DELETE" })
        .reply(() => {
          deleted.push(p);
          return { statusCode: 202, data: "" };
        });
    }
    // Nova unplugs after it answers: one poll still shows a port, the next none.
    listing(agent, "s1", [port("p1", "n1"), port("p3", "n2")]);
    listing(agent, "s1", [port("p1", "n1")]);
    await backend.detachNetwork("s1", "n2");
    expect(deleted).toEqual(["p2", "p3"]);
    agent.assertNoPendingInterceptors();

    listing(agent, "s1", [port("p1", "n1")]);
    await backend.detachNetwork("s1", "n2"); // not on it: nothing sent
    agent.get(NOVA).intercept({ path: "/v2.1/servers/gone/os-interface", method: "GET" }).reply(404, {}, json);
    await backend.detachNetwork("gone", "n2"); // no such server: success
    agent.assertNoPendingInterceptors();
  });

  it("waits until the server no longer shows the detached port's address (Nova's info cache lags)", async () => {
    const { agent, backend } = await connect();
    const withIp = (id: string, net: string, ip: string) => ({ ...port(id, net), fixed_ips: [{ ip_address: ip }] });
    listing(agent, "s1", [withIp("p1", "n1", "10.0.0.4"), withIp("p2", "n2", "10.1.0.9")]);
    agent.get(NOVA).intercept({ path: "/v2.1/servers/s1/os-interface/p2", method: "DELETE" }).reply(202, "");
    listing(agent, "s1", [withIp("p1", "n1", "10.0.0.4")]);
    const server = (nets: Record<string, string>) => ({
      server: {
        id: "s1",
        name: "web",
        status: "ACTIVE",
        addresses: Object.fromEntries(Object.entries(nets).map(([n, ip]) => [n, [{ addr: ip, version: 4 }]])),
      },
    });
    const shows = (nets: Record<string, string>) =>
      agent.get(NOVA).intercept({ path: "/v2.1/servers/s1", method: "GET" }).reply(200, server(nets), json);
    shows({ one: "10.0.0.4", two: "10.1.0.9" });
    shows({ one: "10.0.0.4" });
    await backend.detachNetwork("s1", "n2");
    agent.assertNoPendingInterceptors();

    // A cache that never catches up: a timeout naming the address.
    listing(agent, "s1", [withIp("p1", "n1", "10.0.0.4"), withIp("p2", "n2", "10.1.0.9")]);
    agent.get(NOVA).intercept({ path: "/v2.1/servers/s1/os-interface/p2", method: "DELETE" }).reply(202, "");
    listing(agent, "s1", [withIp("p1", "n1", "10.0.0.4")]);
    agent
      .get(NOVA)
      .intercept({ path: "/v2.1/servers/s1", method: "GET" })
      .reply(200, server({ one: "10.0.0.4", two: "10.1.0.9" }), json)
      .times(100);
    await expect(backend.detachNetwork("s1", "n2")).rejects.toMatchObject({
      code: "timeout",
      message: expect.stringContaining("still shows 10.1.0.9 of network n2 after its port was detached"),
    });
  });

  it("a port that never goes is a timeout naming it", async () => {
    const { agent, backend } = await connect();
    listing(agent, "s1", [port("p1", "n1"), port("p2", "n2")]);
    agent.get(NOVA).intercept({ path: "/v2.1/servers/s1/os-interface/p2", method: "DELETE" }).reply(202, "");
    listing(agent, "s1", [port("p1", "n1"), port("p2", "n2")], 100);
    await expect(backend.detachNetwork("s1", "n2")).rejects.toMatchObject({
      code: "timeout",
      message: "nova: server s1 still has port p2 on network n2 after detaching it",
    });
  });
});
