// Operations in the background: one at a time per cluster (409 for a second), many clusters at
// once, an update with the semantics of `pulumi up`, a lost race for a spot placed again, and a
// close() that lets running work finish.
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedCloud } from "../../provider/backends/simulated";
import {
  blueprintNamed,
  call,
  makeCloud,
  onCloud,
  removeTempDirs,
  serve,
  serveOnTempCloud,
  specFile,
  type TestServer,
  tempDir,
  waitFor,
} from "../support/api";

let server: TestServer;
let cloud: SimulatedCloud;

beforeAll(async () => {
  ({ server, cloud } = await serveOnTempCloud());
});

afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

const BASE = "/v2/tenant-o/vclusters";

/** Use case 1 plus a third server, whose build the cloud is told to make slow. */
function withThirdServer(name: string): Record<string, unknown> {
  const body = JSON.parse(specFile("blueprint-usecase-1.json")) as {
    vcluster: { name: string; instances: unknown[] };
  };
  body.vcluster.name = name;
  body.vcluster.instances.push({
    name: "db-server-3",
    type: "server",
    spec: { imageRef: "cirros", flavorRef: "m1.small" },
  });
  return body;
}

describe("one operation at a time per cluster", () => {
  it("a second PUT while one runs is a 409; DELETE too; the first one finishes as pulumi up would", async () => {
    const created = await call(server.url, "POST", BASE, blueprintNamed("busy"));
    const id = created.body.vcluster.id;
    const before = (await waitFor(server.url, "tenant-o", id, ["ACTIVE"])).body.vcluster;
    const server1 = before.members.find((m: { name: string }) => m.name === "db-server-1");

    await cloud.injectFault({ kind: "slow", member: "db-server-3", ms: 1500 });
    const [a, b] = await Promise.all([
      call(server.url, "PUT", `${BASE}/${id}`, withThirdServer("busy")),
      call(server.url, "PUT", `${BASE}/${id}`, withThirdServer("busy")),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([202, 409]);
    const [accepted, refused] = a.status === 202 ? [a, b] : [b, a];
    expect(accepted.body.vcluster).toMatchObject({
      status: "BUILD",
      operation: { action: "update", status: "running" },
    });
    expect(refused.body.conflictingRequest.code).toBe(409);
    expect(refused.body.conflictingRequest.message).toMatch(
      /^cluster "busy" is busy: its update \(operation [0-9a-f-]{36}, request req-[0-9a-f-]{36}\) is still running; hint: wait until its status is ACTIVE or ERROR, then retry$/,
    );
    const del = await call(server.url, "DELETE", `${BASE}/${id}`);
    expect(del.status).toBe(409);

    const after = (await waitFor(server.url, "tenant-o", id, ["ACTIVE", "ERROR"])).body.vcluster;
    expect(after.status).toBe("ACTIVE");
    expect(after.operation).toMatchObject({ action: "update", status: "succeeded" });
    expect(after.members.map((m: { name: string }) => m.name)).toEqual(["db-server-1", "db-server-3", "db-vol-1"]);
    // The member that was there stays what and where it was.
    expect(after.members.find((m: { name: string }) => m.name === "db-server-1")).toEqual(server1);
    expect((await onCloud(cloud, id)).servers).toEqual(["db-server-1", "db-server-3"]);

    // A rename is a record change only: the cloud's objects are named by the id.
    const renamed = await call(server.url, "PUT", `${BASE}/${id}`, withThirdServer("busy-renamed"));
    expect(renamed.status).toBe(202);
    const done = (await waitFor(server.url, "tenant-o", id, ["ACTIVE", "ERROR"])).body.vcluster;
    expect(done).toMatchObject({ name: "busy-renamed", status: "ACTIVE" });
    expect(done.members.find((m: { name: string }) => m.name === "db-server-1")).toEqual(server1);

    expect((await call(server.url, "DELETE", `${BASE}/${id}`)).status).toBe(202);
    await waitFor(server.url, "tenant-o", id, ["gone"]);
  });
});

describe("many clusters", () => {
  it("run in parallel, each with its own objects", async () => {
    const n = 8;
    const created = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        call(server.url, "POST", BASE, specFile("blueprint-usecase-2.json").replace("new-virtual-cluster", `par-${i}`)),
      ),
    );
    expect(created.map((r) => r.status)).toEqual(Array(n).fill(202));
    const ids = created.map((r) => r.body.vcluster.id as string);
    for (const id of ids) {
      const vc = (await waitFor(server.url, "tenant-o", id, ["ACTIVE", "ERROR"])).body.vcluster;
      expect(vc.fault, vc.name).toBeUndefined();
      expect(vc.status).toBe("ACTIVE");
      expect(await onCloud(cloud, id)).toMatchObject({
        servers: ["db-server-1", "db-server-2"],
        volumes: ["db-vol-1", "db-vol-2"],
      });
    }
    await Promise.all(ids.map((id) => call(server.url, "DELETE", `${BASE}/${id}`)));
    for (const id of ids) await waitFor(server.url, "tenant-o", id, ["gone"]);
  });

  it("a spot another change took first is placed again, and the cluster is built", async () => {
    await cloud.injectFault({
      kind: "server-error",
      member: "db-server-1",
      fault: 'No valid host was found. Host "az1-r1-h1" lacks vCPUs (need 4, free 0).',
    });
    const created = await call(server.url, "POST", BASE, blueprintNamed("raced"));
    const id = created.body.vcluster.id;
    const vc = (await waitFor(server.url, "tenant-o", id, ["ACTIVE", "ERROR"])).body.vcluster;
    expect(vc.fault).toBeUndefined();
    expect(vc.status).toBe("ACTIVE");
    expect(vc.operation).toMatchObject({ action: "create", status: "succeeded" });
    expect(server.logs.join("\n")).not.toContain(`(${id}): create failed`);
    expect(await onCloud(cloud, id)).toMatchObject({ servers: ["db-server-1"], volumes: ["db-vol-1"] });
    await call(server.url, "DELETE", `${BASE}/${id}`);
    await waitFor(server.url, "tenant-o", id, ["gone"]);
  });

  it("a create that fails for good is ERROR with the cause, and leaves nothing on the cloud", async () => {
    await cloud.injectFault({
      kind: "server-error",
      member: "db-server-1",
      fault: "Build of instance aborted: disk full.",
      times: 1,
    });
    const created = await call(server.url, "POST", BASE, blueprintNamed("doomed"));
    const id = created.body.vcluster.id;
    const vc = (await waitFor(server.url, "tenant-o", id, ["ACTIVE", "ERROR"])).body.vcluster;
    expect(vc.status).toBe("ERROR");
    expect(vc.fault).toMatchObject({
      code: "create_failed",
      message: expect.stringMatching(/^cluster "doomed": create failed and was rolled back: .*disk full/),
    });
    expect(JSON.stringify(vc.fault)).not.toContain(id);
    expect(await onCloud(cloud, id)).toEqual({ servers: [], volumes: [], groups: 0 });
    // An ERROR cluster can be deleted like any other.
    expect((await call(server.url, "DELETE", `${BASE}/${id}`)).status).toBe(202);
    await waitFor(server.url, "tenant-o", id, ["gone"]);
  });
});

