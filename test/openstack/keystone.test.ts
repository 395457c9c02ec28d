import { describe, expect, it } from "vitest";
import type { OpenStackAuth } from "../../provider/backends/openstack/config";
import { authRequestBody, identityBase, selectEndpoint } from "../../provider/backends/openstack/keystone";
import {
  CINDER,
  catalog,
  interceptAuth,
  json,
  KEYSTONE,
  mockCloud,
  NOVA,
  PROJECT,
  passwordConfig,
  session,
  TOKEN,
  tokenBody,
} from "../support/openstack-mock";

type KeystoneAuth = Exclude<OpenStackAuth, { type: "noauth" }>;

describe("Keystone auth bodies", () => {
  it.each<[string, KeystoneAuth, unknown]>([
    [
      "password, project by name",
      {
        type: "password",
        authUrl: "x",
        username: "alice",
        password: "pw",
        userDomainName: "Default",
        projectName: "demo",
        projectDomainId: "default",
      },
      {
        auth: {
          identity: {
            methods: ["password"],
            password: { user: { name: "alice", domain: { name: "Default" }, password: "pw" } },
          },
          scope: { project: { name: "demo", domain: { id: "default" } } },
        },
      },
    ],
    [
      "password, user and project by id",
      { type: "password", authUrl: "x", userId: "u1", password: "pw", projectId: "p1" },
      {
        auth: {
          identity: { methods: ["password"], password: { user: { id: "u1", password: "pw" } } },
          scope: { project: { id: "p1" } },
        },
      },
    ],
    [
      "password, domain scope",
      { type: "password", authUrl: "x", userId: "u1", password: "pw", domainName: "Default" },
      {
        auth: {
          identity: { methods: ["password"], password: { user: { id: "u1", password: "pw" } } },
          scope: { domain: { name: "Default" } },
        },
      },
    ],
    [
      "application credential by id",
      {
        type: "application_credential",
        authUrl: "x",
        applicationCredentialId: "ac1",
        applicationCredentialSecret: "s",
      },
      {
        auth: {
          identity: { methods: ["application_credential"], application_credential: { id: "ac1", secret: "s" } },
        },
      },
    ],
    [
      "application credential by name",
      {
        type: "application_credential",
        authUrl: "x",
        applicationCredentialName: "ci",
        applicationCredentialSecret: "s",
        username: "alice",
        userDomainId: "default",
      },
      {
        auth: {
          identity: {
            methods: ["application_credential"],
            application_credential: { name: "ci", secret: "s", user: { name: "alice", domain: { id: "default" } } },
          },
        },
      },
    ],
    [
      "token, rescoped to a project",
      { type: "token", authUrl: "x", token: "t0", projectId: "p1" },
      { auth: { identity: { methods: ["token"], token: { id: "t0" } }, scope: { project: { id: "p1" } } } },
    ],
  ])("%s", (_name, auth, body) => {
    expect(authRequestBody(auth)).toEqual(body);
  });

  it.each([
    ["http://k:5000", "http://k:5000/v3"],
    ["http://k:5000/v3", "http://k:5000/v3"],
    ["http://k:5000/v3/", "http://k:5000/v3"],
    ["https://k/identity/", "https://k/identity/v3"],
  ])("identity base of %s is %s", (url, base) => {
    expect(identityBase(url)).toBe(base);
  });
});

describe("service catalog", () => {
  const two = [
    {
      type: "compute",
      endpoints: [
        { interface: "public", region_id: "east", url: "https://east/compute/v2.1/" },
        { interface: "internal", region_id: "east", url: "http://east-int/v2.1" },
        { interface: "public", region_id: "west", url: "https://west/compute/v2.1" },
      ],
    },
    { type: "block-storage", endpoints: [{ interface: "public", region_id: "east", url: "https://east/bs/v3/p" }] },
    { type: "volumev3", endpoints: [{ interface: "public", region_id: "east", url: "https://east/v3/p" }] },
  ];

  it.each([
    [["compute"], "public", "west", "https://west/compute/v2.1"],
    [["compute"], "internal", "east", "http://east-int/v2.1"],
    [["compute"], "public", undefined, "https://east/compute/v2.1"],
    [["block-storage", "volumev3"], "public", "east", "https://east/bs/v3/p"],
  ] as const)("%j %s %s -> %s", (types, iface, region, url) => {
    expect(selectEndpoint(two, [...types], iface, region)).toEqual({ url });
  });

  it("says what the catalog offers when nothing matches", () => {
    const choice = selectEndpoint(two, ["compute"], "admin", "east");
    expect("error" in choice && choice.error).toMatchInlineSnapshot(`
      "no "compute" endpoint with interface "admin" in region "east"; the catalog offers: compute internal east, compute public east, compute public west
      hint: set OS_REGION_NAME / OS_INTERFACE (or region_name / interface in clouds.yaml) to one the catalog offers"
    `);
  });
});

