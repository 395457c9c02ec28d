// The VCluster provider as Pulumi runs it: the `__provider` a real program serialized, run
// by the SDK's own dynamic-provider server, driven over gRPC through a whole stack's life on
// the simulated cloud.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SimulatedCloud } from "../../provider/backends/simulated";
import { ensureBuilt } from "../support/build";
import { grouping, server, volume } from "../support/clusterspec";
import {
  EngineSession,
  makeProgramDir,
  type Props,
  ProviderServer,
  serializedProvider,
  UNKNOWN,
} from "../support/engine";

const antiAffinity = (name: string, membersRef: string[], scope = "host") =>
  grouping(name, membersRef, { rule: "anti-affinity", scope });

function args(instances: object[], groupings: object[] = []): Props {
  return { clusterName: "lc", instances, groupings };
}

const BASE = args(
  [
    server("web-1"),
    server("web-2"),
    server("db-1", { flavorRef: "m1.medium" }),
    volume("db-data", { attachTo: "db-1" }),
  ],
  [antiAffinity("web-apart", ["web-1", "web-2"])],
);

interface MemberOut {
  id: string;
  type: string;
  status: string;
  flavorRef?: string;
  host?: string;
}

function members(session: EngineSession): Record<string, MemberOut> {
  return (session.resource?.outputs.members ?? {}) as Record<string, MemberOut>;
}

async function waitGone(cloud: SimulatedCloud, id: string): Promise<void> {
  for (let i = 0; i < 500 && (await cloud.getServer(id)); i++) await new Promise((r) => setTimeout(r, 10));
}

interface Stack {
  dir: string;
  simDir: string;
  server: ProviderServer;
  session: EngineSession;
  cloud: () => Promise<SimulatedCloud>;
}

async function startStack(prefix: string, extraConfig: Record<string, string> = {}): Promise<Stack> {
  const dir = makeProgramDir(prefix);
  const simDir = path.join(dir, "sim");
  const text = serializedProvider(dir);
  const srv = await ProviderServer.start(dir);
  await srv.configure({ "openstack-vcluster:simulatedDir": simDir, ...extraConfig });
  return {
    dir,
    simDir,
    server: srv,
    session: new EngineSession(srv, text),
    cloud: () => SimulatedCloud.open({ dir: simDir }),
  };
}

beforeAll(() => ensureBuilt(), 120_000);

