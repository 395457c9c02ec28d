// `openstack-vcluster --endpoint URL apply|show|destroy|list`: the same commands, done by an
// `openstack-vcluster serve` instead of here. The service keeps the cluster's records and does the
// work; this side sends the spec, follows the operation, and prints what the local command prints
// (its progress lines, the cluster's members, the failure with its causes and hints), with the same
// exit codes (0 ok, 1 invalid spec, 2 unplaceable, 3 backend or usage error).
//
// Who calls: a Keystone token, obtained from the cloud OS_CLOUD (clouds.yaml) or the OS_* variables
// name, as every OpenStack tool does; the project is the token's. With no cloud configured, the
// service must run with --noauth and the project is given: --project or OS_PROJECT_ID. The token is
// sent in X-Auth-Token and never printed.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { resolveOpenStackConfig } from "../backends/openstack/config";
import { OpenStackConfigError } from "../backends/openstack/config-error";
import { authRequestBody, identityBase, parseTokenResponse } from "../backends/openstack/keystone";
import { escapeControls, listItems, plural, quote, scrubSecrets, stripUrlCredentials } from "../model/text";
import { type Explanation, formatExplanation } from "../placement";
import { EXIT, type Io, json } from "./io";
import { loadSpec } from "./load";

export type EndpointAction = "apply" | "show" | "destroy" | "list";

