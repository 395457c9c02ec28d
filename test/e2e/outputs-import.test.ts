// Under the real `pulumi`: the `inventory` example's outputs (each server's address in an Ansible
// inventory, the data volume's device) and its customTimeouts recorded; then `import` — of the same
// cluster after the stack forgot it (`pulumi state delete`), found by its tags, and of servers and a
// volume made by hand (no tags), named by id — adopting what exists, changing nothing on the cloud,
// with what differs made by the next `pulumi up`.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SimulatedCloud } from "../../provider/backends/simulated";
import { clusterOps, type ExportedResource, Program, type SimView } from "./harness";

interface Inventory {
  all: { hosts: Record<string, { ansible_host?: string }> };
}

function ids(view: SimView): string[] {
  return [...view.servers, ...view.volumes].map((o) => o.id).sort();
}

async function outputs(p: Program): Promise<Record<string, unknown>> {
  return JSON.parse((await p.ok(["stack", "output", "--json"])).output) as Record<string, unknown>;
}

function diagnostics(r: { events: { diagnosticEvent?: { message: string } }[] }): string {
  return r.events.map((e) => e.diagnosticEvent?.message ?? "").join("");
}

describe("outputs a program can use, and import", () => {
  let p: Program;
  let clusterName = "";

  beforeAll(async () => {
    p = await Program.start("inventory");
    await p.ok(["up", "--yes"]);
  });
  afterAll(async () => {
    await p?.ok(["destroy", "--yes"]).catch(() => undefined);
    await p?.dispose();
  });

  it("exports each server's address and the data volume's device; customTimeouts recorded", async () => {
    const out = await outputs(p);
    clusterName = out.clusterName as string;
    expect(clusterName).toBe("vcluster-inventory-e2e-inventory");
    const hosts = (out.inventory as Inventory).all.hosts;
    expect(Object.keys(hosts).sort()).toEqual(["db-1", "web-1", "web-2"]);
    for (const h of Object.values(hosts)) expect(h.ansible_host).toMatch(/^10\.\d+\.\d+\.\d+$/);
    expect(new Set(Object.values(hosts).map((h) => h.ansible_host)).size).toBe(3);
    expect(out.dbStorageAddress).toMatch(/^10\.\d+\.\d+\.\d+$/);
    expect(out.dataDevice).toBe("/dev/vdb");
    const { clusters } = await p.exportState();
    expect(clusters[0]?.inputs?.customTimeouts).toEqual({ create: "20m", delete: "10m" });
  });

  it("import of the cluster after the stack forgot it: found by tags, nothing made, then a no-op", async () => {
    const before = ids(await p.sim());
    const { clusters } = await p.exportState();
    await p.ok(["state", "delete", (clusters[0] as ExportedResource).urn, "--yes"]);
    expect((await p.exportState()).clusters).toEqual([]);

    await p.ok(["config", "set", "import", clusterName]);
    const preview = await p.ok(["preview"]);
    expect(clusterOps(preview)).toEqual(["create"]);
    expect(diagnostics(preview)).toContain(
      `cluster "${clusterName}": imports 4 members (4 by tags); nothing on the cloud is changed`,
    );
    const up = await p.ok(["up", "--yes"]);
    expect(clusterOps(up)).toEqual(["create"]);
    expect(ids(await p.sim())).toEqual(before);
    expect((await outputs(p)).dataDevice).toBe("/dev/vdb");

    const again = await p.ok(["up", "--yes", "--expect-no-changes"]);
    expect(clusterOps(again)).toEqual(["same"]);
  });
});

describe("import of members made by hand, named by id", () => {
  let p: Program;

  beforeAll(async () => {
    p = await Program.start("inventory");
  });
  afterAll(async () => {
    await p?.ok(["destroy", "--yes"]).catch(() => undefined);
    await p?.dispose();
  });

  it("adopts them as they are, and the next up makes what differs (the volume attached)", async () => {
    // Made on the cloud without the product's tags, where the spec's rules allow (web-1 and web-2 apart).
    const cloud = await SimulatedCloud.open({ dir: p.simDir, env: {} });
    const made: Record<string, string> = {};
    const server = async (name: string, host: string, flavorRef: string, networks?: string[]) => {
      const s = await cloud.createServer({
        name,
        imageRef: "debian-12",
        flavorRef,
        zone: "az1",
        host,
        metadata: {},
        ...(networks ? { networks } : {}),
      });
      made[name] = s.id;
    };
    await server("web-1", "az1-r1-h1", "m1.small");
    await server("web-2", "az1-r1-h2", "m1.small");
    await server("db-1", "az1-r2-h1", "m1.medium", ["front", "storage"]);
    const data = await cloud.createVolume({
      name: "db-1-data",
      sizeGb: 50,
      volumeType: "ssd",
      zone: "az1",
      metadata: {},
    });
    made["db-1-data"] = data.id;
    for (let i = 0; i < 200 && (await cloud.getVolume(data.id))?.status !== "available"; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await cloud.close();

    const name = "vcluster-inventory-e2e-inventory";
    const pairs = Object.entries(made)
      .map(([member, id]) => `${member}=${id}`)
      .join(",");
    await p.ok(["config", "set", "import", `${name}:${pairs}`]);
    const preview = await p.ok(["preview"]);
    const said = diagnostics(preview);
    expect(said).toContain(`cluster "${name}": imports 4 members (4 by id); nothing on the cloud is changed`);
    expect(said).toContain(`cluster "${name}": volume "db-1-data": attach to server "db-1"`);

    await p.ok(["up", "--yes"]);
    const view = await p.sim();
    expect(ids(view)).toEqual(Object.values(made).sort());
    expect((await outputs(p)).dataDevice).toBeUndefined();

    // The next up attaches the volume, an update of the cluster; every object stays what it was.
    const next = await p.ok(["up", "--yes"]);
    expect(clusterOps(next)).toEqual(["update"]);
    expect(ids(await p.sim())).toEqual(Object.values(made).sort());
    expect((await outputs(p)).dataDevice).toBe("/dev/vdb");
    expect(clusterOps(await p.ok(["up", "--yes", "--expect-no-changes"]))).toEqual(["same"]);
  });
});
