// `apply --dry-run` and `plan` against a built cluster on the simulated cloud: one line per member
// that would change, destructive ones as warnings, the same lines `pulumi preview` shows; nothing
// changed; exit codes as apply's. And what the command records to see user_data edits: a keyed
// digest, never the data.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO } from "../support/build";
import { cli } from "../support/cli";
import { projectSimState } from "../support/sim-state";

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "vcluster-dry-run-"));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

interface Edit {
  webKey?: string;
  webMetadata?: Record<string, string>;
  dbUserData?: string;
  dataSize?: number;
}

/** The spec file as a user writes it, with the edits given. */
function writeSpec(dir: string, e: Edit = {}): string {
  const file = path.join(dir, "shop.json");
  writeFileSync(
    file,
    JSON.stringify({
      name: "shop",
      instances: [
        {
          name: "web-1",
          type: "server",
          spec: {
            imageRef: "debian-12",
            flavorRef: "m1.small",
            keyName: e.webKey ?? "deploy-1",
            metadata: e.webMetadata ?? { role: "web" },
          },
        },
        {
          name: "db-1",
          type: "server",
          spec: {
            imageRef: "debian-12",
            flavorRef: "m1.medium",
            userData: e.dbUserData ?? "#cloud-config\nsecret: one",
          },
        },
        { name: "data", type: "volume", spec: { size: e.dataSize ?? 10, attachTo: "db-1" } },
      ],
      groupings: [{ name: "apart", membersRef: ["web-1", "db-1"], spec: { rule: "anti-affinity" } }],
    }),
  );
  return file;
}

/** Every server and volume of the cloud as it is: id, status and what an edit would change. */
function cloudView(dir: string) {
  const s = projectSimState(dir);
  return {
    servers: s.servers.map((x) => [x.id, x.status, x.imageRef, x.keyName, x.userDataDigest, x.metadata]),
    volumes: s.volumes.map((x) => [x.id, x.status, x.sizeGb, x.metadata]),
  };
}

async function builtCluster(): Promise<string> {
  const dir = mkdtempSync(path.join(work, "cluster-"));
  const r = await cli(["apply", writeSpec(dir)], dir);
  expect(r.code, r.stderr).toBe(0);
  return dir;
}

const STATE = (dir: string) => path.join(dir, ".openstack-vcluster", "clusters", "shop.json");