describe("a cluster's life through the engine's calls", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack("vcluster-life-");
  }, 60_000);
  afterAll(async () => {
    await stack?.server.stop();
    if (stack) fs.rmSync(stack.dir, { recursive: true, force: true });
  });

  test("preview with unknown values: no failure, and the backend is not even opened", async () => {
    const withUnknowns = args(
      [server("web-1"), { name: "web-2", type: "server", spec: { imageRef: UNKNOWN, flavorRef: UNKNOWN } }],
      [antiAffinity("web-apart", ["web-1", UNKNOWN])],
    );
    const res = await stack.session.preview(withUnknowns);
    expect(res.failures).toEqual([]);
    expect(fs.existsSync(stack.simDir)).toBe(false);
  });

  test("preview of an invalid spec names every problem", async () => {
    const res = await stack.session.preview(
      args(
        [server("a"), { name: "b", type: "server", spec: { imageRef: "debian-12", flavour: "m1.small" } }],
        [antiAffinity("g", ["a", "nobody"])],
      ),
    );
    expect(res.failures.map((f) => f.reason)).toMatchInlineSnapshot(`
      [
        "cluster "lc": groupings[0].membersRef[1]: grouping "g" names "nobody", which is not a member of the cluster (hint: members are "a", "b"; add an instance named "nobody" or remove it here)",
        "cluster "lc": instances[1].spec.flavorRef: missing required field "flavorRef" (hint: name the flavor, e.g. "flavorRef": "m1.small")",
        "cluster "lc": instances[1].spec.flavour: unknown field "flavour" (hint: allowed here: "imageRef", "flavorRef", "zone", "networks", "keyName", "securityGroups", "userData", "metadata")",
      ]
    `);
    expect(fs.existsSync(stack.simDir)).toBe(false);
  });

  test("preview of an unplaceable cluster fails with the explanation, before anything exists", async () => {
    const quorum = Array.from({ length: 7 }, (_, i) => `q-${i + 1}`);
    const res = await stack.session.preview(
      args(
        quorum.map((q) => server(q)),
        [antiAffinity("one-per-rack", quorum, "rack")],
      ),
    );
    expect(res.failures).toHaveLength(1);
    expect(res.failures[0]?.reason).toMatch(/^cluster "lc"/);
    expect(res.failures[0]?.reason).toContain("one-per-rack");
    const snap = await (await stack.cloud()).snapshot();
    expect(snap.servers).toEqual([]);
  });

  test("up creates every member; the id is the cluster name", async () => {
    expect(await stack.session.up(BASE)).toEqual({ kind: "created" });
    expect(stack.session.resource?.id).toBe("lc");
    const m = members(stack.session);
    expect(Object.keys(m).sort()).toEqual(["db-1", "db-data", "web-1", "web-2"]);
    expect(m["web-1"]?.status).toBe("ACTIVE");
    expect(m["db-data"]?.status).toBe("in-use");
    expect(m["web-1"]?.host).not.toBe(m["web-2"]?.host);
    expect(stack.session.resource?.outputs.backendKind).toBe("simulated");
    // Progress reached the engine's plugin-output channel.
    expect((await stack.server.settledStdout()).join("\n")).toContain('cluster "lc"');
  });

  test("a second up with the same inputs changes nothing", async () => {
    expect(await stack.session.up(BASE)).toEqual({ kind: "same" });
    expect(stack.session.lastDiff).toEqual({ changes: "none", replaces: [], deleteBeforeReplace: false });
  });

  test("adding a member is an update of the cluster, not a replacement", async () => {
    const before = members(stack.session);
    const grown = args(
      [...(BASE.instances as object[]), server("web-3")],
      [antiAffinity("web-apart", ["web-1", "web-2", "web-3"])],
    );
    expect(await stack.session.up(grown)).toEqual({ kind: "updated" });
    expect(stack.session.lastDiff?.replaces).toEqual([]);
    const after = members(stack.session);
    expect(after["web-3"]?.status).toBe("ACTIVE");
    expect(after["web-1"]?.id).toBe(before["web-1"]?.id);
    expect(new Set(["web-1", "web-2", "web-3"].map((n) => after[n]?.host)).size).toBe(3);
  });

  test("changing a flavor resizes that server in place", async () => {
    const before = members(stack.session);
    const resized = args(
      [
        server("web-1"),
        server("web-2"),
        server("db-1", { flavorRef: "m1.large" }),
        volume("db-data", { attachTo: "db-1" }),
        server("web-3"),
      ],
      [antiAffinity("web-apart", ["web-1", "web-2", "web-3"])],
    );
    expect(await stack.session.up(resized)).toEqual({ kind: "updated" });
    expect(stack.session.lastDiff?.replaces).toEqual([]);
    const after = members(stack.session);
    expect(after["db-1"]?.id).toBe(before["db-1"]?.id);
    expect(after["db-1"]?.flavorRef).toBe("m1.large");
    const onCloud = await (await stack.cloud()).getServer(after["db-1"]?.id ?? "");
    expect(onCloud?.flavorRef).toBe("m1.large");
  });

  test("editing key_name, metadata and user_data: the diff says so per member, the update makes it in place", async () => {
    const before = members(stack.session);
    const edited = args(
      [
        server("web-1", { keyName: "deploy-2", metadata: { role: "front" } }),
        server("web-2"),
        server("db-1", { flavorRef: "m1.large", userData: "#cloud-config\npassword: s3cr3t-user-data" }),
        volume("db-data", { attachTo: "db-1" }),
        server("web-3"),
      ],
      [antiAffinity("web-apart", ["web-1", "web-2", "web-3"])],
    );
    const seen = stack.server.stdout.length;
    const preview = await stack.session.preview(edited);
    expect(preview.diff).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    // No engine to take the lines here (the server's engine address is a dead one): they come on stdout.
    const lines = (await stack.server.settledStdout(seen)).filter((l) => l.includes(': server "'));
    expect(lines).toEqual([
      'warning: cluster "lc": server "db-1": rebuild (root disk is wiped): userData changed',
      'warning: cluster "lc": server "web-1": rebuild (root disk is wiped): keyName none → "deploy-2"; metadata: set "role" = "front"',
    ]);
    expect(await stack.session.up(edited)).toEqual({ kind: "updated" });
    const after = members(stack.session);
    for (const m of ["web-1", "db-1", "web-2"]) expect(after[m]?.id).toBe(before[m]?.id);
    const onCloud = await (await stack.cloud()).getServer(after["web-1"]?.id ?? "");
    expect(onCloud).toMatchObject({ keyName: "deploy-2", metadata: expect.objectContaining({ role: "front" }) });
    expect(stack.server.stdout.join("\n")).not.toContain("s3cr3t-user-data");
  });

  test("a member deleted behind Pulumi's back: refresh shows it MISSING, up recreates it", async () => {
    const gone = members(stack.session)["web-2"]?.id ?? "";
    const cloud = await stack.cloud();
    await cloud.deleteServer(gone);
    await waitGone(cloud, gone);
    const inputsBefore = stack.session.resource?.inputs;

    await stack.session.refresh();
    expect(members(stack.session)["web-2"]?.status).toBe("MISSING");
    expect(stack.session.resource?.outputs.missing).toEqual(["web-2"]);
    expect(stack.session.resource?.inputs).toEqual(inputsBefore);

    const preview = await stack.session.preview(stack.session.resource?.inputs ?? {});
    expect(preview.diff).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });

    expect(await stack.session.up(stack.session.resource?.inputs ?? {})).toEqual({ kind: "updated" });
    const repaired = members(stack.session)["web-2"];
    expect(repaired?.status).toBe("ACTIVE");
    expect(repaired?.id).not.toBe(gone);
    expect(stack.session.resource?.outputs.missing).toEqual([]);
  });

  test("a stack pointed at another cloud fails preview, refresh and destroy naming both clouds, and changes nothing", async () => {
    const other = await ProviderServer.start(stack.dir);
    try {
      await other.configure({ "openstack-vcluster:simulatedDir": path.join(stack.dir, "other-sim") });
      const stored = stack.session.resource;
      if (!stored) throw new Error("no cluster");
      const before = (await (await stack.cloud()).snapshot()).servers.map((s) => s.id).sort();
      for (const call of [
        () => other.diff(stack.session.urn, stored.id, stored.outputs, stored.inputs),
        () => other.update(stack.session.urn, stored.id, stored.outputs, stored.inputs),
        () => other.read(stack.session.urn, stored.id, stored.outputs, stored.inputs),
        () => other.delete(stack.session.urn, stored.id, stored.outputs),
      ]) {
        const message = await call().then(
          () => "no error",
          (e: Error) => e.message,
        );
        expect(message).toMatch(
          /^cluster "lc" lives on simulated cloud "simulated:[^"]+", but this stack is now configured for simulated cloud "simulated:[^"]+" \(simulated cloud in .*other-sim.*\); nothing was changed \(hint: configure the cluster's cloud again/,
        );
      }
      const after = (await (await stack.cloud()).snapshot()).servers.map((s) => s.id).sort();
      expect(after).toEqual(before);
      expect(fs.existsSync(path.join(stack.dir, "other-sim", "cloud.db"))).toBe(true);
      const otherCloud = await SimulatedCloud.open({ dir: path.join(stack.dir, "other-sim") });
      expect((await otherCloud.snapshot()).servers).toEqual([]);
    } finally {
      await other.stop();
    }
  });

  test("with no cloud configured at all (a CI job missing OS_CLOUD), preview fails naming the cluster's cloud", async () => {
    const bare = await ProviderServer.start(stack.dir, { OS_CLOUD: "", OS_AUTH_URL: "" });
    try {
      await bare.configure({});
      const stored = stack.session.resource;
      if (!stored) throw new Error("no cluster");
      const message = await bare.diff(stack.session.urn, stored.id, stored.outputs, stored.inputs).then(
        () => "no error",
        (e: Error) => e.message,
      );
      expect(message).toMatch(
        /^cluster "lc" lives on simulated cloud "simulated:[^"]+", but no cloud is configured for this stack; nothing was changed/,
      );
      // A new cluster with no cloud configured: the simulated cloud is never a silent fallback.
      const fresh = await bare.check(`${stack.session.urn}-new`, {}, { ...stored.inputs, clusterName: "lc-new" }).then(
        (r) => r.failures.map((f) => f.reason).join("\n"),
        (e: Error) => e.message,
      );
      expect(fresh).toContain(
        'no cloud is configured: for the embedded simulated cloud run "pulumi config set openstack-vcluster:backend simulated"',
      );
    } finally {
      await bare.stop();
    }
  });

  test("destroy leaves the simulated cloud empty", async () => {
    await stack.session.destroy();
    const snap = await (await stack.cloud()).snapshot();
    expect({ servers: snap.servers, volumes: snap.volumes, serverGroups: snap.serverGroups }).toEqual({
      servers: [],
      volumes: [],
      serverGroups: [],
    });
  });
});

