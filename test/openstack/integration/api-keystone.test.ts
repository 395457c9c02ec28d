// The REST service against the dev cloud's real Keystone: `serve` (not --noauth) with a service user of
// its own (role "service" in project service, as Nova's), the demo user's token creating the
// blueprint's small cluster (2 servers apart + a volume attached to one) through a trust, in project
// demo, owned by demo; a token revoked mid-create doesn't strand it; another project can't see, change
// or delete it; a bad token is a 401; the delete ends with nothing left and no trust left; and no token
// or password anywhere in the service's log.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../../provider/api";
import { TAG_CLUSTER } from "../../../provider/backends/backend";
import type { OpenStackBackend } from "../../../provider/backends/openstack/openstack-backend";
import { connectDevcloud, DEVCLOUD, devcloudPassword, devcloudSession, requireDevcloud } from "../../support/devcloud";

const RUN = randomBytes(3).toString("hex");
const SERVICE_USER = "vcluster-api";
const OTHER = "vcluster-api-other";

let authUrl = "";
let adminToken = "";
let server: RunningServer | undefined;
const logs: string[] = [];
/** Every token and password of this file: none may appear in the service's log. */
const secrets: string[] = [];
let member: OpenStackBackend | undefined;
let dir = "";
let demoProject = "";
let demoUser = "";
let adminProject = "";
let otherProject = "";
let serviceUserId = "";
let servicePassword = "";
let otherPassword = "";
let clusterId = "";

