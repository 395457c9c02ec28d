// The backend conformance suite: what every Backend (simulated, openstack) must do, written only
// against the Backend interface so a real Nova/Cinder can run it too. Each test makes objects
// tagged with a run id and deletes them itself, so it can run against a shared cloud.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  BackendError,
  type BackendErrorCode,
  type ServerInfo,
  TAG_CLUSTER,
  TAG_MEMBER,
  type VolumeInfo,
} from "../../provider/backends/backend";

export interface ConformanceFixture {
  backend: Backend;
  imageRef: string;
  otherImageRef: string;
  flavorRef: string;
  biggerFlavorRef: string;
  /** A flavor that fits no host; without it the "No valid host" test says it cannot run. */
  hugeFlavorRef?: string;
  zone: string;
  /** Two keypairs that exist; without them the key rebuild test says it cannot run. */
  keyNames?: [string, string];
  /** A security group besides "default" that servers can take (they need a network port for it); else not checked. */
  securityGroup?: string;
  /** Two volume types; without them the retype test says it cannot run. */
  volumeTypes?: [string, string];
  /**
   * Two networks (ids) a server can be on: it boots on the first, the second is attached and the first
   * detached; without them the network test says it cannot run.
   */
  networks?: [string, string];
  cleanup(): Promise<void>;
  pollMs?: number;
  timeoutMs?: number;
}

const BUSY_VOLUME = ["creating", "attaching", "detaching", "extending", "deleting", "retyping"];

