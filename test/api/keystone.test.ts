// The REST service with Keystone (a fake one in this process, on a real socket): tokens validated and
// cached, 401s, the URL's project against the token's, isolation between projects, admins' all_tenants,
// the trust each create/update/delete acts through (made with the caller's token, deleted when the
// operation ends), what happens when Keystone refuses, and no token in any log or answer.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerOptions, startServer } from "../../provider/api";
import { blueprintNamed, call, makeCloud, type Reply, removeTempDirs, type TestServer, tempDir } from "../support/api";
import { FakeKeystone, type FakeUser, simulatedOpener } from "../support/fake-keystone";

let ks: FakeKeystone;
let server: TestServer;
let service: FakeUser;
let alice: FakeUser;
let bob: FakeUser;
let root: FakeUser;
let A: string;
let B: string;
let ADMIN: string;
let simDir: string;
const opened = { trust: 0, token: 0 };
/** Every token handed out in this file: none may ever appear in a log or an answer. */
const tokens: string[] = [];
/** Every answer's text. */
const answers: string[] = [];
let gate: Promise<void> | undefined;

function env(user: FakeUser): NodeJS.ProcessEnv {
  return {
    OS_AUTH_URL: `${ks.url}/v3`,
    OS_USERNAME: user.name,
    OS_PASSWORD: user.password,
    OS_USER_DOMAIN_NAME: "Default",
    OS_PROJECT_NAME: "service",
    OS_PROJECT_DOMAIN_NAME: "Default",
    OS_REGION_NAME: "RegionOne",
  };
}

async function serveKeystone(user: FakeUser, over: Partial<ServerOptions> = {}) {
  const dir = tempDir();
  const logs: string[] = [];
  const running = await startServer({
    noauth: false,
    port: 0,
    db: path.join(dir, "api.db"),
    env: env(user),
    cwd: dir,
    log: (level, message) => logs.push(`${level}: ${message}`),
    drainTimeoutMs: 10_000,
    openBackend: simulatedOpener(ks, simDir, { gate: () => gate ?? Promise.resolve(), opened }),
    ...over,
  });
  return { ...running, logs, simDir, db: path.join(dir, "api.db") };
}

function token(user: FakeUser, project: string | undefined, over: Parameters<FakeKeystone["issue"]>[2] = {}): string {
  const t = ks.issue(user.id, project, over);
  tokens.push(t);
  return t;
}

async function as(t: string | undefined, method: string, route: string, body?: unknown): Promise<Reply> {
  const r = await call(server.url, method, route, body, t === undefined ? {} : { "x-auth-token": t });
  answers.push(r.text, JSON.stringify([...r.headers]));
  return r;
}