export interface EndpointFlags {
  endpoint: string;
  /** The project (the URL's tenant_id): required without a cloud (a --noauth service), else the token's. */
  project?: string;
  json?: boolean;
  dryRun?: boolean;
  /** How often the operation is polled at most (default 1 s; quicker at first) and for how long (default 1 h). */
  pollMs?: number;
  waitMs?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const REQUEST_TIMEOUT_MS = 60_000;

/** A failure this side says in one line and ends with (exit code). */
class Stop extends Error {
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

interface ClusterView {
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
class Service {
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
function refused(io: Io, svc: Service, what: string, a: Answer): number {
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
  io.err(lines.join("\n"));
  // A body the service found invalid is an invalid spec, as the local command says it.
  return a.status === 400 && (fault?.issues?.length ?? 0) > 0 ? EXIT.invalidSpec : EXIT.usage;
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
    io.err(`openstack-vcluster: --endpoint ${quote(raw)} is not a URL; hint: --endpoint http://127.0.0.1:8788`);
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    io.err(
      `openstack-vcluster: --endpoint ${quote(raw)} is not an http(s) URL; hint: --endpoint http://127.0.0.1:8788`,
    );
    return undefined;
  }
  // Given as the service's root, or as its /v2.
  return url.href.replace(/\/+$/, "").replace(/\/v2$/, "");
}

/** Whether the environment names a cloud whose Keystone gives the token. */
function cloudConfigured(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.OS_CLOUD?.trim() || env.OS_AUTH_URL?.trim() || env.OS_AUTH_TYPE?.trim() === "noauth");
}

async function connect(io: Io, flags: EndpointFlags): Promise<Service | number> {
  const base = endpointBase(io, flags.endpoint);
  if (!base) return EXIT.usage;
  const project = flags.project ?? (io.env.OS_PROJECT_ID?.trim() || undefined);
  if (!cloudConfigured(io.env)) {
    if (!project) {
      io.err(
        `openstack-vcluster: --endpoint ${base}: no cloud is configured to get a Keystone token from, and no project is given; hint: set OS_CLOUD (clouds.yaml) or the OS_* variables, or for a service run with --noauth give the project: --project ID or OS_PROJECT_ID`,
      );
      return EXIT.usage;
    }
    return new Service(base, project, undefined);
  }
  const { token, projectId } = await keystoneToken(io);
  const tenant = flags.project ?? projectId;
  if (!tenant) {
    io.err(
      "openstack-vcluster: the Keystone token is scoped to no project; hint: set OS_PROJECT_NAME (or project_name in clouds.yaml)",
    );
    return EXIT.usage;
  }
  return new Service(base, tenant, token);
}

/** Every cluster of the project (all pages). */
async function listAll(io: Io, svc: Service): Promise<{ id: string; name: string; status: string }[] | number> {
  const out: { id: string; name: string; status: string }[] = [];
  let route: string | undefined = svc.clustersPath();
  for (let page = 0; route && page < 1000; page++) {
    const a = await svc.send("GET", route);
    if (a.status !== 200) return refused(io, svc, "the list", a);
    out.push(...(a.body?.vclusters ?? []));
    const next = (a.body?.vclusters_links ?? []).find((l: { rel: string }) => l.rel === "next")?.href as
      | string
      | undefined;
    // The service's own link, on its own base (it may know itself by another host name).
    route = next ? `${svc.clustersPath()}${next.slice(next.indexOf("?"))}` : undefined;
  }
  return out;
}

/** The cluster a target names: an id, a spec file's cluster name, or a name; undefined when none. */
async function findCluster(io: Io, svc: Service, target: string): Promise<{ id: string; name: string } | number> {
  let name = target;
  if (/\.(json|ya?ml)$/i.test(target)) {
    const spec = loadSpec(io, target, false);
    if (!spec.ok) return spec.code;
    name = spec.value.name;
  } else if (UUID.test(target)) {
    return { id: target, name: target };
  }
  const all = await listAll(io, svc);
  if (typeof all === "number") return all;
  const named = all.filter((c) => c.name === name);
  if (named.length === 1) return named[0] as { id: string; name: string };
  if (named.length === 0) {
    io.err(
      `cluster ${quote(name)}: nothing found in project ${svc.project} at ${svc.where}${all.length > 0 ? ` (its clusters: ${listItems(all.map((c) => c.name).sort(), 10, quote)})` : ""}; hint: check the name, --endpoint and the project`,
    );
    return EXIT.usage;
  }
  io.err(
    `cluster ${quote(name)}: ${named.length} clusters of project ${svc.project} have that name (${named.map((c) => c.id).join(", ")}); hint: name one by its id`,
  );
  return EXIT.usage;
}

function renderMembers(view: ClusterView): string {
  const lines: string[] = [];
  const rows = view.members.map((m) => [
    m.name,
    m.type,
    m.status,
    m.zone ?? "-",
    m.host ?? m.rack ?? m.host_id?.slice(0, 12) ?? "-",
    m.type === "volume" ? (m.attached_to ? `attached to ${m.attached_to}` : (m.backend ?? "")) : (m.server_group ?? ""),
  ]);
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((r) => (r[i] as string).length), 0));
  for (const r of rows) {
    lines.push(
      `  ${r
        .map((c, i) => (i < 5 ? c.padEnd(widths[i] as number) : c))
        .join("  ")
        .trimEnd()}`,
    );
  }
  if (view.soft_violations.length > 0) {
    lines.push("", "soft violations:");
    for (const v of view.soft_violations) {
      lines.push(`  ${quote(v.grouping)}: ${v.members.map(quote).join(", ")} (weight ${v.weight})`);
    }
  }
  if (view.broken_rules.length > 0) {
    lines.push("", "broken rules:");
    for (const r of view.broken_rules) lines.push(`  ${r.message}`);
  }
  if (view.missing.length > 0) {
    lines.push("", `missing (the next apply recreates them): ${view.missing.map(quote).join(", ")}`);
  }
  return escapeControls(lines.join("\n"), { lines: true });
}

function printCluster(io: Io, svc: Service, view: ClusterView, asJson: boolean): void {
  io.out(
    asJson
      ? json(view)
      : `cluster ${quote(view.name)} (${view.id}) ${view.status} at ${svc.where}, project ${view.tenant_id}\n\n${renderMembers(view)}`,
  );
}

