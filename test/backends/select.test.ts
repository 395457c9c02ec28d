// Which cloud: the backend kind from config and the environment, config keys in both spellings, and
// the simulated cloud opened in a temp dir (its notice, its view, a topology file and what is wrong with one).
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BackendError } from "../../provider/backends/backend";
import {
  type BackendChoice,
  chooseBackendKind,
  configValue,
  DEFAULT_SIM_DIR,
  NoCloudConfiguredError,
  type SelectOptions,
  selectBackend,
} from "../../provider/backends/select";
import { SimulatedCloud } from "../../provider/backends/simulated";

const FIXTURE = path.join(__dirname, "../fixtures/topologies/small.json");
const NS = "openstack-vcluster";

/** The error a call throws (or a promise rejects with). */
async function failure(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error("expected a failure");
}

describe("configValue", () => {
  it.each<{ name: string; config: Record<string, string>; want: string | undefined }>([
    { name: "the Pulumi spelling", config: { [`${NS}:cloud`]: "prod" }, want: "prod" },
    { name: "the command's bare key", config: { cloud: "prod" }, want: "prod" },
    { name: "both: the Pulumi spelling wins", config: { [`${NS}:cloud`]: "prod", cloud: "dev" }, want: "prod" },
    { name: "empty is unset", config: { cloud: "" }, want: undefined },
    { name: "absent", config: { region: "r1" }, want: undefined },
    { name: "another namespace doesn't count", config: { "openstack:cloud": "prod" }, want: undefined },
  ])("$name", ({ config, want }) => {
    expect(configValue(config, "cloud")).toBe(want);
  });
});

describe("chooseBackendKind", () => {
  const cases: {
    name: string;
    config?: Record<string, string>;
    env?: NodeJS.ProcessEnv;
    opts?: SelectOptions;
    want: BackendChoice | "no cloud";
  }[] = [
    { name: "nothing configured, the command: simulated", opts: { defaultToSimulated: true }, want: "simulated" },
    { name: "nothing configured, a Pulumi program: refused", want: "no cloud" },
    {
      name: "an explicit backend wins over the environment",
      config: { [`${NS}:backend`]: "simulated" },
      env: { OS_CLOUD: "prod" },
      want: "simulated",
    },
    { name: "explicit openstack", config: { [`${NS}:backend`]: "openstack" }, want: "openstack" },
    { name: "explicit, as the command's flag", config: { backend: "openstack" }, want: "openstack" },
    {
      name: "an empty backend is unset",
      config: { [`${NS}:backend`]: "" },
      env: { OS_AUTH_URL: "https://keystone" },
      want: "openstack",
    },
    { name: "a cloud in config", config: { [`${NS}:cloud`]: "prod" }, want: "openstack" },
    { name: "an auth URL in config", config: { authUrl: "https://keystone" }, want: "openstack" },
    {
      name: "OpenStack config wins over simulated settings",
      config: { cloud: "prod", simulatedDir: "sim" },
      want: "openstack",
    },
    {
      name: "simulated settings in config win over the environment",
      config: { [`${NS}:simulatedView`]: "tenant" },
      env: { OS_CLOUD: "prod" },
      want: "simulated",
    },
    { name: "OS_CLOUD", env: { OS_CLOUD: "prod" }, want: "openstack" },
    { name: "OS_AUTH_URL", env: { OS_AUTH_URL: "https://keystone" }, want: "openstack" },
    {
      name: "an empty OS_CLOUD is unset",
      env: { OS_CLOUD: "" },
      opts: { defaultToSimulated: true },
      want: "simulated",
    },
    { name: "other OS_* variables alone say nothing", env: { OS_USERNAME: "me", OS_PASSWORD: "pw" }, want: "no cloud" },
  ];
  it.each(cases)("$name", ({ config, env, opts, want }) => {
    const choose = () => chooseBackendKind(config ?? {}, env ?? {}, opts);
    if (want === "no cloud") {
      expect(choose).toThrow(NoCloudConfiguredError);
      expect(choose).toThrow(/^no cloud is configured: /);
    } else expect(choose()).toBe(want);
  });

  it.each([`${NS}:backend`, "backend"])("refuses an unknown backend (%s) with a bad_request", (key) => {
    const e = (() => {
      try {
        chooseBackendKind({ [key]: "aws" }, { OS_CLOUD: "prod" }, { defaultToSimulated: true });
      } catch (error) {
        return error;
      }
    })();
    expect(e).toBeInstanceOf(BackendError);
    expect(e).toMatchObject({
      code: "bad_request",
      message: `config "${NS}:backend" is "aws": use "simulated" or "openstack".`,
    });
  });

  it("the refusal is a bad_request that names both ways out", () => {
    const e = new NoCloudConfiguredError();
    expect(e).toBeInstanceOf(BackendError);
    expect(e.code).toBe("bad_request");
    expect(e.retryable).toBe(false);
    expect(e.message).toContain(`pulumi config set ${NS}:backend simulated`);
    expect(e.message).toContain("OS_CLOUD");
  });
});

