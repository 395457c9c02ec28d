// What must never happen to a cluster through the command, whatever the user types or the disk holds:
// two names sharing one state file, a lost or broken cloud.db silently replaced, faults of one run
// failing the next, a typo "destroyed", a sweep by name without asking.
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlite } from "../../provider/model/sqlite";
import { ensureBuilt } from "../support/build";
import { cli, type Result, spawned } from "../support/cli";
import { projectSimState } from "../support/sim-state";

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "vcluster-safety-"));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

const NOTICE = /^no OpenStack cloud configured .*\n/;
/** stderr without the notice that the simulated cloud was chosen. */
const said = (r: Result) => r.stderr.replace(NOTICE, "");

/** A fresh directory with a spec `<file>.json` of `servers` servers for each cluster name given. */
function project(clusters: Record<string, string>, servers = 2): string {
  const dir = mkdtempSync(path.join(work, "p-"));
  for (const [file, name] of Object.entries(clusters)) {
    const instances = Array.from({ length: servers }, (_, i) => ({
      name: `s${i + 1}`,
      type: "server",
      spec: { imageRef: "debian-12", flavorRef: "m1.small" },
    }));
    writeFileSync(path.join(dir, `${file}.json`), JSON.stringify({ name, instances }));
  }
  return dir;
}

interface Cloud {
  servers: { name: string; metadata: Record<string, string> }[];
  faults: unknown[];
}

function cloud(dir: string): Cloud {
  return projectSimState(dir) as unknown as Cloud;
}

/** Per cluster tag, its servers' member names. */
function membersByCluster(dir: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const s of cloud(dir).servers) {
    const c = s.metadata["vcluster:cluster"] as string;
    out[c] = [...(out[c] ?? []), s.metadata["vcluster:member"] as string].sort();
  }
  return out;
}

const clustersDir = (dir: string) => path.join(dir, ".openstack-vcluster/clusters");
const stateOf = (dir: string, file: string) =>
  JSON.parse(readFileSync(path.join(clustersDir(dir), file), "utf8")) as { clusterName: string };

