// Small builders for the OpenStack unit tests: a MockAgent cloud with a Keystone that hands out a catalog.
import { MockAgent } from "undici";
import type { OpenStackConfig } from "../../provider/backends/openstack/config";
import { HttpClient } from "../../provider/backends/openstack/http";
import { Session } from "../../provider/backends/openstack/session";

export const KEYSTONE = "http://keystone.test:5000";
export const NOVA = "http://nova.test:8774";
export const CINDER = "http://cinder.test:8776";
export const PLACEMENT = "http://placement.test:8778";
export const GLANCE = "http://glance.test:9292";
export const TOKEN = "gAAAAABsecret-token-value";
export const PROJECT = "p0123";

export function catalog(region = "RegionOne") {
  const ep = (url: string) => [
    { interface: "public", region_id: region, url },
    { interface: "internal", region_id: region, url: url.replace(".test", ".internal") },
  ];
  return [
    { type: "compute", endpoints: ep(`${NOVA}/v2.1`) },
    { type: "volumev3", endpoints: ep(`${CINDER}/v3/${PROJECT}`) },
    { type: "placement", endpoints: ep(PLACEMENT) },
    { type: "image", endpoints: ep(GLANCE) },
  ];
}

export function passwordConfig(over: Partial<OpenStackConfig> = {}): OpenStackConfig {
  return {
    auth: {
      type: "password",
      authUrl: `${KEYSTONE}/v3`,
      username: "alice",
      password: "s3cret-password",
      userDomainName: "Default",
      projectName: "demo",
      projectDomainName: "Default",
    },
    region: "RegionOne",
    interface: "public",
    insecure: false,
    endpointOverrides: {},
    rackKey: "rack",
    networks: "none",
    ...over,
  };
}

export function tokenBody(expiresAt: string, roles = ["member"], issuedAt = "2030-01-01T00:00:00Z") {
  return {
    token: {
      expires_at: expiresAt,
      issued_at: issuedAt,
      catalog: catalog(),
      project: { id: PROJECT },
      user: { id: "u1" },
      roles: roles.map((name) => ({ name })),
    },
  };
}

export interface MockCloud {
  agent: MockAgent;
  http: HttpClient;
  sleeps: number[];
}

export function mockCloud(): MockCloud {
  const agent = new MockAgent();
  agent.disableNetConnect();
  const sleeps: number[] = [];
  const http = new HttpClient({
    dispatcherFor: () => agent,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
  });
  return { agent, http, sleeps };
}

/** One Keystone password authentication answered with TOKEN and the catalog. */
export function interceptAuth(agent: MockAgent, opts: { expiresAt?: string; roles?: string[]; token?: string } = {}) {
  agent
    .get(KEYSTONE)
    .intercept({ path: "/v3/auth/tokens", method: "POST" })
    .reply(201, tokenBody(opts.expiresAt ?? "2030-01-01T12:00:00Z", opts.roles), {
      headers: { "x-subject-token": opts.token ?? TOKEN, "content-type": "application/json" },
    });
}

/** Nova's version document announcing `max` (and min 2.1). */
export function interceptNovaVersion(agent: MockAgent, max: string) {
  agent
    .get(NOVA)
    .intercept({ path: "/v2.1/", method: "GET" })
    .reply(200, { version: { id: "v2.1", version: max, min_version: "2.1", status: "CURRENT" } });
}

export function session(cloud: MockCloud, cfg = passwordConfig(), now = () => Date.parse("2030-01-01T00:00:00Z")) {
  return new Session(cfg, cloud.http, now);
}

export const json = { headers: { "content-type": "application/json" } };
