import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
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