/** Polls `get` until `done` holds; fails with the last value seen when the deadline passes. */
async function waitFor<T>(
  what: string,
  get: () => Promise<T>,
  done: (v: T) => boolean,
  fx: ConformanceFixture,
): Promise<T> {
  const deadline = Date.now() + (fx.timeoutMs ?? 10_000);
  const pollMs = fx.pollMs ?? fx.backend.pollIntervalMs;
  for (;;) {
    const v = await get();
    if (done(v)) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(v)}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function expectBackendError(p: Promise<unknown>, code: BackendErrorCode): Promise<BackendError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a BackendError with code "${code}"`).toBeInstanceOf(BackendError);
  expect((err as BackendError).code).toBe(code);
  return err as BackendError;
}

export function describeBackendConformance(name: string, setup: () => Promise<ConformanceFixture>): void {
  describe(`backend conformance: ${name}`, () => {
    let fx: ConformanceFixture;
    // Unique per run, so finds never see another run's objects.
    const cluster = `conformance-${randomBytes(4).toString("hex")}`;
    const tags = (member: string) => ({ [TAG_CLUSTER]: cluster, [TAG_MEMBER]: member });
    const made: { servers: string[]; volumes: string[]; groups: string[] } = { servers: [], volumes: [], groups: [] };

    const active = (id: string) =>
      waitFor(
        `server ${id} to leave BUILD`,
        () => fx.backend.getServer(id),
        (s) => s !== undefined && !["BUILD", "RESIZE", "REBUILD", "VERIFY_RESIZE"].includes(s.status),
        fx,
      ) as Promise<ServerInfo>;
    const gone = (what: string, get: () => Promise<unknown>) =>
      waitFor(`${what} to be gone`, get, (v) => v === undefined, fx);
    const volumeSettled = (id: string) =>
      waitFor(
        `volume ${id} to settle`,
        () => fx.backend.getVolume(id),
        (v) => v !== undefined && !BUSY_VOLUME.includes(v.status),
        fx,
      ) as Promise<VolumeInfo>;

    async function server(member: string, extra: { serverGroupId?: string; flavorRef?: string } = {}) {
      const s = await fx.backend.createServer({
        name: `${cluster}-${member}`,
        imageRef: fx.imageRef,
        flavorRef: extra.flavorRef ?? fx.flavorRef,
        zone: fx.zone,
        ...(extra.serverGroupId ? { serverGroupId: extra.serverGroupId } : {}),
        metadata: tags(member),
      });
      made.servers.push(s.id);
      return s;
    }

    async function removeServer(id: string) {
      await fx.backend.deleteServer(id);
      await gone(`server ${id}`, () => fx.backend.getServer(id));
    }

    beforeAll(async () => {
      fx = await setup();
    });

    afterAll(async () => {
      if (!fx) return;
      // Best effort: whatever a failed test left behind.
      for (const id of made.volumes) {
        const v = await fx.backend.getVolume(id).catch(() => undefined);
        for (const sid of v?.attachedTo ?? []) await fx.backend.detachVolume(sid, id).catch(() => undefined);
      }
      for (const id of made.servers) await fx.backend.deleteServer(id).catch(() => undefined);
      for (const id of made.volumes) {
        // A volume a test already deleted is settled too (waiting for it to exist cost 10 s each).
        await waitFor(
          `volume ${id} to settle or be gone`,
          () => fx.backend.getVolume(id),
          (v) => v === undefined || !BUSY_VOLUME.includes(v.status),
          fx,
        ).catch(() => undefined);
        await fx.backend.deleteVolume(id).catch(() => undefined);
      }
      for (const id of made.groups) await fx.backend.deleteServerGroup(id).catch(() => undefined);
      await fx.cleanup();
    });

    it("discovers a sane inventory", async () => {
      const d = await fx.backend.discover();
      expect(["pinned", "delegated"]).toContain(d.mode);
      expect(d.zones).toContain(fx.zone);
      expect(d.topology.flavors[fx.flavorRef]).toBeDefined();
      expect(d.topology.flavors[fx.biggerFlavorRef]).toBeDefined();
      if (d.mode === "pinned") {
        expect(d.topology.hosts.length).toBeGreaterThan(0);
        for (const h of d.topology.hosts) {
          expect(d.zones).toContain(h.zone);
          expect(h.vcpus).toBeGreaterThan(0);
          expect(h.ramMb).toBeGreaterThan(0);
        }
      }
      expect(fx.backend.pollIntervalMs).toBeGreaterThan(0);
      expect(fx.backend.description).not.toBe("");
    });

    it("names the images a server can't boot from, and only those", async () => {
      const missing = `no-such-image-${Date.now()}`;
      const problems = await fx.backend.imageProblems([fx.imageRef, fx.otherImageRef, missing]);
      expect(Object.keys(problems)).toEqual([missing]);
      expect(problems[missing]).toMatch(/does not exist/);
    });

    it("creates, gets, finds and deletes a server group", async () => {
      const g = await fx.backend.createServerGroup({
        name: `${cluster}-spread`,
        policy: "anti-affinity",
        metadata: { [TAG_CLUSTER]: cluster, "vcluster:grouping": "spread" },
      });
      made.groups.push(g.id);
      expect(g).toMatchObject({ name: `${cluster}-spread`, policy: "anti-affinity", members: [] });
      expect(await fx.backend.getServerGroup(g.id)).toMatchObject({ id: g.id, policy: "anti-affinity" });
      const found = await fx.backend.findServerGroups({ [TAG_CLUSTER]: cluster, "vcluster:grouping": "spread" });
      expect(found.map((x) => x.id)).toEqual([g.id]);
      expect(await fx.backend.findServerGroups({ [TAG_CLUSTER]: `${cluster}-other` })).toEqual([]);
      await fx.backend.deleteServerGroup(g.id);
      expect(await fx.backend.getServerGroup(g.id)).toBeUndefined();
      await fx.backend.deleteServerGroup(g.id); // not found is success
    });

    it("builds a server to ACTIVE, finds it by tags, deletes it until 404", async () => {
      const created = await server("web-1");
      expect(["BUILD", "ACTIVE"]).toContain(created.status);
      expect(created.metadata).toEqual(tags("web-1"));
      const s = await active(created.id);
      expect(s.status).toBe("ACTIVE");
      expect(s).toMatchObject({ id: created.id, flavorRef: fx.flavorRef, imageRef: fx.imageRef, zone: fx.zone });
      expect(s.metadata).toEqual(tags("web-1"));
      expect(s.volumes).toEqual([]);
      // Addresses: a record by network name (empty on a cloud that gives servers no network), fixed and floating.
      for (const net of Object.values(s.addresses ?? {})) {
        expect(Array.isArray(net.fixed) && Array.isArray(net.floating)).toBe(true);
        for (const ip of [...net.fixed, ...net.floating]) expect(ip).toMatch(/^[0-9a-f.:]+$/i);
      }
      const ports = s.ports ?? (await fx.backend.serverPorts?.(s.id));
      if (Object.keys(s.addresses ?? {}).length > 0) expect(ports?.length).toBeGreaterThan(0);
      expect((await fx.backend.findServers(tags("web-1"))).map((x) => x.id)).toEqual([created.id]);
      expect((await fx.backend.findServers({ [TAG_CLUSTER]: cluster })).map((x) => x.id)).toContain(created.id);
      // A batched read (optional) shows what the single read does, in the order asked, gone as undefined.
      if (fx.backend.getServers) {
        const unknown = "00000000-0000-4000-8000-000000000000";
        const [again, none] = await fx.backend.getServers([created.id, unknown]);
        expect(none).toBeUndefined();
        expect(again).toEqual(await fx.backend.getServer(created.id));
      }
      expect(await fx.backend.findServers(tags("nobody"))).toEqual([]);
      await removeServer(created.id);
      await fx.backend.deleteServer(created.id); // again: not found is success
      expect(await fx.backend.findServers(tags("web-1"))).toEqual([]);
    });

    it("returns undefined for unknown ids and not_found for actions on them", async () => {
      const unknown = "00000000-0000-4000-8000-000000000000";
      expect(await fx.backend.getServer(unknown)).toBeUndefined();
      expect(await fx.backend.getVolume(unknown)).toBeUndefined();
      expect(await fx.backend.getServerGroup(unknown)).toBeUndefined();
      await fx.backend.deleteVolume(unknown);
      await fx.backend.deleteServerGroup(unknown);
      await expectBackendError(fx.backend.resizeServer(unknown, fx.biggerFlavorRef), "not_found");
      await expectBackendError(fx.backend.rebuildServer(unknown, fx.otherImageRef), "not_found");
      await expectBackendError(fx.backend.extendVolume(unknown, 10), "not_found");
    });

    it("puts two servers of an anti-affinity group on different hosts", async () => {
      const g = await fx.backend.createServerGroup({
        name: `${cluster}-apart`,
        policy: "anti-affinity",
        metadata: { [TAG_CLUSTER]: cluster },
      });
      made.groups.push(g.id);
      const a = await active((await server("apart-a", { serverGroupId: g.id })).id);
      const b = await active((await server("apart-b", { serverGroupId: g.id })).id);
      expect([a.status, b.status]).toEqual(["ACTIVE", "ACTIVE"]);
      const mode = (await fx.backend.discover()).mode;
      if (mode === "pinned") {
        expect(a.host).toBeDefined();
        expect(a.host).not.toBe(b.host);
      } else {
        expect(a.host).toBeUndefined();
      }
      expect(a.hostId).toBeTruthy();
      expect(a.hostId).not.toBe(b.hostId);
      expect((await fx.backend.getServerGroup(g.id))?.members.sort()).toEqual([a.id, b.id].sort());
      await Promise.all([removeServer(a.id), removeServer(b.id)]);
      expect((await fx.backend.getServerGroup(g.id))?.members).toEqual([]);
      await fx.backend.deleteServerGroup(g.id);
    });

    it("puts a server that fits nowhere in ERROR with a No valid host fault", async (ctx) => {
      if (fx.hugeFlavorRef === undefined) {
        console.warn(`backend conformance: ${name}: the fixture has no hugeFlavorRef; "No valid host" is NOT checked`);
        ctx.skip("the fixture has no hugeFlavorRef");
      }
      const created = await server("too-big", { flavorRef: fx.hugeFlavorRef as string });
      const s = await active(created.id);
      expect(s.status).toBe("ERROR");
      expect(s.fault).toMatch(/No valid host/);
      await removeServer(s.id);
    });

    it("creates, attaches, detaches, extends and deletes a volume", async () => {
      const srv = await active((await server("db-1")).id);
      expect(srv.status).toBe("ACTIVE");
      const created = await fx.backend.createVolume({
        name: `${cluster}-data`,
        sizeGb: 1,
        zone: fx.zone,
        metadata: tags("data"),
      });
      made.volumes.push(created.id);
      expect(created.metadata).toEqual(tags("data"));
      let v = await volumeSettled(created.id);
      expect(v).toMatchObject({ status: "available", sizeGb: 1, zone: fx.zone, attachedTo: [] });
      expect((await fx.backend.findVolumes(tags("data"))).map((x) => x.id)).toEqual([created.id]);

      await fx.backend.attachVolume(srv.id, v.id);
      v = await volumeSettled(v.id);
      expect(v.status).toBe("in-use");
      expect(v.attachedTo).toEqual([srv.id]);
      // The device Nova gave it: the root disk is vda, so the first volume is not.
      expect(v.device).toMatch(/^\/dev\/[a-z]+[b-z]$/);
      expect((await fx.backend.getServer(srv.id))?.volumes).toEqual([v.id]);
      await fx.backend.attachVolume(srv.id, v.id); // already attached: success

      await fx.backend.detachVolume(srv.id, v.id);
      v = await volumeSettled(v.id);
      expect(v).toMatchObject({ status: "available", attachedTo: [] });
      expect(v.device).toBeUndefined();
      expect((await fx.backend.getServer(srv.id))?.volumes).toEqual([]);
      await fx.backend.detachVolume(srv.id, v.id); // not attached: success

      await fx.backend.extendVolume(v.id, 2);
      v = await volumeSettled(v.id);
      expect(v).toMatchObject({ status: "available", sizeGb: 2 });
      await expectBackendError(fx.backend.extendVolume(v.id, 1), "bad_request");

      await fx.backend.deleteVolume(v.id);
      await gone(`volume ${v.id}`, () => fx.backend.getVolume(v.id));
      await fx.backend.deleteVolume(v.id); // again: success
      await removeServer(srv.id);
    });

    it("resizes a server to a bigger flavor and rebuilds it with another image", async () => {
      const s = await active((await server("app-1")).id);
      expect(s.status).toBe("ACTIVE");
      await fx.backend.resizeServer(s.id, fx.biggerFlavorRef);
      const resized = await active(s.id);
      expect(resized).toMatchObject({ status: "ACTIVE", flavorRef: fx.biggerFlavorRef });
      await fx.backend.rebuildServer(s.id, fx.otherImageRef);
      const rebuilt = await active(s.id);
      expect(rebuilt).toMatchObject({ status: "ACTIVE", imageRef: fx.otherImageRef, flavorRef: fx.biggerFlavorRef });
      await removeServer(s.id);
    });

    it("sets and deletes metadata of a server and of a volume in place, its tags kept", async () => {
      const s = await active((await server("meta-1")).id);
      await fx.backend.updateServerMetadata(s.id, { role: "web", tier: "1" }, []);
      expect((await fx.backend.getServer(s.id))?.metadata).toEqual({ ...tags("meta-1"), role: "web", tier: "1" });
      await fx.backend.updateServerMetadata(s.id, { role: "db" }, ["tier", "never-there"]);
      expect((await fx.backend.getServer(s.id))?.metadata).toEqual({ ...tags("meta-1"), role: "db" });

      const created = await fx.backend.createVolume({
        name: `${cluster}-meta-v`,
        sizeGb: 1,
        zone: fx.zone,
        metadata: tags("meta-v"),
      });
      made.volumes.push(created.id);
      const v = await volumeSettled(created.id);
      await fx.backend.updateVolumeMetadata(v.id, { backup: "daily", owner: "x" }, []);
      await fx.backend.updateVolumeMetadata(v.id, { backup: "weekly" }, ["owner"]);
      const after = await fx.backend.getVolume(v.id);
      expect(after?.metadata).toMatchObject({ ...tags("meta-v"), backup: "weekly" });
      expect(after?.metadata).not.toHaveProperty("owner");
      await fx.backend.deleteVolume(v.id);
      await gone(`volume ${v.id}`, () => fx.backend.getVolume(v.id));
      await removeServer(s.id);
    });

    it("rebuilds a server with a new key and user data, keeping its image; and without a key", async (ctx) => {
      if (fx.keyNames === undefined) {
        console.warn(
          `backend conformance: ${name}: the fixture has no keyNames; a rebuild with a new key is NOT checked`,
        );
        ctx.skip("the fixture has no keyNames");
      }
      const [k1, k2] = fx.keyNames as [string, string];
      const created = await fx.backend.createServer({
        name: `${cluster}-keyed`,
        imageRef: fx.imageRef,
        flavorRef: fx.flavorRef,
        zone: fx.zone,
        keyName: k1,
        userData: "#!/bin/sh\necho one\n",
        metadata: tags("keyed"),
      });
      made.servers.push(created.id);
      const s = await active(created.id);
      expect(s.keyName).toBe(k1);
      await fx.backend.rebuildServer(s.id, fx.imageRef, { keyName: k2, userData: "#!/bin/sh\necho two\n" });
      const rebuilt = await active(s.id);
      expect(rebuilt).toMatchObject({ status: "ACTIVE", keyName: k2, imageRef: s.imageRef, flavorRef: s.flavorRef });
      await fx.backend.rebuildServer(s.id, fx.imageRef, { keyName: null, userData: null });
      expect((await active(s.id)).keyName).toBeNull();
      await removeServer(s.id);
    });

    it("adds and removes a security group of a server, each twice without error", async (ctx) => {
      if (fx.securityGroup === undefined) {
        console.warn(`backend conformance: ${name}: the fixture has no securityGroup; security groups are NOT checked`);
        ctx.skip("the fixture has no securityGroup (its servers have no network port)");
      }
      const group = fx.securityGroup as string;
      const s = await active((await server("guarded")).id);
      expect(s.securityGroups).toEqual(["default"]);
      await fx.backend.addSecurityGroup(s.id, group);
      await fx.backend.addSecurityGroup(s.id, group); // already there: success
      expect((await fx.backend.getServer(s.id))?.securityGroups).toEqual(["default", group].sort());
      await fx.backend.removeSecurityGroup(s.id, "default");
      await fx.backend.removeSecurityGroup(s.id, "default"); // not there: success
      expect((await fx.backend.getServer(s.id))?.securityGroups).toEqual([group]);
      await removeServer(s.id);
    });

    it("attaches a server to a network and detaches it, each twice without error", async (ctx) => {
      if (fx.networks === undefined) {
        console.warn(`backend conformance: ${name}: the fixture has no networks; attach/detach is NOT checked`);
        ctx.skip("the fixture has no networks");
      }
      const [n1, n2] = fx.networks as [string, string];
      const created = await fx.backend.createServer({
        name: `${cluster}-wired`,
        imageRef: fx.imageRef,
        flavorRef: fx.flavorRef,
        zone: fx.zone,
        networks: [n1],
        metadata: tags("wired"),
      });
      made.servers.push(created.id);
      const s = await active(created.id);
      expect(s.status).toBe("ACTIVE");
      // Ports in no promised order (Nova lists them as Neutron does); addresses by network, in the server's order.
      const portsOf = async (id: string) => (await fx.backend.getServer(id))?.ports ?? fx.backend.serverPorts?.(id);
      const addressesOf = async (id: string) => (await fx.backend.getServer(id))?.addresses ?? {};
      const first = (await portsOf(s.id)) ?? [];
      expect(first).toHaveLength(1);
      const [boot] = Object.keys(await addressesOf(s.id));
      expect(boot).toBeDefined();

      await fx.backend.attachNetwork(s.id, n2);
      await fx.backend.attachNetwork(s.id, n2); // already on it: success, no second port there
      const both = (await portsOf(s.id)) ?? [];
      expect(both).toHaveLength(2);
      expect(both).toContain(first[0]);
      const addresses = await addressesOf(s.id);
      expect(Object.keys(addresses)).toHaveLength(2);
      expect(Object.keys(addresses)[0]).toBe(boot); // the attached network comes last
      for (const net of Object.values(addresses)) expect(net.fixed).toHaveLength(1);

      await fx.backend.detachNetwork(s.id, n1);
      await fx.backend.detachNetwork(s.id, n1); // not on it: success
      expect(await portsOf(s.id)).toEqual(both.filter((p) => p !== first[0]));
      const left = Object.keys(await addressesOf(s.id));
      expect(left).toHaveLength(1);
      expect(left).not.toContain(boot);
      expect((await fx.backend.getServer(s.id))?.status).toBe("ACTIVE");
      await removeServer(s.id);
      await fx.backend.detachNetwork(s.id, n2); // no such server: success
    });

    it("retypes a volume in place and refuses a retype to its own type", async (ctx) => {
      if (fx.volumeTypes === undefined) {
        console.warn(`backend conformance: ${name}: the fixture has no volumeTypes; retype is NOT checked`);
        ctx.skip("the fixture has no volumeTypes");
      }
      const [t1, t2] = fx.volumeTypes as [string, string];
      const created = await fx.backend.createVolume({
        name: `${cluster}-typed`,
        sizeGb: 1,
        zone: fx.zone,
        volumeType: t1,
        metadata: tags("typed"),
      });
      made.volumes.push(created.id);
      let v = await volumeSettled(created.id);
      expect(v.volumeType).toBe(t1);
      await fx.backend.retypeVolume(v.id, t2);
      v = (await waitFor(
        `volume ${v.id} to be retyped`,
        () => fx.backend.getVolume(v.id),
        (x) => x !== undefined && x.status === "available" && x.volumeType === t2,
        fx,
      )) as VolumeInfo;
      await expectBackendError(fx.backend.retypeVolume(v.id, t2), "bad_request");
      await fx.backend.deleteVolume(v.id);
      await gone(`volume ${v.id}`, () => fx.backend.getVolume(v.id));
    });

    it("rejects an unknown flavor or image with bad_request", async () => {
      const base = { name: `${cluster}-bad`, zone: fx.zone, metadata: tags("bad") };
      await expectBackendError(
        fx.backend.createServer({ ...base, imageRef: fx.imageRef, flavorRef: "no-such-flavor-conformance" }),
        "bad_request",
      );
      await expectBackendError(
        fx.backend.createServer({ ...base, imageRef: "no-such-image-conformance", flavorRef: fx.flavorRef }),
        "bad_request",
      );
      expect(await fx.backend.findServers(tags("bad"))).toEqual([]);
    });
  });
}
