// The simulated cloud's database (provider/backends/simulated/database.ts): an earlier release's
// cloud.json migrated on first open, processes creating servers at once losing nothing, a process
// killed in the middle of a call leaving a cloud that opens and adds up, a call's cost in rows
// that does not grow with the cloud, calls made together sharing one commit (one that fails failing
// alone), and the lookups kept beside the rows (usage per host, attachments) agreeing with them.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TAG_MEMBER } from "../../provider/backends/backend";
import { SimulatedCloud } from "../../provider/backends/simulated";
import { CloudDatabase } from "../../provider/backends/simulated/database";
import { sqlite } from "../../provider/model/sqlite";
import type { Host, Topology } from "../../provider/model/topology";
import { ensureBuilt, REPO } from "../support/build";
import { simState } from "../support/sim-state";

const root = mkdtempSync(path.join(tmpdir(), "vcluster-simdb-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});
const tempDir = () => path.join(mkdtempSync(path.join(root, "d-")), "cloud");

// ---- builders ----

function hosts(n: number, vcpus = 64): Host[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `h${i}`,
    zone: `z${i % 2}`,
    rack: `r${i % 4}`,
    vcpus,
    ramMb: vcpus * 4096,
    diskGb: vcpus * 100,
  }));
}

function topology(n = 8, vcpus = 64): Topology {
  return {
    flavors: { one: { vcpus: 1, ramMb: 1024, diskGb: 10 } },
    hosts: hosts(n, vcpus),
    storageBackends: [
      { name: "shared-z0", zone: "z0", capacityGb: 1_000_000 },
      { name: "shared-z1", zone: "z1", capacityGb: 1_000_000 },
    ],
  };
}

const srv = (name: string) => ({ name, imageRef: "cirros", flavorRef: "one", metadata: { [TAG_MEMBER]: name } });

function fakeClock() {
  let t = 1_000_000;
  return {
    now: () => t,
    advance: (ms = 1_000) => {
      t += ms;
    },
  };
}

/** Runs `script` (CommonJS, given the built simulated cloud as `sim`) in a process of its own. */
function child(script: string, args: string[]): ChildProcess {
  const file = path.join(root, `child-${process.pid}-${Math.random().toString(16).slice(2)}.js`);
  const sim = JSON.stringify(path.join(REPO, "dist/provider/backends/simulated/index.js"));
  writeFileSync(file, `const sim = require(${sim});\n${script}`);
  return spawn(process.execPath, [file, ...args], { stdio: ["ignore", "pipe", "pipe"] });
}

function exited(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = "";
  p.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  return new Promise((resolve, reject) => {
    p.on("error", reject);
    p.on("exit", (code, signal) => resolve({ code, signal, stderr }));
  });
}

const CREATE_N = `
(async () => {
  const cloud = await sim.SimulatedCloud.open({ dir: process.argv[2] });
  const n = Number(process.argv[3]);
  const tag = process.argv[4];
  await Promise.all(Array.from({ length: n }, (_, i) =>
    cloud.createServer({ name: tag + "-" + i, imageRef: "cirros", flavorRef: "one", metadata: {} })));
  await cloud.close();
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** Creates servers one after another until killed, printing a line after each. */
const CREATE_FOREVER = `
(async () => {
  const cloud = await sim.SimulatedCloud.open({ dir: process.argv[2] });
  for (let i = 0; ; i++) {
    await cloud.createServer({ name: "k-" + i, imageRef: "cirros", flavorRef: "one", metadata: {} });
    if (i % 3 === 0) await cloud.getServer("none");
    process.stdout.write(i + "\\n");
  }
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe("simulated cloud database: migrating an earlier release's cloud.json", () => {
  it("moves everything into cloud.db on first open, keeps the old file as cloud.json.migrated, and says so once", async () => {
    const clock = fakeClock();
    const source = await SimulatedCloud.open({ dir: tempDir(), topology: topology(), now: clock.now });
    const g = await source.createServerGroup({ name: "apart", policy: "anti-affinity", metadata: {} });
    const a = await source.createServer({ ...srv("a"), serverGroupId: g.id });
    await source.createServer(srv("b"));
    const v = await source.createVolume({ name: "data", sizeGb: 5, zone: "z0", metadata: {} });
    await source.injectFault({ kind: "server-error", member: "later" });
    clock.advance();
    await source.attachVolume(a.id, v.id);
    const before = await source.snapshot();
    await source.close();

    // What an earlier release kept: the whole state as one JSON file.
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "cloud.json"), JSON.stringify(before, null, 1));
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const cloud = await SimulatedCloud.open({ dir, now: clock.now, log });
    expect(lines).toEqual([
      `openstack-vcluster: simulated cloud in "${dir}": moved its state from cloud.json into the database cloud.db; the old file is kept as cloud.json.migrated`,
    ]);
    expect(readdirSync(dir).filter((n) => n.startsWith("cloud."))).toEqual(
      expect.arrayContaining(["cloud.db", "cloud.json.migrated"]),
    );
    expect(existsSync(path.join(dir, "cloud.json"))).toBe(false);
    expect(cloud.cloudId).toBe(before.cloudId);
    clock.advance();
    const after = await cloud.snapshot();
    expect(after.servers.map((s) => [s.name, s.status, s.host])).toEqual(
      before.servers.map((s) => [s.name, "ACTIVE", s.host]),
    );
    expect(after.volumes.map((x) => [x.name, x.attachedTo])).toEqual([["data", [a.id]]]);
    expect(after.serverGroups).toEqual(before.serverGroups);
    expect(after.faults).toEqual(before.faults);
    expect(after.calls).toEqual(before.calls);
    expect(after.topology).toEqual(before.topology);
    // The stored fault plan came along: it fires on the next matching build.
    const later = await cloud.createServer(srv("later"));
    clock.advance();
    expect((await cloud.getServer(later.id))?.status).toBe("ERROR");
    await cloud.close();

    // Opened again (another process would have no connection of its own yet): nothing more to say.
    CloudDatabase.forget(dir);
    const again = await SimulatedCloud.open({ dir, log });
    expect(lines).toHaveLength(1);
    expect((await again.findServers({})).map((s) => s.name)).toEqual(["a", "b", "later"]);
    await again.close();
  });
});

