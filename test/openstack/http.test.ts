import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { MockAgent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { BackendError } from "../../provider/backends/backend";
import {
  errorCodeFor,
  HttpClient,
  HttpError,
  type HttpOptions,
  openStackMessage,
  parseRetryAfter,
} from "../../provider/backends/openstack/http";
import { json, mockCloud, NOVA, TOKEN } from "../support/openstack-mock";

async function failure(p: Promise<unknown>): Promise<BackendError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BackendError) return err;
    throw err;
  }
  throw new Error("expected a BackendError");
}

describe("HttpClient retries", () => {
  it("retries a 503 and returns the 200 that follows", async () => {
    const c = mockCloud();
    const pool = c.agent.get(NOVA);
    pool.intercept({ path: "/v2.1/servers/detail", method: "GET" }).reply(503, "busy");
    pool.intercept({ path: "/v2.1/servers/detail", method: "GET" }).reply(200, { servers: [] }, json);
    const res = await c.http.request({ service: "nova", method: "GET", url: `${NOVA}/v2.1/servers/detail` });
    expect(res.json).toEqual({ servers: [] });
    expect(c.sleeps).toHaveLength(1);
    c.agent.assertNoPendingInterceptors();
  });

  it("honours Retry-After on 429 and on 413", async () => {
    const c = mockCloud();
    const pool = c.agent.get(NOVA);
    pool
      .intercept({ path: "/v2.1/servers", method: "POST" })
      .reply(429, "slow down", { headers: { "retry-after": "7" } });
    pool.intercept({ path: "/v2.1/servers", method: "POST" }).reply(413, "over", { headers: { "retry-after": "2" } });
    pool.intercept({ path: "/v2.1/servers", method: "POST" }).reply(202, { server: { id: "s1" } }, json);
    const res = await c.http.request({ service: "nova", method: "POST", url: `${NOVA}/v2.1/servers`, body: {} });
    expect(res.status).toBe(202);
    expect(c.sleeps).toEqual([7000, 2000]);
  });

  it.each([400, 404, 409])("does not retry a %i", async (status) => {
    const c = mockCloud();
    c.agent
      .get(NOVA)
      .intercept({ path: "/v2.1/servers", method: "POST" })
      .reply(status, { badRequest: { message: "no" } }, json);
    const err = await failure(
      c.http.request({ service: "nova", method: "POST", url: `${NOVA}/v2.1/servers`, body: {} }),
    );
    expect(err.retryable).toBe(false);
    expect(c.sleeps).toEqual([]);
  });

  it("does not retry a 500 on POST (the server may exist), but does on GET", async () => {
    const c = mockCloud();
    const pool = c.agent.get(NOVA);
    pool.intercept({ path: "/v2.1/servers", method: "POST" }).reply(500, { computeFault: { message: "boom" } }, json);
    const err = await failure(
      c.http.request({ service: "nova", method: "POST", url: `${NOVA}/v2.1/servers`, body: {} }),
    );
    expect(err.code).toBe("unavailable");
    pool.intercept({ path: "/v2.1/servers/x", method: "GET" }).reply(500, "boom");
    pool.intercept({ path: "/v2.1/servers/x", method: "GET" }).reply(200, { server: {} }, json);
    await c.http.request({ service: "nova", method: "GET", url: `${NOVA}/v2.1/servers/x` });
    expect(c.sleeps).toHaveLength(1);
  });

  it("gives up after maxRetries with the last error", async () => {
    const c = mockCloud();
    c.agent.get(NOVA).intercept({ path: "/v2.1/", method: "GET" }).reply(503, "down").times(5);
    const err = await failure(c.http.request({ service: "nova", method: "GET", url: `${NOVA}/v2.1/` }));
    expect(err.code).toBe("unavailable");
    expect(err.retryable).toBe(true);
    expect(c.sleeps).toEqual([250, 500, 1000, 2000].map((cap) => cap * 1.5));
  });

  it("retries a refused connection, then reports it without the token", async () => {
    const c = mockCloud();
    const pool = c.agent.get(NOVA);
    const refused = Object.assign(new Error(`connect ECONNREFUSED (token ${TOKEN})`), { code: "ECONNREFUSED" });
    pool.intercept({ path: "/v2.1/", method: "GET" }).replyWithError(refused).times(5);
    const err = await failure(
      c.http.request({ service: "nova", method: "GET", url: `${NOVA}/v2.1/`, headers: { "x-auth-token": TOKEN } }),
    );
    expect(err.code).toBe("unavailable");
    expect(err.message).not.toContain(TOKEN);
    expect(c.sleeps).toHaveLength(4);
  });
});