describe("close()", () => {
  it("stops accepting, lets a running create finish, and closes the database", async () => {
    const dir = tempDir();
    const sim = path.join(dir, "sim");
    const own = await makeCloud(sim, [{ kind: "slow", member: "db-server-1", ms: 800 }]);
    const where = { simDir: sim, db: path.join(dir, "api.db") };
    const first = await serve(where);
    const created = await call(first.url, "POST", "/v2/t/vclusters", blueprintNamed("closing"));
    const id = created.body.vcluster.id;
    await first.close();
    await expect(fetch(`${first.url}/v2`)).rejects.toThrow();
    expect(first.logs.join("\n")).toContain("waiting up to 10 s for 1 operation(s) to finish");

    // The next server finds it finished: nothing to resume.
    const second = await serve(where);
    try {
      const vc = (await call(second.url, "GET", `/v2/t/vclusters/${id}`)).body.vcluster;
      expect(vc).toMatchObject({ status: "ACTIVE", operation: { action: "create", status: "succeeded" } });
      expect(second.logs.join("\n")).not.toContain("resuming");
      expect(await onCloud(own, id)).toMatchObject({ servers: ["db-server-1"], volumes: ["db-vol-1"] });
    } finally {
      await second.close();
    }
  });

  it("one server per database file", async () => {
    await expect(serve({ simDir: server.simDir, db: server.db })).rejects.toThrow(
      /is in use by another openstack-vcluster serve \(pid \d+/,
    );
  });
});
