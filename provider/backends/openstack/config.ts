// Where the OpenStack backend's credentials come from, the way OpenStack users already have them:
// Pulumi stack config (`openstack-vcluster:*`), `clouds.yaml` (+ `secure.yaml`) selected by a cloud name
// (stack config `cloud` or `OS_CLOUD`), and the `OS_*` variables. Stack config wins over the cloud entry,
// which wins over the variables.
import * as path from "node:path";
import { CONFIG_PREFIX } from "../../model/names";
import { stripUrlCredentials } from "../../model/text";
import { cloudsYamlSearchPath, findCloudEntry, type Raw } from "./clouds-yaml";
import { OpenStackConfigError } from "./config-error";

export type Interface = "public" | "internal" | "admin";

export interface Scope {
  projectId?: string;
  projectName?: string;
  projectDomainId?: string;
  projectDomainName?: string;
  /** Domain scope (no project). */
  domainId?: string;
  domainName?: string;
  /** Trust scope (OS-TRUST): the trustee's token acting through this trust, in the trust's project (the REST service). */
  trustId?: string;
}

export type OpenStackAuth =
  | ({
      type: "password";
      authUrl: string;
      username?: string;
      userId?: string;
      password: string;
      userDomainId?: string;
      userDomainName?: string;
    } & Scope)
  | {
      type: "application_credential";
      authUrl: string;
      applicationCredentialId?: string;
      applicationCredentialName?: string;
      applicationCredentialSecret: string;
      username?: string;
      userId?: string;
      userDomainId?: string;
      userDomainName?: string;
    }
  | ({ type: "token"; authUrl: string; token: string } & Scope)
  /** No Keystone: a fixed token ("user:project" for noauth services) and explicit endpoints. */
  | { type: "noauth"; token: string; projectId: string };

export interface OpenStackConfig {
  /** The clouds.yaml entry used, for messages. */
  cloudName?: string;
  auth: OpenStackAuth;
  region?: string;
  interface: Interface;
  /** Path of a PEM CA bundle. */
  cacert?: string;
  insecure: boolean;
  /** Service type -> endpoint URL, used instead of the catalog (required for noauth). */
  endpointOverrides: Record<string, string>;
  /** One line for the user about a setting that was not used as written (credentials in a URL). */
  notice?: string;
  /** Aggregate metadata key that names a host's rack. */
  rackKey: string;
  /** Networks for servers that name none: "auto", "none" or network ids (comma-separated in config). */
  networks: "auto" | "none" | string[];
}