describe("a create that fails and can't roll back", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack("vcluster-partial-");
  }, 60_000);
  afterAll(async () => {
    await stack?.server.stop();
    if (stack) fs.rmSync(stack.dir, { recursive: true, force: true });
  });

  test("is recorded as partial state (an initialization error) and the next up completes it", async () => {
    const spec = args([server("a"), server("b"), server("c")], [antiAffinity("apart", ["a", "b", "c"])]);
    const cloud = await stack.cloud();
    // The member "c" fails to build; deleting what was made fails too, so rollback can't finish.
    await cloud.injectFault({ kind: "server-error", member: "c", fault: "No valid host was found." });
    await cloud.injectFault({ kind: "error", op: "deleteServer", code: "forbidden", times: 100 });

    const first = await stack.session.up(spec);
    expect(first).toMatchObject({ kind: "init-error", step: "create" });
    if (first.kind !== "init-error") return;
    expect(first.message).toMatch(/^cluster "lc"/);
    expect(first.message).not.toMatch(/\n\s+at /);
    const recorded = stack.session.resource;
    expect(recorded?.id).toBe("lc");
    // The SDK leaves __provider out of initialization errors: the provider puts it back, or
    // the recorded state could never be refreshed or deleted.
    expect(recorded?.outputs.__provider).toBe(stack.session.providerText);
    expect(Object.keys((recorded?.outputs.members ?? {}) as object).length).toBeGreaterThan(0);

    await cloud.clearFaults();
    expect(await stack.session.up(spec)).toEqual({ kind: "updated" });
    const m = members(stack.session);
    expect(["a", "b", "c"].map((n) => m[n]?.status)).toEqual(["ACTIVE", "ACTIVE", "ACTIVE"]);
    const snap = await cloud.snapshot();
    const live = snap.servers.filter((s) => s.status !== "ERROR");
    expect(live).toHaveLength(3);

    await stack.session.destroy();
    expect((await cloud.snapshot()).servers).toEqual([]);
  });
});