describe("Session", () => {
  it("authenticates once, sends the token, and picks the catalog endpoint for region and interface", async () => {
    const c = mockCloud();
    let authBody: unknown;
    c.agent
      .get(KEYSTONE)
      .intercept({
        path: "/v3/auth/tokens",
        method: "POST",
        body: (b) => {
          authBody = JSON.parse(b);
          return true;
        },
      })
      .reply(201, tokenBody("2030-01-01T12:00:00Z"), { headers: { "x-subject-token": TOKEN, ...json.headers } });
    // Only the internal endpoint with the token answers: anything else fails the call.
    c.agent
      .get(NOVA.replace(".test", ".internal"))
      .intercept({ path: "/v2.1/servers/detail", method: "GET", headers: { "x-auth-token": TOKEN } })
      .reply(200, { servers: [] }, json)
      .times(2);
    const s = session(c, passwordConfig({ interface: "internal" }));
    await s.request("compute", { method: "GET", path: "/servers/detail" });
    await s.request("compute", { method: "GET", path: "/servers/detail" });
    expect(authBody).toMatchObject({ auth: { identity: { methods: ["password"] } } });
    expect(await s.projectId()).toBe(PROJECT);
    c.agent.assertNoPendingInterceptors();
  });

  it("re-authenticates before the token expires", async () => {
    const c = mockCloud();
    interceptAuth(c.agent, { expiresAt: "2030-01-01T01:00:00Z", token: "tok-1" });
    interceptAuth(c.agent, { expiresAt: "2030-01-01T02:00:00Z", token: "tok-2" });
    const pool = c.agent.get(CINDER);
    const path = `/v3/${PROJECT}/volumes/detail`;
    pool
      .intercept({ path, method: "GET", headers: { "x-auth-token": "tok-1" } })
      .reply(200, { volumes: [] }, json)
      .times(2);
    pool.intercept({ path, method: "GET", headers: { "x-auth-token": "tok-2" } }).reply(200, { volumes: [] }, json);
    let now = Date.parse("2030-01-01T00:00:00Z");
    const s = session(c, passwordConfig(), () => now);
    await s.request("volume", { method: "GET", path: "/volumes/detail" });
    now = Date.parse("2030-01-01T00:50:00Z"); // 10 min left of a 1 h token: still fine
    await s.request("volume", { method: "GET", path: "/volumes/detail" });
    now = Date.parse("2030-01-01T00:55:00Z"); // 5 min left: refresh first
    await s.request("volume", { method: "GET", path: "/volumes/detail" });
    c.agent.assertNoPendingInterceptors();
  });

  it("re-authenticates once on a 401 and retries the call", async () => {
    const c = mockCloud();
    interceptAuth(c.agent, { token: "revoked" });
    interceptAuth(c.agent, { token: "fresh" });
    const pool = c.agent.get(NOVA);
    pool.intercept({ path: "/v2.1/limits", method: "GET" }).reply(401, { error: { message: "expired" } }, json);
    pool
      .intercept({ path: "/v2.1/limits", method: "GET", headers: { "x-auth-token": "fresh" } })
      .reply(200, { limits: {} }, json);
    const s = session(c);
    const res = await s.request("compute", { method: "GET", path: "/limits" });
    expect(res.status).toBe(200);
    c.agent.assertNoPendingInterceptors();
  });

  it("shares one authentication between concurrent callers", async () => {
    const c = mockCloud();
    interceptAuth(c.agent);
    c.agent.get(NOVA).intercept({ path: "/v2.1/limits", method: "GET" }).reply(200, {}, json).times(3);
    const s = session(c);
    await Promise.all([1, 2, 3].map(() => s.request("compute", { method: "GET", path: "/limits" })));
    c.agent.assertNoPendingInterceptors();
  });

  it("reports bad credentials with Keystone's message and no password", async () => {
    const c = mockCloud();
    c.agent
      .get(KEYSTONE)
      .intercept({ path: "/v3/auth/tokens", method: "POST" })
      .reply(
        401,
        { error: { code: 401, message: "The request you have made requires authentication." } },
        {
          headers: { "x-openstack-request-id": "req-k1", ...json.headers },
        },
      );
    const s = session(c);
    const err = await s.request("compute", { method: "GET", path: "/limits" }).catch((e: Error) => e);
    expect(String(err)).toMatchInlineSnapshot(
      `"BackendError: keystone: POST /v3/auth/tokens returned 401: The request you have made requires authentication. (request id req-k1)"`,
    );
    expect(String(err)).not.toContain("s3cret-password");
  });

  it.each([
    ["with a quote and a backslash", 'pa"ss\\word'],
    ["under 4 characters", 'p"w'],
  ])("reports a Keystone error that echoes the request body without the password %s", async (_what, password) => {
    const c = mockCloud();
    const cfg = passwordConfig();
    if (cfg.auth.type === "password") cfg.auth.password = password;
    c.agent
      .get(KEYSTONE)
      .intercept({ path: "/v3/auth/tokens", method: "POST" })
      .reply(400, (opts) => ({ error: { code: 400, message: `Invalid input: ${String(opts.body)}` } }), json);
    const err = await session(c, cfg)
      .request("compute", { method: "GET", path: "/limits" })
      .catch((e: Error) => e);
    expect(String(err)).toContain('"user":{"name":"alice","domain":{"name":"Default"},"password":"***"}');
    expect(String(err)).not.toContain(password);
    expect(String(err)).not.toContain(JSON.stringify(password).slice(1, -1));
  });

  it("uses endpoint overrides and a fixed token in noauth mode", async () => {
    const c = mockCloud();
    c.agent
      .get("http://127.0.0.1:8774")
      .intercept({ path: "/v2.1/limits", method: "GET", headers: { "x-auth-token": "admin:abc" } })
      .reply(200, {}, json);
    const s = session(
      c,
      passwordConfig({
        auth: { type: "noauth", token: "admin:abc", projectId: "abc" },
        endpointOverrides: { compute: "http://127.0.0.1:8774/v2.1" },
      }),
    );
    await s.request("compute", { method: "GET", path: "/limits" });
    expect(await s.roles()).toEqual(["admin"]);
  });

  it("catalog() helper lists every service the backend needs", () => {
    expect(catalog().map((s) => s.type)).toEqual(["compute", "volumev3", "placement", "image"]);
  });
});
