// The lock on a cluster's name (provider/backends/cluster-lock.ts) and the simulated cloud's own
// lock: whom a waiter waits for, prompt takeover of a dead holder's lock, nothing left behind; the
// cluster's lock on the cloud (refused at once while another run holds it, taken over from a dead
// run of this machine) and `unlock`.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { type Backend, BackendError, type CloudLocks, type ClusterLockHolder } from "../../provider/backends/backend";
import {
  cloudHolderGone,
  clusterFileName,
  clusterLockFile,
  unlockCloud,
  unlockCommand,
  withClusterLock,
} from "../../provider/backends/cluster-lock";
import { SimulatedCloud } from "../../provider/backends/simulated";
import { run } from "../../provider/cli/program";

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
  it("is taken over at once from a process killed while making the cloud's database, and its unfinished file is swept", async () => {
    // Calls don't take it (SQLite orders them); making, migrating or replacing the database does.
    const dir = path.join(tempDir(), "cloud");
    mkdirSync(dir, { recursive: true });
    const pid = await deadPid();
    // What a process killed while making the database leaves: its lock and its temp file.
    writeFileSync(
      path.join(dir, "cloud.json.lock"),
      holderRecord(pid, { purpose: "creating a simulated cloud's database" }),
    );
    writeFileSync(path.join(dir, `cloud.db.${pid}.0123abcd.tmp`), "half a database");
    const began = Date.now();
    const cloud = await SimulatedCloud.open({ dir });
    await cloud.createServer({ name: "keep", imageRef: "cirros", flavorRef: "m1.tiny", metadata: {} });
    expect((await cloud.findServers({})).map((s) => s.name)).toEqual(["keep"]);
    expect(Date.now() - began).toBeLessThan(2_000);
    await cloud.close();
    expect(readdirSync(dir)).toEqual(["cloud.db"]);
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

/** A cloud's locks in memory, as KeypairLocks keeps them in Nova: create fails when one exists. */
class MemoryLocks implements CloudLocks {
  readonly markers = new Map<string, ClusterLockHolder>();
  readonly selectArgs = ["--cloud", "prod"];
  calls: string[] = [];
  failCreate?: BackendError;
  failRemove?: Error;
  /** Runs inside create, before the marker is made (to look at what else is held then). */
  onCreate?: () => void;
  async describe(cluster: string): Promise<string> {
    return `Nova keypair "vcluster-lock-${cluster}"`;
  }
  async create(cluster: string, holder: ClusterLockHolder): Promise<boolean> {
    this.calls.push(`create ${cluster}`);
    this.onCreate?.();
    if (this.failCreate) throw this.failCreate;
    if (this.markers.has(cluster)) return false;
    this.markers.set(cluster, { ...holder });
    return true;
  }
  async read(cluster: string): Promise<ClusterLockHolder | undefined> {
    return this.markers.get(cluster);
  }
  async remove(cluster: string): Promise<void> {
    this.calls.push(`remove ${cluster}`);
    if (this.failRemove) throw this.failRemove;
    this.markers.delete(cluster);
  }
}

/** A backend that is only its cloud locks (withClusterLock uses nothing else of it). */
const cloudWith = (locks: CloudLocks) => ({ cloudLocks: locks }) as unknown as Backend;

const SINCE = Date.UTC(2030, 0, 2, 3, 4, 5);
const elsewhere: ClusterLockHolder = {
  host: "ci-runner-2",
  pid: 4242,
  since: SINCE,
  purpose: "pulumi up (create)",
  token: "t1",
};

describe("the cluster's lock on the cloud", () => {
  it("is taken after the lock file, held while the run works, and removed after it", async () => {
    const dir = tempDir();
    const locks = new MemoryLocks();
    let fileHeldAtCreate = false;
    locks.onCreate = () => {
      fileHeldAtCreate = existsSync(clusterLockFile(dir, "db/main"));
    };
    let during: ClusterLockHolder | undefined;
    const out = await withClusterLock(
      dir,
      "db/main",
      async () => {
        during = locks.markers.get("db/main");
        return 7;
      },
      { purpose: "openstack-vcluster apply", cloud: cloudWith(locks) },
    );
    expect(out).toBe(7);
    expect(fileHeldAtCreate).toBe(true);
    expect(during).toMatchObject({ host: hostname(), pid: process.pid, purpose: "openstack-vcluster apply" });
    expect(locks.markers.size).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("is removed when the run fails too", async () => {
    const locks = new MemoryLocks();
    await expect(
      withClusterLock(
        tempDir(),
        "c",
        async () => {
          throw new Error("boom");
        },
        { cloud: cloudWith(locks) },
      ),
    ).rejects.toThrow("boom");
    expect(locks.markers.size).toBe(0);
  });

  it("held by a run on another machine: refused at once, naming it and the command that removes it", async () => {
    const dir = tempDir();
    const locks = new MemoryLocks();
    locks.markers.set("shop", elsewhere);
    let ran = false;
    const e = await withClusterLock(
      dir,
      "shop",
      async () => {
        ran = true;
      },
      { cloud: cloudWith(locks) },
    ).catch((x: unknown) => x);
    expect(ran).toBe(false);
    expect(e).toBeInstanceOf(BackendError);
    expect((e as BackendError).code).toBe("conflict");
    expect((e as BackendError).message).toBe(
      'cluster "shop": another run is changing it since 2030-01-02T03:04:05Z (host "ci-runner-2", pid 4242, "pulumi up (create)"); if no run is active there, remove the lock with: openstack-vcluster unlock shop --cloud prod',
    );
    // The other run's lock stays; this run's lock file is gone.
    expect(locks.markers.get("shop")).toEqual(elsewhere);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("held by a live run of this machine: refused as well (another state or temp directory queued elsewhere)", async () => {
    const holder = liveProcess();
    try {
      const locks = new MemoryLocks();
      locks.markers.set("c", { ...elsewhere, host: hostname(), pid: holder.pid as number });
      await expect(withClusterLock(tempDir(), "c", async () => {}, { cloud: cloudWith(locks) })).rejects.toThrow(
        `another run is changing it since 2030-01-02T03:04:05Z (host ${JSON.stringify(hostname())}, pid ${holder.pid}, "pulumi up (create)")`,
      );
    } finally {
      holder.kill("SIGKILL");
    }
  });

  it("left by a run of this machine that is gone: taken over, with a warning", async () => {
    const pid = await deadPid();
    for (const left of [
      { ...elsewhere, host: hostname(), pid },
      // This process's pid, a token it doesn't hold: an earlier process that had the same pid.
      { ...elsewhere, host: hostname(), pid: process.pid },
    ]) {
      const locks = new MemoryLocks();
      locks.markers.set("c", left);
      const log: string[] = [];
      let holderInside: ClusterLockHolder | undefined;
      await withClusterLock(
        tempDir(),
        "c",
        async () => {
          holderInside = locks.markers.get("c");
        },
        { cloud: cloudWith(locks), log: (level, m) => log.push(`${level}: ${m}`) },
      );
      expect(holderInside?.pid).toBe(process.pid);
      expect(holderInside?.token).not.toBe("t1");
      expect(log).toEqual([
        `warn: cluster "c": took over the lock on the cloud of a run on this machine that ended without releasing it (pid ${left.pid}, "pulumi up (create)", since 2030-01-02T03:04:05Z); this run picks up whatever it left half-done`,
      ]);
      expect(locks.markers.size).toBe(0);
    }
  });

  it("a keypair of that name openstack-vcluster did not make: refused, holder unknown", async () => {
    const locks = new MemoryLocks();
    locks.markers.set("c", { host: "", pid: 0, since: SINCE, purpose: "unknown", token: "unknown:x" });
    await expect(withClusterLock(tempDir(), "c", async () => {}, { cloud: cloudWith(locks) })).rejects.toThrow(
      'cluster "c": another run is changing it since 2030-01-02T03:04:05Z (holder unknown: Nova keypair "vcluster-lock-c" was not made by openstack-vcluster); if no run is active there, remove the lock with: openstack-vcluster unlock c --cloud prod',
    );
  });

  it("released between the refused create and the read: taken on the next try", async () => {
    const locks = new MemoryLocks();
    locks.markers.set("c", elsewhere);
    const read = locks.read.bind(locks);
    locks.read = async (c) => {
      locks.markers.delete(c);
      locks.read = read;
      return read(c);
    };
    let ran = false;
    await withClusterLock(
      tempDir(),
      "c",
      async () => {
        ran = true;
      },
      { cloud: cloudWith(locks) },
    );
    expect(ran).toBe(true);
    expect(locks.calls).toEqual(["create c", "create c", "remove c"]);
  });

  it("that the cloud refuses to make (policy, keypair quota): the run goes on, warned it is not held off elsewhere", async () => {
    const locks = new MemoryLocks();
    locks.failCreate = new BackendError("quota_exceeded", "nova: Quota exceeded, too many key pairs.");
    const log: string[] = [];
    let ran = false;
    await withClusterLock(
      tempDir(),
      "c",
      async () => {
        ran = true;
      },
      { cloud: cloudWith(locks), log: (level, m) => log.push(`${level}: ${m}`) },
    );
    expect(ran).toBe(true);
    expect(log).toEqual([
      'warn: cluster "c": this run holds no lock on the cloud: creating Nova keypair "vcluster-lock-c" failed (nova: Quota exceeded, too many key pairs.); runs on other machines are not held off',
    ]);
    // Any other failure (the cloud is down) stops the run before it changes anything.
    locks.failCreate = new BackendError("unavailable", "nova: 503");
    await expect(withClusterLock(tempDir(), "c", async () => {}, { cloud: cloudWith(locks) })).rejects.toThrow(
      "nova: 503",
    );
  });

  it("that can't be removed at the end: the run's result stands, with a warning naming unlock", async () => {
    const locks = new MemoryLocks();
    locks.failRemove = new BackendError("unavailable", "nova: 503");
    const log: string[] = [];
    const out = await withClusterLock(tempDir(), "c", async () => "done", {
      cloud: cloudWith(locks),
      log: (level, m) => log.push(`${level}: ${m}`),
    });
    expect(out).toBe("done");
    expect(log).toEqual([
      'warn: cluster "c": could not remove this run\'s lock on the cloud (Nova keypair "vcluster-lock-c"): nova: 503; the next run on this machine takes it over, a run elsewhere is refused until it is removed with: openstack-vcluster unlock c --cloud prod',
    ]);
  });

  it("that someone removed and another run took meanwhile: left to that run", async () => {
    const locks = new MemoryLocks();
    await withClusterLock(
      tempDir(),
      "c",
      async () => {
        locks.markers.set("c", elsewhere);
      },
      { cloud: cloudWith(locks) },
    );
    expect(locks.markers.get("c")).toEqual(elsewhere);
  });

  it("is not taken where the backend has none (the simulated cloud), nor without `cloud`", async () => {
    const dir = tempDir();
    const cloud = await SimulatedCloud.open({ dir: path.join(dir, "cloud") });
    expect((cloud as Backend).cloudLocks).toBeUndefined();
    await withClusterLock(path.join(dir, "locks"), "c", async () => {}, { cloud });
    await cloud.close();
  });
});

describe("the holder a machine can tell is gone", () => {
  const here = { host: "h", pid: 100, alive: (pid: number) => pid === 200, held: new Set(["mine"]) };
  it.each<[{ host: string; pid: number; token?: string }, boolean, string]>([
    [{ host: "h", pid: 300 }, true, "a dead pid of this machine"],
    [{ host: "h", pid: 200 }, false, "a live pid of this machine"],
    [{ host: "h", pid: 100, token: "old" }, true, "this pid, a token this process doesn't hold"],
    [{ host: "h", pid: 100, token: "mine" }, false, "this process's own"],
    [{ host: "other", pid: 300 }, false, "another machine's, whatever its pid"],
    [{ host: "", pid: 0 }, false, "a holder unknown"],
  ])("%j is gone: %s (%s)", (over, gone) => {
    expect(cloudHolderGone({ ...elsewhere, token: "t", ...over }, here)).toBe(gone);
  });
});

describe("unlock", () => {
  it("removes the lock a run left, saying whose it was; no lock is nothing to do", async () => {
    const locks = new MemoryLocks();
    locks.markers.set("c", elsewhere);
    expect(await unlockCloud(locks, "c")).toEqual({
      kind: "removed",
      holder: elsewhere,
      where: 'Nova keypair "vcluster-lock-c"',
    });
    expect(locks.markers.size).toBe(0);
    expect(await unlockCloud(locks, "c")).toEqual({ kind: "none", where: 'Nova keypair "vcluster-lock-c"' });
  });

  it("leaves a live run of this machine its lock, and a keypair it did not make, unless forced", async () => {
    const holder = liveProcess();
    try {
      const locks = new MemoryLocks();
      const live = { ...elsewhere, host: hostname(), pid: holder.pid as number };
      locks.markers.set("c", live);
      expect(await unlockCloud(locks, "c")).toMatchObject({ kind: "refused", reason: "alive" });
      const unknown = { host: "", pid: 0, since: SINCE, purpose: "unknown", token: "unknown:x" };
      locks.markers.set("d", unknown);
      expect(await unlockCloud(locks, "d")).toMatchObject({ kind: "refused", reason: "unknown" });
      expect(locks.markers.size).toBe(2);
      expect(await unlockCloud(locks, "c", true)).toMatchObject({ kind: "removed", holder: live });
      expect(await unlockCloud(locks, "d", true)).toMatchObject({ kind: "removed", holder: unknown });
    } finally {
      holder.kill("SIGKILL");
    }
  });

  it("names itself as a command the user can paste", () => {
    expect(unlockCommand("shop", ["--cloud", "prod"])).toBe("openstack-vcluster unlock shop --cloud prod");
    expect(unlockCommand("it's mine", ["--cloud", "my cloud"])).toBe(
      "openstack-vcluster unlock 'it'\\''s mine' --cloud 'my cloud'",
    );
    expect(unlockCommand("-x", ["--backend", "openstack"])).toBe("openstack-vcluster unlock --backend openstack -- -x");
  });

  it("on the simulated cloud, says there is nothing to unlock there and how to select an OpenStack cloud (exit 3)", async () => {
    const err: string[] = [];
    const code = await run(["unlock", "shop", "--backend", "simulated"], {
      out: () => {},
      err: (t) => err.push(t),
      cwd: tempDir(),
      env: {},
    });
    expect(code).toBe(3);
    expect(err.join("")).toMatch(
      /^cluster "shop": the simulated cloud keeps no lock that outlives a run .*--cloud <clouds.yaml entry>, OS_CLOUD/,
    );
  });
});
