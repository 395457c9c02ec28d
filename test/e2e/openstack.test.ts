// One whole program under the real `pulumi` command against the real OpenStack dev cloud (issue 5's
// last point): a copy of examples/blueprint-use-case-2 with the dev cloud's image and flavor, through
// preview, up, a second up, refresh after an out-of-band delete, up repairs, destroy; and no credential
// in the stack's state. Needs test/openstack/devcloud/up.sh first: `npm run test:e2e:openstack`.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TAG_CLUSTER, TAG_MEMBER } from "../../provider/backends/backend";
import type { OpenStackBackend } from "../../provider/backends/openstack/openstack-backend";
import { connectDevcloud, DEVCLOUD, devcloudPassword, requireDevcloud } from "../support/devcloud";
import { clusterOps, Program, summary } from "./harness";

const CLUSTER = `uc2-${randomBytes(3).toString("hex")}`;
const SERVERS = ["db-server-1", "db-server-2"];
const VOLUMES = ["db-vol-1", "db-vol-2"];

/** The example as the dev cloud can run it: its image and smallest flavor, 1 GB volumes, a name of its own. */
function adaptToDevcloud(dir: string): void {
  const file = path.join(dir, "index.ts");
  const before = fs.readFileSync(file, "utf8");
  const after = before
    .replaceAll('imageRef: "debian-12"', `imageRef: "${DEVCLOUD.image}"`)
    .replaceAll('flavorRef: "m1.large"', `flavorRef: "${DEVCLOUD.flavor}"`)
    .replaceAll("size: 100", "size: 1")
    .replace('new VCluster("uc2", {', `new VCluster("uc2", {\n  clusterName: "${CLUSTER}",`);
  // The example changed shape: fail here rather than run something else against the cloud.
  expect(after.match(new RegExp(DEVCLOUD.image, "g"))?.length).toBe(2);
  expect(after.match(new RegExp(DEVCLOUD.flavor, "g"))?.length).toBe(2);
  expect(after.match(/size: 1\b/g)?.length).toBe(2);
  expect(after).toContain(`clusterName: "${CLUSTER}"`);
  fs.writeFileSync(file, after);
}

interface Live {
  servers: Map<string, { id: string; host?: string; status: string }>;
  volumes: Map<string, { id: string; status: string; attachedTo: string[]; backend?: string }>;
  groups: number;
}

async function live(b: OpenStackBackend): Promise<Live> {
  const tag = { [TAG_CLUSTER]: CLUSTER };
  const [servers, volumes, groups] = await Promise.all([
    b.findServers(tag),
    b.findVolumes(tag),
    b.findServerGroups(tag),
  ]);
  const byMember = <T extends { metadata: Record<string, string> }>(xs: T[]) =>
    new Map(xs.map((x) => [x.metadata[TAG_MEMBER] ?? "?", x] as const));
  return { servers: byMember(servers), volumes: byMember(volumes), groups: groups.length };
}

const sorted = (m: Map<string, unknown>) => [...m.keys()].sort();