/** A MockAgent client with these options; counts the sends each path receives and the waits asked for. */
function countingCloud(opts: HttpOptions = {}) {
  const agent = new MockAgent();
  agent.disableNetConnect();
  const sleeps: number[] = [];
  const sent = new Map<string, number>();
  const client = new HttpClient({
    dispatcherFor: () => agent,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...opts,
  });
  /** Answers every `method path` with this reply, counting the sends. */
  const always = (
    method: string,
    path: string,
    statusCode: number,
    data: string | object = "",
    headers: Record<string, string> = {},
  ) =>
    agent
      .get(NOVA)
      .intercept({ path, method })
      .reply(() => {
        sent.set(`${method} ${path}`, (sent.get(`${method} ${path}`) ?? 0) + 1);
        return { statusCode, data, responseOptions: { headers } };
      })
      .persist();
  return { agent, client, sleeps, sent, always };
}

async function httpFailure(p: Promise<unknown>): Promise<HttpError> {
  const err = await failure(p);
  expect(err).toBeInstanceOf(HttpError);
  return err as HttpError;
}

describe("HttpClient attempts", () => {
  it("sends a GET that keeps answering 503 1 + maxRetries times, then gives up for good", async () => {
    const c = countingCloud();
    c.always("GET", "/v2.1/servers/detail", 503, "Service Unavailable", { "x-openstack-request-id": "req-503" });
    const err = await httpFailure(
      c.client.request({ service: "nova", method: "GET", url: `${NOVA}/v2.1/servers/detail` }),
    );
    expect(c.sent.get("GET /v2.1/servers/detail")).toBe(5);
    expect([err.attempts, err.retryHandled, err.retryable, err.code]).toEqual([5, true, true, "unavailable"]);
    expect(err.message).toBe("nova: GET /v2.1/servers/detail returned 503: Service Unavailable (request id req-503)");
    expect(c.sleeps).toHaveLength(4);
  });

  it.each([0, 1, 7])("with maxRetries %i sends at most 1 + %i times", async (maxRetries) => {
    const c = countingCloud({ maxRetries });
    c.always("GET", "/v2.1/", 502);
    const err = await httpFailure(c.client.request({ service: "nova", method: "GET", url: `${NOVA}/v2.1/` }));
    expect(c.sent.get("GET /v2.1/")).toBe(1 + maxRetries);
    expect(err.attempts).toBe(1 + maxRetries);
  });

  it("sends a request that fails for good once, and says the caller may not have the last word", async () => {
    const c = countingCloud();
    c.always("POST", "/v2.1/servers", 400, { badRequest: { message: "no" } }, json.headers);
    c.always("POST", "/v2.1/os-volume_attachments", 500, { computeFault: { message: "boom" } }, json.headers);
    const bad = await httpFailure(
      c.client.request({ service: "nova", method: "POST", url: `${NOVA}/v2.1/servers`, body: {} }),
    );
    expect([bad.code, bad.attempts, bad.retryHandled, bad.retryable]).toEqual(["bad_request", 1, false, false]);
    // A 500 on a POST may have done the work: not resent here, left to a caller that knows the call is safe.
    const half = await httpFailure(
      c.client.request({ service: "nova", method: "POST", url: `${NOVA}/v2.1/os-volume_attachments`, body: {} }),
    );
    expect([half.code, half.attempts, half.retryHandled, half.retryable]).toEqual(["unavailable", 1, false, true]);
    expect(c.sent.get("POST /v2.1/servers")).toBe(1);
    expect(c.sent.get("POST /v2.1/os-volume_attachments")).toBe(1);
    expect(c.sleeps).toEqual([]);
  });

  it("resends a POST whose connection never opened, but not one reset after it may have arrived", async () => {
    const c = countingCloud();
    const pool = c.agent.get(NOVA);
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    pool.intercept({ path: "/v2.1/servers", method: "POST" }).replyWithError(refused).times(5);
    const never = await httpFailure(
      c.client.request({ service: "nova", method: "POST", url: `${NOVA}/v2.1/servers`, body: {} }),
    );
    expect([never.attempts, never.retryHandled]).toEqual([5, true]);
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    pool.intercept({ path: "/v2.1/servers", method: "POST" }).replyWithError(reset);
    const maybe = await httpFailure(
      c.client.request({ service: "nova", method: "POST", url: `${NOVA}/v2.1/servers`, body: {} }),
    );
    expect([maybe.code, maybe.attempts, maybe.retryHandled, maybe.retryable]).toEqual(["unavailable", 1, false, true]);
    c.agent.assertNoPendingInterceptors();
  });

  it("waits out a 429's Retry-After, then sends again", async () => {
    const c = countingCloud();
    const pool = c.agent.get(NOVA);
    pool
      .intercept({ path: "/v2.1/servers/detail", method: "GET" })
      .reply(429, "Too Many Requests", { headers: { "retry-after": "3" } });
    pool
      .intercept({ path: "/v2.1/servers/detail", method: "GET" })
      .reply(429, "Too Many Requests", { headers: { "retry-after": new Date(Date.now() + 30_000).toUTCString() } });
    pool.intercept({ path: "/v2.1/servers/detail", method: "GET" }).reply(200, { servers: [] }, json);
    const res = await c.client.request({ service: "nova", method: "GET", url: `${NOVA}/v2.1/servers/detail` });
    expect(res.status).toBe(200);
    expect(c.sleeps).toHaveLength(2);
    expect(c.sleeps[0]).toBe(3000);
    // An HTTP date, to the second.
    expect(c.sleeps[1]).toBeGreaterThan(28_000);
    expect(c.sleeps[1]).toBeLessThanOrEqual(30_000);
    c.agent.assertNoPendingInterceptors();
  });

  it("does not wait for a Retry-After beyond a minute, and nobody retries it", async () => {
    const c = countingCloud();
    c.always("GET", "/v2.1/servers/detail", 429, "Too Many Requests", { "retry-after": "3600" });
    const err = await httpFailure(
      c.client.request({ service: "nova", method: "GET", url: `${NOVA}/v2.1/servers/detail` }),
    );
    expect([err.code, err.attempts, err.retryHandled]).toEqual(["unavailable", 1, true]);
    expect(c.sent.get("GET /v2.1/servers/detail")).toBe(1);
    expect(c.sleeps).toEqual([]);
  });

  it("resends a POST that Nova refused as over quota with a Retry-After (403), not a plain 403", async () => {
    const c = countingCloud();
    const pool = c.agent.get(NOVA);
    pool.intercept({ path: "/v2.1/servers", method: "POST" }).reply(
      403,
      { forbidden: { message: "Quota exceeded for instances: Requested 1, but already used 10 of 10" } },
      {
        headers: { "retry-after": "5", "content-type": "application/json" },
      },
    );
    pool.intercept({ path: "/v2.1/servers", method: "POST" }).reply(202, { server: { id: "s1" } }, json);
    const res = await c.client.request({ service: "nova", method: "POST", url: `${NOVA}/v2.1/servers`, body: {} });
    expect(res.status).toBe(202);
    expect(c.sleeps).toEqual([5000]);

    c.always(
      "POST",
      "/v2.1/os-hypervisors",
      403,
      { forbidden: { message: "Policy doesn't allow it." } },
      {
        "retry-after": "5",
        "content-type": "application/json",
      },
    );
    const err = await httpFailure(
      c.client.request({ service: "nova", method: "POST", url: `${NOVA}/v2.1/os-hypervisors`, body: {} }),
    );
    expect([err.code, err.attempts, err.retryHandled]).toEqual(["forbidden", 1, false]);
    expect(c.sleeps).toEqual([5000]);
  });
});

