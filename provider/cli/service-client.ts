// The client side of `--endpoint` (endpoint.ts): the service for one project, with the caller's
// Keystone token (from OS_CLOUD / OS_*, never printed) or none for a --noauth service, and the
// service's answers (Nova's error shape) said as the local command says its failures.
import { resolveOpenStackConfig } from "../backends/openstack/config";
import { OpenStackConfigError } from "../backends/openstack/config-error";
import { authRequestBody, identityBase, parseTokenResponse } from "../backends/openstack/keystone";
import { escapeControls, quote, scrubSecrets, stripUrlCredentials } from "../model/text";
import type { Explanation } from "../placement";
import type { EndpointFlags } from "./endpoint";
import { fail } from "./failure";
import { EXIT, type Io } from "./io";

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const REQUEST_TIMEOUT_MS = 60_000;

/** A failure this side says in one line and ends with (exit code). */
export class Stop extends Error {
  constructor(
    message: string,
    readonly code: number = EXIT.usage,
  ) {
    super(message);
  }
}

interface Fault {
  code: number;
  message: string;
  issues?: { code: string; path: string; message: string; hint?: string }[];
}

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the service's answers are read field by field
  body: any;
  requestId: string | undefined;
}

interface ClusterFault {
  code: string;
  message: string;
  causes: string[];
  hints: string[];
  explanation?: Explanation;
}

interface MemberView {
  name: string;
  type: "server" | "volume";
  id: string | null;
  status: string;
  zone: string | null;
  rack: string | null;
  host: string | null;
  backend: string | null;
  host_id?: string;
  server_group?: string;
  attached_to?: string;
  fault?: string;
}

export interface ClusterView {
  id: string;
  name: string;
  tenant_id: string;
  status: "BUILD" | "ACTIVE" | "ERROR" | "DELETING";
  members: MemberView[];
  soft_violations: { grouping: string; members: string[]; weight: number }[];
  broken_rules: { grouping?: string; members: string[]; message: string }[];
  missing: string[];
  operation?: { id: string; action: string; status: string; progress?: string };
  fault?: ClusterFault;
}

/** The service, for one project, with or without a token. */
export class Service {
  constructor(
    readonly base: string,
    readonly project: string,
    private readonly token: string | undefined,
  ) {}

  get where(): string {
    return `the service at ${this.base}`;
  }

  clustersPath(id?: string): string {
    return `/v2/${encodeURIComponent(this.project)}/vclusters${id ? `/${id}` : ""}`;
  }

  async send(method: string, route: string, body?: string): Promise<Answer> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers["x-auth-token"] = this.token;
    if (body !== undefined) headers["content-type"] = "application/json";
    const url = /^https?:\/\//.test(route) ? route : `${this.base}${route}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      throw new Stop(
        `openstack-vcluster: ${this.where} can't be reached (${method} ${route}): ${this.scrub(reason(e))}; hint: check --endpoint, and that \`openstack-vcluster serve\` runs there`,
      );
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed, requestId: res.headers.get("x-openstack-request-id") ?? undefined };
  }

  scrub(text: string): string {
    return this.token ? scrubSecrets(text, [this.token]) : text;
  }
}

function reason(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    if (e.name === "TimeoutError") return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
    if (cause?.code) return cause.code;
    if (cause?.message) return cause.message;
    return e.message;
  }
  return String(e);
}

/** The service's error answer (Nova's shape) as the local command would say it; returns the exit code. */
export function refused(io: Io, svc: Service, what: string, a: Answer): number {
  const fault: Fault | undefined =
    a.body && typeof a.body === "object" ? (Object.values(a.body)[0] as Fault | undefined) : undefined;
  const message =
    fault && typeof fault.message === "string" ? fault.message : `${svc.where} answered ${a.status} to ${what}`;
  const lines = [`openstack-vcluster: ${svc.scrub(escapeControls(message))}`];
  for (const i of fault?.issues ?? []) {
    lines.push(`  - ${escapeControls(`${i.path || "(body)"}: ${i.message}${i.hint ? ` (hint: ${i.hint})` : ""}`)}`);
  }
  if (a.status === 401) {
    lines.push(
      "  hint: the service authenticates callers with Keystone: name the cloud with OS_CLOUD (clouds.yaml) or the OS_* variables",
    );
  }
  if (a.requestId && a.status >= 500) lines.push(`  (request ${a.requestId})`);
  // A body the service found invalid is an invalid spec, as the local command says it.
  const issues = fault?.issues ?? [];
  const invalid = a.status === 400 && issues.length > 0;
  return fail(
    io,
    {
      kind: invalid ? "invalid_spec" : "cloud",
      exitCode: invalid ? EXIT.invalidSpec : EXIT.usage,
      message: lines[0] as string,
      issues: issues.map((i) => ({
        code: i.code,
        path: i.path,
        message: i.message,
        ...(i.hint ? { hint: i.hint } : {}),
      })),
    },
    lines.join("\n"),
  );
}

