// Two machines on one cluster of the real dev cloud. Each run of `openstack-vcluster` here has a TMPDIR
// and a state directory of its own, so their lock files can't see each other, as on two CI runners or
// two laptops: only the cluster's lock on the cloud (a Nova keypair, provider/backends/openstack/
// cluster-marker.ts) stands between them. A second machine's apply is refused at once, naming the
// first run and the command that removes its lock, and builds nothing; a run killed on this machine
// leaves its lock, which the next run here takes over; a lock left by a run on another machine
// refuses every run until `unlock` removes it, saying whose it was.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClusterLockHolder, TAG_CLUSTER, TAG_MEMBER } from "../../../provider/backends/backend";
import type { OpenStackBackend } from "../../../provider/backends/openstack/openstack-backend";
import { ensureBuilt } from "../../support/build";
import { BIN, type Ended, launch } from "../../support/cli";
import { connectDevcloud, DEVCLOUD_DIR, requireDevcloud } from "../../support/devcloud";

const RUN = randomBytes(3).toString("hex");
const NAME = `lock-${RUN}`;
const CLOUD = "devcloud-admin";
const SERVERS = ["w1", "w2"];

const SPEC = [
  `name: ${NAME}`,
  "instances:",
  ...SERVERS.map((n) => `  - { name: ${n}, type: server, spec: { imageRef: fake-image, flavorRef: m1.tiny } }`),
  "  - { name: d1, type: volume, spec: { size: 1, attachTo: w1 } }",
  "groupings:",
  `  - { name: spread, membersRef: [${SERVERS.join(", ")}], spec: { rule: anti-affinity, scope: host } }`,
  "",
].join("\n");

/** One machine: a working directory (its state directory inside) and a TMPDIR (its lock files) of its own. */
interface Machine {
  dir: string;
  tmp: string;
  spec: string;
}

function command(m: Machine, args: string[]) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OS_CLIENT_CONFIG_FILE: path.join(DEVCLOUD_DIR, "clouds.yaml"),
    OS_CLOUD: CLOUD,
    TMPDIR: m.tmp,
  };
  return launch([...args, "--backend", "openstack"], m.dir, env);
}