describe("HttpClient against a real server on 127.0.0.1", () => {
  let server: http.Server | undefined;
  let client: HttpClient | undefined;
  afterEach(async () => {
    await client?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
    client = undefined;
  });

  /** A server answering each request with the next of `replies` (the last one forever); returns its origin. */
  async function serve(replies: Array<{ status: number; headers?: Record<string, string>; body: string }>) {
    const seen: number[] = [];
    server = http.createServer((req, res) => {
      req.resume();
      seen.push(Date.now());
      const r = replies[Math.min(seen.length, replies.length) - 1] as (typeof replies)[number];
      res.writeHead(r.status, { "content-type": "application/json", ...r.headers });
      res.end(r.body);
    });
    await new Promise<void>((r) => server?.listen(0, "127.0.0.1", () => r()));
    const { port } = server.address() as AddressInfo;
    return { origin: `http://127.0.0.1:${port}`, seen };
  }

  it("really waits a 429's Retry-After before sending again", async () => {
    const { origin, seen } = await serve([
      { status: 429, headers: { "retry-after": "1" }, body: '{"message":"slow down"}' },
      { status: 200, body: '{"servers":[]}' },
    ]);
    client = new HttpClient();
    const started = Date.now();
    const res = await client.request({ service: "nova", method: "GET", url: `${origin}/v2.1/servers/detail` });
    expect(res.json).toEqual({ servers: [] });
    expect(seen).toHaveLength(2);
    expect((seen[1] as number) - (seen[0] as number)).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it("sends a GET that keeps answering 503 exactly 1 + maxRetries times", async () => {
    const { origin, seen } = await serve([{ status: 503, body: '{"message":"down for maintenance"}' }]);
    client = new HttpClient({ maxRetries: 2, backoffMs: 1, maxBackoffMs: 2 });
    const err = await httpFailure(client.request({ service: "nova", method: "GET", url: `${origin}/v2.1/` }));
    expect(seen).toHaveLength(3);
    expect([err.code, err.attempts, err.retryHandled]).toEqual(["unavailable", 3, true]);
    expect(err.message).toBe("nova: GET /v2.1/ returned 503: down for maintenance");
  });
});

describe("HttpClient errors", () => {
  it("carries service, method, path, status, OpenStack's message and request id, never the token", async () => {
    const c = mockCloud();
    c.agent
      .get(NOVA)
      .intercept({ path: "/v2.1/servers", method: "POST" })
      .reply(
        400,
        { badRequest: { code: 400, message: `Invalid flavorRef provided (token ${TOKEN} echoed back)` } },
        { headers: { "x-openstack-request-id": "req-42", "content-type": "application/json" } },
      );
    const err = await failure(
      c.http.request({
        service: "nova",
        method: "POST",
        url: `${NOVA}/v2.1/servers`,
        headers: { "X-Auth-Token": TOKEN },
        body: {},
      }),
    );
    expect(err.code).toBe("bad_request");
    expect(err.message).toMatchInlineSnapshot(
      `"nova: POST /v2.1/servers returned 400: Invalid flavorRef provided (token *** echoed back) (request id req-42)"`,
    );
  });

  it.each([
    [404, "Instance x could not be found.", "not_found"],
    [409, "Cannot 'delete' instance while it is in task_state deleting", "conflict"],
    [403, "Policy doesn't allow os_compute_api:os-hypervisors:list to be performed.", "forbidden"],
    [403, "Quota exceeded for cores: Requested 4, but already used 18 of 20 cores", "quota_exceeded"],
    [413, "Quota exceeded for instances", "quota_exceeded"],
    [400, "Invalid input", "bad_request"],
    [401, "The request you have made requires authentication.", "unauthorized"],
    [503, "Service Unavailable", "unavailable"],
  ] as const)("maps %i %j to %s", (status, message, code) => {
    expect(errorCodeFor(status, message)).toBe(code);
  });

  it.each([
    [{ itemNotFound: { code: 404, message: "Flavor 7 could not be found." } }, "", "Flavor 7 could not be found."],
    [{ error: { code: 401, message: "Invalid credentials", title: "Unauthorized" } }, "", "Invalid credentials"],
    [{ NeutronError: { message: "Network x not found", type: "NetworkNotFound" } }, "", "Network x not found"],
    [{ errors: [{ status: 409, detail: "Conflicting resource provider" }] }, "", "Conflicting resource provider"],
    [
      undefined,
      "<html><body><h1>403 Forbidden</h1>\n  Access was denied.</body></html>",
      "403 Forbidden Access was denied.",
    ],
  ])("reads OpenStack's message from %j", (body, text, message) => {
    expect(openStackMessage({ json: body, text })).toBe(message);
  });

  it("parses Retry-After seconds and dates", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter("Wed, 01 Jan 2031 00:00:10 GMT", Date.parse("2031-01-01T00:00:00Z"))).toBe(10_000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter("soon")).toBeUndefined();
  });
});