/** A Keystone token and its project, from the cloud the environment names (OS_CLOUD, OS_*). */
async function keystoneToken(io: Io): Promise<{ token: string; projectId: string | undefined }> {
  let cfg: ReturnType<typeof resolveOpenStackConfig>;
  try {
    cfg = resolveOpenStackConfig({}, io.env, io.cwd);
  } catch (e) {
    if (e instanceof OpenStackConfigError) throw new Stop(`openstack-vcluster: ${e.message}`);
    throw e;
  }
  const auth = cfg.auth;
  if (auth.type === "noauth") {
    return { token: auth.token, projectId: auth.projectId };
  }
  const url = `${identityBase(stripUrlCredentials(auth.authUrl))}/auth/tokens`;
  const secrets = [
    auth.type === "password"
      ? auth.password
      : auth.type === "application_credential"
        ? auth.applicationCredentialSecret
        : auth.token,
  ];
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(authRequestBody(auth)),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (e) {
    throw new Stop(`openstack-vcluster: keystone at ${url} can't be reached: ${scrubSecrets(reason(e), secrets)}`);
  }
  const text = await res.text();
  if (res.status !== 201 && res.status !== 200) {
    throw new Stop(
      `openstack-vcluster: keystone at ${url} refused the credentials of ${cfg.cloudName ? `cloud ${quote(cfg.cloudName)}` : "the OS_* variables"} (${res.status}); hint: check them with \`openstack token issue\``,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const token = parseTokenResponse(res.headers.get("x-subject-token") ?? undefined, body, Date.now());
  return { token: token.token, projectId: token.projectId };
}

function endpointBase(io: Io, raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail(io, {
      kind: "usage",
      message: `openstack-vcluster: --endpoint ${quote(raw)} is not a URL; hint: --endpoint http://127.0.0.1:8788`,
    });
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    fail(io, {
      kind: "usage",
      message: `openstack-vcluster: --endpoint ${quote(raw)} is not an http(s) URL; hint: --endpoint http://127.0.0.1:8788`,
    });
    return undefined;
  }
  // Given as the service's root, or as its /v2.
  return url.href.replace(/\/+$/, "").replace(/\/v2$/, "");
}

/** Whether the environment names a cloud whose Keystone gives the token. */
function cloudConfigured(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.OS_CLOUD?.trim() || env.OS_AUTH_URL?.trim() || env.OS_AUTH_TYPE?.trim() === "noauth");
}

export async function connect(io: Io, flags: EndpointFlags): Promise<Service | number> {
  const base = endpointBase(io, flags.endpoint);
  if (!base) return EXIT.usage;
  const project = flags.project ?? (io.env.OS_PROJECT_ID?.trim() || undefined);
  if (!cloudConfigured(io.env)) {
    if (!project) {
      return fail(io, {
        kind: "usage",
        message: `openstack-vcluster: --endpoint ${base}: no cloud is configured to get a Keystone token from, and no project is given; hint: set OS_CLOUD (clouds.yaml) or the OS_* variables, or for a service run with --noauth give the project: --project ID or OS_PROJECT_ID`,
      });
    }
    return new Service(base, project, undefined);
  }
  const { token, projectId } = await keystoneToken(io);
  const tenant = flags.project ?? projectId;
  if (!tenant) {
    return fail(io, {
      kind: "cloud",
      message:
        "openstack-vcluster: the Keystone token is scoped to no project; hint: set OS_PROJECT_NAME (or project_name in clouds.yaml)",
    });
  }
  return new Service(base, tenant, token);
}
