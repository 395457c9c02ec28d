// The service's structured log (provider/api/log.ts) as an operator's collector reads it: one JSON
// line per request (time, request id, method, route template, status, duration, project, cluster)
// and per operation event, with Keystone (a fake one on a real socket) so that real tokens, the
// service user's password and trust-scoped tokens exist, and none of them reaches a line, in any
// encoding, whatever the caller puts where (header, query string, path, body).
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../../provider/api";
import { logLines } from "../../provider/api/log";
import { blueprintNamed, call, makeCloud, type Reply, removeTempDirs, tempDir } from "../support/api";
import { FakeKeystone, type FakeUser, simulatedOpener } from "../support/fake-keystone";

let ks: FakeKeystone;
let service: FakeUser;
let alice: FakeUser;
let project: string;
let server: Awaited<ReturnType<typeof startServer>>;
const lines: string[] = [];
/** Every token seen in this file (the fake Keystone's, at the end, too). */
const secrets: string[] = [];

beforeAll(async () => {
  ks = await FakeKeystone.start();
  const serviceProject = ks.addProject("service");
  project = ks.addProject("alpha");
  service = ks.addUser("vcluster");
  ks.grant(service.id, serviceProject, ["service"]);
  alice = ks.addUser("alice");
  ks.grant(alice.id, project, ["member"]);
  const dir = tempDir();
  const simDir = path.join(dir, "sim");
  await makeCloud(simDir);
  server = await startServer({
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
      OS_REGION_NAME: "RegionOne",
    },
    cwd: dir,
    log: logLines((line) => lines.push(line), "json"),
    openBackend: simulatedOpener(ks, simDir),
  });
  secrets.push(service.password, alice.password);
});

afterAll(async () => {
  await server?.close();
  secrets.push(...ks.tokens.keys());
  await ks?.stop();
  removeTempDirs();
});

function token(): string {
  const t = ks.issue(alice.id, project);
  secrets.push(t);
  return t;
}

async function until(t: string, id: string, want: string): Promise<Reply> {
  for (let i = 0; i < 400; i++) {
    const r = await call(server.url, "GET", `/v2/${project}/vclusters/${id}`, undefined, { "x-auth-token": t });
    if ((r.status === 404 ? "gone" : r.body?.vcluster?.status) === want) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`cluster ${id} never became ${want}`);
}

const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe("the JSON log", () => {
  it("one line per request and per operation event, with what an operator filters on", async () => {
    const t = token();
    const created = await call(server.url, "POST", `/v2/${project}/vclusters`, blueprintNamed("logged"), {
      "x-auth-token": t,
    });
    expect(created.status).toBe(202);
    const id: string = created.body.vcluster.id;
    await until(t, id, "ACTIVE");
    const del = await call(server.url, "DELETE", `/v2/${project}/vclusters/${id}`, undefined, { "x-auth-token": t });
    await until(t, id, "gone");

    for (const r of records()) {
      expect(Object.keys(r).slice(0, 3)).toEqual(["time", "level", "event"]);
      expect(typeof r.msg).toBe("string");
      expect(Date.parse(r.time as string)).not.toBeNaN();
    }
    const byRequest = (reply: Reply) =>
      records().find((r) => r.event === "request" && r.request_id === reply.headers.get("x-openstack-request-id"));
    expect(byRequest(created)).toMatchObject({
      level: "info",
      method: "POST",
      route: "/v2/:tenant_id/vclusters",
      status: 202,
      project_id: project,
      cluster_id: id,
    });
    expect(byRequest(del)).toMatchObject({
      method: "DELETE",
      route: "/v2/:tenant_id/vclusters/:vcluster_id",
      status: 202,
      project_id: project,
      cluster_id: id,
    });
    expect(typeof byRequest(del)?.duration_ms).toBe("number");
    const ops = records().filter((r) => String(r.event).startsWith("operation.") && r.cluster_id === id);
    expect(ops.map((r) => [r.event, r.action])).toEqual([
      ["operation.started", "create"],
      ["operation.finished", "create"],
      ["operation.started", "delete"],
      ["operation.finished", "delete"],
    ]);
    expect(ops[0]).toMatchObject({ project_id: project, request_id: created.headers.get("x-openstack-request-id") });
    expect(typeof ops[0]?.operation_id).toBe("string");
    expect(typeof ops[0]?.server).toBe("string");
  });

  it("a refused request is logged by its route, without the project it claimed", async () => {
    const forged = `gAAAAAB${"x".repeat(40)}forged`;
    secrets.push(forged);
    const r = await call(server.url, "GET", `/v2/${project}/vclusters`, undefined, { "x-auth-token": forged });
    expect(r.status).toBe(401);
    const line = records().find((x) => x.request_id === r.headers.get("x-openstack-request-id"));
    expect(line).toMatchObject({ event: "request", route: "/v2/:tenant_id/vclusters", status: 401 });
    expect(line?.project_id).toBeUndefined();
  });

  it("no token or password in any line, in any encoding, wherever the caller put it", async () => {
    const t = token();
    const headers = { "x-auth-token": t };
    // In the query string, the path, a body field, and a malformed body.
    await call(server.url, "GET", `/v2/${project}/vclusters?marker=${t}&token=${t}`, undefined, headers);
    await call(server.url, "GET", `/v2/${project}/vclusters/${t}`, undefined, headers);
    await call(server.url, "GET", `/v2/${encodeURIComponent(t)}/vclusters`, undefined, headers);
    await call(server.url, "POST", `/v2/${project}/vclusters`, blueprintNamed("x", { password: t }), headers);
    await call(server.url, "POST", `/v2/${project}/vclusters`, `{"vcluster": ${t}`, headers);
    await call(server.url, "GET", `/nowhere/${t}`, undefined, headers);
    await server.close();
    const said = lines.join("\n");
    secrets.push(...ks.tokens.keys());
    for (const s of secrets) {
      for (const form of [
        s,
        s.slice(0, 16),
        s.slice(-16),
        encodeURIComponent(s),
        Buffer.from(s).toString("base64"),
        Buffer.from(s).toString("base64url"),
      ]) {
        expect(said).not.toContain(form);
      }
    }
  });
});
