// Through the SDK's own dynamic-provider server, as the engine drives it: the SDK's camelCase names
// and the old snake_case ones (state written with them shows no change; a program still using them
// works, warned); the outputs a program reaches members by (addresses, ports, devices), kept by
// refresh; customTimeouts honoured and recorded; and `import` of a cluster that already exists.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SimulatedCloud } from "../../provider/backends/simulated";
import { ensureBuilt } from "../support/build";
import { grouping, server, volume } from "../support/clusterspec";
import { EngineSession, makeProgramDir, type Props, ProviderServer, serializedProvider } from "../support/engine";

interface Stack {
  dir: string;
  simDir: string;
  server: ProviderServer;
  text: string;
  session: EngineSession;
}

async function startStack(prefix: string, env: NodeJS.ProcessEnv = {}): Promise<Stack> {
  const dir = makeProgramDir(prefix);
  const simDir = path.join(dir, "sim");
  const text = serializedProvider(dir);
  const srv = await ProviderServer.start(dir, env);
  await srv.configure({ "openstack-vcluster:simulatedDir": simDir });
  return { dir, simDir, server: srv, text, session: new EngineSession(srv, text) };
}

async function stopStack(stack: Stack | undefined): Promise<void> {
  await stack?.server.stop();
  if (stack) fs.rmSync(stack.dir, { recursive: true, force: true });
}

interface MemberOut {
  id: string;
  status: string;
  addresses?: Record<string, { fixed: string[]; floating: string[] }>;
  accessIpV4?: string;
  ports?: string[];
  device?: string;
  attachedTo?: string;
}

function members(session: EngineSession): Record<string, MemberOut> {
  return (session.resource?.outputs.members ?? {}) as Record<string, MemberOut>;
}

/** The lines the provider printed since `from` (the engine shows them under the resource). */
/** The provider server's lines since `from` (test/support/engine.ts: settled, they come through a pipe). */
function linesSince(stack: Stack, from: number): Promise<string[]> {
  return stack.server.settledStdout(from);
}

beforeAll(() => ensureBuilt(), 120_000);

const old = (name = "nm"): Props => ({
  clusterName: name,
  instances: [
    server("web-1", { key_name: "deploy", security_groups: ["default", "web"], user_data: "#cloud-config\n" }),
    volume("data", { volume_type: "ssd", attachTo: "web-1" }),
  ],
  groupings: [],
});
const renamed = (name = "nm"): Props => ({
  clusterName: name,
  instances: [
    server("web-1", { keyName: "deploy", securityGroups: ["default", "web"], userData: "#cloud-config\n" }),
    volume("data", { volumeType: "ssd", attachTo: "web-1" }),
  ],
  groupings: [],
});

describe("names: camelCase, and the snake_case of earlier releases", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack("vcluster-names-");
  }, 60_000);
  afterAll(() => stopStack(stack));

  test("a program still using key_name, … works, warned once per old name, naming the new one", async () => {
    const from = stack.server.stdout.length;
    expect(await stack.session.up(old())).toEqual({ kind: "created" });
    const warnings = (await linesSince(stack, from)).filter(
      (l) => l.startsWith("warning: ") && l.includes("deprecated"),
    );
    expect([...new Set(warnings)]).toEqual([
      'warning: cluster "nm": instances[0].spec.key_name: "key_name" is deprecated: the field is "keyName" now (hint: rename "key_name" to "keyName"; the old name keeps working until then)',
      'warning: cluster "nm": instances[0].spec.security_groups: "security_groups" is deprecated: the field is "securityGroups" now (hint: rename "security_groups" to "securityGroups"; the old name keeps working until then)',
      'warning: cluster "nm": instances[0].spec.user_data: "user_data" is deprecated: the field is "userData" now (hint: rename "user_data" to "userData"; the old name keeps working until then)',
      'warning: cluster "nm": instances[1].spec.volume_type: "volume_type" is deprecated: the field is "volumeType" now (hint: rename "volume_type" to "volumeType"; the old name keeps working until then)',
    ]);
    expect(members(stack.session)["web-1"]?.status).toBe("ACTIVE");
  });

  test("the state written with the old names: the same program in the new names shows no change, says nothing", async () => {
    const from = stack.server.stdout.length;
    const preview = await stack.session.preview(renamed());
    expect(preview.failures).toEqual([]);
    expect(preview.diff).toEqual({ changes: "none", replaces: [], deleteBeforeReplace: false });
    expect(await stack.session.up(renamed())).toEqual({ kind: "same" });
    expect((await linesSince(stack, from)).filter((l) => l.includes("deprecated"))).toEqual([]);
    // And back: state in the new names, a program in the old ones (a rollback of the program) is no change either.
    expect((await stack.session.preview(old())).diff?.changes).toBe("none");
  });

  test("both spellings of one field: the preview fails naming both", async () => {
    const both = renamed();
    (both.instances as Props[])[0] = server("web-1", { keyName: "deploy", key_name: "deploy" });
    const res = await stack.session.preview(both);
    expect(res.failures.map((f) => f.reason)).toEqual([
      'cluster "nm": instances[0].spec.key_name: "keyName" and "key_name" are two spellings of one field, and both are given (hint: keep "keyName" and remove "key_name")',
    ]);
  });

  test("destroy", async () => {
    await stack.session.destroy();
  });
});

