import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { resolveOpenStackConfig } from "../../provider/backends/openstack/config";

let dir: string;
let home: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "os-config-"));
  home = path.join(dir, "home");
  fs.mkdirSync(path.join(home, ".config", "openstack"), { recursive: true });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const env = (vars: Record<string, string> = {}): NodeJS.ProcessEnv => ({ HOME: home, ...vars });

const CLOUDS = `
clouds:
  prod:
    auth:
      auth_url: https://keystone.example:5000/v3
      username: alice
      project_name: web
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionTwo
    interface: internal
    cacert: ca.pem
    vcluster_rack_key: rack_id
  ci:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example:5000
      application_credential_id: ac-1
      application_credential_secret: shh
    verify: false
  dev:
    auth_type: noauth
    auth:
      token: admin:0123abcd
      project_id: 0123abcd
    compute_endpoint_override: http://127.0.0.1:8774/v2.1
    block_storage_endpoint_override: http://127.0.0.1:8776/v3/0123abcd
`;

describe("resolveOpenStackConfig", () => {
  it("reads the cloud named by OS_CLOUD from ./clouds.yaml, with the password from secure.yaml", () => {
    fs.writeFileSync(path.join(dir, "clouds.yaml"), CLOUDS);
    fs.writeFileSync(
      path.join(home, ".config", "openstack", "secure.yaml"),
      "clouds:\n  prod:\n    auth:\n      password: pw1\n",
    );
    const cfg = resolveOpenStackConfig({}, env({ OS_CLOUD: "prod" }), dir);
    expect(cfg).toEqual({
      cloudName: "prod",
      auth: {
        type: "password",
        authUrl: "https://keystone.example:5000/v3",
        username: "alice",
        password: "pw1",
        userDomainName: "Default",
        projectName: "web",
        projectDomainName: "Default",
      },
      region: "RegionTwo",
      interface: "internal",
      cacert: path.join(dir, "ca.pem"),
      insecure: false,
      endpointOverrides: {},
      rackKey: "rack_id",
      networks: "auto",
    });
  });

  it("finds clouds.yaml in ~/.config/openstack and lets stack config pick the cloud and override fields", () => {
    fs.writeFileSync(path.join(home, ".config", "openstack", "clouds.yaml"), CLOUDS);
    const cfg = resolveOpenStackConfig(
      { "openstack-vcluster:cloud": "prod", "openstack-vcluster:password": "pw2", "openstack-vcluster:region": "R3" },
      env({ OS_CLOUD: "ci" }),
      dir,
    );
    expect(cfg.cloudName).toBe("prod");
    expect(cfg.region).toBe("R3");
    expect(cfg.auth).toMatchObject({ type: "password", password: "pw2" });
  });

  it("reads an application credential and verify: false", () => {
    fs.writeFileSync(path.join(dir, "clouds.yaml"), CLOUDS);
    const cfg = resolveOpenStackConfig({}, env({ OS_CLOUD: "ci" }), dir);
    expect(cfg.auth).toEqual({
      type: "application_credential",
      authUrl: "https://keystone.example:5000",
      applicationCredentialId: "ac-1",
      applicationCredentialSecret: "shh",
    });
    expect(cfg.insecure).toBe(true);
  });

  it("reads a noauth cloud with endpoint overrides", () => {
    fs.writeFileSync(path.join(dir, "clouds.yaml"), CLOUDS);
    const cfg = resolveOpenStackConfig({}, env({ OS_CLOUD: "dev" }), dir);
    expect(cfg.auth).toEqual({ type: "noauth", token: "admin:0123abcd", projectId: "0123abcd" });
    expect(cfg.endpointOverrides).toEqual({
      compute: "http://127.0.0.1:8774/v2.1",
      "block-storage": "http://127.0.0.1:8776/v3/0123abcd",
    });
  });

  it("reads the OS_* variables when no cloud is named", () => {
    const cfg = resolveOpenStackConfig(
      {},
      env({
        OS_AUTH_URL: "https://k:5000/v3",
        OS_USERNAME: "bob",
        OS_PASSWORD: "pw",
        OS_PROJECT_ID: "p1",
        OS_USER_DOMAIN_ID: "default",
        OS_REGION_NAME: "RegionOne",
        OS_INTERFACE: "publicURL",
        OS_INSECURE: "true",
      }),
      dir,
    );
    expect(cfg.auth).toEqual({
      type: "password",
      authUrl: "https://k:5000/v3",
      username: "bob",
      password: "pw",
      userDomainId: "default",
      projectId: "p1",
    });
    expect(cfg.interface).toBe("public");
    expect(cfg.insecure).toBe(true);
  });

  it("reads OS_TOKEN as token auth and stack config networks", () => {
    const cfg = resolveOpenStackConfig(
      { networks: "net-a, net-b" },
      env({ OS_AUTH_URL: "https://k:5000", OS_TOKEN: "tok", OS_PROJECT_NAME: "web", OS_PROJECT_DOMAIN_NAME: "D" }),
      dir,
    );
    expect(cfg.auth).toEqual({
      type: "token",
      authUrl: "https://k:5000",
      token: "tok",
      projectName: "web",
      projectDomainName: "D",
    });
    expect(cfg.networks).toEqual(["net-a", "net-b"]);
  });

  it("names every missing field and where it looked", () => {
    expect(() =>
      resolveOpenStackConfig(
        {},
        env({ OS_AUTH_URL: "https://k:5000/v3", OS_USERNAME: "bob", OS_PROJECT_NAME: "web" }),
        dir,
      ),
    ).toThrowErrorMatchingInlineSnapshot(`
      [OpenStackConfigError: incomplete OpenStack credentials in the OS_* environment variables or stack config "openstack-vcluster:*"; missing:
        - password (OS_PASSWORD)
        - user_domain_name or user_domain_id (OS_USER_DOMAIN_NAME), needed with a user name
        - project_domain_name or project_domain_id (OS_PROJECT_DOMAIN_NAME), needed with a project name]
    `);
  });

  it("says which files it searched for an unknown cloud, and which clouds exist", () => {
    fs.writeFileSync(path.join(dir, "clouds.yaml"), CLOUDS);
    const err = (() => {
      try {
        resolveOpenStackConfig({}, env({ OS_CLOUD: "prdo" }), dir);
      } catch (e) {
        return (e as Error).message.replaceAll(dir, "<dir>");
      }
      return "";
    })();
    expect(err).toMatchInlineSnapshot(`
      "cloud "prdo" is not in any clouds.yaml (clouds found: ci, dev, prod); looked in: <dir>/clouds.yaml, <dir>/home/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml
      hint: add it to one of those files, or fix the name in OS_CLOUD / openstack-vcluster:cloud"
    `);
  });

  it("says how to configure a cloud when nothing is configured", () => {
    expect(() => resolveOpenStackConfig({}, env(), dir)).toThrow(/no OpenStack cloud configured: set OS_CLOUD/);
  });

  it("rejects an unknown interface", () => {
    expect(() =>
      resolveOpenStackConfig(
        { interface: "private" },
        env({ OS_AUTH_URL: "u", OS_TOKEN: "t", OS_PROJECT_ID: "p" }),
        dir,
      ),
    ).toThrow(/interface "private" is not one of public, internal, admin/);
  });
});

