// Every example typechecks against the package's own sources, runs under the SDK's mocks
// (which serializes the provider), and previews as its README says.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureBuilt, REPO } from "../support/build";
import {
  EngineSession,
  makeProgramDir,
  ProviderServer,
  RESOURCE_TYPE,
  runUnderMocks,
  serializedProvider,
} from "../support/engine";

const EXAMPLES = path.join(REPO, "examples");
/** The examples issue 3 asks for (others may add more beside them). */
const names = ["blueprint-use-case-1", "blueprint-use-case-2", "three-tier", "unplaceable"];

test("the four examples are there, each complete and short", () => {
  for (const name of names) {
    for (const file of ["Pulumi.yaml", "index.ts", "package.json", "tsconfig.json", "README.md"]) {
      expect(fs.existsSync(path.join(EXAMPLES, name, file)), `${name}/${file}`).toBe(true);
    }
    expect(fs.readFileSync(path.join(EXAMPLES, name, "Pulumi.yaml"), "utf8")).toContain("runtime: nodejs");
    const pkg = JSON.parse(fs.readFileSync(path.join(EXAMPLES, name, "package.json"), "utf8"));
    expect(pkg.dependencies["pulumi-openstack-vcluster"]).toBe("file:../..");
    expect(pkg.dependencies["@pulumi/pulumi"]).toBeDefined();
    const lines = fs
      .readFileSync(path.join(EXAMPLES, name, "index.ts"), "utf8")
      .trim()
      .split("\n").length;
    expect(lines).toBeLessThanOrEqual(30);
  }
});

test("every example typechecks against the package's sources", () => {
  const tsc = path.join(REPO, "node_modules/typescript/bin/tsc");
  const project = path.join(__dirname, "examples.tsconfig.json");
  // A missing project is an error tsc reports on no example's line: it would pass unnoticed.
  expect(fs.existsSync(project), project).toBe(true);
  let output = "";
  try {
    execFileSync(process.execPath, [tsc, "-p", project], { cwd: REPO, encoding: "utf8", stdio: "pipe" });
  } catch (err) {
    output = String((err as { stdout?: string }).stdout ?? err);
  }
  // Errors elsewhere in the tree (other work in progress) are not the examples' business.
  const mine = output.split("\n").filter((l) => l.startsWith("examples/") || l.includes("/examples/"));
  expect(mine).toEqual([]);
}, 120_000);

describe("each example under the SDK's mocks, then previewed by the provider", () => {
  let dir: string;
  let server: ProviderServer;
  let session: EngineSession;
  beforeAll(async () => {
    await ensureBuilt();
    dir = makeProgramDir("vcluster-examples-");
    server = await ProviderServer.start(dir);
    await server.configure({ "openstack-vcluster:simulatedDir": path.join(dir, "sim") });
    session = new EngineSession(server, serializedProvider(dir));
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test.each(names)("%s", async (name) => {
    const source = fs.readFileSync(path.join(EXAMPLES, name, "index.ts"), "utf8");
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    fs.writeFileSync(path.join(dir, `${name}.js`), js);
    const regs = runUnderMocks(dir, `${name}.js`).filter((r) => r.type === RESOURCE_TYPE);
    expect(regs).toHaveLength(1);
    const inputs = regs[0]?.inputs ?? {};
    expect(typeof inputs.__provider).toBe("string");
    expect(inputs.clusterName).toBe(`proj-dev-${regs[0]?.name}`);

    const { failures } = await session.preview(inputs);
    if (name === "unplaceable") {
      expect(failures).toHaveLength(1);
      expect(failures[0]?.reason).toContain("one-per-rack");
      expect(failures[0]?.reason).toMatch(/^cluster "proj-dev-quorum"/);
    } else {
      expect(failures).toEqual([]);
    }
  });
});