describe("simulated cloud database: several processes", () => {
  it("two processes creating servers at once on one cloud lose no update and oversubscribe no host", {
    timeout: 180_000,
  }, async () => {
    await ensureBuilt();
    const dir = tempDir();
    // 4 hosts x 8 vCPUs: 32 servers fit, 40 are asked for.
    const first = await SimulatedCloud.open({ dir, topology: topology(4, 8) });
    await first.close();
    const runs = ["left", "right"].map((tag) => exited(child(CREATE_N, [dir, "20", tag])));
    for (const r of await Promise.all(runs)) expect(r.code, r.stderr).toBe(0);

    const snap = simState(dir);
    expect(snap.servers).toHaveLength(40);
    expect(snap.calls.createServer).toBe(40);
    for (const tag of ["left", "right"]) {
      expect(snap.servers.filter((s) => s.name.startsWith(`${tag}-`))).toHaveLength(20);
    }
    expect(snap.servers.filter((s) => s.status !== "ERROR")).toHaveLength(32);
    const perHost = new Map<string, number>();
    for (const s of snap.servers) if (s.claim) perHost.set(s.claim.host, (perHost.get(s.claim.host) ?? 0) + 1);
    expect([...perHost.values()]).toEqual([8, 8, 8, 8]);
  });

  it("a process killed (SIGKILL) in the middle of its calls leaves a cloud that opens at once and adds up", {
    timeout: 180_000,
  }, async () => {
    await ensureBuilt();
    const dir = tempDir();
    const setup = await SimulatedCloud.open({ dir, topology: topology(8, 1024) });
    await setup.close();
    for (const round of [1, 2, 3]) {
      const p = child(CREATE_FOREVER, [dir]);
      const done = exited(p);
      // Killed at some point after a few calls: most of its time is spent inside transactions.
      await new Promise<void>((resolve, reject) => {
        let seen = 0;
        p.stdout?.on("data", (d: Buffer) => {
          seen += String(d).split("\n").length - 1;
          if (seen >= 5 + round * 7) {
            p.kill("SIGKILL");
            resolve();
          }
        });
        p.on("exit", () => reject(new Error("the child ended before it was killed")));
      }).catch(async (e) => {
        throw new Error(`${(e as Error).message}: ${(await done).stderr}`);
      });
      expect((await done).signal).toBe("SIGKILL");

      const began = Date.now();
      const cloud = await SimulatedCloud.open({ dir });
      const snap = await cloud.snapshot();
      expect(Date.now() - began).toBeLessThan(5_000);
      // Each createServer is one transaction: the count and the server commit together or not at all.
      expect(snap.servers.length).toBe(snap.calls.createServer);
      expect(new Set(snap.servers.map((s) => s.id)).size).toBe(snap.servers.length);
      const extra = await cloud.createServer(srv(`after-${round}`));
      expect((await cloud.getServer(extra.id))?.name).toBe(`after-${round}`);
      await cloud.close();
    }
    const db = new (sqlite("the test").DatabaseSync)(path.join(dir, "cloud.db"));
    expect(db.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    db.close();
  });
});

describe("simulated cloud database: a call's cost", () => {
  /** Rows one call reads and writes, from this process's connection. */
  async function rowsOf(dir: string, call: () => Promise<unknown>): Promise<{ read: number; written: number }> {
    const stats = CloudDatabase.shared(dir)?.stats;
    if (!stats) throw new Error("no connection");
    const [r, w] = [stats.rowsRead, stats.rowsWritten];
    await call();
    return { read: stats.rowsRead - r, written: stats.rowsWritten - w };
  }

  it("reads and writes the same rows with 10 objects and with 2,000, and the cloud works at that size", {
    timeout: 120_000,
  }, async () => {
    const clock = fakeClock();
    const dir = tempDir();
    const cloud = await SimulatedCloud.open({ dir, topology: topology(40, 64), now: clock.now });
    const costs = async () => {
      const created = await cloud.createServer(srv(`probe-${clock.now()}`));
      clock.advance();
      await cloud.getServer(created.id); // settles the probe's build
      return {
        create: await rowsOf(dir, () => cloud.createServer(srv(`c-${clock.now()}`))),
        get: await rowsOf(dir, () => cloud.getServer(created.id)),
        volume: await rowsOf(dir, () => cloud.createVolume({ name: `v-${clock.now()}`, sizeGb: 1, metadata: {} })),
      };
    };

    for (let i = 0; i < 10; i++) await cloud.createServer(srv(`s${i}`));
    clock.advance();
    const small = await costs();

    for (let i = 10; i < 1_500; i++) await cloud.createServer(srv(`s${i}`));
    for (let i = 0; i < 500; i++) await cloud.createVolume({ name: `d${i}`, sizeGb: 1, metadata: {} });
    clock.advance();
    // Every build and volume is due now: the clock finds them through its index, once.
    const settled = await rowsOf(dir, () => cloud.getServer("none"));
    expect(settled.read).toBeGreaterThanOrEqual(1_990);
    const big = await costs();

    expect(big).toEqual(small);
    // A call with nothing due reads no row; creating a server writes it, its counter and the clock.
    expect(small.get).toEqual({ read: 0, written: 2 });
    expect(small.create.written).toBeLessThanOrEqual(4);
    expect(CloudDatabase.shared(dir)?.stats.fullLoads).toBe(1);

    // The cloud still behaves at this size.
    clock.advance();
    const all = await cloud.findServers({});
    expect(all.length).toBeGreaterThanOrEqual(1_500);
    expect(all.every((s) => s.status === "ACTIVE")).toBe(true);
    expect((await cloud.discover()).topology.hosts.reduce((n, h) => n + (h.used?.vcpus ?? 0), 0)).toBe(all.length);
    await cloud.close();
  });

  it("calls of one transaction read what is due once between them, and the deletes they settle are stored", async () => {
    const clock = fakeClock();
    const dir = tempDir();
    const cloud = await SimulatedCloud.open({ dir, topology: topology(), now: clock.now });
    const group = await cloud.createServerGroup({ name: "g", policy: "soft-anti-affinity", metadata: {} });
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) ids.push((await cloud.createServer({ ...srv(`s${i}`), serverGroupId: group.id })).id);
    clock.advance();
    await Promise.all(ids.map((id) => cloud.deleteServer(id)));
    clock.advance();
    // 50 calls in one turn: one transaction; the first settles the 200 deletes, the others read no due row.
    const cost = await rowsOf(dir, () => Promise.all(ids.slice(0, 50).map((id) => cloud.getServer(id))));
    expect(cost.read).toBe(200);
    expect(await cloud.findServers({})).toEqual([]);
    expect((await cloud.getServerGroup(group.id))?.members).toEqual([]);
    // Stored so: another connection reads the same.
    const stored = CloudDatabase.read(dir);
    expect(stored.servers).toEqual([]);
    expect(stored.serverGroups[0]?.members).toEqual([]);
    await cloud.close();
  });

  it("catches up with another connection's writes by reading only the rows it wrote", async () => {
    const clock = fakeClock();
    const dir = tempDir();
    const cloud = await SimulatedCloud.open({ dir, topology: topology(), now: clock.now });
    for (let i = 0; i < 200; i++) await cloud.createServer(srv(`s${i}`));
    // Another connection to the same cloud, as another process would have (a second path to it).
    const alias = path.join(path.dirname(dir), "alias");
    symlinkSync(dir, alias);
    const other = await SimulatedCloud.open({ dir: alias, now: clock.now });
    const made = await other.createServer(srv("from-the-other"));
    const cost = await rowsOf(dir, () => cloud.getServer(made.id));
    // The other's server and its counter (and nothing due yet): not the 200 servers.
    expect(cost.read).toBeLessThanOrEqual(3);
    expect((await cloud.getServer(made.id))?.name).toBe("from-the-other");
    await other.deleteServer(made.id);
    clock.advance();
    await other.getServer(made.id);
    expect(await cloud.getServer(made.id)).toBeUndefined();
    expect(await cloud.callCount("createServer")).toBe(201);
    await other.close();
    await cloud.close();
  });
});

