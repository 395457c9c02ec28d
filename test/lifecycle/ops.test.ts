// Ops: the one concurrency limit, and the retries of what no layer below has retried (see ops.ts).
import { MockAgent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { type Backend, BackendError, type BackendErrorCode, type ServerInfo } from "../../provider/backends/backend";
import { HttpClient, HttpError } from "../../provider/backends/openstack/http";
import { Ops } from "../../provider/lifecycle/ops";
import { type Harness, openHarness } from "../support/lifecycle";

/** A backend whose methods are the given fakes (anything else throws); retries wait 1 ms. */
function fakeBackend(methods: Partial<Backend>): Backend {
  return { kind: "simulated", description: "fake cloud", pollIntervalMs: 1, ...methods } as Backend;
}

/** A call that answers with each of `outcomes` in turn (an Error is thrown), counting the calls. */
function scripted<T>(...outcomes: Array<T | Error>) {
  const calls = { n: 0 };
  const fn = async (): Promise<T> => {
    const o = outcomes[Math.min(calls.n, outcomes.length - 1)] as T | Error;
    calls.n++;
    if (o instanceof Error) throw o;
    return o;
  };
  return { fn, calls };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

const busy = () => new BackendError("unavailable", "nova: GET /v2.1/servers/x returned 503: busy");

describe("Ops retries", () => {
  it("tries an idempotent call that keeps failing transiently 3 times, then throws its error as it was", async () => {
    const err = busy();
    const get = scripted<undefined>(err);
    const ops = new Ops(fakeBackend({ getServer: get.fn }), 4);
    expect(await rejection(ops.getServer("x"))).toBe(err);
    expect(get.calls.n).toBe(3);
  });

  it("returns what the call answers once the transient failure clears", async () => {
    const server = { id: "x", name: "a", status: "ACTIVE", metadata: {} } as unknown as ServerInfo;
    const get = scripted<ServerInfo | undefined>(
      busy(),
      new BackendError("timeout", "nova: GET /v2.1/servers/x failed: timeout"),
      server,
    );
    const ops = new Ops(fakeBackend({ getServer: get.fn }), 4);
    expect(await ops.getServer("x")).toBe(server);
    expect(get.calls.n).toBe(3);
  });

  it.each([
    "not_found",
    "conflict",
    "quota_exceeded",
    "bad_request",
    "unauthorized",
    "forbidden",
    "internal",
  ] as BackendErrorCode[])("tries a call failing with %s once", async (code) => {
    const err = new BackendError(code, `nova: ${code}`);
    const del = scripted<void>(err);
    const ops = new Ops(fakeBackend({ deleteServer: del.fn }), 4);
    expect(await rejection(ops.deleteServer("x"))).toBe(err);
    expect(del.calls.n).toBe(1);
  });

  it("tries once an error that says it is not retryable, and one that is no BackendError", async () => {
    const final = new BackendError("unavailable", "nova: the cloud is going away", { retryable: false });
    const bug = new TypeError("cannot read properties of undefined");
    for (const err of [final, bug]) {
      const find = scripted<never[]>(err);
      const ops = new Ops(fakeBackend({ findServers: find.fn }), 4);
      expect(await rejection(ops.findServers({}))).toBe(err);
      expect(find.calls.n).toBe(1);
    }
  });

  it("never retries a create, resize, rebuild or extend, even after a transient failure", async () => {
    const calls: Record<string, number> = {};
    const failing = (name: string) => async () => {
      calls[name] = (calls[name] ?? 0) + 1;
      throw busy();
    };
    const names = [
      "createServerGroup",
      "createServer",
      "resizeServer",
      "rebuildServer",
      "createVolume",
      "extendVolume",
    ] as const;
    const ops = new Ops(fakeBackend(Object.fromEntries(names.map((n) => [n, failing(n)]))), 4);
    await rejection(ops.createServerGroup({ name: "g", policy: "anti-affinity", metadata: {} }));
    await rejection(ops.createServer({ name: "s", imageRef: "i", flavorRef: "f", metadata: {} }));
    await rejection(ops.resizeServer("s", "f2"));
    await rejection(ops.rebuildServer("s", "i2"));
    await rejection(ops.createVolume({ name: "v", sizeGb: 1, metadata: {} }));
    await rejection(ops.extendVolume("v", 2));
    expect(calls).toEqual(Object.fromEntries(names.map((n) => [n, 1])));
  });

  it("retries every idempotent call", async () => {
    const calls: Record<string, number> = {};
    const failing = (name: string) => async () => {
      calls[name] = (calls[name] ?? 0) + 1;
      throw busy();
    };
    const names = [
      "discover",
      "getServerGroup",
      "findServerGroups",
      "deleteServerGroup",
      "getServer",
      "findServers",
      "deleteServer",
      "getVolume",
      "findVolumes",
      "deleteVolume",
      "attachVolume",
      "detachVolume",
    ] as const;
    const ops = new Ops(fakeBackend(Object.fromEntries(names.map((n) => [n, failing(n)]))), 4);
    await Promise.all([
      rejection(ops.discover()),
      rejection(ops.getServerGroup("g")),
      rejection(ops.findServerGroups({})),
      rejection(ops.deleteServerGroup("g")),
      rejection(ops.getServer("s")),
      rejection(ops.findServers({})),
      rejection(ops.deleteServer("s")),
      rejection(ops.getVolume("v")),
      rejection(ops.findVolumes({})),
      rejection(ops.deleteVolume("v")),
      rejection(ops.attachVolume("s", "v")),
      rejection(ops.detachVolume("s", "v")),
    ]);
    expect(calls).toEqual(Object.fromEntries(names.map((n) => [n, 3])));
  });

  it("does not retry what the layer below already retried", async () => {
    const err = new HttpError("unavailable", "nova: GET /v2.1/servers/x returned 503: busy", {
      retryable: true,
      attempts: 5,
      retryHandled: true,
    });
    const get = scripted<undefined>(err);
    const ops = new Ops(fakeBackend({ getServer: get.fn }), 4);
    expect(await rejection(ops.getServer("x"))).toBe(err);
    expect(get.calls.n).toBe(1);
  });
});

describe("Ops over the OpenStack HTTP client: one retry owner", () => {
  const NOVA = "http://nova.test:8774";

  function cloud() {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const sent: string[] = [];
    const http = new HttpClient({ dispatcherFor: () => agent, sleep: async () => {}, random: () => 0.5 });
    const always = (method: string, path: string, statusCode: number, data: object) =>
      agent
        .get(NOVA)
        .intercept({ path, method })
        .reply(() => {
          sent.push(`${method} ${path}`);
          return { statusCode, data, responseOptions: { headers: { "x-openstack-request-id": "req-1" } } };
        })
        .persist();
    const backend = fakeBackend({
      getServer: async (id) => {
        await http.request({ service: "nova", method: "GET", url: `${NOVA}/v2.1/servers/${id}` });
        return undefined;
      },
      attachVolume: async (serverId, volumeId) => {
        await http.request({
          service: "nova",
          method: "POST",
          url: `${NOVA}/v2.1/servers/${serverId}/os-volume_attachments`,
          body: { volumeAttachment: { volumeId } },
        });
      },
    });
    return { always, sent, ops: new Ops(backend, 4) };
  }

  it("sends a GET that keeps answering 503 five times in all (the HTTP client's 1 + 4), not 15", async () => {
    const c = cloud();
    c.always("GET", "/v2.1/servers/x", 503, { message: "busy" });
    const err = await rejection(c.ops.getServer("x"));
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({
      code: "unavailable",
      message: "nova: GET /v2.1/servers/x returned 503: busy (request id req-1)",
      attempts: 5,
      retryHandled: true,
    });
    expect(c.sent).toHaveLength(5);
  });

  it("retries an attach whose POST answered 500, which only Ops knows to be safe to resend", async () => {
    const c = cloud();
    c.always("POST", "/v2.1/servers/s/os-volume_attachments", 500, { computeFault: { message: "boom" } });
    const err = await rejection(c.ops.attachVolume("s", "v"));
    expect(err).toMatchObject({ code: "unavailable", attempts: 1, retryHandled: false });
    expect(c.sent).toHaveLength(3);
  });
});

describe("Ops over the simulated cloud: Ops owns its transient errors", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it("survives an injected 503 on a read, calling the cloud once per attempt", async () => {
    h = await openHarness();
    const ops = new Ops(h.cloud, 4);
    const before = await h.cloud.callCount("getServer");
    await h.cloud.injectFault({ kind: "error", op: "getServer", nth: 1, code: "unavailable", times: 2 });
    expect(await ops.getServer("no-such-server")).toBeUndefined();
    expect((await h.cloud.callCount("getServer")) - before).toBe(3);
  });

  it("gives up after 3 calls with the injected error, and calls a create once", async () => {
    h = await openHarness();
    const ops = new Ops(h.cloud, 4);
    const finds = await h.cloud.callCount("findServers");
    const creates = await h.cloud.callCount("createServer");
    await h.cloud.injectFault({ kind: "error", op: "findServers", nth: 1, times: 5 });
    const e = await rejection(ops.findServers({ a: "b" }));
    expect(e).toBeInstanceOf(BackendError);
    expect([(e as BackendError).code, (e as BackendError).message]).toEqual([
      "unavailable",
      "Simulated unavailable error on findServers (injected fault).",
    ]);
    expect((await h.cloud.callCount("findServers")) - finds).toBe(3);

    await h.cloud.injectFault({ kind: "error", op: "createServer", nth: 1 });
    await rejection(ops.createServer({ name: "s", imageRef: "debian-12", flavorRef: "m1.small", metadata: {} }));
    expect((await h.cloud.callCount("createServer")) - creates).toBe(1);
  });
});

describe("Ops concurrency", () => {
  it("keeps at most `concurrency` backend calls in flight, retries included", async () => {
    let inFlight = 0;
    let most = 0;
    const failedOnce = new Set<string>();
    const getServer = async (id: string) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      // Every other call fails once, transiently, so retries compete for the same slots.
      if (Number(id) % 2 === 0 && !failedOnce.has(id)) {
        failedOnce.add(id);
        throw busy();
      }
      return undefined;
    };
    const ops = new Ops(fakeBackend({ getServer }), 2);
    const results = await Promise.all(Array.from({ length: 9 }, (_, i) => ops.getServer(String(i))));
    expect(results).toEqual(Array(9).fill(undefined));
    expect(failedOnce.size).toBe(5);
    expect(most).toBe(2);
  });

  it("treats a concurrency below 1 as 1", async () => {
    let inFlight = 0;
    let most = 0;
    const getVolume = async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      return undefined;
    };
    const ops = new Ops(fakeBackend({ getVolume }), 0);
    await Promise.all([ops.getVolume("a"), ops.getVolume("b"), ops.getVolume("c")]);
    expect(most).toBe(1);
  });
});

