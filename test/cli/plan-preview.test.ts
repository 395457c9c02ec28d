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
  const summary = JSON.parse(planned.stdout).explanation.summary as string;
  expect(summary).toContain('cluster "never"');
  // The provider's check fails the preview with the explanation (an error the engine shows as is).
  const failed = await session.preview(args).then(
    (r) => r.failures.map((f) => f.reason).join("\n"),
    (e: unknown) => (e instanceof Error ? e.message : String(e)),
  );
  expect(failed).toContain(summary);
});
