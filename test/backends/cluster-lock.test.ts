// The lock on a cluster's name (provider/backends/cluster-lock.ts) and the simulated cloud's own
// lock: whom a waiter waits for, prompt takeover of a dead holder's lock, nothing left behind.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { BackendError } from "../../provider/backends/backend";
import { clusterFileName, clusterLockFile, withClusterLock } from "../../provider/backends/cluster-lock";
import { SimulatedCloud } from "../../provider/backends/simulated";

const root = mkdtempSync(path.join(tmpdir(), "vcluster-lock-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});
const tempDir = () => mkdtempSync(path.join(root, "d-"));

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.on("exit", resolve));
  return child.pid as number;
}

/** A process that lives until killed. */
function liveProcess(): ChildProcess {
  return spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
}

function holderRecord(pid: number, over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    pid,
    host: hostname(),
    since: Date.UTC(2030, 0, 2, 3, 4, 5),
    purpose: "apply",
    token: "t0",
    ...over,
  });
}

describe("cluster file names", () => {
  it("tell apart the names one file name used to serve", () => {
    expect(clusterFileName("a/b")).toBe("a_2Fb");
    expect(clusterFileName("a_2Fb")).toBe("a_5F2Fb");
    expect(clusterFileName("shop")).toBe("shop");
    expect(clusterFileName("web-1.prod")).toBe("web-1.prod");
  });

  it("are injective and safe as file names, whatever the name", () => {
    // Names made of the characters the encoding works with, and any text.
    const tricky = fc
      .array(
        fc.oneof(fc.constantFrom("_", "%", "~", "/", "2F", "5F", "7E", "\ud800", "\udc00", "é", "a"), fc.string()),
        {
          minLength: 1,
        },
      )
      .map((parts) => parts.join(""));
    const name = fc.oneof(tricky, fc.string({ unit: "binary", minLength: 1 }));
    fc.assert(
      fc.property(name, name, (a, b) => {
        fc.pre(a !== b);
        expect(clusterFileName(a)).not.toBe(clusterFileName(b));
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(name, (a) => {
        expect(clusterFileName(a)).toMatch(/^[A-Za-z0-9_.!~*'()-]*$/);
      }),
    );
  });
});

describe("withClusterLock", () => {
  it("runs one holder at a time in a process", async () => {
    const dir = tempDir();
    const events: string[] = [];
    const run = (id: string) =>
      withClusterLock(dir, "c", async () => {
        events.push(`${id} in`);
        await sleep(20);
        events.push(`${id} out`);
      });
    await Promise.all([run("a"), run("b"), run("c")]);
    expect(events).toEqual(["a in", "a out", "b in", "b out", "c in", "c out"]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("waits for a live holder, saying for whom, and takes over the moment it dies", async () => {
    const dir = tempDir();
    const holder = liveProcess();
    const pid = holder.pid as number;
    writeFileSync(clusterLockFile(dir, "db/main"), holderRecord(pid, { purpose: "openstack-vcluster apply" }));
    const log: string[] = [];
    let ran = false;
    const waiting = withClusterLock(
      dir,
      "db/main",
      async () => {
        ran = true;
      },
      { log: (level, m) => log.push(`${level}: ${m}`) },
    );
    await sleep(300);
    expect(ran).toBe(false);
    expect(log).toEqual([
      `info: cluster "db/main": waiting for another run changing cluster "db/main" (pid ${pid}, "openstack-vcluster apply", since 2030-01-02T03:04:05Z); this run goes on when that one ends`,
    ]);
    holder.kill("SIGKILL");
    const killedAt = Date.now();
    await waiting;
    expect(ran).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(2_000);
    expect(log[1]).toBe(
      `warn: cluster "db/main": took over the lock of a run that ended without releasing it (pid ${pid}, "openstack-vcluster apply", since 2030-01-02T03:04:05Z); this run picks up whatever it left half-done`,
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it("takes over at once the lock of a process that is gone, and sweeps its temp files", async () => {
    const dir = tempDir();
    const pid = await deadPid();
    const file = clusterLockFile(dir, "c");
    writeFileSync(file, holderRecord(pid));
    const hostTag = "0".repeat(8);
    // A temp file of a lock attempt it never finished (its name carries the host's tag: any tag of ours works).
    const { createHash } = await import("node:crypto");
    const tag = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);
    writeFileSync(`${file}.${tag}.${pid}.abcd1234.tmp`, "{}");
    writeFileSync(`${file}.${hostTag}.${pid}.abcd1234.tmp`, "{}"); // another machine's: left alone
    const log: string[] = [];
    const began = Date.now();
    await withClusterLock(dir, "c", async () => {}, { log: (_l, m) => log.push(m) });
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(
      /^cluster "c": took over the lock of a run that ended without releasing it \(pid \d+, "apply", since /,
    );
    expect(readdirSync(dir)).toEqual([`c.lock.${hostTag}.${pid}.abcd1234.tmp`]);
  });

  it("sweeps the temp file of a process killed while it waited (it held no lock, so nothing was taken over)", async () => {
    const dir = tempDir();
    const pid = await deadPid();
    const file = clusterLockFile(dir, "waiter");
    const { createHash } = await import("node:crypto");
    const tag = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);
    writeFileSync(`${file}.${tag}.${pid}.abcd1234.tmp`, "{}");
    const log: string[] = [];
    await withClusterLock(dir, "waiter", async () => {}, { log: (_l, m) => log.push(m) });
    expect(log).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("takes over a lock naming its own pid that it does not hold (a pid reused after a restart)", async () => {
    const dir = tempDir();
    writeFileSync(clusterLockFile(dir, "c"), holderRecord(process.pid));
    const log: string[] = [];
    await withClusterLock(dir, "c", async () => {}, { log: (_l, m) => log.push(m) });
    expect(log[0]).toContain("took over");
  });

  it("trusts a holder on another machine while it refreshes its lock, and takes it over when it stops", async () => {
    const dir = tempDir();
    const file = clusterLockFile(dir, "c");
    writeFileSync(file, holderRecord(4242, { host: "elsewhere" }));
    const log: string[] = [];
    await expect(
      withClusterLock(dir, "c", async () => {}, { log: (_l, m) => log.push(m), timeoutMs: 200 }),
    ).rejects.toThrow(
      /^cluster "c": another run is still changing it after 0 s \(pid 4242 on host "elsewhere", "apply", since 2030-01-02T03:04:05Z\); hint: /,
    );
    expect(log[0]).toContain('(pid 4242 on host "elsewhere"');
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    await withClusterLock(dir, "c", async () => {}, { log: (_l, m) => log.push(m) });
    expect(log.at(-1)).toContain("took over");
  });

  it("gives up after timeoutMs with a conflict naming the holder", async () => {
    const dir = tempDir();
    const holder = liveProcess();
    try {
      writeFileSync(clusterLockFile(dir, "c"), holderRecord(holder.pid as number));
      const e = await withClusterLock(dir, "c", async () => {}, { timeoutMs: 100 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(BackendError);
      expect((e as BackendError).code).toBe("conflict");
    } finally {
      holder.kill("SIGKILL");
    }
  });

  it("takes the locks of several directories in order and releases them all", async () => {
    const a = tempDir();
    const b = path.join(tempDir(), "deeper", "locks");
    let inside: boolean[] = [];
    await withClusterLock([a, b, a], "c", async () => {
      inside = [existsSync(clusterLockFile(a, "c")), existsSync(clusterLockFile(b, "c"))];
    });
    expect(inside).toEqual([true, true]);
    expect([readdirSync(a), readdirSync(b)]).toEqual([[], []]);
  });
});

describe("the simulated cloud's lock", () => {
  it("is taken over at once from a process killed while holding it, and its unfinished write is swept", async () => {
    const dir = path.join(tempDir(), "cloud");
    const first = await SimulatedCloud.open({ dir });
    await first.createServer({ name: "keep", imageRef: "cirros", flavorRef: "m1.tiny", metadata: {} });
    const pid = await deadPid();
    // What a process killed in the middle of a call leaves: its lock and its temp file.
    writeFileSync(path.join(dir, "cloud.json.lock"), holderRecord(pid, { purpose: "a simulated cloud call" }));
    writeFileSync(path.join(dir, `cloud.json.${pid}.0123abcd.tmp`), '{"half": ');
    const began = Date.now();
    const again = await SimulatedCloud.open({ dir });
    expect((await again.findServers({})).map((s) => s.name)).toEqual(["keep"]);
    expect(Date.now() - began).toBeLessThan(2_000);
    expect(readdirSync(dir)).toEqual(["cloud.json"]);
  });

  it("keeps its directory its own: locks and kept-aside files don't make destroyDir refuse", async () => {
    const dir = path.join(tempDir(), "cloud");
    const cloud = await SimulatedCloud.open({ dir });
    await withClusterLock(path.join(dir, "locks"), "c", async () => {});
    mkdirSync(path.join(dir, ".cloud.lock"));
    writeFileSync(path.join(dir, "cloud.json.broken-2030-01-01T00-00-00-000Z"), "{");
    await cloud.close();
    await SimulatedCloud.destroyDir(dir);
    expect(existsSync(dir)).toBe(false);
  });
});