async function keystone(method: string, route: string, token: string, body?: unknown): Promise<Response> {
  return fetch(`${authUrl}${route}`, {
    method,
    headers: { "x-auth-token": token, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** A project-scoped token of a user (domain Default), and what it says. */
interface TokenBody {
  token: { project: { id: string }; user: { id: string } };
}

interface TrustRow {
  id: string;
  trustor_user_id: string;
  trustee_user_id: string;
  project_id: string;
  impersonation: boolean;
}

/** The trusts whose trustee is the service user and trustor the demo user. */
async function demoTrusts(): Promise<TrustRow[]> {
  const r = await keystone("GET", `/OS-TRUST/trusts?trustee_user_id=${serviceUserId}`, adminToken);
  return ((await r.json()) as { trusts: TrustRow[] }).trusts.filter((t) => t.trustor_user_id === demoUser);
}

/** The demo user's trusts to the service made since `before`, once they are gone (or after 10 s). */
async function trustsLeft(before: Set<string>): Promise<TrustRow[]> {
  let left: TrustRow[] = [];
  for (let i = 0; i < 50; i++) {
    left = (await demoTrusts()).filter((t) => !before.has(t.id));
    if (left.length === 0) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  return left;
}

async function issue(user: string, password: string, project: string): Promise<{ token: string; body: TokenBody }> {
  const res = await fetch(`${authUrl}/auth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      auth: {
        identity: { methods: ["password"], password: { user: { name: user, domain: { id: "default" }, password } } },
        scope: { project: { name: project, domain: { id: "default" } } },
      },
    }),
  });
  if (res.status !== 201) throw new Error(`keystone refused a token for ${user} in ${project}: ${res.status}`);
  const token = res.headers.get("x-subject-token") as string;
  secrets.push(token);
  return { token, body: (await res.json()) as TokenBody };
}

async function idOf(kind: "projects" | "users" | "roles", name: string): Promise<string | undefined> {
  const res = await keystone("GET", `/${kind}?name=${encodeURIComponent(name)}`, adminToken);
  return ((await res.json()) as Record<string, { id: string }[]>)[kind]?.[0]?.id;
}

/** A user (password set now) with `role` in `project`, both made if missing. */
async function ensureUser(name: string, password: string, project: string, role: string): Promise<string> {
  let projectId = await idOf("projects", project);
  if (!projectId) {
    const made = await keystone("POST", "/projects", adminToken, { project: { name: project, domain_id: "default" } });
    projectId = ((await made.json()) as { project: { id: string } }).project.id;
  }
  let userId = await idOf("users", name);
  if (userId) await keystone("PATCH", `/users/${userId}`, adminToken, { user: { password } });
  else {
    const made = await keystone("POST", "/users", adminToken, { user: { name, domain_id: "default", password } });
    userId = ((await made.json()) as { user: { id: string } }).user.id;
  }
  const roleId = await idOf("roles", role);
  const granted = await keystone("PUT", `/projects/${projectId}/users/${userId}/roles/${roleId}`, adminToken);
  if (granted.status >= 300) throw new Error(`granting ${role} to ${name} answered ${granted.status}`);
  return userId;
}

async function call(token: string | undefined, method: string, route: string, body?: unknown) {
  const res = await fetch(`${server?.url}${route}`, {
    method,
    headers: {
      ...(token !== undefined ? { "x-auth-token": token } : {}),
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, text, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

async function until(token: string, id: string, want: string[], ms = 240_000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await call(token, "GET", `/v2/${demoProject}/vclusters/${id}`);
    const status = r.status === 404 ? "gone" : r.body?.vcluster?.status;
    if (want.includes(status)) return r;
    if (Date.now() > end) throw new Error(`cluster ${id} is still ${status}: ${r.text}`);
    await new Promise((res) => setTimeout(res, 1000));
  }
}

const spec = (name: string) => ({
  vcluster: {
    name,
    instances: [
      { name: "db-1", type: "server", spec: { imageRef: DEVCLOUD.image, flavorRef: DEVCLOUD.flavor } },
      { name: "db-2", type: "server", spec: { imageRef: DEVCLOUD.image, flavorRef: DEVCLOUD.flavor } },
      { name: "db-1-data", type: "block-storage", spec: { size: 1, attachTo: "db-1" } },
    ],
    groupings: [{ name: "apart", membersRef: ["db-1", "db-2"], spec: { rule: "anti-affinity" } }],
  },
});

beforeAll(async () => {
  const clouds = await requireDevcloud();
  authUrl = (/auth_url:\s*(\S+)/.exec(fs.readFileSync(clouds, "utf8"))?.[1] ?? "").replace(/\/+$/, "");
  secrets.push(devcloudPassword("admin"), devcloudPassword("member"));
  const admin = await issue("admin", devcloudPassword("admin"), "admin");
  adminToken = admin.token;
  adminProject = admin.body.token.project.id;
  // The service's own user, as a deployment has one: role "service" in project service, no admin.
  servicePassword = randomBytes(18).toString("hex");
  otherPassword = randomBytes(18).toString("hex");
  secrets.push(servicePassword, otherPassword);
  serviceUserId = await ensureUser(SERVICE_USER, servicePassword, "service", "service");
  await ensureUser(OTHER, otherPassword, OTHER, "member");
  otherProject = (await idOf("projects", OTHER)) as string;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcluster-api-ks-"));
  const cloudsFile = path.join(dir, "clouds.yaml");
  fs.writeFileSync(
    cloudsFile,
    `clouds:\n  vcluster-service:\n    auth:\n      auth_url: ${authUrl}\n      username: ${SERVICE_USER}\n      password: ${servicePassword}\n      project_name: service\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n    interface: public\n    vcluster_networks: none\n`,
  );
  server = await startServer({
    noauth: false,
    port: 0,
    db: path.join(dir, "api.db"),
    cwd: dir,
    env: { ...process.env, OS_CLIENT_CONFIG_FILE: cloudsFile, OS_CLOUD: "vcluster-service" },
    log: (level, message) => logs.push(`${level}: ${message}`),
    timeouts: { serverMs: 180_000, volumeMs: 180_000, deleteMs: 180_000 },
  });
  member = await connectDevcloud("member");
});

afterAll(async () => {
  try {
    // A failed run leaves nothing behind: the cluster through the API, else by its tag.
    if (clusterId && server) {
      const { token } = await issue("demo", devcloudPassword("member"), "demo");
      const r = await call(token, "DELETE", `/v2/${demoProject}/vclusters/${clusterId}`);
      if (r.status === 202) await until(token, clusterId, ["gone", "ERROR"]).catch(() => {});
    }
    await server?.close();
    if (member && clusterId) {
      const tag = { [TAG_CLUSTER]: clusterId };
      for (const s of await member.findServers(tag)) await member.deleteServer(s.id).catch(() => {});
    }
    await member?.close();
    // The other project and its user go; the service user stays (a later run resets its password).
    if (adminToken) {
      const otherUser = await idOf("users", OTHER);
      if (otherUser) await keystone("DELETE", `/users/${otherUser}`, adminToken);
      if (otherProject) await keystone("DELETE", `/projects/${otherProject}`, adminToken);
    }
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe("the REST service on the dev cloud's real Keystone", () => {
  it("POST as demo -> ACTIVE in project demo, owned by demo -> isolated -> DELETE -> 404; no token in the log", async () => {
    expect(logs).toContainEqual(
      expect.stringMatching(/Keystone at .*: tokens validated by service user "vcluster-api" and cached up to 60 s/),
    );
    const demo = await issue("demo", devcloudPassword("member"), "demo");
    demoProject = demo.body.token.project.id;
    demoUser = demo.body.token.user.id;

    // No token, a bad one: 401 in Nova's shape.
    expect((await call(undefined, "GET", `/v2/${demoProject}/vclusters`)).status).toBe(401);
    const forged = `gAAAAAB${randomBytes(120).toString("base64url")}`;
    secrets.push(forged);
    const bad = await call(forged, "GET", `/v2/${demoProject}/vclusters`);
    expect(bad.status).toBe(401);
    expect(bad.body.unauthorized.code).toBe(401);
    expect(bad.headers.get("www-authenticate")).toBe(`Keystone uri="${authUrl.replace(/\/v3$/, "")}"`);

    // A dry run reads the cloud as demo (delegated: a member), with a token made from demo's own; no trust.
    const trustsBefore = (await demoTrusts()).length;
    const dry = await call(demo.token, "POST", `/v2/${demoProject}/vclusters/dry-run`, spec("dry"));
    expect(dry.status).toBe(200);
    expect(dry.body.dry_run).toMatchObject({ name: "dry", placeable: true, mode: "delegated" });
    expect((await demoTrusts()).length).toBe(trustsBefore);

    // Create with demo's token: 202, then the token is revoked at once; the work goes on through the trust.
    const name = `api-ks-${RUN}`;
    const before = new Set((await demoTrusts()).map((t) => t.id));
    const t0 = Date.now();
    const created = await call(demo.token, "POST", `/v2/${demoProject}/vclusters`, spec(name));
    const acceptedMs = Date.now() - t0;
    expect(created.status).toBe(202);
    clusterId = created.body.vcluster.id;
    expect(created.headers.get("location")).toBe(`${server?.url}/v2/${demoProject}/vclusters/${clusterId}`);
    const revoked = await fetch(`${authUrl}/auth/tokens`, {
      method: "DELETE",
      headers: { "x-auth-token": demo.token, "x-subject-token": demo.token },
    });
    expect(revoked.status).toBe(204);
    const mine = (await demoTrusts()).filter((t) => !before.has(t.id));
    expect(mine).toEqual([
      expect.objectContaining({ project_id: demoProject, impersonation: true, trustee_user_id: serviceUserId }),
    ]);

    const fresh = await issue("demo", devcloudPassword("member"), "demo");
    const t1 = Date.now();
    const active = await until(fresh.token, clusterId, ["ACTIVE", "ERROR"]);
    const buildMs = Date.now() - t1;
    expect(active.body.vcluster.fault ?? null).toBeNull();
    expect(active.body.vcluster.status).toBe("ACTIVE");
    const members = active.body.vcluster.members as { name: string; type: string; id: string; host_id?: string }[];
    const servers = members.filter((m) => m.type === "server");
    expect(servers.map((m) => m.name).sort()).toEqual(["db-1", "db-2"]);
    expect(servers[0]?.host_id).not.toBe(servers[1]?.host_id);

    // The servers are in project demo and belong to the demo user (the trust impersonates it).
    const nova = devcloudSession("admin");
    try {
      for (const s of servers) {
        const r = await nova.request("compute", { method: "GET", path: `/servers/${s.id}` });
        const got = (r.json as { server: { tenant_id: string; user_id: string; metadata: Record<string, string> } })
          .server;
        expect({ tenant: got.tenant_id, user: got.user_id }).toEqual({ tenant: demoProject, user: demoUser });
        expect(got.metadata[TAG_CLUSTER]).toBe(clusterId);
      }
      const volume = members.find((m) => m.type === "volume");
      expect(volume?.id).toBeTruthy();
    } finally {
      await nova.close();
    }
    // The create's trust is gone with it (the work's last step, just after the record says ACTIVE).
    expect(await trustsLeft(before)).toEqual([]);

    // Another project: 404 for it everywhere, its token on demo's URL is a 400, its list is empty.
    const other = await issue(OTHER, otherPassword, OTHER);
    for (const [method, body] of [
      ["GET", undefined],
      ["PUT", spec("stolen")],
      ["DELETE", undefined],
    ] as const) {
      expect((await call(other.token, method, `/v2/${otherProject}/vclusters/${clusterId}`, body)).status).toBe(404);
      expect((await call(other.token, method, `/v2/${demoProject}/vclusters/${clusterId}`, body)).status).toBe(400);
    }
    expect((await call(other.token, "GET", `/v2/${otherProject}/vclusters`)).body.vclusters).toEqual([]);
    // The admin lists every project's with all_tenants=1.
    const all = await call(adminToken, "GET", `/v2/${adminProject}/vclusters?all_tenants=1`);
    expect(all.body.vclusters).toContainEqual(expect.objectContaining({ id: clusterId, tenant_id: demoProject }));
    // And shows it by its id on its own URL, as Nova shows an admin any server; others get a 404.
    const shown = await call(adminToken, "GET", `/v2/${adminProject}/vclusters/${clusterId}`);
    expect(shown.status).toBe(200);
    expect(shown.body.vcluster).toMatchObject({ id: clusterId, tenant_id: demoProject, status: "ACTIVE" });
    expect((await call(other.token, "GET", `/v2/${otherProject}/vclusters/${clusterId}`)).status).toBe(404);

    // Delete: 202, then 404, nothing left under the cluster's tag, no trust left.
    const t2 = Date.now();
    expect((await call(fresh.token, "DELETE", `/v2/${demoProject}/vclusters/${clusterId}`)).status).toBe(202);
    await until(fresh.token, clusterId, ["gone"]);
    const deleteMs = Date.now() - t2;
    expect((await call(fresh.token, "GET", `/v2/${demoProject}/vclusters/${clusterId}`)).status).toBe(404);
    const tag = { [TAG_CLUSTER]: clusterId };
    const left = [
      ...(await (member as OpenStackBackend).findServers(tag)),
      ...(await (member as OpenStackBackend).findVolumes(tag)),
      ...(await (member as OpenStackBackend).findServerGroups(tag)),
    ];
    expect(left).toEqual([]);
    expect(await trustsLeft(before)).toEqual([]);
    clusterId = "";

    // No token or password, whole or a piece of one, in the service's log.
    const said = logs.join("\n");
    for (const s of secrets) {
      for (const form of [s, s.slice(0, 16), s.slice(-16), encodeURIComponent(s), Buffer.from(s).toString("base64")]) {
        expect(said).not.toContain(form);
      }
    }
    console.log(
      `api on real Keystone: create accepted in ${acceptedMs} ms (token validation + trust), ACTIVE after ${buildMs} ms, deleted in ${deleteMs} ms`,
    );
  });
});