function str(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v.trim() === "" ? undefined : v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

/** The flat set of settings every source maps into, named like clouds.yaml `auth` keys. */
interface Flat {
  auth_type?: string;
  auth_url?: string;
  username?: string;
  user_id?: string;
  password?: string;
  user_domain_name?: string;
  user_domain_id?: string;
  project_name?: string;
  project_id?: string;
  project_domain_name?: string;
  project_domain_id?: string;
  domain_name?: string;
  domain_id?: string;
  application_credential_id?: string;
  application_credential_name?: string;
  application_credential_secret?: string;
  token?: string;
  region_name?: string;
  interface?: string;
  cacert?: string;
  insecure?: string;
  rack_key?: string;
  networks?: string;
  endpoints: Record<string, string>;
}

const AUTH_KEYS = [
  "auth_url",
  "username",
  "user_id",
  "password",
  "user_domain_name",
  "user_domain_id",
  "project_name",
  "project_id",
  "project_domain_name",
  "project_domain_id",
  "domain_name",
  "domain_id",
  "application_credential_id",
  "application_credential_name",
  "application_credential_secret",
  "token",
] as const;

function fromCloudEntry(entry: Raw): Flat {
  const auth = (entry.auth && typeof entry.auth === "object" ? entry.auth : {}) as Raw;
  const flat: Flat = { endpoints: {} };
  for (const k of AUTH_KEYS) {
    const v = str(auth[k]);
    if (v !== undefined) flat[k] = v;
  }
  flat.auth_type = str(entry.auth_type);
  flat.region_name = str(entry.region_name);
  flat.interface = str(entry.interface) ?? str(entry.endpoint_type);
  flat.cacert = str(entry.cacert);
  const verify = entry.verify;
  if (verify === false || verify === "false") flat.insecure = "true";
  if (entry.insecure !== undefined) flat.insecure = str(entry.insecure);
  flat.rack_key = str(entry.vcluster_rack_key);
  flat.networks = str(entry.vcluster_networks);
  for (const [k, v] of Object.entries(entry)) {
    const m = /^(.+)_endpoint_override$/.exec(k);
    const url = str(v);
    if (m?.[1] && url) flat.endpoints[m[1].replace(/_/g, "-")] = url;
  }
  return flat;
}

function fromEnv(env: NodeJS.ProcessEnv): Flat {
  const flat: Flat = { endpoints: {} };
  const map: Array<[keyof Flat, string]> = [
    ["auth_type", "OS_AUTH_TYPE"],
    ["auth_url", "OS_AUTH_URL"],
    ["username", "OS_USERNAME"],
    ["user_id", "OS_USER_ID"],
    ["password", "OS_PASSWORD"],
    ["user_domain_name", "OS_USER_DOMAIN_NAME"],
    ["user_domain_id", "OS_USER_DOMAIN_ID"],
    ["project_name", "OS_PROJECT_NAME"],
    ["project_id", "OS_PROJECT_ID"],
    ["project_domain_name", "OS_PROJECT_DOMAIN_NAME"],
    ["project_domain_id", "OS_PROJECT_DOMAIN_ID"],
    ["domain_name", "OS_DOMAIN_NAME"],
    ["domain_id", "OS_DOMAIN_ID"],
    ["application_credential_id", "OS_APPLICATION_CREDENTIAL_ID"],
    ["application_credential_name", "OS_APPLICATION_CREDENTIAL_NAME"],
    ["application_credential_secret", "OS_APPLICATION_CREDENTIAL_SECRET"],
    ["token", "OS_TOKEN"],
    ["region_name", "OS_REGION_NAME"],
    ["interface", "OS_INTERFACE"],
    ["cacert", "OS_CACERT"],
    ["insecure", "OS_INSECURE"],
  ];
  for (const [key, name] of map) {
    const v = str(env[name]);
    if (v !== undefined) (flat as unknown as Record<string, string>)[key] = v;
  }
  // Legacy names some rc files still use.
  flat.project_name ??= str(env.OS_TENANT_NAME);
  flat.project_id ??= str(env.OS_TENANT_ID);
  flat.interface ??= str(env.OS_ENDPOINT_TYPE)?.replace(/URL$/, "");
  return flat;
}

const STACK_KEYS: Record<string, keyof Flat> = {
  authType: "auth_type",
  authUrl: "auth_url",
  username: "username",
  userId: "user_id",
  password: "password",
  userDomainName: "user_domain_name",
  userDomainId: "user_domain_id",
  projectName: "project_name",
  projectId: "project_id",
  projectDomainName: "project_domain_name",
  projectDomainId: "project_domain_id",
  domainName: "domain_name",
  domainId: "domain_id",
  applicationCredentialId: "application_credential_id",
  applicationCredentialName: "application_credential_name",
  applicationCredentialSecret: "application_credential_secret",
  token: "token",
  region: "region_name",
  interface: "interface",
  cacert: "cacert",
  insecure: "insecure",
  rackKey: "rack_key",
  networks: "networks",
};

function fromStack(config: Record<string, string>): { flat: Flat; cloud?: string } {
  const flat: Flat = { endpoints: {} };
  let cloud: string | undefined;
  for (const [rawKey, rawValue] of Object.entries(config)) {
    const key = rawKey.startsWith(CONFIG_PREFIX) ? rawKey.slice(CONFIG_PREFIX.length) : rawKey;
    const value = str(rawValue);
    if (value === undefined) continue;
    if (key === "cloud") cloud = value;
    else if (key === "endpoints") {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        throw new OpenStackConfigError(
          `stack config "${CONFIG_PREFIX}endpoints" must be a JSON object of service type to URL`,
        );
      }
      for (const [t, u] of Object.entries((parsed ?? {}) as Raw)) {
        const url = str(u);
        if (url) flat.endpoints[t] = url;
      }
    } else {
      const target = STACK_KEYS[key];
      if (target) (flat as unknown as Record<string, string>)[target] = value;
    }
  }
  return { flat, ...(cloud ? { cloud } : {}) };
}