describe("outputs a program reaches its members by", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack("vcluster-outputs-");
  }, 60_000);
  afterAll(() => stopStack(stack));

  const cluster: Props = {
    clusterName: "out",
    instances: [
      server("web-1", { networks: ["front", "back"] }),
      server("db-1"),
      volume("db-data", { attachTo: "db-1" }),
      volume("db-logs", { attachTo: "db-1" }),
    ],
    groupings: [grouping("g", ["web-1", "db-1"], { rule: "anti-affinity" })],
  };

  test("each server's addresses per network, the address to reach it at, its ports; each volume's device", async () => {
    expect(await stack.session.up(cluster)).toEqual({ kind: "created" });
    const m = members(stack.session);
    const web = m["web-1"];
    // A map by network name (Pulumi's state keeps no key order): the address to reach it at is its first network's.
    expect(Object.keys(web?.addresses ?? {}).sort()).toEqual(["back", "front"]);
    expect(web?.addresses?.front).toEqual({ fixed: [expect.stringMatching(/^10\.\d+\.\d+\.\d+$/)], floating: [] });
    expect(web?.accessIpV4).toBe(web?.addresses?.front?.fixed[0]);
    expect(web?.ports).toHaveLength(2);
    expect(Object.keys(m["db-1"]?.addresses ?? {})).toEqual(["private"]);
    expect([m["db-data"]?.device, m["db-logs"]?.device].sort()).toEqual(["/dev/vdb", "/dev/vdc"]);
    expect(m["db-data"]?.attachedTo).toBe("db-1");
  });

  test("refresh reads them again, unchanged", async () => {
    const before = members(stack.session);
    await stack.session.refresh();
    const after = members(stack.session);
    for (const name of ["web-1", "db-1", "db-data", "db-logs"]) {
      expect(after[name]?.addresses, name).toEqual(before[name]?.addresses);
      expect(after[name]?.ports, name).toEqual(before[name]?.ports);
      expect(after[name]?.device, name).toEqual(before[name]?.device);
    }
  });

  test("customTimeouts alone changed: an update that records them and changes nothing on the cloud", async () => {
    const ids = Object.fromEntries(Object.entries(members(stack.session)).map(([n, m]) => [n, m.id]));
    const timed = { ...cluster, customTimeouts: { create: "20m", delete: "15m" } };
    const from = stack.server.stdout.length;
    const preview = await stack.session.preview(timed);
    expect(preview.diff?.changes).toBe("some");
    expect(await linesSince(stack, from)).toContain(
      'cluster "out": only customTimeouts change; nothing on the cloud does',
    );
    expect(await stack.session.up(timed)).toEqual({ kind: "updated" });
    expect(stack.session.resource?.outputs.customTimeouts).toEqual({ create: "20m", delete: "15m" });
    expect(Object.fromEntries(Object.entries(members(stack.session)).map(([n, m]) => [n, m.id]))).toEqual(ids);
    expect(await stack.session.up(timed)).toEqual({ kind: "same" });
  });

  test("a customTimeouts that is not a duration fails the preview", async () => {
    const res = await stack.session.preview({ ...cluster, customTimeouts: { update: "soon" } });
    expect(res.failures.map((f) => f.reason)).toEqual([
      'cluster "out": customTimeouts.update: "soon" is not a duration (hint: write it as Go does: "30m", "1h30m", "90s")',
    ]);
  });

  test("destroy", async () => {
    await stack.session.destroy();
    const cloud = await SimulatedCloud.open({ dir: stack.simDir });
    expect((await cloud.snapshot()).servers).toEqual([]);
    await cloud.close();
  });
});