describe("a cluster deleted entirely behind Pulumi's back", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack("vcluster-gone-");
  }, 60_000);
  afterAll(async () => {
    await stack?.server.stop();
    if (stack) fs.rmSync(stack.dir, { recursive: true, force: true });
  });

  test("stays in the stack with every member MISSING, and the next up rebuilds it", async () => {
    const spec = args([server("a"), server("b"), volume("v", { attachTo: "a" })]);
    expect(await stack.session.up(spec)).toEqual({ kind: "created" });
    const cloud = await stack.cloud();
    await cloud.reset();

    await stack.session.refresh();
    expect(stack.session.resource?.id).toBe("lc");
    const after = members(stack.session);
    expect(["a", "b", "v"].map((n) => after[n]?.status)).toEqual(["MISSING", "MISSING", "MISSING"]);
    expect([...((stack.session.resource?.outputs.missing as string[]) ?? [])].sort()).toEqual(["a", "b", "v"]);

    expect(await stack.session.up(spec)).toEqual({ kind: "updated" });
    const rebuilt = members(stack.session);
    expect(["a", "b", "v"].map((n) => rebuilt[n]?.status)).toEqual(["ACTIVE", "ACTIVE", "in-use"]);
    await stack.session.destroy();
    expect((await cloud.snapshot()).servers).toEqual([]);
  });
});

describe("a stack configured wrong", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack("vcluster-badconfig-", { "openstack-vcluster:backend": "nova" });
  }, 60_000);
  afterAll(async () => {
    await stack?.server.stop();
    if (stack) fs.rmSync(stack.dir, { recursive: true, force: true });
  });

  test("fails the preview with one line naming the cluster and the key, and no stack trace", async () => {
    const err = await stack.session.preview(BASE).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatchInlineSnapshot(
      `"cluster "lc": config "openstack-vcluster:backend" is "nova": use "simulated" or "openstack"."`,
    );
    expect(stack.server.stderr.join("")).not.toMatch(/\n\s+at /);
  });
});