async function until(t: string, tenant: string, id: string, want: string[]): Promise<Reply> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await as(t, "GET", `/v2/${tenant}/vclusters/${id}`);
    const status = r.status === 404 ? "gone" : r.body?.vcluster?.status;
    if (want.includes(status)) return r;
    if (Date.now() > deadline) throw new Error(`cluster ${id} is still ${status}: ${r.text}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

beforeAll(async () => {
  ks = await FakeKeystone.start();
  const serviceProject = ks.addProject("service");
  A = ks.addProject("alpha");
  B = ks.addProject("beta");
  ADMIN = ks.addProject("admin");
  service = ks.addUser("vcluster");
  ks.grant(service.id, serviceProject, ["service"]);
  alice = ks.addUser("alice");
  ks.grant(alice.id, A, ["member", "reader"]);
  bob = ks.addUser("bob");
  ks.grant(bob.id, B, ["member", "reader"]);
  root = ks.addUser("root");
  ks.grant(root.id, ADMIN, ["admin", "member", "reader"]);
  const dir = tempDir();
  simDir = path.join(dir, "sim");
  await makeCloud(simDir);
  server = await serveKeystone(service);
});

afterAll(async () => {
  await server?.close();
  await ks?.stop();
  // No token, whole or a piece of one, in any encoding, in what the service logged or answered.
  const said = [...server.logs, ...answers].join("\n");
  for (const t of tokens) {
    for (const form of [t, t.slice(0, 16), t.slice(-16), encodeURIComponent(t), Buffer.from(t).toString("base64")]) {
      expect(said).not.toContain(form);
    }
  }
  // Nor in the records.
  const db =
    readFileSync(server.db).toString("latin1") + readFileSync(`${server.db}-wal`, { flag: "a+" }).toString("latin1");
  for (const t of tokens) expect(db).not.toContain(t.slice(6, 30));
  removeTempDirs();
});

describe("tokens", () => {
  it("says at start which Keystone, which service user, and how long a revoked token lives on", () => {
    expect(server.logs).toContainEqual(
      expect.stringMatching(
        /^info: openstack-vcluster serve: Keystone at http:\/\/127\.0\.0\.1:\d+\/v3: tokens validated by service user "vcluster" and cached up to 60 s \(a revoked token is accepted until then\)/,
      ),
    );
    expect(server.logs.join("\n")).not.toMatch(/noauth/);
  });

  it("no X-Auth-Token is a 401 in Nova's shape, with WWW-Authenticate", async () => {
    const r = await as(undefined, "GET", `/v2/${A}/vclusters`);
    expect(r.status).toBe(401);
    expect(r.body).toEqual({
      unauthorized: {
        code: 401,
        message: expect.stringMatching(/^The request you have made requires authentication: no X-Auth-Token header/),
      },
    });
    expect(r.headers.get("www-authenticate")).toBe(`Keystone uri="${ks.url}"`);
  });

  it("a forged token is a 401 that never repeats it (Keystone's own 404 names it), asked once per few seconds", async () => {
    const forged = `gAAAAA${"Zm9yZ2Vk".repeat(20)}`;
    tokens.push(forged);
    const before = ks.count("GET /auth/tokens");
    for (let i = 0; i < 3; i++) {
      const r = await as(forged, "GET", `/v2/${A}/vclusters`);
      expect(r.status).toBe(401);
      expect(r.body.unauthorized.message).toMatch(
        /the token is not valid \(expired, revoked, or unknown to Keystone\)/,
      );
    }
    expect(ks.count("GET /auth/tokens") - before).toBe(1);
  });

  it.each([
    ["with a space", "tok en"],
    ["too long", "x".repeat(9000)],
  ])("a header that is no token (%s) is a 401 without asking Keystone", async (_why, value) => {
    const before = ks.count("GET /auth/tokens");
    const r = await fetch(`${server.url}/v2/${A}/vclusters`, { headers: { "x-auth-token": value } }).catch(
      () => undefined,
    );
    if (r) expect(r.status === 401 || r.status === 400 || r.status === 431).toBe(true);
    expect(ks.count("GET /auth/tokens")).toBe(before);
  });

  it("a valid token is validated once and then cached", async () => {
    const t = token(alice, A);
    const before = ks.count("GET /auth/tokens");
    for (let i = 0; i < 10; i++) expect((await as(t, "GET", `/v2/${A}/vclusters`)).status).toBe(200);
    expect(ks.count("GET /auth/tokens") - before).toBe(1);
  });

  it("a token that expires is refused from its expiry on, cached or not", async () => {
    const t = token(alice, A, { expiresAt: Date.now() + 1_000 });
    expect((await as(t, "GET", `/v2/${A}/vclusters`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await as(t, "GET", `/v2/${A}/vclusters`)).status).toBe(401);
  });

  it("a revoked token is refused once its cache entry ages out", async () => {
    const short = await serveKeystone(service, { tokenCache: { ttlMs: 300 } });
    try {
      const t = token(alice, A);
      const get = () => fetch(`${short.url}/v2/${A}/vclusters`, { headers: { "x-auth-token": t } });
      expect((await get()).status).toBe(200);
      ks.revoke(t);
      expect((await get()).status).toBe(200); // within the TTL: the price of the cache
      await new Promise((r) => setTimeout(r, 350));
      expect((await get()).status).toBe(401);
    } finally {
      await short.close();
      server.logs.push(...short.logs);
    }
  });

  it("the URL's project must be the token's, as Nova answers (400), admins too", async () => {
    for (const [t, url, own] of [
      [token(bob, B), A, B],
      [token(root, ADMIN), A, ADMIN],
    ] as const) {
      const r = await as(t, "GET", `/v2/${url}/vclusters`);
      expect(r.status).toBe(400);
      expect(r.body.badRequest.message).toBe(
        `Malformed request URL: URL's project_id "${url}" doesn't match Context's project_id "${own}"`,
      );
    }
    const unscoped = await as(token(alice, undefined), "GET", `/v2/${A}/vclusters`);
    expect(unscoped.status).toBe(400);
    expect(unscoped.body.badRequest.message).toMatch(
      /the token is scoped to no project; hint: get a project-scoped token/,
    );
  });

  it("Keystone down: a token not cached yet is a 503, not a 401", async () => {
    ks.failWith = 503;
    try {
      const r = await as(token(alice, A), "GET", `/v2/${A}/vclusters`);
      expect(r.status).toBe(503);
      expect(r.body.serviceUnavailable.message).toBe("Keystone can't be reached to validate the token; retry later");
    } finally {
      ks.failWith = undefined;
    }
  });
});