describe("selectBackend", () => {
  let cwd: string;
  beforeEach(() => {
    cwd = mkdtempSync(path.join(tmpdir(), "vcluster-select-"));
  });
  afterEach(() => {
    rmSync(cwd, { recursive: true, force: true });
  });
  const simDefault = () => path.join(cwd, DEFAULT_SIM_DIR);
  const open = (config: Record<string, string>, opts: SelectOptions = { defaultToSimulated: true }) =>
    selectBackend(config, {}, cwd, opts);

  it("nothing configured (the command): the simulated cloud beside the program, and a notice saying so", async () => {
    const sel = await open({});
    expect(sel.backend).toBeInstanceOf(SimulatedCloud);
    const cloud = sel.backend as SimulatedCloud;
    expect(cloud.dir).toBe(simDefault());
    expect(existsSync(simDefault())).toBe(true);
    expect(sel.backendId).toBe(`simulated:${cloud.cloudId}`);
    expect(sel.backendId).toMatch(/^simulated:[0-9a-f-]{36}$/);
    expect(sel.notice).toBe(
      `no OpenStack cloud configured (${NS}:cloud, OS_CLOUD or OS_AUTH_URL): using the simulated cloud in ${DEFAULT_SIM_DIR}`,
    );
  });

  it("nothing configured (a Pulumi program): refused before anything is made", async () => {
    expect(await failure(() => open({}, {}))).toBeInstanceOf(NoCloudConfiguredError);
    expect(existsSync(simDefault())).toBe(false);
  });

  it("chosen explicitly: no notice", async () => {
    const sel = await open({ [`${NS}:backend`]: "simulated" });
    expect(sel.notice).toBeUndefined();
    expect((sel.backend as SimulatedCloud).dir).toBe(simDefault());
  });

  it("the same directory is the same cloud; another directory another one", async () => {
    const a = await open({ backend: "simulated" });
    const again = await open({ backend: "simulated" });
    const other = await open({ backend: "simulated", simulatedDir: "other" });
    expect(again.backendId).toBe(a.backendId);
    expect(other.backendId).not.toBe(a.backendId);
  });

  it.each([
    { name: "relative to the program", setting: "state/sim", dir: (c: string) => path.join(c, "state/sim") },
    { name: "the program's own directory", setting: ".", dir: (c: string) => c },
    { name: "absolute", setting: "ABS", dir: (c: string) => path.join(c, "abs") },
  ])("simulatedDir $name", async ({ setting, dir }) => {
    const value = setting === "ABS" ? path.join(cwd, "abs") : setting;
    const sel = await open({ backend: "simulated", [`${NS}:simulatedDir`]: value });
    expect((sel.backend as SimulatedCloud).dir).toBe(dir(cwd));
  });

  it("the notice names the directory as the user sees it", async () => {
    const sel = await open({ simulatedDir: "." });
    expect(sel.notice).toMatch(/: using the simulated cloud in \.$/);
  });

  it.each([
    { view: undefined, want: "pinned" },
    { view: "admin", want: "pinned" },
    { view: "tenant", want: "delegated" },
  ])("simulatedView $view: $want placement", async ({ view, want }) => {
    const sel = await open({ backend: "simulated", ...(view ? { simulatedView: view } : {}) });
    expect((await sel.backend.discover()).mode).toBe(want);
  });

  it("refuses a view that is neither admin nor tenant, before anything is made", async () => {
    const e = await failure(() => open({ backend: "simulated", [`${NS}:simulatedView`]: "root" }));
    expect(e).toBeInstanceOf(BackendError);
    expect(e).toMatchObject({
      code: "bad_request",
      message: `config "${NS}:simulatedView" is "root": use "admin" (pinned placement) or "tenant" (delegated).`,
    });
    expect(existsSync(simDefault())).toBe(false);
  });

  it("a topology file, relative to the program, shapes a new cloud", async () => {
    copyFileSync(FIXTURE, path.join(cwd, "topology.json"));
    const sel = await open({ backend: "simulated", simulatedTopology: "topology.json" });
    const d = await sel.backend.discover();
    expect(d.topology.hosts.map((h) => h.name)).toHaveLength(12);
    expect(d.zones).toEqual(["az1", "az2", "az3"]);
    expect(d.topology.flavors["m1.large"]?.id).toBe("123-456-789");
  });

  it("a missing topology file is a bad_request naming the file", async () => {
    const e = await failure(() => open({ backend: "simulated", simulatedTopology: "missing.json" }));
    expect(e).toBeInstanceOf(BackendError);
    expect(e).toMatchObject({
      code: "bad_request",
      message: `topology file "${path.join(cwd, "missing.json")}": not found`,
    });
  });

  it("a topology file with problems lists them, one per line, and makes nothing", async () => {
    writeFileSync(
      path.join(cwd, "bad.json"),
      JSON.stringify({
        flavors: {},
        hosts: [{ name: "h1", zone: "z1", rack: "r1", vcpus: -1, ramMb: 1024, diskGb: 10 }],
        storageBackends: [{ name: "b", capacityGb: 10 }],
      }),
    );
    const e = await failure(() => open({ backend: "simulated", simulatedTopology: "bad.json" }));
    expect(e).toBeInstanceOf(BackendError);
    expect((e as BackendError).code).toBe("bad_request");
    const [head, ...lines] = (e as Error).message.split("\n");
    expect(head).toBe('topology "bad.json" has problems:');
    expect(lines).toEqual([expect.stringMatching(/^ {2}hosts\[0\]\.vcpus: /)]);
    expect(existsSync(simDefault())).toBe(false);
  });

  it("a topology file that isn't JSON says where it broke", async () => {
    writeFileSync(path.join(cwd, "broken.json"), "{ hosts: [");
    const e = await failure(() => open({ backend: "simulated", simulatedTopology: "broken.json" }));
    expect(e).toMatchObject({ code: "bad_request" });
    expect((e as Error).message).toMatch(
      /^topology "broken\.json" has problems:\n {2}.*topology file ".*broken\.json": /,
    );
  });

  it("OpenStack chosen but not configured: a one-line bad_request, nothing contacted", async () => {
    const e = await failure(() => selectBackend({ backend: "openstack" }, { HOME: cwd }, cwd));
    expect(e).toBeInstanceOf(BackendError);
    expect(e).toMatchObject({ code: "bad_request" });
    expect((e as Error).message).toMatch(/^no OpenStack cloud configured: set OS_CLOUD/);
    expect((e as Error).message).not.toContain("\n");
  });
});
