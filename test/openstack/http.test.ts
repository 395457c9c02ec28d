import { describe, expect, it } from "vitest";
import { BackendError } from "../../provider/backends/backend";
import { errorCodeFor, openStackMessage, parseRetryAfter } from "../../provider/backends/openstack/http";
import { json, mockCloud, NOVA, TOKEN } from "./helpers";

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
