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
import * as path from "node:path";
import { parseSpecText } from "../clusterspec";
import { formatOf, readTextFile } from "../clusterspec/parse";
import { escapeControls, listItems, plural, quote } from "../model/text";
import { type Explanation, formatExplanation } from "../placement";
import { fail, refusal } from "./failure";
import { EXIT, type Io, json } from "./io";
import { loadSpec } from "./load";
import { type ClusterView, connect, refused, type Service, Stop, UUID } from "./service-client";

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
    const spec = loadSpec(io, target);
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
    return fail(io, {
      kind: "state",
      message: `cluster ${quote(name)}: nothing found in project ${svc.project} at ${svc.where}${all.length > 0 ? ` (its clusters: ${listItems(all.map((c) => c.name).sort(), 10, quote)})` : ""}; hint: check the name, --endpoint and the project`,
    });
  }
  return fail(io, {
    kind: "state",
    message: `cluster ${quote(name)}: ${named.length} clusters of project ${svc.project} have that name (${named.map((c) => c.id).join(", ")}); hint: name one by its id`,
  });
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
  if (!f) return fail(io, { kind: "failed", message: `cluster ${quote(view.name)} (${view.id}) is ERROR` });
  if (f.code === "unplaceable" && f.explanation) {
    const { failure } = refusal(view.name, { blocking: [], explanation: f.explanation });
    return fail(io, failure, escapeControls(formatExplanation(f.explanation), { lines: true }));
  }
  const lines = [f.message];
  // The message of a lifecycle failure already lists its causes, one a line; others don't.
  for (const c of f.causes) if (!f.message.includes(c)) lines.push(`  ${c}`);
  for (const h of f.hints) if (!lines.some((l) => l.includes(h))) lines.push(`  hint: ${h}`);
  const kind = f.code === "invalid" ? "refused" : f.code === "unplaceable" ? "unplaceable" : "failed";
  const issues = f.code === "invalid" ? f.causes.map((message) => ({ code: "refused", path: "", message })) : [];
  return fail(io, { kind, message: f.message, issues }, escapeControls(lines.join("\n"), { lines: true }));
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
      return fail(io, {
        kind: "error",
        message: `cluster ${quote(view.name)} (${view.id}) is still ${view.status} after ${Math.round((flags.waitMs ?? 3_600_000) / 1000)} s; the service goes on with it; hint: openstack-vcluster --endpoint ${svc.base} show ${view.id}`,
      });
    }
    await sleep(wait);
    wait = Math.min(wait * 2, flags.pollMs ?? 1_000);
  }
}

/**
 * The spec file as the body the service reads: in the form it was written in (the service reads both,
 * with the command's semantics: only the blueprint form implies attachments), the JSON text as written
 * (the service's line and column then point into the user's own file), YAML read by the same parser as
 * the local command and sent as JSON.
 */
function bodyOf(io: Io, file: string): string {
  const full = path.resolve(io.cwd, file);
  const format = formatOf(full);
  // loadSpec has just read and validated this file: it is readable UTF-8 text in one of the formats.
  const read = readTextFile(full, format);
  if ("problem" in read) throw new Stop(`openstack-vcluster: ${read.problem.message}`);
  if (format !== "yaml" && parseSpecText(read.text, "json").value !== undefined) return read.text;
  return JSON.stringify(parseSpecText(read.text, "yaml").value);
}

async function apply(io: Io, svc: Service, file: string, flags: EndpointFlags): Promise<number> {
  // Checked here first: the same messages as the local command, before anything is sent.
  const spec = loadSpec(io, file);
  if (!spec.ok) return spec.code;
  const name = spec.value.name;
  const body = bodyOf(io, file);
  if (flags.dryRun === true) return dryRun(io, svc, name, body, flags);
  const all = await listAll(io, svc);
  if (typeof all === "number") return all;
  const named = all.filter((c) => c.name === name);
  if (named.length > 1) {
    return fail(io, {
      kind: "state",
      message: `cluster ${quote(name)}: ${named.length} clusters of project ${svc.project} have that name (${named.map((c) => c.id).join(", ")}); hint: rename the spec's cluster, or destroy the extra one by its id`,
    });
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
    return fail(io, {
      kind: "state",
      message: `cluster ${quote(name)} (${started.id}) is gone: it was deleted while it was applied`,
    });
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
    const { failure } = refusal(name, { blocking: [], ...(d.explanation ? { explanation: d.explanation } : {}) });
    const human = d.explanation ? escapeControls(formatExplanation(d.explanation), { lines: true }) : failure.message;
    return fail(io, { ...failure, warnings: d.warnings }, human);
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
  if (d.blocking.length === 0) return EXIT.ok;
  // Exit 3, as this dry run has always said a refusal.
  const { failure } = refusal(name, { blocking: d.blocking, warnings: d.warnings });
  const human = d.blocking.map((b) => `openstack-vcluster: ${escapeControls(b)}`).join("\n");
  return fail(io, { ...failure, exitCode: EXIT.usage }, human);
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
    return fail(io, {
      kind: "state",
      message: `cluster ${quote(found.name)}: nothing found in project ${svc.project} at ${svc.where}`,
    });
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
    if (e instanceof Stop) return fail(io, { kind: "cloud", exitCode: e.code, message: e.message });
    throw e;
  }
}
