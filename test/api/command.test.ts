// `openstack-vcluster serve` as the command runs it: flags in, one line per event on stderr, exit
// code out, a clean stop when told to.
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseListen, serveCommand } from "../../provider/api/command";
import type { Io } from "../../provider/cli/io";
import { makeCloud, removeTempDirs, tempDir } from "../support/api";
import { FakeKeystone } from "../support/fake-keystone";

afterAll(removeTempDirs);

function io(cwd: string): Io & { lines: string[] } {
  const lines: string[] = [];
  return { out: (t) => lines.push(t), err: (t) => lines.push(t), cwd, env: {}, lines };
}

describe("serve", () => {
  it("listens, answers, and stops cleanly when told to (exit 0)", async () => {
    const dir = tempDir();
    await makeCloud(path.join(dir, "sim"));
    const console = io(dir);
    const stop = new AbortController();
    const run = serveCommand(
      console,
      { listen: "127.0.0.1:0", noauth: true, db: "records.db", backend: "simulated", simDir: "sim" },
      stop.signal,
    );
    let url: string | undefined;
    for (let i = 0; i < 200 && !url; i++) {
      url = console.lines
        .map((l) => /listening on (http:\/\/\S+) \(records in records\.db\)/.exec(l)?.[1])
        .find(Boolean);
      if (!url) await new Promise((r) => setTimeout(r, 25));
    }
    expect(url).toBeDefined();
    expect(console.lines[0]).toMatch(/^openstack-vcluster serve: --noauth: .*for the simulated cloud only/);
    const r = await fetch(`${url}/v2/tenant-a/vclusters`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ vclusters: [] });
    stop.abort();
    expect(await run).toBe(0);
    expect(console.lines.at(-1)).toBe("openstack-vcluster serve: stopped");
  });

  it("without --noauth and no cloud configured it refuses to start (exit 3), saying what works", async () => {
    const console = io(tempDir());
    expect(await serveCommand(console, { listen: "127.0.0.1:0" })).toBe(3);
    expect(console.lines).toEqual([
      "openstack-vcluster serve: callers are authenticated with Keystone, and no OpenStack cloud is configured; hint: name the OpenStack cloud with --cloud NAME or OS_CLOUD (a clouds.yaml entry with the service user's password), or serve the simulated cloud with --noauth",
    ]);
  });

  it("without --noauth, the simulated cloud is refused: it has no Keystone (exit 3)", async () => {
    const console = io(tempDir());
    expect(await serveCommand(console, { listen: "127.0.0.1:0", backend: "simulated" })).toBe(3);
    expect(console.lines.at(-1)).toMatch(
      /callers are authenticated with Keystone, and the simulated cloud has none; hint: .* or serve the simulated cloud with --noauth$/,
    );
  });

  it("--noauth with --cloud is refused (exit 3)", async () => {
    const console = io(tempDir());
    expect(await serveCommand(console, { listen: "127.0.0.1:0", noauth: true, cloud: "prod" })).toBe(3);
    expect(console.lines).toEqual([
      'openstack-vcluster serve: --noauth serves the simulated cloud only, and --cloud "prod" names an OpenStack cloud; hint: drop --noauth to authenticate callers with that cloud\'s Keystone',
    ]);
  });

  it("--cloud NAME serves that OpenStack cloud, validating tokens at its Keystone (exit 0 when stopped)", async () => {
    const ks = await FakeKeystone.start();
    try {
      const svc = ks.addUser("vcluster");
      ks.grant(svc.id, ks.addProject("service"), ["service"]);
      const demo = ks.addProject("demo");
      const alice = ks.addUser("alice");
      ks.grant(alice.id, demo, ["member"]);
      const dir = tempDir();
      writeFileSync(
        path.join(dir, "clouds.yaml"),
        `clouds:\n  fake:\n    auth:\n      auth_url: ${ks.url}/v3\n      username: vcluster\n      password: ${svc.password}\n      project_name: service\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n`,
      );
      const console = io(dir);
      const stop = new AbortController();
      const run = serveCommand(console, { listen: "127.0.0.1:0", cloud: "fake", db: "records.db" }, stop.signal);
      let url: string | undefined;
      for (let i = 0; i < 200 && !url; i++) {
        url = console.lines.map((l) => /listening on (http:\/\/\S+)/.exec(l)?.[1]).find(Boolean);
        if (!url) await new Promise((r) => setTimeout(r, 25));
      }
      expect(url).toBeDefined();
      expect(console.lines.join("\n")).not.toMatch(/noauth/);
      expect(console.lines).toContainEqual(
        expect.stringMatching(/Keystone at .*: tokens validated by service user "vcluster"/),
      );
      expect((await fetch(`${url}/v2/${demo}/vclusters`)).status).toBe(401);
      const ok = await fetch(`${url}/v2/${demo}/vclusters`, { headers: { "x-auth-token": ks.issue(alice.id, demo) } });
      expect(ok.status).toBe(200);
      stop.abort();
      expect(await run).toBe(0);
      expect(console.lines.join("\n")).not.toContain(svc.password);
    } finally {
      await ks.stop();
    }
  });

  it("--noauth serves the simulated cloud only (exit 3)", async () => {
    const console = io(tempDir());
    const env = { OS_AUTH_URL: "http://127.0.0.1:1/v3", OS_USERNAME: "u", OS_PASSWORD: "p", OS_PROJECT_NAME: "p" };
    const code = await serveCommand({ ...console, env }, { listen: "127.0.0.1:0", noauth: true, backend: "openstack" });
    expect(code).toBe(3);
    expect(console.lines.at(-1)).toMatch(
      /^openstack-vcluster serve: --noauth serves the simulated cloud only, and OpenStack was selected .*; hint: add --backend simulated, or drop --noauth to authenticate with Keystone$/,
    );
  });

  it.each([
    ["127.0.0.1:8788", { host: "127.0.0.1", port: 8788 }],
    ["0.0.0.0:80", { host: "0.0.0.0", port: 80 }],
    ["[::1]:9000", { host: "::1", port: 9000 }],
    [":9000", { host: "127.0.0.1", port: 9000 }],
    ["9000", { host: "127.0.0.1", port: 9000 }],
    ["localhost:0", { host: "localhost", port: 0 }],
  ])("--listen %s", (value, want) => {
    expect(parseListen(value)).toEqual(want);
  });

  it.each(["", "host", "host:port", "1.2.3.4:70000", "::1:80"])("--listen %j is refused", (value) => {
    expect(parseListen(value)).toBeUndefined();
  });
});
