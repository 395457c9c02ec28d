// One plan path: `openstack-vcluster plan` (without --topology) and `pulumi preview` both run the
// controller's plan against the same cloud, so they give the same answer. The provider runs as Pulumi
// runs it (the SDK's dynamic-provider server over gRPC); the command runs in-process.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ensureBuilt } from "../support/build";
import { cli, type Result } from "../support/cli";
import { server } from "../support/clusterspec";
import { EngineSession, makeProgramDir, type Props, ProviderServer, serializedProvider } from "../support/engine";

let dir: string;
let simDir: string;
let provider: ProviderServer;
let session: EngineSession;

beforeAll(async () => {
  await ensureBuilt();
  dir = makeProgramDir("vcluster-plan-preview-");
  simDir = path.join(dir, "sim");
  const text = serializedProvider(dir);
  provider = await ProviderServer.start(dir);
  await provider.configure({ "openstack-vcluster:simulatedDir": simDir });
  session = new EngineSession(provider, text);
}, 120_000);

afterAll(async () => {
  await provider?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function plan(args: Props): Promise<Result> {
  const file = path.join(dir, `${String(args.clusterName)}.json`);
  const { clusterName, ...rest } = args;
  fs.writeFileSync(file, JSON.stringify({ vcluster: { name: clusterName, ...rest } }));
  return cli(["plan", file, "--backend", "simulated", "--sim-dir", simDir, "--json"], dir);
}

test("a placeable cluster: plan's placement is exactly what pulumi up then builds", async () => {
  const apps = ["app-1", "app-2", "app-3", "app-4"];
  const args: Props = {
    clusterName: "same",
    instances: [...apps.map((a) => server(a)), server("db", { flavorRef: "m1.large" })],
    groupings: [
      { name: "apart", membersRef: apps, spec: { rule: "anti-affinity", scope: "rack" } },
      { name: "near", membersRef: ["app-1", "db"], spec: { rule: "affinity", scope: "zone" } },
    ],
  };
  const planned = await plan(args);
  expect(planned.code, planned.stderr).toBe(0);
  const placement = JSON.parse(planned.stdout).placement;
  expect(Object.keys(placement).sort()).toEqual([...apps, "db"].sort());

  expect((await session.preview(args)).failures).toEqual([]);
  const up = await session.up(args);
  expect(up.kind).toBe("created");
  expect(session.resource?.outputs.placement).toEqual(placement);
});

test("an unplaceable cluster: plan and preview fail with the same explanation", async () => {
  const quorum = Array.from({ length: 30 }, (_, i) => `q-${i + 1}`);
  const args: Props = {
    clusterName: "never",
    instances: quorum.map((q) => server(q)),
    groupings: [{ name: "quorum", membersRef: quorum, spec: { rule: "anti-affinity", scope: "host" } }],
  };
  const planned = await plan(args);
  expect(planned.code).toBe(2);
  const summary = JSON.parse(planned.stdout).error.explanation.summary as string;
  expect(summary).toContain('cluster "never"');
  // The provider's check fails the preview with the explanation (an error the engine shows as is).
  const failed = await session.preview(args).then(
    (r) => r.failures.map((f) => f.reason).join("\n"),
    (e: unknown) => (e instanceof Error ? e.message : String(e)),
  );
  expect(failed).toContain(summary);
});

test("an unknown image and an unknown flavor: plan, apply, its dry run and preview each name both, exit 1", async () => {
  const args: Props = {
    clusterName: "typos",
    instances: [server("web-1", { imageRef: "debain-12" }), server("web-2", { flavorRef: "m1.smal" }), server("ok")],
  };
  const planned = await plan(args);
  expect(planned.code).toBe(1);
  const error = JSON.parse(planned.stdout).error as {
    exitCode: number;
    kind: string;
    issues: { code: string; message: string; hint?: string; members?: string[] }[];
    explanation?: unknown;
  };
  expect(error).toMatchObject({ exitCode: 1, kind: "refused" });
  expect(error.issues).toEqual([
    {
      code: "unknown_image",
      path: "",
      message: 'image "debain-12" of "web-1" does not exist (known images: debian-12, ubuntu-24.04, cirros)',
      members: ["web-1"],
    },
    {
      code: "unknown_flavor",
      path: "",
      message: expect.stringMatching(/^flavor "m1\.smal" of "web-2" does not exist \(known flavors: "m1\.large", /),
      hint: 'did you mean "m1.small"?',
      members: ["web-2"],
    },
  ]);
  // The flavor is said once: not again as the engine's "can't be placed".
  expect(error.explanation).toBeUndefined();

  const file = path.join(dir, "typos.json");
  const flags = ["--backend", "simulated", "--sim-dir", simDir];
  for (const argv of [
    ["plan", file, ...flags],
    ["apply", file, ...flags],
    ["apply", file, "--dry-run", ...flags],
  ]) {
    const r = await cli(argv, dir);
    expect(r.code, argv.join(" ")).toBe(1);
    expect(r.stderr, argv.join(" ")).toContain('image "debain-12" of "web-1" does not exist');
    expect(r.stderr, argv.join(" ")).toContain('flavor "m1.smal" of "web-2" does not exist');
    expect(r.stderr, argv.join(" ")).not.toContain("can't be placed");
  }

  const failed = await session.preview(args).then(
    (r) => r.failures.map((f) => f.reason).join("\n"),
    (e: unknown) => (e instanceof Error ? e.message : String(e)),
  );
  expect(failed).toContain('image "debain-12" of "web-1" does not exist');
  expect(failed).toContain('flavor "m1.smal" of "web-2" does not exist');
  expect(failed).not.toContain("can't be placed");
});