/** A cluster in ERROR as the local command says a failed apply: the explanation, or the message with its causes. */
function printFault(io: Io, view: ClusterView): number {
  const f = view.fault;
  if (!f) {
    io.err(`cluster ${quote(view.name)} (${view.id}) is ERROR`);
    return EXIT.usage;
  }
  if (f.code === "unplaceable" && f.explanation) {
    io.err(escapeControls(formatExplanation(f.explanation), { lines: true }));
    return EXIT.unplaceable;
  }
  const lines = [f.message];
  // The message of a lifecycle failure already lists its causes, one a line; others don't.
  for (const c of f.causes) if (!f.message.includes(c)) lines.push(`  ${c}`);
  for (const h of f.hints) if (!lines.some((l) => l.includes(h))) lines.push(`  hint: ${h}`);
  io.err(escapeControls(lines.join("\n"), { lines: true }));
  return f.code === "invalid" ? EXIT.invalidSpec : f.code === "unplaceable" ? EXIT.unplaceable : EXIT.usage;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GETs the cluster until `done` says so, printing each new progress line; undefined once it is gone (404). */
async function follow(
  io: Io,
  svc: Service,
  id: string,
  flags: EndpointFlags,
  done: (v: ClusterView) => boolean,
): Promise<ClusterView | undefined | number> {
  const deadline = Date.now() + (flags.waitMs ?? 3_600_000);
  let said: string | undefined;
  // Quick at first (a small cluster is done in a moment), then once every pollMs.
  let wait = Math.min(100, flags.pollMs ?? 1_000);
  for (;;) {
    const a = await svc.send("GET", svc.clustersPath(id));
    if (a.status === 404) return undefined;
    if (a.status !== 200) return refused(io, svc, `GET ${svc.clustersPath(id)}`, a);
    const view = a.body?.vcluster as ClusterView;
    const progress = view.operation?.status === "running" ? view.operation.progress : undefined;
    if (progress && progress !== said) {
      io.err(escapeControls(progress, { lines: true }));
      said = progress;
    }
    if (done(view)) return view;
    if (Date.now() > deadline) {
      io.err(
        `cluster ${quote(view.name)} (${view.id}) is still ${view.status} after ${Math.round((flags.waitMs ?? 3_600_000) / 1000)} s; the service goes on with it; hint: openstack-vcluster --endpoint ${svc.base} show ${view.id}`,
      );
      return EXIT.usage;
    }
    await sleep(wait);
    wait = Math.min(wait * 2, flags.pollMs ?? 1_000);
  }
}

/** The spec file as the body the service reads: the blueprint form, as written (JSON) or as JSON (YAML). */
function bodyOf(io: Io, file: string, name: string): string {
  const text = readFileSync(path.resolve(io.cwd, file), "utf8");
  const isJson = /\.json$/i.test(file);
  const value = (isJson ? JSON.parse(text) : parseYaml(text)) as Record<string, unknown>;
  if (value && typeof value === "object" && Object.hasOwn(value, "vcluster")) {
    // JSON as written: the service's line and column then point into the user's own file.
    return isJson ? text : JSON.stringify(value);
  }
  // The args form {name?, instances, groupings}: the blueprint form holds the same fields under "vcluster".
  return JSON.stringify({ vcluster: { ...value, name } });
}

async function apply(io: Io, svc: Service, file: string, flags: EndpointFlags): Promise<number> {
  // Checked here first: the same messages as the local command, before anything is sent.
  const spec = loadSpec(io, file, false);
  if (!spec.ok) return spec.code;
  const name = spec.value.name;
  const body = bodyOf(io, file, name);
  if (flags.dryRun === true) return dryRun(io, svc, name, body, flags);
  const all = await listAll(io, svc);
  if (typeof all === "number") return all;
  const named = all.filter((c) => c.name === name);
  if (named.length > 1) {
    io.err(
      `cluster ${quote(name)}: ${named.length} clusters of project ${svc.project} have that name (${named.map((c) => c.id).join(", ")}); hint: rename the spec's cluster, or destroy the extra one by its id`,
    );
    return EXIT.usage;
  }
  const existing = named[0];
  const a = existing
    ? await svc.send("PUT", svc.clustersPath(existing.id), body)
    : await svc.send("POST", svc.clustersPath(), body);
  if (a.status !== 202) return refused(io, svc, existing ? "the update" : "the create", a);
  const started = a.body?.vcluster as ClusterView;
  io.err(
    `cluster ${quote(name)} (${started.id}): ${existing ? "update" : "create"} accepted by ${svc.where} (request ${a.requestId ?? "?"}); waiting until it is ACTIVE`,
  );
  const operation = started.operation?.id;
  const view = await follow(
    io,
    svc,
    started.id,
    flags,
    (v) => v.operation?.id === operation && (v.status === "ACTIVE" || v.status === "ERROR"),
  );
  if (typeof view === "number") return view;
  if (!view) {
    io.err(`cluster ${quote(name)} (${started.id}) is gone: it was deleted while it was applied`);
    return EXIT.usage;
  }
  if (view.status === "ERROR") return printFault(io, view);
  printCluster(io, svc, view, flags.json === true);
  return EXIT.ok;
}

async function dryRun(io: Io, svc: Service, name: string, body: string, flags: EndpointFlags): Promise<number> {
  const a = await svc.send("POST", `${svc.clustersPath()}/dry-run`, body);
  if (a.status !== 200) return refused(io, svc, "the dry run", a);
  const d = a.body?.dry_run as {
    placeable: boolean;
    placement?: Record<string, { type: string; zone: string; rack?: string; host?: string; backend?: string }>;
    explanation?: Explanation;
    warnings: string[];
    blocking: string[];
  };
  if (flags.json === true) io.out(json(a.body));
  for (const w of d.warnings) io.err(`warning: ${escapeControls(w)}`);
  if (!d.placeable) {
    if (flags.json !== true && d.explanation) io.err(escapeControls(formatExplanation(d.explanation), { lines: true }));
    return EXIT.unplaceable;
  }
  if (flags.json !== true) {
    const lines = Object.entries(d.placement ?? {})
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
      .map(([m, p]) => `  ${m}  ${p.type}  ${[p.zone, p.rack, p.host ?? p.backend].filter(Boolean).join(" / ")}`);
    io.out(
      escapeControls(`cluster ${quote(name)} would be placed by ${svc.where} (nothing changed):\n${lines.join("\n")}`, {
        lines: true,
      }),
    );
  }
  for (const b of d.blocking) io.err(`openstack-vcluster: ${escapeControls(b)}`);
  return d.blocking.length > 0 ? EXIT.usage : EXIT.ok;
}

async function show(io: Io, svc: Service, target: string, flags: EndpointFlags): Promise<number> {
  const found = await findCluster(io, svc, target);
  if (typeof found === "number") return found;
  const a = await svc.send("GET", svc.clustersPath(found.id));
  if (a.status !== 200) return refused(io, svc, "the show", a);
  const view = a.body?.vcluster as ClusterView;
  printCluster(io, svc, view, flags.json === true);
  if (view.status === "ERROR" && flags.json !== true) printFault(io, view);
  return EXIT.ok;
}

async function destroy(io: Io, svc: Service, target: string, flags: EndpointFlags): Promise<number> {
  const found = await findCluster(io, svc, target);
  if (typeof found === "number") return found;
  const a = await svc.send("DELETE", svc.clustersPath(found.id));
  if (a.status === 404) {
    io.err(`cluster ${quote(found.name)}: nothing found in project ${svc.project} at ${svc.where}`);
    return EXIT.usage;
  }
  if (a.status !== 202) return refused(io, svc, "the delete", a);
  io.err(`cluster ${quote(found.name)} (${found.id}): delete accepted by ${svc.where}; waiting until it is gone`);
  const view = await follow(io, svc, found.id, flags, (v) => v.status === "ERROR");
  if (typeof view === "number") return view;
  if (view) return printFault(io, view);
  io.out(`cluster ${quote(found.name)} destroyed: ${svc.where} has deleted every member of it.`);
  return EXIT.ok;
}

async function list(io: Io, svc: Service, flags: EndpointFlags): Promise<number> {
  const all = await listAll(io, svc);
  if (typeof all === "number") return all;
  if (flags.json === true) {
    io.out(json({ vclusters: all }));
    return EXIT.ok;
  }
  if (all.length === 0) {
    io.out(`no clusters in project ${svc.project} at ${svc.where}`);
    return EXIT.ok;
  }
  const w = Math.max(...all.map((c) => c.name.length), 4);
  io.out(
    escapeControls(
      [
        `${plural(all.length, "cluster")} in project ${svc.project} at ${svc.where}:`,
        ...all.map((c) => `  ${c.name.padEnd(w)}  ${c.status.padEnd(8)}  ${c.id}`),
      ].join("\n"),
      { lines: true },
    ),
  );
  return EXIT.ok;
}

/** Runs one command against the service; returns the exit code. */
export async function endpointCommand(
  io: Io,
  action: EndpointAction,
  target: string | undefined,
  flags: EndpointFlags,
): Promise<number> {
  try {
    const svc = await connect(io, flags);
    if (typeof svc === "number") return svc;
    switch (action) {
      case "apply":
        return await apply(io, svc, target ?? "", flags);
      case "show":
        return await show(io, svc, target ?? "", flags);
      case "destroy":
        return await destroy(io, svc, target ?? "", flags);
      case "list":
        return await list(io, svc, flags);
    }
  } catch (e) {
    if (e instanceof Stop) {
      io.err(e.message);
      return e.code;
    }
    throw e;
  }
}