function oneLine(r: Result): void {
  expect(said(r).trim().split("\n"), said(r)).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe("state files: one per cluster name", () => {
  it('"a/b" and "a_2Fb" are two clusters: applying or destroying one never touches the other', async () => {
    const dir = project({ slash: "a/b", underscore: "a_2Fb" });
    expect((await cli(["apply", "slash.json"], dir)).code).toBe(0);
    expect((await cli(["apply", "underscore.json"], dir)).code).toBe(0);
    expect(membersByCluster(dir)).toEqual({ "a/b": ["s1", "s2"], a_2Fb: ["s1", "s2"] });
    expect(readdirSync(clustersDir(dir)).sort()).toEqual(["a_2Fb.json", "a_5F2Fb.json"]);
    expect(stateOf(dir, "a_2Fb.json").clusterName).toBe("a/b");
    expect(stateOf(dir, "a_5F2Fb.json").clusterName).toBe("a_2Fb");
    expect((await cli(["destroy", "a_2Fb"], dir)).code).toBe(0);
    expect(membersByCluster(dir)).toEqual({ "a/b": ["s1", "s2"] });
    const shown = await cli(["show", "a/b"], dir);
    expect(shown.code).toBe(0);
    expect(shown.stdout).not.toContain("missing");
  });

  it("reads the state file an older release wrote for a name, and moves it to the name's own file", async () => {
    const dir = project({ db: "my_db" });
    expect((await cli(["apply", "db.json"], dir)).code).toBe(0);
    // What the older release left: the same state under the old file name.
    renameSync(path.join(clustersDir(dir), "my_5Fdb.json"), path.join(clustersDir(dir), "my_db.json"));
    const again = await cli(["apply", "db.json"], dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain("created");
    expect(readdirSync(clustersDir(dir))).toEqual(["my_5Fdb.json"]);
    expect(membersByCluster(dir)).toEqual({ my_db: ["s1", "s2"] });
  });

  it("refuses a name whose file holds another cluster's state from an older release, and says how to move it", async () => {
    const dir = project({ slash: "a/b", underscore: "a_2Fb" });
    expect((await cli(["apply", "underscore.json"], dir)).code).toBe(0);
    // The older release kept "a_2Fb" in a_2Fb.json: the file "a/b" now uses.
    renameSync(path.join(clustersDir(dir), "a_5F2Fb.json"), path.join(clustersDir(dir), "a_2Fb.json"));
    const refused = await cli(["apply", "slash.json"], dir);
    expect(refused.code).toBe(3);
    oneLine(refused);
    expect(said(refused)).toBe(
      'cluster "a/b": its state file .openstack-vcluster/clusters/a_2Fb.json holds the state of cluster "a_2Fb" (an older release gave both names that file); hint: run `openstack-vcluster show a_2Fb` once to move that cluster\'s state to its own file, then run this again\n',
    );
    expect(membersByCluster(dir)).toEqual({ a_2Fb: ["s1", "s2"] });
    expect((await cli(["show", "a_2Fb"], dir)).code).toBe(0);
    expect((await cli(["apply", "slash.json"], dir)).code).toBe(0);
    expect(membersByCluster(dir)).toEqual({ "a/b": ["s1", "s2"], a_2Fb: ["s1", "s2"] });
  });
});

describe("the simulated cloud's cloud.db", () => {
  it("deleted while clusters were built on it: not silently replaced; sim reset --force says what is lost", async () => {
    const dir = project({ shop: "shop", other: "other" });
    expect((await cli(["apply", "shop.json"], dir)).code).toBe(0);
    rmSync(path.join(dir, ".openstack-vcluster/sim/cloud.db"));
    const hint =
      'the simulated cloud in .openstack-vcluster/sim is gone (no cloud.db), and .openstack-vcluster/clusters records 1 cluster built on it: "shop"; hint: restore .openstack-vcluster/sim/cloud.db from a backup, or run `openstack-vcluster sim reset --force` to start a new, empty cloud there and set their state aside (what they held is lost)\n';
    const apply = await cli(["apply", "other.json"], dir);
    expect(apply.code).toBe(3);
    expect(apply.stderr).toBe(`cluster "other": ${hint}`);
    for (const args of [
      ["sim", "show"],
      ["sim", "reset"],
      ["plan", "other.json"],
    ]) {
      const r = await cli(args, dir);
      expect(r.code, args.join(" ")).toBe(3);
      expect(r.stderr).toBe(`openstack-vcluster: ${hint}`);
    }
    expect(existsSync(path.join(dir, ".openstack-vcluster/sim/cloud.db"))).toBe(false);

    const reset = await cli(["sim", "reset", "--force"], dir);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toBe(
      'simulated cloud in .openstack-vcluster/sim: there was no cloud.db; started a new, empty cloud with the default topology; 1 cluster built on the old cloud ("shop") went with it: its state was moved to .openstack-vcluster/lost-clusters.\n',
    );
    expect(readdirSync(path.join(dir, ".openstack-vcluster/lost-clusters"))).toEqual(["shop.json"]);
    expect((await cli(["apply", "other.json"], dir)).code).toBe(0);
    expect((await cli(["apply", "shop.json"], dir)).code).toBe(0);
    expect(membersByCluster(dir)).toEqual({ other: ["s1", "s2"], shop: ["s1", "s2"] });
  });

  it("another --sim-dir with no cloud yet is a new cloud, not a lost one", async () => {
    const dir = project({ shop: "shop" });
    expect((await cli(["apply", "shop.json", "--sim-dir", "cloud-a"], dir)).code).toBe(0);
    const r = await cli(["sim", "show", "--sim-dir", "cloud-b"], dir);
    expect(r.code, r.stderr).toBe(0);
  });

  /** A SQLite database that is not a simulated cloud's. */
  function otherDatabase(file: string): void {
    const db = new (sqlite("the test").DatabaseSync)(file);
    db.exec("CREATE TABLE notes (text TEXT)");
    db.close();
  }

  it.each([
    ["empty", "cloud.db", (f: string) => writeFileSync(f, ""), "is empty"],
    [
      "garbage",
      "cloud.db",
      (f: string) => writeFileSync(f, '{"version": 1, "servers": ['),
      "is not a SQLite database (",
    ],
    ["not a cloud", "cloud.db", otherDatabase, "is not a simulated cloud's state"],
    // An earlier release's state file, damaged before it could be migrated.
    [
      "cloud.json, garbage",
      "cloud.json",
      (f: string) => writeFileSync(f, '{"version": 1, "servers": ['),
      "is not valid JSON (",
    ],
    [
      "cloud.json, not a cloud",
      "cloud.json",
      (f: string) => writeFileSync(f, "[1, 2]"),
      "is not a simulated cloud's state",
    ],
  ])(
    "%s: every command names the file and the way out; sim reset --force recovers it",
    async (_what, name, damage, problem) => {
      const dir = project({ shop: "shop" });
      expect((await cli(["apply", "shop.json"], dir)).code).toBe(0);
      const simDir = path.join(dir, ".openstack-vcluster/sim");
      // A cloud.json is read only where there is no database yet.
      if (name === "cloud.json") rmSync(path.join(simDir, "cloud.db"));
      const file = path.join(simDir, name);
      rmSync(file, { force: true });
      damage(file);
      const tail = `the simulated cloud's state .openstack-vcluster/sim/${name} ${problem}`;
      const hint =
        "; hint: restore that file from a backup, or run `openstack-vcluster sim reset --force` to start a new, empty cloud there (what the old one held is lost; the file is kept aside)";
      for (const args of [
        ["apply", "shop.json"],
        ["show", "shop"],
        ["destroy", "shop"],
        ["sim", "show"],
        ["sim", "reset"],
      ]) {
        const r = await cli(args, dir);
        expect(r.code, args.join(" ")).toBe(3);
        oneLine(r);
        expect(said(r), args.join(" ")).toContain(tail);
        expect(said(r)).toContain(hint);
        expect(said(r)).toMatch(/^(cluster "shop"|openstack-vcluster): /);
      }
      const reset = await cli(["sim", "reset", "--force"], dir);
      expect(reset.code, reset.stderr).toBe(0);
      expect(reset.stdout).toMatch(
        new RegExp(
          `^simulated cloud in \\.openstack-vcluster/sim: its ${name.replace(".", "\\.")} could not be read and was kept as \\.openstack-vcluster/sim/${name.replace(".", "\\.")}\\.broken-[\\dTZ-]+; started a new, empty cloud with the default topology, and whatever the old one held is lost; 1 cluster built on the old cloud \\("shop"\\) went with it: its state was moved to \\.openstack-vcluster/lost-clusters\\.\n$`,
        ),
      );
      const kept = readdirSync(simDir).filter((n) => n.startsWith(`${name}.broken-`) && !/-(wal|shm)$/.test(n));
      expect(kept).toHaveLength(1);
      expect((await cli(["sim", "show"], dir)).code).toBe(0);
      expect((await cli(["apply", "shop.json"], dir)).code).toBe(0);
    },
  );

  it("sim reset --force of a usable cloud is a reset that says what it deleted", async () => {
    const dir = project({ shop: "shop" });
    expect((await cli(["apply", "shop.json"], dir)).code).toBe(0);
    const r = await cli(["sim", "reset", "--force"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      "simulated cloud in .openstack-vcluster/sim reset: deleted 2 servers, 0 volumes and 0 server groups, and its faults; topology kept.\n",
    );
    // Same cloud: the cluster's state is kept, and the next apply recreates its members.
    expect((await cli(["apply", "shop.json"], dir)).code).toBe(0);
    expect(membersByCluster(dir)).toEqual({ shop: ["s1", "s2"] });
  });

  it("faults from OPENSTACK_VCLUSTER_SIM_FAULTS end with the process that read them", {
    timeout: 180_000,
  }, async () => {
    await ensureBuilt();
    const dir = project({ shop: "shop" });
    const faulty = await spawned(["apply", "shop.json"], dir, {
      OPENSTACK_VCLUSTER_SIM_FAULTS: JSON.stringify([{ kind: "error", op: "createServer", times: 50 }]),
    });
    expect(faulty.code, faulty.stderr).toBe(3);
    expect(faulty.stderr).toContain("injected fault");
    expect(cloud(dir).faults).toEqual([]);
    const next = await spawned(["apply", "shop.json"], dir);
    expect(next.code, next.stderr).toBe(0);
    expect(membersByCluster(dir)).toEqual({ shop: ["s1", "s2"] });
  });
});

describe("destroy by name", () => {
  it("a name with no state and nothing tagged is 'nothing found' (exit 3), naming the clusters that do exist", async () => {
    const dir = project({ shop: "shop" });
    expect((await cli(["apply", "shop.json"], dir)).code).toBe(0);
    const r = await cli(["destroy", "shoop"], dir);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    oneLine(r);
    expect(said(r)).toMatch(
      /^cluster "shoop": nothing found: no state in \.openstack-vcluster\/clusters and nothing tagged with it on simulated cloud in ".*" \(admin view\); hint: check the name \(clusters with state here: "shop"\), or the cloud and --state-dir it was built with\n$/,
    );
    expect(membersByCluster(dir)).toEqual({ shop: ["s1", "s2"] });
  });

  it("without state, lists what is tagged with the name and deletes it only with --yes", async () => {
    const dir = project({ shop: "shop" });
    expect((await cli(["apply", "shop.json"], dir)).code).toBe(0);
    rmSync(path.join(clustersDir(dir), "shop.json"));
    const asked = await cli(["destroy", "shop"], dir);
    expect(asked.code).toBe(3);
    oneLine(asked);
    expect(said(asked)).toMatch(
      /^cluster "shop": no state in \.openstack-vcluster\/clusters, but 2 objects on simulated cloud in ".*" \(admin view\) are tagged with its name and would be deleted: server "[^"]+", server "[^"]+"; hint: run `openstack-vcluster destroy shop --yes` to delete them\n$/,
    );
    expect(membersByCluster(dir)).toEqual({ shop: ["s1", "s2"] });
    const yes = await cli(["destroy", "shop", "--yes"], dir);
    expect(yes.code, yes.stderr).toBe(0);
    expect(yes.stdout).toMatch(/^cluster "shop" destroyed/);
    expect(cloud(dir).servers).toEqual([]);
    expect((await cli(["destroy", "shop"], dir)).code).toBe(3);
  });

  it("with state, destroys without asking", async () => {
    const dir = project({ shop: "shop" });
    expect((await cli(["apply", "shop.json"], dir)).code).toBe(0);
    const r = await cli(["destroy", "shop"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(cloud(dir).servers).toEqual([]);
    expect(readdirSync(clustersDir(dir))).toEqual([]);
  });
});
