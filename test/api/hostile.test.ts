// Hostile requests, against real servers on real sockets: `serve --noauth` on a simulated cloud, and
// the Keystone mode with the fake Keystone. Every answer is clean (Nova's error shape, the right
// status, x-openstack-request-id), nothing is lost (a cluster made first is intact and the service
// still serves at the end), names with SQL metacharacters come back verbatim, and no token is in any
// log line or answer.
//
// Requests go out through node:http with the path as written (fetch would resolve "..", "%2e%2e").
import { request } from "node:http";
import { connect } from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerOptions, startServer } from "../../provider/api";
import type { SimulatedCloud } from "../../provider/backends/simulated";
import {
  blueprintNamed,
  makeCloud,
  onCloud,
  removeTempDirs,
  serve,
  specFile,
  type TestServer,
  tempDir,
} from "../support/api";
import { FakeKeystone, type FakeUser, simulatedOpener } from "../support/fake-keystone";

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
  body: any;
}

const FAULTS = new Set([
  "badRequest",
  "unauthorized",
  "forbidden",
  "itemNotFound",
  "badMethod",
  "conflictingRequest",
  "overLimit",
  "badMediaType",
  "computeFault",
  "serviceUnavailable",
]);

/** One request as written; the answer's text, status and headers. */
function raw(
  url: string,
  method: string,
  route: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Raw> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path: route,
        // A connection per request: a refused body must not spoil the next request's connection.
        agent: false,
        headers: {
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...(body !== undefined && !headers["transfer-encoding"] ? { "content-length": Buffer.byteLength(body) } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown;
          try {
            parsed = text === "" ? undefined : JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** A clean refusal: the status, Nova's shape (one fault, its code the status, a message), the request id. */
function refusedCleanly(
  r: Raw,
  status: number | number[],
  what = "",
): { code: number; message: string; issues?: unknown[] } {
  const want = Array.isArray(status) ? status : [status];
  expect(want, `${what}: ${r.status} ${r.text}`).toContain(r.status);
  expect(r.headers["x-openstack-request-id"], what).toMatch(/^req-[0-9a-f-]{36}$/);
  expect(r.headers["content-type"], what).toMatch(/^application\/json/);
  const keys = Object.keys(r.body ?? {});
  expect(keys, `${what}: ${r.text}`).toHaveLength(1);
  expect(FAULTS.has(keys[0] as string), `${what}: ${keys[0]}`).toBe(true);
  const fault = r.body[keys[0] as string];
  expect(fault.code, what).toBe(r.status);
  expect(typeof fault.message, what).toBe("string");
  // Nothing of the server's insides.
  expect(r.text, what).not.toMatch(/at .*\.(ts|js):\d+|node_modules|SQLITE|sqlite/i);
  return fault;
}

describe("noauth on the simulated cloud", () => {
  let server: TestServer;
  let cloud: SimulatedCloud;
  const T = "hostile-a";
  const C = `/v2/${T}/vclusters`;
  let keep: string;

  beforeAll(async () => {
    const dir = tempDir();
    cloud = await makeCloud(path.join(dir, "sim"));
    server = await serve({ simDir: path.join(dir, "sim"), db: path.join(dir, "api.db") });
    const created = await raw(server.url, "POST", C, JSON.stringify(blueprintNamed("keep-me")));
    expect(created.status).toBe(202);
    keep = created.body.vcluster.id;
    await until(server.url, T, keep, "ACTIVE");
  });

  afterAll(async () => {
    // Nothing lost: the first cluster is intact, on the cloud and in the records, and the service serves.
    const r = await raw(server.url, "GET", `${C}/${keep}`);
    expect(r.status).toBe(200);
    expect(r.body.vcluster).toMatchObject({ name: "keep-me", status: "ACTIVE" });
    expect(await onCloud(cloud, keep)).toMatchObject({ servers: ["db-server-1"], volumes: ["db-vol-1"] });
    expect(server.logs.filter((l) => /internal error/.test(l))).toEqual([]);
    await server?.close();
    removeTempDirs();
  });

  it("a 2 MiB body is a 413, with Content-Length and chunked", async () => {
    const big = JSON.stringify(blueprintNamed("big", { padding: "x".repeat(2 * 1024 * 1024) }));
    refusedCleanly(await raw(server.url, "POST", C, big), 413, "content-length");
    refusedCleanly(await raw(server.url, "POST", C, big, { "transfer-encoding": "chunked" }), 413, "chunked");
    // A Content-Length that promises 2 MiB is refused before it is sent.
    const lying = await raw(server.url, "POST", C, "{}", { "content-length": String(2 * 1024 * 1024) }).catch(
      () => undefined,
    );
    if (lying) refusedCleanly(lying, [400, 413], "content-length larger than the body");
  });

  it("a content type other than JSON is a 415, and so is none", async () => {
    const body = JSON.stringify(blueprintNamed("typed"));
    for (const type of [
      "text/plain",
      "application/xml",
      "multipart/form-data; boundary=x",
      "application/jsonx",
      "*/*",
    ]) {
      refusedCleanly(await raw(server.url, "POST", C, body, { "content-type": type }), 415, type);
    }
    const none = await raw(server.url, "POST", C, body, { "content-type": "" });
    refusedCleanly(none, [400, 415], "no content type");
  });

  it("malformed JSON is a 400 naming the line and column", async () => {
    const f = refusedCleanly(await raw(server.url, "POST", C, '{\n  "vcluster": {\n    "name": "x",,\n  }\n}'), 400);
    expect(f.message).toMatch(/not valid JSON/);
    expect(f.issues).toEqual([expect.objectContaining({ line: 3, column: expect.any(Number) })]);
    for (const text of ["{", "[1,", '{"vcluster": tru}', "\u0000", "\uFEFF{}", '"\\ud800"', "nul"]) {
      refusedCleanly(await raw(server.url, "POST", C, text), 400, JSON.stringify(text));
    }
  });

  it('a body repeating "instance" keys is a 400 naming the key and the lines', async () => {
    const f = refusedCleanly(await raw(server.url, "POST", C, specFile("blueprint-example-1-repeated-keys.json")), 400);
    expect(f.message).toContain('key "instance" occurs 2 times in "vcluster.instances" (lines 5 and 10)');
  });

  it("huge numbers, deep nesting and __proto__ keys are 400s, and pollute nothing", async () => {
    for (const size of ["1e400", "-1e400", "123456789012345678901234567890", "1e-400", "NaN", "0x10"]) {
      const text = JSON.stringify(blueprintNamed("numbers")).replace('"size":10', `"size":${size}`);
      refusedCleanly(await raw(server.url, "POST", C, text), 400, size);
    }
    for (const depth of [1_000, 100_000, 500_000]) {
      const deep = `{"vcluster": {"name": "deep", "instances": ${"[".repeat(depth)}${"]".repeat(depth)}}}`;
      refusedCleanly(await raw(server.url, "POST", C, deep), [400, 413], `depth ${depth}`);
      const objects = `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
      refusedCleanly(await raw(server.url, "POST", C, objects), [400, 413], `object depth ${depth}`);
    }
    for (const text of [
      '{"__proto__": {"vcluster": {"name": "p"}}}',
      '{"vcluster": {"__proto__": {"polluted": true}, "name": "p", "instances": []}}',
      '{"vcluster": {"name": "p", "instances": [{"name": "a", "type": "server", "constructor": {"prototype": {"polluted": true}}, "spec": {}}]}}',
    ]) {
      refusedCleanly(await raw(server.url, "POST", C, text), 400, text);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).vcluster).toBeUndefined();
  });

  it("path tricks in tenant_id are 400s or 404s, never another project's records", async () => {
    const routes = [
      "/v2/../vclusters",
      "/v2/%2e%2e/vclusters",
      "/v2/%2E%2E%2F%2E%2E/vclusters",
      `/v2/${T}%2F..%2F${T}/vclusters`,
      `/v2/${T}%2fx/vclusters`,
      "/v2/a%5Cb/vclusters",
      `/v2/${T}%00/vclusters`,
      `/v2/%00/vclusters`,
      "/v2/%/vclusters",
      "/v2/%zz/vclusters",
      "/v2/%C0%AE%C0%AE/vclusters",
      `/v2/${"a".repeat(65)}/vclusters`,
      `/v2/${"a".repeat(10_000)}/vclusters`,
      `/v2/${T}/vclusters/..%2f..%2f`,
      `/v2/${T}/vclusters/${keep}%00`,
      `/v2/${T}/vclusters/${keep.toUpperCase()}`,
      `/v2/${T}/vclusters/${"%2e".repeat(2000)}`,
      `/v2/${T}/../${T}/vclusters/${keep}/..`,
      `/v2//vclusters`,
      `/v2/${encodeURIComponent("'; DROP TABLE clusters;--")}/vclusters`,
      `/v2/${encodeURIComponent("' OR '1'='1")}/vclusters/${keep}`,
    ];
    for (const route of routes) {
      for (const method of ["GET", "DELETE", "POST"]) {
        const body = method === "POST" ? JSON.stringify(blueprintNamed("trick")) : undefined;
        const r = await raw(server.url, method, route, body);
        refusedCleanly(r, [400, 404, 405, 414, 431], `${method} ${route.slice(0, 80)}`);
      }
    }
    // No cluster named "trick" was made anywhere.
    const all = await raw(server.url, "GET", C);
    expect(all.body.vclusters.map((c: { name: string }) => c.name)).toEqual(["keep-me"]);
    // The long tenant id is not echoed whole.
    const long = await raw(server.url, "GET", `/v2/${"a".repeat(10_000)}/vclusters`);
    expect(long.text.length).toBeLessThan(2_000);
  });

  it("another tenant's cluster is a 404 for GET, PUT and DELETE", async () => {
    for (const [method, body] of [
      ["GET", undefined],
      ["PUT", JSON.stringify(blueprintNamed("keep-me"))],
      ["DELETE", undefined],
    ] as const) {
      refusedCleanly(await raw(server.url, method, `/v2/hostile-b/vclusters/${keep}`, body), 404, method);
    }
  });

  it("SQL metacharacters, quotes, backslashes and unicode in names are stored and returned verbatim", async () => {
    const names = [
      "'; DROP TABLE clusters;--",
      "quote\"d's",
      "back\\slash\\\\",
      "ünï-çødé 集群 🚀",
      "%s %n %x {{7*7}} $(id) `x`",
      "a\u202Eb",
    ];
    for (const name of names) {
      const r = await raw(server.url, "POST", C, JSON.stringify(blueprintNamed(name)));
      if (r.status !== 202) {
        // A name the spec refuses (a control character) is refused cleanly, with the reason.
        refusedCleanly(r, 400, name);
        continue;
      }
      const id = r.body.vcluster.id;
      expect(r.body.vcluster.name).toBe(name);
      const got = await until(server.url, T, id, "ACTIVE");
      expect(got.body.vcluster.name, name).toBe(name);
      const listed = await raw(server.url, "GET", C);
      expect(listed.body.vclusters.map((c: { name: string }) => c.name)).toContain(name);
      const deleted = await raw(server.url, "DELETE", `${C}/${id}`);
      expect(deleted.status).toBe(202);
      await until(server.url, T, id, "gone");
    }
  });

  it("requests HTTP can't read (bad header syntax, 64 KiB of headers) are answered in Nova's shape too", async () => {
    const u = new URL(server.url);
    const send = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(u.port), u.hostname, () => socket.end(text));
        let got = "";
        socket.on("data", (d) => {
          got += String(d);
        });
        socket.on("close", () => resolve(got));
        socket.on("error", reject);
      });
    for (const [text, status] of [
      [`GET ${C} HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n`, 400],
      [`GET ${C} HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`, 431],
    ] as const) {
      const answer = await send(text);
      expect(answer).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
      expect(answer).toMatch(/\r\nx-openstack-request-id: req-[0-9a-f-]{36}\r\n/);
      const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
      expect(body).toEqual({ badRequest: { code: status, message: expect.any(String) } });
    }
  });

  it("odd methods and headers are answered cleanly", async () => {
    refusedCleanly(await raw(server.url, "PATCH", `${C}/${keep}`, "{}"), [404, 405], "PATCH");
    refusedCleanly(await raw(server.url, "TRACE", C), [404, 405], "TRACE");
    refusedCleanly(await raw(server.url, "GET", `${C}?limit=1&limit=2`), 400, "limit twice");
    refusedCleanly(await raw(server.url, "GET", `${C}?marker=${"x".repeat(5000)}`), 400, "long marker");
    refusedCleanly(await raw(server.url, "GET", `${C}?marker=%27%20OR%201%3D1--`), 400, "marker injection");
    const r = await raw(server.url, "GET", C, undefined, { "x-openstack-request-id": "req-forged" });
    expect(r.status).toBe(200);
    expect(r.headers["x-openstack-request-id"]).not.toBe("req-forged");
  });
});

describe("Keystone", () => {
  let ks: FakeKeystone;
  let server: Awaited<ReturnType<typeof startServer>> & { logs: string[] };
  let alice: FakeUser;
  let bob: FakeUser;
  let A: string;
  let B: string;
  const tokens: string[] = [];
  const answers: string[] = [];

  beforeAll(async () => {
    ks = await FakeKeystone.start();
    const serviceProject = ks.addProject("service");
    A = ks.addProject("alpha");
    B = ks.addProject("beta");
    const service = ks.addUser("vcluster");
    ks.grant(service.id, serviceProject, ["service"]);
    alice = ks.addUser("alice");
    ks.grant(alice.id, A, ["member"]);
    bob = ks.addUser("bob");
    ks.grant(bob.id, B, ["member"]);
    const dir = tempDir();
    const simDir = path.join(dir, "sim");
    await makeCloud(simDir);
    const logs: string[] = [];
    const opts: ServerOptions = {
      noauth: false,
      port: 0,
      db: path.join(dir, "api.db"),
      env: {
        OS_AUTH_URL: `${ks.url}/v3`,
        OS_USERNAME: service.name,
        OS_PASSWORD: service.password,
        OS_USER_DOMAIN_NAME: "Default",
        OS_PROJECT_NAME: "service",
        OS_PROJECT_DOMAIN_NAME: "Default",
      },
      cwd: dir,
      log: (level, message) => logs.push(`${level}: ${message}`),
      drainTimeoutMs: 10_000,
      openBackend: simulatedOpener(ks, simDir),
    };
    server = { ...(await startServer(opts)), logs };
  });

  afterAll(async () => {
    await server?.close();
    await ks?.stop();
    const said = [...server.logs, ...answers].join("\n");
    for (const t of tokens) {
      for (const form of [t, t.slice(0, 16), t.slice(-16), encodeURIComponent(t)]) expect(said).not.toContain(form);
    }
    removeTempDirs();
  });

  function token(user: FakeUser, project: string, over: Parameters<FakeKeystone["issue"]>[2] = {}): string {
    const t = ks.issue(user.id, project, over);
    tokens.push(t);
    return t;
  }

  async function as(t: string | undefined, method: string, route: string, body?: string): Promise<Raw> {
    const r = await raw(server.url, method, route, body, t === undefined ? {} : { "x-auth-token": t });
    answers.push(r.text, JSON.stringify(r.headers));
    return r;
  }

  it("no token, a forged one, an expired one, a revoked one, a malformed one: 401", async () => {
    const route = `/v2/${A}/vclusters`;
    refusedCleanly(await as(undefined, "GET", route), 401, "none");
    const forged = `gAAAAA${"x".repeat(120)}`;
    tokens.push(forged);
    refusedCleanly(await as(forged, "GET", route), 401, "forged");
    const expired = token(alice, A, { expiresAt: Date.now() - 1_000 });
    refusedCleanly(await as(expired, "POST", route, JSON.stringify(blueprintNamed("x"))), 401, "expired");
    const revoked = token(alice, A);
    ks.revoke(revoked);
    refusedCleanly(await as(revoked, "GET", route), 401, "revoked");
    for (const bad of [" ", "a".repeat(9_000), "tok\tn", "é"]) {
      const r = await raw(server.url, "GET", route, undefined, { "x-auth-token": bad }).catch(() => undefined);
      if (r) refusedCleanly(r, [400, 401, 431], "malformed");
    }
    expect(ks.trustsMade).toHaveLength(0);
  });

  it("another project's URL is Nova's 400, another project's cluster a 404", async () => {
    const a = token(alice, A);
    const b = token(bob, B);
    const created = await as(a, "POST", `/v2/${A}/vclusters`, JSON.stringify(blueprintNamed("alice's")));
    expect(created.status).toBe(202);
    const id = created.body.vcluster.id;
    const f = refusedCleanly(await as(a, "GET", `/v2/${B}/vclusters`), 400);
    expect(f.message).toMatch(/^Malformed request URL: URL's project_id .* doesn't match Context's project_id/);
    refusedCleanly(await as(b, "GET", `/v2/${B}/vclusters/${id}`), 404, "bob GET");
    refusedCleanly(await as(b, "DELETE", `/v2/${B}/vclusters/${id}`), 404, "bob DELETE");
    refusedCleanly(await as(b, "DELETE", `/v2/${A}/vclusters/${id}`), 400, "bob on A's URL");
    refusedCleanly(await as(a, "GET", `/v2/%2e%2e/vclusters/${id}`), [400, 404], "dots");
    // Hostile bodies with a valid token: refused before any trust is made.
    const trusts = ks.trustsMade.length;
    refusedCleanly(await as(a, "POST", `/v2/${A}/vclusters`, "{,}"), 400, "malformed");
    refusedCleanly(
      await as(a, "POST", `/v2/${A}/vclusters`, JSON.stringify(blueprintNamed("x", { padding: "y".repeat(2 << 20) }))),
      413,
      "2 MiB",
    );
    expect(ks.trustsMade.length).toBe(trusts);
    // Alice's cluster is intact.
    let r: Raw;
    const deadline = Date.now() + 20_000;
    do {
      r = await as(a, "GET", `/v2/${A}/vclusters/${id}`);
      if (r.body?.vcluster?.status !== "BUILD") break;
      await new Promise((res) => setTimeout(res, 50));
    } while (Date.now() < deadline);
    expect(r.body.vcluster).toMatchObject({ name: "alice's", status: "ACTIVE" });
  });
});

async function until(url: string, tenant: string, id: string, want: string): Promise<Raw> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await raw(url, "GET", `/v2/${tenant}/vclusters/${id}`);
    const status = r.status === 404 ? "gone" : r.body?.vcluster?.status;
    if (status === want) return r;
    if (Date.now() > deadline) throw new Error(`cluster ${id} is still ${status}: ${r.text}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}