describe("apply --dry-run", () => {
  it("prints one line per member that would change, destructive ones as warnings, and changes nothing", async () => {
    const dir = await builtCluster();
    const before = cloudView(dir);
    const stateBefore = readFileSync(STATE(dir), "utf8");
    const spec = writeSpec(dir, {
      webKey: "deploy-2",
      webMetadata: { role: "web", tier: "1" },
      dbUserData: "#cloud-config\nsecret: two",
    });

    const r = await cli(["apply", spec, "--dry-run"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      [
        'cluster "shop": apply would change 2 members (dry run: nothing was changed):',
        'warning: cluster "shop": server "db-1": rebuild (root disk is wiped): userData changed',
        'warning: cluster "shop": server "web-1": rebuild (root disk is wiped): keyName "deploy-1" → "deploy-2"; metadata: set "tier" = "1"',
        "",
      ].join("\n"),
    );
    expect(r.stdout + r.stderr).not.toContain("secret");
    expect(cloudView(dir)).toEqual(before);
    expect(readFileSync(STATE(dir), "utf8")).toBe(stateBefore);

    // plan, against the live cloud, says the same lines.
    const plan = await cli(["plan", spec], dir);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(
      [
        "what apply would do:",
        '  warning: cluster "shop": server "db-1": rebuild (root disk is wiped): userData changed',
        '  warning: cluster "shop": server "web-1": rebuild (root disk is wiped): keyName "deploy-1" → "deploy-2"; metadata: set "tier" = "1"',
      ].join("\n"),
    );

    // --json: the same, as data.
    const j = await cli(["apply", spec, "--dry-run", "--json"], dir);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.stdout) as { dryRun: boolean; members: { member: string; level: string }[] };
    expect(doc.dryRun).toBe(true);
    expect(doc.members.map((m) => `${m.level} ${m.member}`)).toEqual(["warn db-1", "warn web-1"]);
    expect(cloudView(dir)).toEqual(before);

    // Then apply makes it, and a dry run finds nothing left to do.
    const applied = await cli(["apply", spec], dir);
    expect(applied.code, applied.stderr).toBe(0);
    const after = projectSimState(dir).servers.find((s) => s.name === "shop-web-1");
    expect(after).toMatchObject({ keyName: "deploy-2", metadata: expect.objectContaining({ tier: "1" }) });
    const again = await cli(["apply", spec, "--dry-run"], dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('cluster "shop": apply would change nothing (dry run)\n');
  });

  it("exits 1 when apply would refuse the change (a volume can't shrink), and 2 when it can't be placed", async () => {
    const dir = await builtCluster();
    const before = cloudView(dir);
    const shrink = await cli(["apply", writeSpec(dir, { dataSize: 5 }), "--dry-run"], dir);
    expect(shrink.code).toBe(1);
    expect(shrink.stderr).toContain('cluster "shop": volume "data" can\'t shrink from 10 GB to 5 GB');
    expect(shrink.stderr).toContain(
      "apply would refuse this change, and make none of it (dry run: nothing was changed)",
    );

    const wide = path.join(dir, "wide.json");
    // Four servers apart by zone: unplaceable on the default three-zone simulated cloud.
    copyFileSync(path.join(REPO, "test/fixtures/specs/four-zones-apart.json"), wide);
    const unplaceable = await cli(["apply", wide, "--dry-run"], dir);
    expect(unplaceable.code).toBe(2);
    expect(unplaceable.stderr).toContain('cluster "wide" can\'t be placed');
    expect(cloudView(dir)).toEqual(before);
  });

  it("a new cluster: every member would be created", async () => {
    const dir = mkdtempSync(path.join(work, "new-"));
    const r = await cli(["apply", writeSpec(dir), "--dry-run"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe(
      'cluster "shop": apply would create the cluster (dry run: nothing was changed):',
    );
    expect(r.stdout).toContain('cluster "shop": server "web-1": create ("m1.small") on host');
    expect(projectSimState(dir).servers).toEqual([]);
  });
});

describe("what the command records of user_data", () => {
  it("a keyed digest in the state file, the key in a file of its own only the user reads; never the data", async () => {
    const dir = await builtCluster();
    const text = readFileSync(STATE(dir), "utf8");
    expect(text).not.toContain("secret");
    const record = JSON.parse(text) as { appliedSpec: { members: { name: string; userData?: string }[] } };
    expect(record.appliedSpec.members.find((m) => m.name === "db-1")?.userData).toMatch(
      /^hmac-sha256:[0-9a-f]{8}:[0-9a-f]{64}$/,
    );
    const key = path.join(dir, ".openstack-vcluster", "user-data.key");
    expect(statSync(key).mode & 0o777).toBe(0o600);
  });

  it("without a record (a state of an older release) a user_data edit can't be seen: said, nothing rebuilt", async () => {
    const dir = await builtCluster();
    const state = JSON.parse(readFileSync(STATE(dir), "utf8")) as Record<string, unknown>;
    delete state.appliedSpec;
    writeFileSync(STATE(dir), JSON.stringify(state));
    const r = await cli(["apply", writeSpec(dir, { dbUserData: "changed" }), "--dry-run"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('cluster "shop": apply would change nothing (dry run)\n');
    expect(r.stderr).toContain("no record of the spec last applied (a state of an older release)");
  });

  it("a digest made with another key can't be compared: said, nothing rebuilt on a guess", async () => {
    const dir = await builtCluster();
    writeFileSync(path.join(dir, ".openstack-vcluster", "user-data.key"), `${"ab".repeat(32)}\n`);
    const r = await cli(["apply", writeSpec(dir, { dbUserData: "changed" }), "--dry-run"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('cluster "shop": apply would change nothing (dry run)\n');
    expect(r.stderr).toContain('can\'t tell whether the userData of "db-1" changed');
  });
});
