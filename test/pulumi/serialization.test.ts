// What the SDK writes into the state as `__provider`, and what never reaches the state.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureBuilt } from "../support/build";
import { EngineSession, makeProgramDir, type Props, ProviderServer, serializedProvider } from "../support/engine";

const SECRET = "s3cr3t-sentinel";

const spec: Props = {
  clusterName: "cred",
  instances: [
    { name: "a", type: "server", spec: { imageRef: "debian-12", flavorRef: "m1.small" } },
    { name: "v", type: "volume", spec: { size: 5, attachTo: "a" } },
  ],
  groupings: [],
};

describe("the serialized provider", () => {
  let dir: string;
  let text: string;
  let server: ProviderServer;
  let session: EngineSession;
  /** Everything the provider handed back over gRPC or printed. */
  const seen: unknown[] = [];

  beforeAll(async () => {
    await ensureBuilt();
    dir = makeProgramDir("vcluster-ser-");
    // The program runs with credentials in its environment and stack config, as a user's would.
    text = serializedProvider(dir, {
      OS_PASSWORD: SECRET,
      OS_APPLICATION_CREDENTIAL_SECRET: SECRET,
      PULUMI_CONFIG: JSON.stringify({ "openstack-vcluster:password": SECRET }),
    });
    server = await ProviderServer.start(dir, { OS_PASSWORD: SECRET, OS_APPLICATION_CREDENTIAL_SECRET: SECRET });
    await server.configure({
      "openstack-vcluster:simulatedDir": path.join(dir, "sim"),
      "openstack-vcluster:password": SECRET,
      "openstack-vcluster:applicationCredentialSecret": SECRET,
    });
    session = new EngineSession(server, text);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("is small: only thin hooks that require the installed package, nothing bundled", () => {
    expect(text.length).toBeLessThan(6000);
    expect(text).toContain('require("pulumi-openstack-vcluster/provider/dynamic/hooks")');
    for (const hook of ["configure", "check", "diff", "create", "update", "read", "delete"]) {
      expect(text).toContain(`${hook}: __f`);
    }
    // Nothing of zod, undici, the backends or the engine was captured by value.
    for (const bundled of ["zod", "undici", "ZodType", "SimulatedCloud", "ClusterController", "process.env"]) {
      expect(text).not.toContain(bundled);
    }
  });

  test("round-trips: the SDK's server deserializes it and runs the hooks", async () => {
    const res = await server.check(session.urn, {}, { ...spec, __provider: text });
    expect(res.failures).toEqual([]);
    expect(res.inputs.__provider).toBe(text);
  });

  test("a different provider text in the old state (another release) is not a change", async () => {
    expect(await session.up(spec)).toEqual({ kind: "created" });
    const stored = session.resource;
    if (!stored) throw new Error("not created");
    seen.push(stored.outputs);
    const olderRelease = {
      ...stored.outputs,
      __provider: text.replace("exports.handler", "/* 0.0.1 */ exports.handler"),
    };
    const diff = await server.diff(session.urn, stored.id, olderRelease, { ...stored.inputs, __provider: text });
    expect(diff.changes).toBe("none");
  });

  test("no credential from config or environment reaches __provider, outputs, inputs or messages", async () => {
    await session.refresh();
    seen.push(session.resource);
    const failed = await session.preview({ ...spec, instances: [{ name: "x", type: "server", spec: {} }] });
    seen.push(failed);
    await session.destroy();
    const everything = JSON.stringify({ text, seen, stdout: server.stdout, stderr: server.stderr });
    expect(everything).not.toContain(SECRET);
    expect(seen.length).toBe(3);
  });
});