describe("a cluster's life, acting for its caller through a trust", () => {
  it("create -> ACTIVE in the caller's project -> isolated -> delete -> 404; each operation's trust made and deleted", async () => {
    const ta = token(alice, A);
    const tb = token(bob, B);
    const made = ks.trustsMade.length;
    const trustsOpened = opened.trust;
    const created = await as(ta, "POST", `/v2/${A}/vclusters`, blueprintNamed("alpha-db"));
    expect(created.status).toBe(202);
    const id = created.body.vcluster.id as string;
    expect(created.body.vcluster).toMatchObject({ tenant_id: A, status: "BUILD" });
    // The trust: from alice to the service user, in alice's project, with alice's roles, impersonating her.
    expect(ks.trustsMade.slice(made)).toEqual([
      expect.objectContaining({
        trustorUserId: alice.id,
        trusteeUserId: service.id,
        projectId: A,
        roles: ["member", "reader"],
        impersonation: true,
        expiresAt: expect.any(Number),
      }),
    ]);
    const trust = ks.trustsMade[made]?.id as string;
    const active = await until(ta, A, id, ["ACTIVE", "ERROR"]);
    expect(active.body.vcluster.status).toBe("ACTIVE");
    expect(opened.trust - trustsOpened).toBe(1);
    // Done: its trust is deleted (the work's own last step, just after the record says ACTIVE).
    for (let i = 0; i < 100 && !ks.trustsDeleted.includes(trust); i++) await new Promise((r) => setTimeout(r, 20));
    expect(ks.trustsDeleted).toContain(trust);

    // Another project: not found anywhere, not in its list; its token on this URL is a 400.
    for (const [method, body] of [
      ["GET", undefined],
      ["PUT", blueprintNamed("stolen")],
      ["DELETE", undefined],
    ] as const) {
      const r = await as(tb, method, `/v2/${B}/vclusters/${id}`, body);
      expect(r.status).toBe(404);
      expect(r.body.itemNotFound.message).toBe(`vcluster ${id} could not be found`);
      expect((await as(tb, method, `/v2/${A}/vclusters/${id}`, body)).status).toBe(400);
    }
    expect((await as(tb, "GET", `/v2/${B}/vclusters`)).body.vclusters).toEqual([]);
    expect((await as(ta, "GET", `/v2/${A}/vclusters`)).body.vclusters.map((c: { id: string }) => c.id)).toEqual([id]);

    // Admins list every project's with all_tenants=1; others may not.
    const all = await as(token(root, ADMIN), "GET", `/v2/${ADMIN}/vclusters?all_tenants=1`);
    expect(all.status).toBe(200);
    expect(all.body.vclusters).toContainEqual(expect.objectContaining({ id, tenant_id: A }));
    expect((await as(token(root, ADMIN), "GET", `/v2/${ADMIN}/vclusters`)).body.vclusters).toEqual([]);
    const refused = await as(ta, "GET", `/v2/${A}/vclusters?all_tenants=1`);
    expect(refused.status).toBe(403);
    expect(refused.body.forbidden.message).toMatch(/all_tenants.*takes the role admin/);
    expect((await as(ta, "GET", `/v2/${A}/vclusters?all_tenants=0`)).status).toBe(200);

    // An admin shows any project's cluster by its id, as Nova shows an admin any server (its links on
    // the admin's own URL); it changes it only with a token of that project (403 saying so, no trust made).
    const rootToken = token(root, ADMIN);
    const shown = await as(rootToken, "GET", `/v2/${ADMIN}/vclusters/${id}`);
    expect(shown.status).toBe(200);
    expect(shown.body.vcluster).toMatchObject({ id, tenant_id: A, name: "alpha-db", status: "ACTIVE" });
    expect(shown.body.vcluster.links).toEqual([{ rel: "self", href: `${server.url}/v2/${ADMIN}/vclusters/${id}` }]);
    expect((await as(rootToken, "GET", `/v2/${A}/vclusters/${id}`)).status).toBe(400);
    const trustsBefore = ks.trustsMade.length;
    for (const [method, body] of [
      ["PUT", blueprintNamed("alpha-db")],
      ["DELETE", undefined],
    ] as const) {
      const r = await as(rootToken, method, `/v2/${ADMIN}/vclusters/${id}`, body);
      expect(r.status).toBe(403);
      expect(r.body.forbidden.message).toBe(
        `cluster "alpha-db" belongs to project ${A}: it is changed only with a token of that project, whose trust its work acts through; hint: use a token scoped to project ${A}`,
      );
    }
    expect(ks.trustsMade.length).toBe(trustsBefore);
    expect((await as(ta, "GET", `/v2/${A}/vclusters/${id}`)).body.vcluster.operation.action).toBe("create");
    // Not an admin: another project's cluster is not found, by id as in the list.
    expect((await as(tb, "GET", `/v2/${B}/vclusters/${id}`)).status).toBe(404);

    // Delete: a new trust, deleted at the end; then 404.
    const deleted = await as(ta, "DELETE", `/v2/${A}/vclusters/${id}`);
    expect(deleted.status).toBe(202);
    const deleteTrust = ks.trustsMade.at(-1)?.id as string;
    expect(deleteTrust).not.toBe(trust);
    await until(ta, A, id, ["gone"]);
    for (let i = 0; i < 100 && !ks.trustsDeleted.includes(deleteTrust); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(ks.trustsDeleted).toContain(deleteTrust);
    expect(ks.trusts.size).toBe(0);
    // The backends acting through those trusts are closed.
    expect(server.logs.join("\n")).not.toMatch(/could not be deleted/);
  });

  it("the work outlives the caller's token: revoked right after the 202, the create still finishes", async () => {
    const t = token(alice, A);
    let open: () => void = () => {};
    gate = new Promise<void>((r) => {
      open = r;
    });
    const created = await as(t, "POST", `/v2/${A}/vclusters`, blueprintNamed("outlives"));
    expect(created.status).toBe(202);
    ks.revoke(t);
    open();
    gate = undefined;
    const fresh = token(alice, A);
    const done = await until(fresh, A, created.body.vcluster.id, ["ACTIVE", "ERROR"]);
    expect(done.body.vcluster.status).toBe("ACTIVE");
    expect((await as(fresh, "DELETE", `/v2/${A}/vclusters/${created.body.vcluster.id}`)).status).toBe(202);
    await until(fresh, A, created.body.vcluster.id, ["gone"]);
  });

  it("a trust that can't be used when the work runs (trustor lost its role): ERROR saying so, with the fix", async () => {
    const t = token(alice, A);
    let open: () => void = () => {};
    gate = new Promise<void>((r) => {
      open = r;
    });
    const created = await as(t, "POST", `/v2/${A}/vclusters`, blueprintNamed("role-lost"));
    expect(created.status).toBe(202);
    const trust = ks.trustsMade.at(-1)?.id as string;
    ks.revokeRoles(alice.id, A);
    open();
    gate = undefined;
    try {
      const failed = await until(t, A, created.body.vcluster.id, ["ACTIVE", "ERROR"]);
      expect(failed.body.vcluster.status).toBe("ERROR");
      expect(failed.body.vcluster.fault.message).toMatch(
        new RegExp(
          `^this service can no longer act for project "${A}" through trust ${trust}: Keystone refused it .*: the trust expired or was deleted, or its trustor lost a role in the project or was deleted; hint: repeat the request \\(PUT the same spec, or DELETE\\) with a valid token: it makes a new trust$`,
        ),
      );
    } finally {
      ks.grant(alice.id, A, ["member", "reader"]);
    }
    // The service can't delete a trust it can't use (only the trustor or an admin can): it says so, names
    // the fix, and tries again at its next start.
    const warned = new RegExp(`Keystone trust ${trust} could not be deleted .*openstack trust delete ${trust}`);
    for (let i = 0; i < 100 && !server.logs.some((l) => warned.test(l)); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(server.logs).toContainEqual(expect.stringMatching(warned));
    ks.trusts.delete(trust);
    const fresh = token(alice, A);
    expect((await as(fresh, "DELETE", `/v2/${A}/vclusters/${created.body.vcluster.id}`)).status).toBe(202);
    await until(fresh, A, created.body.vcluster.id, ["gone"]);
  });

  it("Keystone's policy forbids trusts: a 403 naming the fix, and nothing recorded", async () => {
    ks.forbidTrusts = true;
    try {
      const t = token(alice, A);
      const r = await as(t, "POST", `/v2/${A}/vclusters`, blueprintNamed("no-trust"));
      expect(r.status).toBe(403);
      expect(r.body.forbidden.message).toMatch(
        /^Keystone refused to let user "alice" delegate to this service \(keystone: POST \/v3\/OS-TRUST\/trusts answered 403: You are not authorized to perform the requested action: identity:create_trust\.\).*hint: the cloud's Keystone policy must let users create trusts of their own \(identity:create_trust/,
      );
      expect(
        (await as(t, "GET", `/v2/${A}/vclusters`)).body.vclusters.map((c: { name: string }) => c.name),
      ).not.toContain("no-trust");
    } finally {
      ks.forbidTrusts = false;
    }
  });

  it("a token that came from a trust, or a restricted application credential, can't delegate: 403 with the hint", async () => {
    const fromTrust = token(alice, A, { trustId: "t1" });
    ks.trusts.set("t1", {
      id: "t1",
      trustorUserId: alice.id,
      trusteeUserId: bob.id,
      projectId: A,
      roles: ["member"],
      impersonation: true,
    });
    try {
      const r = await as(fromTrust, "POST", `/v2/${A}/vclusters`, blueprintNamed("redelegate"));
      expect(r.status).toBe(403);
      expect(r.body.forbidden.message).toMatch(
        /obtained through a Keystone trust.*hint: send a token of the user itself/,
      );
    } finally {
      ks.trusts.delete("t1");
    }
    const appCred = token(alice, A, {
      methods: ["application_credential"],
      applicationCredential: { id: "ac", restricted: true },
    });
    const r = await as(appCred, "POST", `/v2/${A}/vclusters`, blueprintNamed("appcred"));
    expect(r.status).toBe(403);
    expect(r.body.forbidden.message).toMatch(/restricted application credential.*--unrestricted/);
  });

  it("a dry run reads the cloud with the caller's own token, and makes no trust", async () => {
    const before = { trusts: ks.trustsMade.length, token: opened.token };
    const r = await as(token(alice, A), "POST", `/v2/${A}/vclusters/dry-run`, blueprintNamed("dry"));
    expect(r.status).toBe(200);
    expect(r.body.dry_run).toMatchObject({ name: "dry", placeable: true });
    expect(ks.trustsMade.length).toBe(before.trusts);
    expect(opened.token - before.token).toBe(1);
  });

  it("a bad body is a 400 before any trust is made", async () => {
    const before = ks.trustsMade.length;
    const r = await as(token(alice, A), "POST", `/v2/${A}/vclusters`, { vcluster: { name: "x", instances: "nope" } });
    expect(r.status).toBe(400);
    expect(ks.trustsMade.length).toBe(before);
  });
});

describe("the service's own credentials", () => {
  it("a service user Keystone won't let validate tokens: 500 for the caller, the fix in the log", async () => {
    const weak = ks.addUser("weak");
    ks.grant(weak.id, [...ks.projects.values()].find((p) => p.name === "service")?.id as string, ["member"]);
    const s = await serveKeystone(weak);
    try {
      const r = await fetch(`${s.url}/v2/${A}/vclusters`, { headers: { "x-auth-token": token(alice, A) } });
      expect(r.status).toBe(500);
      expect(await r.json()).toEqual({
        computeFault: { code: 500, message: "this service can't validate tokens at Keystone: its log says why" },
      });
      expect(s.logs).toContainEqual(
        expect.stringMatching(/may not validate tokens .*hint: give it the role "service" in its project/),
      );
    } finally {
      await s.close();
      server.logs.push(...s.logs);
    }
  });

  it("a wrong service password: the server doesn't start, saying whose", async () => {
    await expect(serveKeystone({ ...service, password: "wrong" })).rejects.toThrow(
      /^keystone: the service user "vcluster" can't authenticate at http:\/\/127\.0\.0\.1:\d+\/v3 \(401: The request you have made requires authentication\.\); hint: check the service's credentials$/,
    );
  });
});
