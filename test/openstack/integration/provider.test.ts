// The Pulumi provider against the real dev cloud: the SDK's dynamic-provider server, driven over gRPC
// like the engine (test/support/engine.ts), with `openstack-vcluster:cloud` naming a clouds.yaml entry.
// Pinned (admin) and delegated (member) modes, refresh after an out-of-band delete, an unplaceable
// cluster next to what Nova alone does with it, and a cluster over the project's quota.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerInfo, TAG_CLUSTER } from "../../../provider/backends/backend";
import type { OpenStackBackend } from "../../../provider/backends/openstack/openstack-backend";
import { ensureBuilt } from "../../support/build";
import { connectDevcloud, DEVCLOUD, devcloudSession, requireDevcloud } from "../../support/devcloud";
import { EngineSession, makeProgramDir, type Props, ProviderServer, serializedProvider } from "../../support/engine";

const RUN = randomBytes(3).toString("hex");

const server = (name: string, flavorRef = DEVCLOUD.flavor) => ({
  name,
  type: "server",
  spec: { imageRef: DEVCLOUD.image, flavorRef },
});
const apart = (membersRef: string[]) => ({ name: "apart", membersRef, spec: { rule: "anti-affinity", scope: "host" } });
const cluster = (name: string, names: string[], groupings: object[] = [apart(names)]): Props => ({
  clusterName: name,
  instances: names.map((n) => server(n)),
  groupings,
});

interface MemberOut {
  id: string;
  status: string;
  host?: string;
  hostId?: string;
}
const membersOf = (s: EngineSession) => (s.resource?.outputs.members ?? {}) as Record<string, MemberOut>;