function overlay(base: Flat, top: Flat): Flat {
  const out: Flat = { ...base, endpoints: { ...base.endpoints, ...top.endpoints } };
  for (const [k, v] of Object.entries(top)) {
    if (k !== "endpoints" && v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}

/** The URL without `user:password@`; `dropped` when there was one. */
function withoutCredentials(url: string): { url: string; dropped: boolean } {
  const stripped = url.includes("://") ? stripUrlCredentials(url) : url.replace(/^[^\s/?#]*@/, "");
  return { url: stripped, dropped: stripped !== url };
}

/**
 * Credentials written into a URL are not used (Keystone takes them in the request body, and the
 * other services take a token), and a URL goes into the cluster's state (its cloud's identity) and
 * into messages: each URL loses them here, and the user is told so in one line.
 */
function dropUrlCredentials(f: Flat): { notice?: string; authUrlHadCredentials: boolean } {
  const places: string[] = [];
  let authUrlHadCredentials = false;
  if (f.auth_url !== undefined) {
    const { url, dropped } = withoutCredentials(f.auth_url);
    f.auth_url = url;
    if (dropped) places.push("the auth URL (auth_url / OS_AUTH_URL)");
    authUrlHadCredentials = dropped;
  }
  for (const [type, endpoint] of Object.entries(f.endpoints)) {
    const { url, dropped } = withoutCredentials(endpoint);
    f.endpoints[type] = url;
    if (dropped) places.push(`the ${type} endpoint override`);
  }
  if (places.length === 0) return { authUrlHadCredentials };
  const many = places.length > 1;
  return {
    authUrlHadCredentials,
    notice:
      `${places.join(" and ")} ${many ? "hold" : "holds"} credentials (user:password@): they are not used and were ` +
      `removed from ${many ? "them" : "it"}; only the credentials set apart from the URL are used`,
  };
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v);
}

export function resolveOpenStackConfig(
  config: Record<string, string>,
  env: NodeJS.ProcessEnv,
  cwd: string,
): OpenStackConfig {
  const stack = fromStack(config);
  const cloudName = stack.cloud ?? str(env.OS_CLOUD);
  const base = cloudName ? fromCloudEntry(findCloudEntry(cloudName, env, cwd)) : fromEnv(env);
  const f = overlay(base, stack.flat);
  const urls = dropUrlCredentials(f);
  const where = cloudName
    ? `clouds.yaml entry "${cloudName}"`
    : `the OS_* environment variables or stack config "${CONFIG_PREFIX}*"`;

  const iface = (f.interface ?? "public").replace(/URL$/, "");
  if (iface !== "public" && iface !== "internal" && iface !== "admin") {
    throw new OpenStackConfigError(`interface "${iface}" is not one of public, internal, admin (from ${where})`);
  }
  const authType = (f.auth_type ?? "").replace(/^v3/, "");
  const missing: string[] = [];
  const need = (key: keyof Flat, names: string) => {
    if (f[key] === undefined) missing.push(names);
  };

  let auth: OpenStackAuth;
  if (authType === "noauth" || authType === "none" || authType === "admin_token") {
    need("token", "token (OS_TOKEN)");
    need("project_id", "project_id (OS_PROJECT_ID)");
    auth = { type: "noauth", token: f.token ?? "", projectId: f.project_id ?? "" };
  } else {
    const nothing = f.auth_url === undefined && f.username === undefined && f.user_id === undefined;
    if (!cloudName && nothing && f.token === undefined && f.application_credential_id === undefined) {
      throw new OpenStackConfigError(
        `no OpenStack cloud configured: set OS_CLOUD (clouds.yaml looked for in: ${cloudsYamlSearchPath(env, cwd).join(", ")}), ` +
          `or OS_AUTH_URL with OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME, or stack config "${CONFIG_PREFIX}cloud"`,
      );
    }
    need("auth_url", "auth_url (OS_AUTH_URL)");
    const scope: Scope = {
      ...(f.project_id ? { projectId: f.project_id } : {}),
      ...(f.project_name ? { projectName: f.project_name } : {}),
      ...(f.project_domain_id ? { projectDomainId: f.project_domain_id } : {}),
      ...(f.project_domain_name ? { projectDomainName: f.project_domain_name } : {}),
      ...(f.domain_id ? { domainId: f.domain_id } : {}),
      ...(f.domain_name ? { domainName: f.domain_name } : {}),
    };
    const userDomain = {
      ...(f.user_domain_id ? { userDomainId: f.user_domain_id } : {}),
      ...(f.user_domain_name ? { userDomainName: f.user_domain_name } : {}),
    };
    const isAppCred =
      authType === "applicationcredential" ||
      authType === "application_credential" ||
      (authType === "" && f.application_credential_secret !== undefined);
    const isToken = authType === "token" || (authType === "" && f.token !== undefined && f.password === undefined);
    if (isAppCred) {
      need("application_credential_secret", "application_credential_secret (OS_APPLICATION_CREDENTIAL_SECRET)");
      if (!f.application_credential_id && !f.application_credential_name) {
        missing.push("application_credential_id or application_credential_name (OS_APPLICATION_CREDENTIAL_ID)");
      } else if (!f.application_credential_id && !f.username && !f.user_id) {
        missing.push("username or user_id (an application credential given by name needs its user)");
      }
      auth = {
        type: "application_credential",
        authUrl: f.auth_url ?? "",
        applicationCredentialSecret: f.application_credential_secret ?? "",
        ...(f.application_credential_id ? { applicationCredentialId: f.application_credential_id } : {}),
        ...(f.application_credential_name ? { applicationCredentialName: f.application_credential_name } : {}),
        ...(f.username ? { username: f.username } : {}),
        ...(f.user_id ? { userId: f.user_id } : {}),
        ...userDomain,
      };
    } else if (isToken) {
      need("token", "token (OS_TOKEN)");
      auth = { type: "token", authUrl: f.auth_url ?? "", token: f.token ?? "", ...scope };
    } else {
      if (!f.username && !f.user_id) missing.push("username or user_id (OS_USERNAME)");
      need("password", "password (OS_PASSWORD)");
      if (f.username && !f.user_id && !f.user_domain_id && !f.user_domain_name) {
        missing.push("user_domain_name or user_domain_id (OS_USER_DOMAIN_NAME), needed with a user name");
      }
      if (!f.project_id && !f.project_name && !f.domain_id && !f.domain_name) {
        missing.push("project_name or project_id (OS_PROJECT_NAME)");
      }
      if (f.project_name && !f.project_id && !f.project_domain_id && !f.project_domain_name) {
        missing.push("project_domain_name or project_domain_id (OS_PROJECT_DOMAIN_NAME), needed with a project name");
      }
      auth = {
        type: "password",
        authUrl: f.auth_url ?? "",
        password: f.password ?? "",
        ...(f.username ? { username: f.username } : {}),
        ...(f.user_id ? { userId: f.user_id } : {}),
        ...userDomain,
        ...scope,
      };
    }
  }
  if (missing.length > 0) {
    const hint = urls.authUrlHadCredentials
      ? "\nhint: credentials in the auth URL (user:password@) are not used: set them as OS_USERNAME / OS_PASSWORD (or username / password under auth in clouds.yaml)"
      : "";
    throw new OpenStackConfigError(
      `incomplete OpenStack credentials in ${where}; missing:\n${missing.map((m) => `  - ${m}`).join("\n")}${hint}`,
    );
  }
  let networks: OpenStackConfig["networks"] = "auto";
  if (f.networks === "none" || f.networks === "auto") networks = f.networks;
  else if (f.networks) networks = f.networks.split(",").map((s) => s.trim());

  return {
    ...(cloudName ? { cloudName } : {}),
    auth,
    ...(f.region_name ? { region: f.region_name } : {}),
    interface: iface,
    ...(f.cacert ? { cacert: path.resolve(cwd, f.cacert) } : {}),
    insecure: truthy(f.insecure),
    endpointOverrides: f.endpoints,
    ...(urls.notice ? { notice: urls.notice } : {}),
    rackKey: f.rack_key ?? "rack",
    networks,
  };
}