describe("customTimeouts.create bounds the create", () => {
  let stack: Stack;
  beforeAll(async () => {
    // Every server build of this provider process takes 30 s longer: only the limit can end it.
    stack = await startStack("vcluster-timeout-", {
      OPENSTACK_VCLUSTER_SIM_FAULTS: JSON.stringify([{ kind: "slow", op: "createServer", ms: 30_000, times: 10 }]),
    });
  }, 60_000);
  afterAll(() => stopStack(stack));

  test("a create that runs out of its limit fails naming it, rolled back, nothing recorded", async () => {
    const started = Date.now();
    const outcome = await stack.session
      .up({
        clusterName: "slow",
        instances: [server("a")],
        groupings: [],
        customTimeouts: { create: "2s", delete: "1m" },
      })
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(String((outcome as Error).message ?? outcome)).toContain("customTimeouts.create (2s)");
    expect(stack.session.resource).toBeUndefined();
    const cloud = await SimulatedCloud.open({ dir: stack.simDir });
    const left = (await cloud.snapshot()).servers.filter((s) => s.pending?.kind !== "delete");
    expect(left).toEqual([]);
    await cloud.close();
  });
});

describe("import: a cluster whose members exist", () => {
  let stack: Stack;
  const shop: Props = {
    clusterName: "shop",
    instances: [server("web-1"), server("web-2"), volume("web-1-data", { attachTo: "web-1" })],
    groupings: [grouping("apart", ["web-1", "web-2"], { rule: "anti-affinity" })],
  };
  beforeAll(async () => {
    stack = await startStack("vcluster-import-");
    // Built by another stack (or the command), then that stack forgot it (pulumi state delete).
    expect(await stack.session.up(shop)).toEqual({ kind: "created" });
  }, 60_000);
  afterAll(() => stopStack(stack));

  test("preview says what it finds and creates nothing; up records it; the next up is a no-op", async () => {
    const built = members(stack.session);
    const adopter = new EngineSession(stack.server, stack.text, "shop-imported");
    const from = stack.server.stdout.length;
    const preview = await adopter.preview({ ...shop, importId: "shop" });
    expect(preview.failures).toEqual([]);
    expect(await linesSince(stack, from)).toContain(
      'cluster "shop": imports 3 members (3 by tags); nothing on the cloud is changed',
    );
    expect(await adopter.up({ ...shop, importId: "shop" })).toEqual({ kind: "created" });
    const adopted = members(adopter);
    for (const name of ["web-1", "web-2", "web-1-data"]) expect(adopted[name]?.id, name).toBe(built[name]?.id);
    expect(adopted["web-1-data"]?.device).toBe("/dev/vdb");
    // The import option left in the program changes nothing later.
    expect(await adopter.up({ ...shop, importId: "shop" })).toEqual({ kind: "same" });
    expect(await adopter.up(shop)).toEqual({ kind: "same" });
  });

  test("what differs is warned at import and made by the next up, shown member by member first", async () => {
    const adopter = new EngineSession(stack.server, stack.text, "shop-resized");
    const wanted: Props = {
      ...shop,
      instances: [
        server("web-1", { flavorRef: "m1.medium" }),
        server("web-2"),
        volume("web-1-data", { attachTo: "web-1" }),
      ],
    };
    const from = stack.server.stdout.length;
    expect(await adopter.up({ ...wanted, importId: "shop" })).toEqual({ kind: "created" });
    expect(await linesSince(stack, from)).toContain(
      'warning: cluster "shop": server "web-1": resize "m1.small" → "m1.medium"',
    );
    const preview = await adopter.preview(wanted);
    expect(preview.diff?.changes).toBe("some");
    expect(await adopter.up(wanted)).toEqual({ kind: "updated" });
    expect((members(adopter)["web-1"] as MemberOut & { flavorRef?: string }).flavorRef).toBe("m1.medium");
    expect(await adopter.up(wanted)).toEqual({ kind: "same" });
  });

  test("members made by hand, named by id: adopted as they are; the next up attaches the volume", async () => {
    const cloud = await SimulatedCloud.open({ dir: stack.simDir });
    const db = await cloud.createServer({
      name: "db",
      imageRef: "debian-12",
      flavorRef: "m1.small",
      zone: "az1",
      metadata: {},
    });
    const data = await cloud.createVolume({ name: "data", sizeGb: 10, zone: "az1", metadata: {} });
    for (let i = 0; i < 200 && (await cloud.getVolume(data.id))?.status !== "available"; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await cloud.close();
    const hand: Props = {
      clusterName: "hand",
      instances: [server("db"), volume("data", { attachTo: "db" })],
      groupings: [],
    };
    const adopter = new EngineSession(stack.server, stack.text, "hand");
    const from = stack.server.stdout.length;
    expect(await adopter.up({ ...hand, importId: `hand:db=${db.id},data=${data.id}` })).toEqual({ kind: "created" });
    expect(await linesSince(stack, from)).toEqual(
      expect.arrayContaining([
        'cluster "hand": imports 2 members (2 by id); nothing on the cloud is changed',
        'warning: cluster "hand": volume "data": attach to server "db"',
      ]),
    );
    expect(members(adopter).data?.attachedTo).toBeUndefined();
    expect((await adopter.preview(hand)).diff?.changes).toBe("some");
    expect(await adopter.up(hand)).toEqual({ kind: "updated" });
    expect(members(adopter).data).toMatchObject({ id: data.id, attachedTo: "db", device: "/dev/vdb" });
    expect(members(adopter).db?.id).toBe(db.id);
    expect(await adopter.up(hand)).toEqual({ kind: "same" });
  });

  test("read by id, no state (a program's `new VCluster(name, args, { id })`): the cluster as found", async () => {
    const urn = "urn:pulumi:dev::proj::pulumi-nodejs:dynamic/openstack-vcluster:VCluster::shop-read";
    const res = await stack.server.read(urn, "shop", {}, { ...shop, __provider: stack.text });
    expect(res.id).toBe("shop");
    expect(Object.keys((res.properties.members ?? {}) as object).sort()).toEqual(["web-1", "web-1-data", "web-2"]);
    const none = await stack.server.read(urn, "nobody", {}, { ...shop, clusterName: "nobody", __provider: stack.text });
    expect(none.id).toBe("");
  });

  test("an import id naming another cluster, or unknown ids, fail the preview", async () => {
    const adopter = new EngineSession(stack.server, stack.text, "shop-wrong");
    const other = await adopter.preview({ ...shop, importId: "shoppe" });
    expect(other.failures.map((f) => f.reason)).toEqual([
      'cluster "shop": the import id "shoppe" names cluster "shoppe", but this resource\'s clusterName is "shop" (hint: set clusterName: "shoppe" in the resource\'s args: it is the name the cluster\'s members are tagged with)',
    ]);
    const unknown = await adopter.preview({ ...shop, importId: "shop:web-2=00000000-0000-4000-8000-000000000000" });
    expect(unknown.failures.map((f) => f.reason)).toEqual([
      expect.stringMatching(/^cluster "shop": no server "00000000-0000-4000-8000-000000000000" \(named for "web-2"\)/),
    ]);
  });
});