async function until(what: string, ok: () => Promise<boolean>, ms = 120_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Servers, volumes and server groups that carry the cluster's tag, as the given user sees them. */
async function leftovers(b: OpenStackBackend, name: string): Promise<string[]> {
  const tag = { [TAG_CLUSTER]: name };
  const [s, v, g] = await Promise.all([b.findServers(tag), b.findVolumes(tag), b.findServerGroups(tag)]);
  return [...s.map((x) => `server ${x.name}`), ...v.map((x) => `volume ${x.name}`), ...g.map((x) => `group ${x.name}`)];
}

interface Stack {
  dir: string;
  server: ProviderServer;
  session: EngineSession;
}

let clouds = "";
const stacks: Stack[] = [];
const backends: OpenStackBackend[] = [];

async function startStack(cloud: "devcloud-admin" | "devcloud-member"): Promise<Stack> {
  const dir = makeProgramDir("vcluster-os-provider-");
  const text = serializedProvider(dir);
  // The provider reads clouds.yaml from its own environment, as under `pulumi up`.
  const srv = await ProviderServer.start(dir, { OS_CLIENT_CONFIG_FILE: clouds });
  await srv.configure({ "openstack-vcluster:cloud": cloud });
  const stack = { dir, server: srv, session: new EngineSession(srv, text) };
  stacks.push(stack);
  return stack;
}

async function backend(who: "admin" | "member"): Promise<OpenStackBackend> {
  const b = await connectDevcloud(who);
  backends.push(b);
  return b;
}

beforeAll(async () => {
  clouds = await requireDevcloud();
  await ensureBuilt();
}, 180_000);

afterAll(async () => {
  for (const s of stacks) {
    await s.server.stop();
    fs.rmSync(s.dir, { recursive: true, force: true });
  }
  await Promise.all(backends.map((b) => b.close()));
});

describe("the provider on the openstack devcloud, pinned (devcloud-admin)", () => {
  it("check, create with host anti-affinity, no-op diff, add a member, refresh after an out-of-band delete, repair, delete", async () => {
    const { session } = await startStack("devcloud-admin");
    const admin = await backend("admin");
    const name = `prov-pin-${RUN}`;
    const three = cluster(name, ["a", "b", "c"]);

    const preview = await session.preview(three);
    expect(preview.failures).toEqual([]);
    expect(await leftovers(admin, name)).toEqual([]);

    expect(await session.up(three)).toEqual({ kind: "created" });
    const made = membersOf(session);
    expect(Object.values(made).map((m) => m.status)).toEqual(["ACTIVE", "ACTIVE", "ACTIVE"]);
    // The admin view says where they really are: three different fake hosts, as recorded.
    const real = await Promise.all(["a", "b", "c"].map((n) => admin.getServer(made[n]?.id ?? "")));
    const hosts = real.map((s) => s?.host);
    expect(new Set(hosts).size).toBe(3);
    expect(hosts).toEqual(["a", "b", "c"].map((n) => made[n]?.host));

    expect(await session.up(three)).toEqual({ kind: "same" });
    expect(session.lastDiff?.changes).toBe("none");

    const four = cluster(name, ["a", "b", "c", "d"]);
    expect(await session.up(four)).toEqual({ kind: "updated" });
    const grown = membersOf(session);
    expect(grown.d?.status).toBe("ACTIVE");
    expect(["a", "b", "c"].map((n) => grown[n]?.id)).toEqual(["a", "b", "c"].map((n) => made[n]?.id));
    expect(new Set(["a", "b", "c", "d"].map((n) => grown[n]?.host)).size).toBe(4);

    // Someone deletes "d" behind Pulumi's back.
    const lost = grown.d?.id ?? "";
    await admin.deleteServer(lost);
    await until("the deleted server to go", async () => (await admin.getServer(lost)) === undefined);
    await session.refresh();
    expect(membersOf(session).d?.status).toBe("MISSING");
    expect(session.resource?.outputs.missing).toEqual(["d"]);

    expect(await session.up(four)).toEqual({ kind: "updated" });
    const repaired = membersOf(session);
    expect(repaired.d?.status).toBe("ACTIVE");
    expect(repaired.d?.id).not.toBe(lost);
    expect(new Set(["a", "b", "c", "d"].map((n) => repaired[n]?.host)).size).toBe(4);

    await session.destroy();
    expect(await leftovers(admin, name)).toEqual([]);
  });

  it("an unplaceable cluster fails check and nothing exists; Nova alone leaves an ERROR server", async () => {
    const { session } = await startStack("devcloud-admin");
    const admin = await backend("admin");
    const hosts = (await admin.discover()).topology.hosts.length;
    const names = Array.from({ length: hosts + 1 }, (_, i) => `n${i + 1}`);
    const name = `prov-unpl-${RUN}`;

    const outcome = await session.up(cluster(name, names));
    expect(outcome.kind).toBe("failed-check");
    const reasons = outcome.kind === "failed-check" ? outcome.failures.map((f) => f.reason).join("\n") : "";
    expect(reasons).toContain(`cluster "${name}"`);
    expect(reasons).toContain('"apart"');
    expect(session.resource).toBeUndefined();
    expect(await leftovers(admin, name)).toEqual([]);

    // The same servers straight into a Nova anti-affinity group: the scheduler finds out one server too late.
    const alone = `nova-alone-${RUN}`;
    const group = await admin.createServerGroup({
      name: alone,
      policy: "anti-affinity",
      metadata: { [TAG_CLUSTER]: alone },
    });
    const made: ServerInfo[] = [];
    try {
      for (const n of names) {
        const s = await admin.createServer({
          name: `${alone}-${n}`,
          imageRef: DEVCLOUD.image,
          flavorRef: DEVCLOUD.flavor,
          serverGroupId: group.id,
          metadata: { [TAG_CLUSTER]: alone },
        });
        let last: ServerInfo | undefined;
        await until(`server ${n} to leave BUILD`, async () => {
          last = await admin.getServer(s.id);
          return last !== undefined && last.status !== "BUILD";
        });
        made.push(last as ServerInfo);
      }
      const statuses = made.map((s) => s.status).sort();
      expect(statuses).toEqual([...Array(hosts).fill("ACTIVE"), "ERROR"]);
      expect(made.find((s) => s.status === "ERROR")?.fault).toMatch(/No valid host/);
    } finally {
      for (const s of made) await admin.deleteServer(s.id);
      await until(
        "Nova-alone servers to go",
        async () => (await admin.findServers({ [TAG_CLUSTER]: alone })).length === 0,
      );
      await admin.deleteServerGroup(group.id);
    }
    expect(await leftovers(admin, alone)).toEqual([]);
  });
});

describe("the provider on the openstack devcloud, delegated (devcloud-member)", () => {
  it("creates with host anti-affinity (distinct hostIds, distinct real hosts) and destroys clean", async () => {
    const { session } = await startStack("devcloud-member");
    const member = await backend("member");
    const admin = await backend("admin");
    const name = `prov-del-${RUN}`;
    const two = cluster(name, ["a", "b"]);

    expect((await session.preview(two)).failures).toEqual([]);
    expect(await session.up(two)).toEqual({ kind: "created" });
    const made = membersOf(session);
    expect(session.resource?.outputs.mode).toBe("delegated");
    expect(made.a?.host).toBeUndefined();
    expect(made.a?.hostId).toBeTruthy();
    expect(made.a?.hostId).not.toBe(made.b?.hostId);
    const real = await Promise.all(["a", "b"].map((n) => admin.getServer(made[n]?.id ?? "")));
    expect(real[0]?.host).toBeTruthy();
    expect(real[0]?.host).not.toBe(real[1]?.host);

    await session.destroy();
    expect(await leftovers(member, name)).toEqual([]);
  });

  it("a cluster over the project's quota fails check, naming the quota; nothing is created", async () => {
    const { session } = await startStack("devcloud-member");
    const member = await backend("member");
    const asMember = devcloudSession("member");
    const asAdmin = devcloudSession("admin");
    const project = await asMember.projectId();
    const limits = await asMember.request("compute", { method: "GET", path: "/limits" });
    const used = (limits.json as { limits: { absolute: { totalInstancesUsed: number } } }).limits.absolute
      .totalInstancesUsed;
    const name = `prov-quota-${RUN}`;
    await asAdmin.request("compute", {
      method: "PUT",
      path: `/os-quota-sets/${project}`,
      body: { quota_set: { instances: used + 2 } },
    });
    try {
      const outcome = await session.up(cluster(name, ["a", "b", "c"], []));
      expect(outcome.kind).toBe("failed-check");
      const reasons = outcome.kind === "failed-check" ? outcome.failures.map((f) => f.reason) : [];
      expect(reasons).toEqual([
        `cluster "${name}": needs 3 instances but the project has 2 left (quota instances); ask for more quota or remove 1 server`,
      ]);
      expect(await leftovers(member, name)).toEqual([]);
    } finally {
      await asAdmin.request("compute", {
        method: "PUT",
        path: `/os-quota-sets/${project}`,
        body: { quota_set: { instances: -1 } },
      });
      await Promise.all([asMember.close(), asAdmin.close()]);
    }
  });
});