describe("simulated cloud database: group commit and lookups", () => {
  it("calls made together share one transaction; one that throws fails alone and leaves nothing", async () => {
    const dir = tempDir();
    const cloud = await SimulatedCloud.open({ dir, topology: topology() });
    const db = CloudDatabase.shared(dir);
    if (!db) throw new Error("no connection");
    const before = db.stats.transactions;
    const results = await Promise.allSettled([
      ...Array.from({ length: 10 }, (_, i) => cloud.createServer(srv(`t${i}`))),
      db.transaction(({ state }) => {
        state.images.push("half-done");
        state.servers.push({ ...(state.servers[0] as (typeof state.servers)[number]), id: "half", name: "half" });
        throw new Error("boom");
      }),
      cloud.createServer(srv("after")),
    ]);
    expect(db.stats.transactions - before).toBe(1);
    expect(results.map((r) => r.status)).toEqual([...Array(10).fill("fulfilled"), "rejected", "fulfilled"]);
    expect(String((results[10] as PromiseRejectedResult).reason)).toContain("boom");
    // Committed: another connection reads the same, without the failed call's changes.
    const stored = CloudDatabase.read(dir);
    expect(stored.servers.map((s) => s.name).sort()).toEqual([
      "after",
      ...Array.from({ length: 10 }, (_, i) => `t${i}`),
    ]);
    expect(stored.images).not.toContain("half-done");
    expect(stored.calls.createServer).toBe(11);
    expect(await cloud.getServer("half")).toBeUndefined();
    await cloud.close();
  });

  it("keeps usage per host, attachments and lookups by id equal to what the records say", async () => {
    const clock = fakeClock();
    const dir = tempDir();
    const cloud = await SimulatedCloud.open({ dir, topology: topology(4, 8), now: clock.now });
    const made = [];
    for (let i = 0; i < 12; i++) made.push(await cloud.createServer(srv(`u${i}`)));
    // Servers in the volume's zone first (an attach needs one zone).
    const ids = [...made.filter((s) => s.zone === "z0"), ...made.filter((s) => s.zone !== "z0")].map((s) => s.id);
    const vol = await cloud.createVolume({ name: "d", sizeGb: 5, zone: "z0", metadata: {} });
    clock.advance();
    await cloud.attachVolume(ids[0] as string, vol.id);
    // A failed call in the middle (attached already elsewhere) and another process's writes.
    await expect(cloud.attachVolume(ids[1] as string, vol.id)).rejects.toThrow(/already attached/);
    const alias = path.join(path.dirname(dir), "alias");
    symlinkSync(dir, alias);
    const other = await SimulatedCloud.open({ dir: alias, now: clock.now });
    await other.deleteServer(ids[11] as string);
    await other.createServer(srv("from-the-other"));
    clock.advance();
    await other.close();
    await cloud.deleteServer(ids[0] as string);
    clock.advance();

    const snap = await cloud.snapshot();
    const claimed = new Map<string, number>();
    for (const s of snap.servers)
      if (s.claim) claimed.set(s.claim.host, (claimed.get(s.claim.host) ?? 0) + s.claim.vcpus);
    const shown = (await cloud.discover()).topology.hosts.map((h) => [h.name, h.used?.vcpus ?? 0]);
    expect(shown).toEqual(snap.topology.hosts.map((h) => [h.name, claimed.get(h.name) ?? 0]));
    expect(snap.servers).toHaveLength(11);
    // Nova detached the deleted server's volume; a new server sees its own attachments only.
    expect((await cloud.getVolume(vol.id))?.status).toBe("available");
    await cloud.attachVolume(ids[3] as string, vol.id);
    clock.advance();
    expect((await cloud.getServer(ids[3] as string))?.volumes).toEqual([vol.id]);
    expect((await cloud.getServer(ids[4] as string))?.volumes).toEqual([]);
    expect(await cloud.getServer(ids[11] as string)).toBeUndefined();
    await cloud.close();
  });
});
