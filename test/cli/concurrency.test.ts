// One change at a time per cluster: several `apply` runs of one spec, each a process of its own,
// build one set of members; a run that waits says for whom; a run killed halfway leaves a lock the
// next one takes over at once, and no temp files.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/build";
import { type Result, spawned, start, tempFiles } from "../support/cli";
import { projectSimState } from "../support/sim-state";

const MEMBERS = 20;
let work: string;

beforeAll(async () => {
  await ensureBuilt();
  work = mkdtempSync(path.join(tmpdir(), "vcluster-concurrency-"));
}, 180_000);
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** A directory with a spec of MEMBERS servers called "dup". */
function project(): string {
  const dir = mkdtempSync(path.join(work, "p-"));
  const instances = Array.from({ length: MEMBERS }, (_, i) => ({
    name: `w${i}`,
    type: "server",
    spec: { imageRef: "debian-12", flavorRef: "m1.small" },
  }));
  writeFileSync(path.join(dir, "dup.json"), JSON.stringify({ name: "dup", instances }));
  return dir;
}

interface CloudJson {
  servers: { name: string; status: string; metadata: Record<string, string> }[];
  faults: unknown[];
}

function cloudOf(dir: string): CloudJson {
  return projectSimState(dir) as unknown as CloudJson;
}

function expectOneSet(dir: string): void {
  const servers = cloudOf(dir).servers;
  const members = servers.map((s) => s.metadata["vcluster:member"]).sort();
  expect(members).toEqual(Array.from({ length: MEMBERS }, (_, i) => `w${i}`).sort());
  expect(servers.every((s) => s.status === "ACTIVE" || s.status === "BUILD")).toBe(true);
}

async function waitFor(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const lockFile = (dir: string) => path.join(dir, ".openstack-vcluster/sim/locks/dup.lock");
/** Every build takes `ms` longer: for the run that reads it only (the variable is the process's own). */
const slowBuilds = (ms: number) => ({
  OPENSTACK_VCLUSTER_SIM_FAULTS: JSON.stringify([{ kind: "slow", op: "createServer", ms, times: MEMBERS }]),
});

describe("concurrent runs of one cluster, each in a process of its own", () => {
  it.each([2, 5])(
    "%i applies of one spec at once build one set of members, and all succeed",
    { timeout: 120_000 },
    async (n) => {
      const dir = project();
      const runs: Result[] = await Promise.all(Array.from({ length: n }, () => spawned(["apply", "dup.json"], dir)));
      for (const r of runs) expect(r.code, r.stderr).toBe(0);
      for (const r of runs) expect(r.stderr).not.toMatch(/\n\s+at /);
      expectOneSet(dir);
      expect(tempFiles(dir)).toEqual([]);
      expect(existsSync(lockFile(dir))).toBe(false);
      // Whoever ran last found the cluster built: another apply changes nothing and says it is all there.
      const again = await spawned(["apply", "dup.json", "--json"], dir);
      expect(again.code).toBe(0);
      expect(Object.keys((JSON.parse(again.stdout) as { members: object }).members)).toHaveLength(MEMBERS);
      expectOneSet(dir);
    },
  );

  it("a run that waits says for whom, then finds nothing left to do", { timeout: 120_000 }, async () => {
    const dir = project();
    const first = start(["apply", "dup.json"], dir, slowBuilds(1500));
    await waitFor("the first run's lock", () => existsSync(lockFile(dir)));
    const second = await spawned(["apply", "dup.json"], dir);
    expect(await first.exited, first.out.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(
      new RegExp(
        `^cluster "dup": waiting for another run changing cluster "dup" \\(pid ${first.child.pid}, "openstack-vcluster apply", since \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z\\); this run goes on when that one ends$`,
        "m",
      ),
    );
    expect(second.stderr).not.toContain("created");
    expectOneSet(dir);
    expect(tempFiles(dir)).toEqual([]);
  });

  it("a run killed halfway leaves a lock the next run takes over at once, saying so", {
    timeout: 120_000,
  }, async () => {
    const dir = project();
    const first = start(["apply", "dup.json"], dir, slowBuilds(2000));
    await waitFor("servers of the first run", () => existsSync(lockFile(dir)) && cloudOf(dir).servers.length > 0);
    first.child.kill("SIGKILL");
    await first.exited;
    expect(existsSync(lockFile(dir))).toBe(true);
    const began = Date.now();
    const next = await spawned(["apply", "dup.json"], dir);
    expect(next.code, next.stderr).toBe(0);
    const pid = first.child.pid as number;
    expect(next.stderr).toMatch(
      new RegExp(`^cluster "dup": took over the lock of a run that ended without releasing it \\(pid ${pid}, `, "m"),
    );
    // Taken over at once: no stale-lock timeout (the builds it left still take up to 2 s to finish).
    expect(Date.now() - began).toBeLessThan(15_000);
    expectOneSet(dir);
    // The faults of the killed run were its own: nothing of them is left in the cloud.
    expect(cloudOf(dir).faults).toEqual([]);
    expect(tempFiles(dir)).toEqual([]);
  });
});