describe("clouds.yaml and secure.yaml that are not valid YAML", () => {
  const PW = "pw-Hunter2-s3cret";
  const errorOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      return (e as Error).message.replaceAll(dir, "<dir>");
    }
    throw new Error("expected an error");
  };

  it.each([
    [
      "clouds.yaml",
      "an unclosed quote",
      `clouds:\n  prod:\n    auth:\n      auth_url: https://k:5000/v3\n      password: "${PW}\n      username: alice\n`,
      "<dir>/clouds.yaml:7:1: not valid YAML: a missing closing quote or bracket, or a missing ':' after a key (MISSING_CHAR)",
    ],
    [
      "clouds.yaml",
      "a bad indentation",
      `clouds:\n  prod:\n    auth:\n     password: ${PW}\n      username: alice\n`,
      "<dir>/clouds.yaml:4:16: not valid YAML: a mapping nested where it cannot be, check the indentation (BLOCK_AS_IMPLICIT_KEY)",
    ],
    [
      "secure.yaml",
      "a tab as indentation",
      `clouds:\n  prod:\n    auth:\n\tpassword: ${PW}\n`,
      "<dir>/home/.config/openstack/secure.yaml:4:1: not valid YAML: a tab used for indentation (TAB_AS_INDENT)",
    ],
    [
      "secure.yaml",
      "a key given twice",
      `clouds:\n  prod:\n    auth:\n      password: ${PW}\n      password: ${PW}x\n`,
      "<dir>/home/.config/openstack/secure.yaml:5:7: not valid YAML: a key given twice (DUPLICATE_KEY)",
    ],
    [
      "secure.yaml",
      "an alias whose name is the password",
      `clouds:\n  prod:\n    auth:\n      password: *${PW}\n`,
      "<dir>/home/.config/openstack/secure.yaml: not valid YAML: an alias *name whose anchor &name is not set before it",
    ],
  ])("reports %s with %s by file, line, column and kind, never its text", (file, _what, text, expected) => {
    fs.writeFileSync(path.join(dir, "clouds.yaml"), file === "clouds.yaml" ? text : CLOUDS);
    if (file === "secure.yaml") fs.writeFileSync(path.join(home, ".config", "openstack", "secure.yaml"), text);
    const message = errorOf(() => resolveOpenStackConfig({}, env({ OS_CLOUD: "prod" }), dir));
    expect(message.split("\n")[0]).toBe(expected);
    expect(message).not.toContain(PW);
    expect(message).not.toContain("username");
    expect(message).toContain("the file's text is not shown");
  });

  it("prints no YAML warning (with its code frame) for a tag it doesn't know", async () => {
    const warnings: unknown[] = [];
    const onWarning = (w: unknown) => warnings.push(w);
    process.on("warning", onWarning);
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      fs.writeFileSync(path.join(dir, "clouds.yaml"), CLOUDS);
      fs.writeFileSync(
        path.join(home, ".config", "openstack", "secure.yaml"),
        `clouds:\n  prod:\n    auth:\n      password: !vault ${PW}\n`,
      );
      const cfg = resolveOpenStackConfig({}, env({ OS_CLOUD: "prod" }), dir);
      expect(cfg.auth).toMatchObject({ type: "password", password: PW });
    } finally {
      stderr.mockRestore();
    }
    // process.emitWarning delivers on the next tick.
    await new Promise<void>((resolve) => setImmediate(resolve));
    process.off("warning", onWarning);
    expect(warnings).toEqual([]);
  });
});

