// A server killed mid-create (SIGKILL: no close, no cleanup) and a new one started on the same
// database and cloud: the new one resumes the create, adopts what the killed one made (tagged with
// the cluster's id), builds the rest, and duplicates nothing.
//
// The killed server runs in a process of its own: test/api/child-server.ts, bundled to one
// CommonJS file with rolldown (which vitest already brings, through vite) so plain `node` runs it.
import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TAG_CLUSTER, TAG_MEMBER } from "../../provider/backends/backend";
import type { SimulatedCloud } from "../../provider/backends/simulated";
import { call, makeCloud, onCloud, removeTempDirs, serve, specFile, tempDir, waitFor } from "../support/api";
import { REPO } from "../support/build";

let bundle: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  bundle = path.join(tempDir(), "child-server.cjs");
  const { build } = await import("rolldown");
  await build({
    input: path.join(__dirname, "child-server.ts"),
    platform: "node",
    // Packages stay packages (found through NODE_PATH); the repository's own sources are bundled.
    external: (id: string) => /^[^./]/.test(id) && !id.startsWith("pulumi-openstack-vcluster"),
    resolve: { alias: { "pulumi-openstack-vcluster/package.json": path.join(REPO, "package.json") } },
    output: { format: "cjs", file: bundle },
    logLevel: "silent",
  });
});

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  removeTempDirs();
});

/** Starts the bundled server in a child process; resolves with its URL once it listens. */
function spawnServer(db: string, simDir: string): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [bundle, db, simDir], {
    env: { ...process.env, NODE_PATH: path.join(REPO, "node_modules"), NODE_NO_WARNINGS: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let err = "";
  child.stderr?.on("data", (d) => {
    err += String(d);
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d) => {
      out += String(d);
      const line = out.split("\n")[0];
      if (out.includes("\n") && line)
        resolve({ child, url: (JSON.parse(line) as { url: string }).url, stderr: () => err });
    });
    child.on("exit", (code) => reject(new Error(`child server exited (${code}): ${err}`)));
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("a server killed mid-create", () => {
  it("is resumed by the next one, which finishes the cluster without duplicates", async () => {
    const dir = tempDir();
    const where = { simDir: path.join(dir, "sim"), db: path.join(dir, "api.db") };
    // db-server-2 builds slowly: the kill lands while it is in BUILD.
    const cloud: SimulatedCloud = await makeCloud(where.simDir, [{ kind: "slow", member: "db-server-2", ms: 2500 }]);

    const first = await spawnServer(where.db, where.simDir);
    const created = await call(first.url, "POST", "/v2/tenant-r/vclusters", specFile("blueprint-usecase-2.json"));
    expect(created.status).toBe(202);
    const id: string = created.body.vcluster.id;
    await until("db-server-2 to be building", async () =>
      (await cloud.snapshot()).servers.some(
        (s) => s.metadata[TAG_CLUSTER] === id && s.metadata[TAG_MEMBER] === "db-server-2" && s.status === "BUILD",
      ),
    );
    const exited = new Promise((r) => first.child.once("exit", r));
    first.child.kill("SIGKILL");
    await exited;
    const leftBehind = await cloud.snapshot();
    expect(leftBehind.servers.filter((s) => s.metadata[TAG_CLUSTER] === id).length).toBeGreaterThanOrEqual(1);

    const second = await serve(where);
    try {
      expect(second.logs.join("\n")).toContain(
        `cluster "new-virtual-cluster" (${id}): resuming its create, left running by a server that stopped`,
      );
      const vc = (await waitFor(second.url, "tenant-r", id, ["ACTIVE", "ERROR"])).body.vcluster;
      expect(vc.fault).toBeUndefined();
      expect(vc).toMatchObject({ status: "ACTIVE", operation: { action: "create", status: "succeeded" } });
      expect(vc.members.map((m: { name: string }) => m.name)).toEqual([
        "db-server-1",
        "db-server-2",
        "db-vol-1",
        "db-vol-2",
      ]);
      // Nothing twice: each member exists once, and each was created once.
      expect(await onCloud(cloud, id)).toMatchObject({
        servers: ["db-server-1", "db-server-2"],
        volumes: ["db-vol-1", "db-vol-2"],
      });
      const snap = await cloud.snapshot();
      expect(snap.calls.createServer).toBe(2);
      expect(snap.calls.createVolume).toBe(2);
      // The killed server's lock on the cluster was taken over, not waited out.
      expect(second.logs.join("\n")).toContain(
        `cluster "new-virtual-cluster": took over the lock of a run that ended without releasing it (pid ${first.child.pid}, "openstack-vcluster serve: create"`,
      );

      expect((await call(second.url, "DELETE", `/v2/tenant-r/vclusters/${id}`)).status).toBe(202);
      await waitFor(second.url, "tenant-r", id, ["gone"]);
      expect(await onCloud(cloud, id)).toEqual({ servers: [], volumes: [], groups: 0 });
    } finally {
      await second.close();
    }
  }, 30_000);
});