describe("Ops batches the reads of one turn", () => {
  const server = (id: string) => ({ id, name: id, status: "ACTIVE", metadata: {} }) as unknown as ServerInfo;

  it("sends the servers read in one turn as one getServers call, in the order asked, each reader its own copy", async () => {
    const batches: string[][] = [];
    const ops = new Ops(
      fakeBackend({
        getServers: async (ids) => {
          batches.push([...ids]);
          return ids.map((id) => (id === "gone" ? undefined : server(id)));
        },
        getVolumes: async (ids) => ids.map(() => undefined),
      }),
      4,
    );
    const [a, b, gone, a2] = await Promise.all([
      ops.getServer("a"),
      ops.getServer("b"),
      ops.getServer("gone"),
      ops.getServer("a"),
    ]);
    expect(batches).toEqual([["a", "b", "gone"]]);
    expect([a?.id, b?.id, gone, a2?.id]).toEqual(["a", "b", undefined, "a"]);
    expect(a2).not.toBe(a);
    expect(ops.readsInBatches).toBe(true);
  });

  it("reads a lone object with the single read, and fails every reader of a batch that fails", async () => {
    const single: string[] = [];
    const err = new BackendError("forbidden", "nova: GET /v2.1/servers/detail returned 403");
    const ops = new Ops(
      fakeBackend({
        getServer: async (id) => {
          single.push(id);
          return server(id);
        },
        getServers: async () => {
          throw err;
        },
        getVolumes: async (ids) => ids.map(() => undefined),
      }),
      4,
    );
    expect((await ops.getServer("alone"))?.id).toBe("alone");
    expect(single).toEqual(["alone"]);
    const both = await Promise.allSettled([ops.getServer("a"), ops.getServer("b")]);
    expect(both.map((r) => (r.status === "rejected" ? r.reason : r.value))).toEqual([err, err]);
  });

  it("reads one at a time where the backend has no batched read", async () => {
    const single: string[] = [];
    const ops = new Ops(
      fakeBackend({
        getServer: async (id) => {
          single.push(id);
          return server(id);
        },
      }),
      4,
    );
    await Promise.all([ops.getServer("a"), ops.getServer("b")]);
    expect(single).toEqual(["a", "b"]);
    expect(ops.readsInBatches).toBe(false);
  });
});