describe("runs from two machines on one cluster of the openstack devcloud (admin)", () => {
  let b: OpenStackBackend;
  let work: string;
  const machine = (label: string): Machine => {
    const dir = fs.mkdtempSync(path.join(work, `${label}-`));
    const tmp = path.join(dir, "tmp");
    fs.mkdirSync(tmp);
    const spec = path.join(dir, "cluster.yaml");
    fs.writeFileSync(spec, SPEC);
    return { dir, tmp, spec };
  };
  let one: Machine;
  let two: Machine;

  beforeAll(async () => {
    await requireDevcloud();
    await ensureBuilt();
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: build with npx tsc -p tsconfig.json`);
    b = await connectDevcloud("admin");
    work = fs.mkdtempSync(path.join(os.tmpdir(), "vcluster-cloud-lock-"));
    one = machine("one");
    two = machine("two");
  });

  afterAll(async () => {
    // Whatever a failed test left: its lock, and the cluster (destroy sweeps by tag, state or not).
    if (b) {
      await b.cloudLocks.remove(NAME);
      await command(machine("sweep"), ["destroy", NAME, "--yes"]).done;
      await b.close();
    }
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  /** Waits until the cluster's lock on the cloud names `pid` (or the run ends first: undefined). */
  async function lockOf(pid: number, run: Promise<Ended>): Promise<ClusterLockHolder | undefined> {
    let ended = false;
    void run.then(() => {
      ended = true;
    });
    const deadline = Date.now() + 60_000;
    while (!ended && Date.now() < deadline) {
      const h = await b.cloudLocks.read(NAME);
      if (h?.pid === pid) return h;
      await sleep(100);
    }
    return undefined;
  }

  /** The cluster is the spec exactly: one group, each member once, ACTIVE / in-use. */
  async function expectExactlyOne(): Promise<void> {
    const tag = { [TAG_CLUSTER]: NAME };
    const [servers, volumes, groups] = await Promise.all([
      b.findServers(tag),
      b.findVolumes(tag),
      b.findServerGroups(tag),
    ]);
    const seen = `groups ${groups.length}; servers ${servers.map((s) => `${s.metadata[TAG_MEMBER]} ${s.status}`)}; volumes ${volumes.map((v) => `${v.metadata[TAG_MEMBER]} ${v.status}`)}`;
    expect(groups.length, seen).toBe(1);
    expect(servers.map((s) => s.metadata[TAG_MEMBER]).sort(), seen).toEqual(SERVERS);
    expect(
      volumes.map((v) => v.metadata[TAG_MEMBER]),
      seen,
    ).toEqual(["d1"]);
    for (const s of servers) expect(s.status, seen).toBe("ACTIVE");
    expect(volumes[0]?.status, seen).toBe("in-use");
  }

  const stateOf = (m: Machine) => path.join(m.dir, ".openstack-vcluster", "clusters", `${NAME}.json`);
  const unlockHint = `if no run is active there, remove the lock with: openstack-vcluster unlock ${NAME} --cloud ${CLOUD}`;

  it("the second machine's apply is refused at once while the first builds, and builds nothing", async () => {
    const first = command(one, ["apply", one.spec]);
    const held = await lockOf(first.child.pid as number, first.done);
    expect(held, "the first apply ended before its lock on the cloud was seen").toBeDefined();
    let firstEnded = false;
    void first.done.then(() => {
      firstEnded = true;
    });

    const second = await command(two, ["apply", two.spec]).done;
    console.log(`refused after ${(second.ms / 1000).toFixed(1)} s:\n${second.stderr.trim()}`);
    expect(firstEnded, "the first apply was still building when the second was refused").toBe(false);
    expect(second.code).toBe(3);
    expect(second.stderr).toContain(
      `cluster "${NAME}": another run is changing it since ${new Date(held?.since ?? 0).toISOString().replace(/\.\d+Z$/, "Z")} (host ${JSON.stringify(os.hostname())}, pid ${first.child.pid}, "openstack-vcluster apply"); ${unlockHint}`,
    );
    expect(second.stderr).not.toMatch(/password|secret/i);
    expect(fs.existsSync(stateOf(two))).toBe(false);

    const built = await first.done;
    console.log(`the first apply built the cluster in ${(built.ms / 1000).toFixed(1)} s`);
    expect(built.code, built.stderr).toBe(0);
    await expectExactlyOne();
    expect(await b.cloudLocks.read(NAME), "released at the end").toBeUndefined();
  });

  it("a lock left by a run on another machine refuses every run until `unlock` removes it, saying whose it was", async () => {
    // What a run killed on another machine leaves: its lock, naming that machine.
    const since = Date.UTC(2030, 0, 2, 3, 4, 5);
    const left = { host: "ci-runner-2", pid: 4242, since, purpose: "pulumi up (update)", token: "feedc0de" };
    expect(await b.cloudLocks.create(NAME, left)).toBe(true);

    for (const m of [one, two]) {
      const refused = await command(m, ["apply", m.spec]).done;
      expect(refused.code).toBe(3);
      expect(refused.stderr).toContain(
        `cluster "${NAME}": another run is changing it since 2030-01-02T03:04:05Z (host "ci-runner-2", pid 4242, "pulumi up (update)"); ${unlockHint}`,
      );
    }

    // The command the refusal names, as the user pastes it (with the cloud it names).
    const unlocked = await command(two, ["unlock", NAME, "--cloud", CLOUD]).done;
    console.log(unlocked.stdout.trim());
    expect(unlocked.code, unlocked.stderr).toBe(0);
    const where = await b.cloudLocks.describe(NAME);
    expect(unlocked.stdout).toContain(
      `cluster "${NAME}": removed its lock on ${b.description} (${where}), held since 2030-01-02T03:04:05Z (host "ci-runner-2", pid 4242, "pulumi up (update)"); the next run goes ahead.`,
    );
    expect(await b.cloudLocks.read(NAME)).toBeUndefined();
    const again = await command(two, ["unlock", NAME, "--cloud", CLOUD]).done;
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("nothing to remove");

    const next = await command(two, ["apply", two.spec]).done;
    expect(next.code, next.stderr).toBe(0);
    await expectExactlyOne();
    expect(await b.cloudLocks.read(NAME)).toBeUndefined();
  });

  it("a destroy killed on this machine leaves its lock; the next run here takes it over and finishes", async () => {
    const killed = command(one, ["destroy", NAME]);
    const held = await lockOf(killed.child.pid as number, killed.done);
    expect(held, "the destroy ended before its lock on the cloud was seen").toBeDefined();
    killed.child.kill("SIGKILL");
    expect((await killed.done).signal).toBe("SIGKILL");
    expect((await b.cloudLocks.read(NAME))?.pid).toBe(killed.child.pid);

    // Another TMPDIR (its lock file knows nothing of the killed run): only the cloud's lock tells.
    const retry = await command({ ...one, tmp: two.tmp }, ["destroy", NAME]).done;
    console.log(`retry ${(retry.ms / 1000).toFixed(1)} s:\n${retry.stderr.trim()}`);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stderr).toContain(
      `cluster "${NAME}": took over the lock on the cloud of a run on this machine that ended without releasing it (pid ${killed.child.pid}, "openstack-vcluster destroy", since `,
    );
    const tag = { [TAG_CLUSTER]: NAME };
    expect((await b.findServers(tag)).length + (await b.findVolumes(tag)).length).toBe(0);
    expect(await b.cloudLocks.read(NAME)).toBeUndefined();
  });
});