describe("blueprint-use-case-2 under pulumi on the openstack devcloud (pinned, devcloud-admin)", () => {
  let p: Program;
  let admin: OpenStackBackend;
  let password = "";

  beforeAll(async () => {
    const clouds = await requireDevcloud();
    password = devcloudPassword("admin");
    admin = await connectDevcloud("admin");
    // The cloud comes from the environment, as OpenStack users have it; the password also rides in
    // OS_PASSWORD and in the stack's config (a secret). None of it may reach the state.
    p = await Program.start("blueprint-use-case-2", {
      OS_CLIENT_CONFIG_FILE: clouds,
      OS_CLOUD: "devcloud-admin",
      OS_PASSWORD: password,
    });
    adaptToDevcloud(p.dir);
    // The example's Pulumi.yaml chooses the simulated cloud; a stack chooses OpenStack explicitly.
    await p.ok(["config", "set", "openstack-vcluster:backend", "openstack"]);
    await p.ok(["config", "set", "--secret", "openstack-vcluster:password", password]);
  });

  afterAll(async () => {
    // A failed step must not leave servers on the shared dev cloud.
    if (p && admin && ((await live(admin)).servers.size > 0 || (await live(admin)).volumes.size > 0)) {
      await p.pulumi(["destroy", "--yes"]);
    }
    await admin?.close();
    await p?.dispose();
  });

  async function expectNoCredentialInState(): Promise<void> {
    const { text } = await p.exportState();
    for (const stored of [text, p.backendFiles()]) expect(stored).not.toContain(password);
  }

  it("preview shows the members to create and creates nothing", async () => {
    const r = await p.ok(["preview", "--diff"]);
    expect(clusterOps(r)).toEqual(["create"]);
    for (const name of [...SERVERS, ...VOLUMES]) expect(r.output).toContain(name);
    const l = await live(admin);
    expect([l.servers.size, l.volumes.size, l.groups]).toEqual([0, 0, 0]);
  });

  it("up creates them: servers on different real hosts, each volume attached to its server", async () => {
    const r = await p.ok(["up", "--yes"]);
    expect(clusterOps(r)).toEqual(["create"]);
    const l = await live(admin);
    expect(sorted(l.servers)).toEqual(SERVERS);
    expect(sorted(l.volumes)).toEqual(VOLUMES);
    const hosts = SERVERS.map((s) => l.servers.get(s)?.host);
    expect(hosts.every((h) => h !== undefined)).toBe(true);
    expect(new Set(hosts).size).toBe(2);
    // Each volume on its server's host (affinity "data-N"), as Cinder reports its backend "<host>@<driver>#<pool>".
    for (const [i, v] of VOLUMES.entries()) {
      const s = l.servers.get(SERVERS[i] as string);
      expect(l.volumes.get(v)?.attachedTo).toEqual([s?.id]);
      expect(l.volumes.get(v)?.backend?.split("@")[0]).toBe(s?.host);
    }
    const { clusters } = await p.exportState();
    expect(clusters[0]?.outputs?.mode).toBe("pinned");
    await expectNoCredentialInState();
  });

  it("a second up changes nothing", async () => {
    const r = await p.ok(["up", "--yes", "--expect-no-changes"]);
    expect(clusterOps(r)).toEqual(["same"]);
  });

  it("refresh reports a server deleted out of band, and up brings it back with its volume", async () => {
    const before = await live(admin);
    const victim = before.servers.get("db-server-2");
    if (!victim) throw new Error("db-server-2 is not on the cloud");
    await admin.deleteServer(victim.id);
    for (let i = 0; i < 240 && (await admin.getServer(victim.id)); i++) await new Promise((r) => setTimeout(r, 500));
    expect(await admin.getServer(victim.id)).toBeUndefined();

    const refreshed = await p.ok(["refresh", "--yes"]);
    expect(summary(refreshed)).toMatchObject({ update: 1 });
    expect((await p.exportState()).clusters[0]?.outputs?.missing).toEqual(["db-server-2"]);

    const repaired = await p.ok(["up", "--yes"]);
    expect(clusterOps(repaired)).toEqual(["update"]);
    const after = await live(admin);
    expect(sorted(after.servers)).toEqual(SERVERS);
    expect(after.servers.get("db-server-1")?.id).toBe(before.servers.get("db-server-1")?.id);
    const reborn = after.servers.get("db-server-2");
    expect(reborn?.id).not.toBe(victim.id);
    expect(reborn?.status).toBe("ACTIVE");
    expect(reborn?.host).not.toBe(after.servers.get("db-server-1")?.host);
    expect(after.volumes.get("db-vol-2")?.id).toBe(before.volumes.get("db-vol-2")?.id);
    expect(after.volumes.get("db-vol-2")?.attachedTo).toEqual([reborn?.id]);
    expect((await p.exportState()).clusters[0]?.outputs?.missing).toEqual([]);
  });

  it("destroy leaves no server, volume or server group, and no credential in the state", async () => {
    const r = await p.ok(["destroy", "--yes"]);
    expect(clusterOps(r)).toEqual(["delete"]);
    const l = await live(admin);
    expect([l.servers.size, l.volumes.size, l.groups]).toEqual([0, 0, 0]);
    await expectNoCredentialInState();
  });
});