describe("HttpClient scrubbing", () => {
  /** OpenStack's message for a 400 whose body is `text`, with every secret registered. */
  async function echoed(secrets: string[], text: string): Promise<string> {
    const c = mockCloud();
    for (const s of secrets) c.http.addSecret(s);
    c.agent.get(NOVA).intercept({ path: "/v2.1/servers", method: "POST" }).reply(400, text);
    const err = await failure(
      c.http.request({ service: "nova", method: "POST", url: `${NOVA}/v2.1/servers`, body: {} }),
    );
    return err.message.replace("nova: POST /v2.1/servers returned 400: ", "");
  }

  const PW = 'pa"ss\\wörd/1 +&x';
  const json1 = JSON.stringify(PW).slice(1, -1);
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

  it.each([
    ["raw", PW],
    ["JSON-escaped", json1],
    ["JSON-escaped twice", JSON.stringify(json1).slice(1, -1)],
    ["JSON-escaped as Python does (ASCII only, \\/)", json1.replace("ö", "\\u00f6").replace("/", "\\/")],
    [
      "JSON-escaped as .NET does (\\u0022, upper-case hex)",
      json1.replace('\\"', "\\u0022").replace("ö", "\\u00F6").replace("+", "\\u002B").replace("&", "\\u0026"),
    ],
    ["URL-encoded", encodeURIComponent(PW)],
    ["URL-encoded in lower case", encodeURIComponent(PW).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())],
    ["form-encoded", new URLSearchParams({ p: PW }).toString().slice(2)],
    ["HTML-escaped", PW.replace("&", "&amp;").replace('"', "&quot;")],
  ])("removes a password %s from a message", async (_how, encoded) => {
    expect(await echoed([PW], `echo ${encoded} end`)).toBe("echo *** end");
  });

  it("removes basic-auth credentials and authorization headers, registered or not", async () => {
    const out = await echoed(
      [PW],
      `Authorization: Basic ${b64(`alice:${PW}`)} then Basic ${b64("bob:pw")}, authorization="Bearer abc.def" ` +
        "X-Auth-Token: gAAAAB-unregistered; Basic authentication failed",
    );
    expect(out).toBe(
      'Authorization: Basic *** then Basic ***, authorization="Bearer ***" X-Auth-Token: ***; Basic authentication failed',
    );
  });

  it.each([0, 1, 2])("removes a password base64-encoded at offset %i inside a longer value", async (offset) => {
    const blob = b64(`${"x".repeat(offset)}${PW}y`);
    const out = await echoed([PW], `user_data ${blob} end`);
    // At most the few characters that mix the password's bits with its neighbours' are left.
    expect(out).toMatch(/^user_data [A-Za-z0-9+/]{0,3}\*\*\*[A-Za-z0-9+/=]{0,4} end$/);
  });

  it("removes a secret that OpenStack's message would cut in two, and one that is the whole message", async () => {
    const long = `${"x".repeat(390)} ${PW}`;
    expect(await echoed([PW], JSON.stringify({ badRequest: { message: long } }))).toBe(`${"x".repeat(390)} ***`);
    expect(await echoed(["ab"], JSON.stringify({ badRequest: { message: "ab" } }))).toBe("***");
  });

  it("stays fast on a secret and a message made of backslashes", () => {
    const c = mockCloud();
    c.http.addSecret("\\".repeat(24));
    c.http.addSecret("\\\\");
    const started = performance.now();
    const out = c.http.scrub(`${"\\".repeat(5000)}"`);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(out).not.toContain("\\".repeat(24));
  });

  it("removes a secret under 4 characters where it stands as a value, and nowhere else", async () => {
    const text =
      `{"message": "bad input: {\\"password\\": \\"ab\\", \\"name\\": \\"abc\\"} ` +
      `password=ab&user=abby 'ab' is too short; about a tab, pw=a%20b (not a b)"}`;
    expect(await echoed(["ab", "a b"], text)).toBe(
      `bad input: {"password": "***", "name": "abc"} password=***&user=abby '***' is too short; about a tab, pw=*** (not a b)`,
    );
  });
});