describe("credentials in the auth URL", () => {
  const vars = {
    OS_USERNAME: "alice",
    OS_PASSWORD: "the-real-password",
    OS_USER_DOMAIN_NAME: "Default",
    OS_PROJECT_NAME: "web",
    OS_PROJECT_DOMAIN_NAME: "Default",
  };

  it("drops user:password@ from OS_AUTH_URL, keeps the request working, and says so in one line", () => {
    const cfg = resolveOpenStackConfig(
      {},
      env({ ...vars, OS_AUTH_URL: "http://u:url-pass%40word@keystone.example:5000/v3" }),
      dir,
    );
    expect(cfg.auth).toMatchObject({
      type: "password",
      authUrl: "http://keystone.example:5000/v3",
      password: "the-real-password",
    });
    expect(cfg.notice).toBe(
      "the auth URL (auth_url / OS_AUTH_URL) holds credentials (user:password@): they are not used and were removed from it; only the credentials set apart from the URL are used",
    );
    expect(JSON.stringify(cfg)).not.toContain("url-pass");
  });

  it("drops them from clouds.yaml auth_url and endpoint overrides too", () => {
    fs.writeFileSync(
      path.join(dir, "clouds.yaml"),
      "clouds:\n  dev:\n    auth_type: noauth\n    auth:\n      token: admin:0123abcd\n      project_id: 0123abcd\n" +
        "    compute_endpoint_override: http://admin:pa@ss@127.0.0.1:8774/v2.1\n",
    );
    const cfg = resolveOpenStackConfig({}, env({ OS_CLOUD: "dev" }), dir);
    expect(cfg.endpointOverrides).toEqual({ compute: "http://127.0.0.1:8774/v2.1" });
    expect(cfg.notice).toMatch(
      /^the compute endpoint override holds credentials \(user:password@\): they are not used/,
    );
  });

  it("refuses when the URL holds the only credentials, without repeating them", () => {
    const message = (() => {
      try {
        resolveOpenStackConfig(
          {},
          env({ OS_AUTH_URL: "https://alice:url-pass@k:5000/v3", OS_PROJECT_NAME: "web", OS_PROJECT_DOMAIN_NAME: "D" }),
          dir,
        );
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    })();
    expect(message).toContain("missing:\n  - username or user_id (OS_USERNAME)\n  - password (OS_PASSWORD)");
    expect(message).toContain(
      "hint: credentials in the auth URL (user:password@) are not used: set them as OS_USERNAME / OS_PASSWORD (or username / password under auth in clouds.yaml)",
    );
    expect(message).not.toContain("url-pass");
  });
});
