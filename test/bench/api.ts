// The REST service under load (`npm run bench -- api`): `openstack-vcluster serve --noauth` on a
// fresh simulated cloud, on loopback, driven by autocannon. Figures: list and describe p50/p99 at 200
// concurrent connections (5 s each), the p99 of a create's 202, and 100 clusters created at once
// (errors, and duplicates counted on the cloud: servers per cluster tag beyond the spec's).
//
// Run compiled (npm run bench), the server is the built command in a process of its own, so the
// load generator doesn't share its event loop; from the bench's own test (TypeScript source, quick
// mode), it runs in this process. Loopback only, every run bounded in time or count.
//
// Per-request logging: the served command writes one JSON line per request to stderr, synchronously
// (Node writes to pipes and files that way). Compiled, describe is measured twice: first with the log
// going to a file, then (the figures above) to a pipe this process drains while it runs autocannon;
// and the cost of building one line is timed on its own.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import autocannon from "autocannon";
import { startServer } from "../../provider/api";
import { logLines } from "../../provider/api/log";
import { TAG_CLUSTER } from "../../provider/backends/backend";
import { DEFAULT_IMAGES, defaultSimulatedTopology, SimulatedCloud } from "../../provider/backends/simulated";
import { round, table } from "./stats";

export interface LoadFigures {
  connections: number;
  durationS: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
}

export interface ApiFigures {
  server: "child process" | "in process";
  clustersListed: number;
  list: LoadFigures;
  describe: LoadFigures;
  /** Compiled only: describe with the server's log going to a file rather than a pipe. */
  describeLogToFile?: LoadFigures;
  /** Building one request's JSON log line (format and stringify; no write), in µs. */
  logLineUs: number;
  createAccepted: LoadFigures;
  concurrentCreates: {
    clusters: number;
    accepted: number;
    active: number;
    errors: number;
    duplicates: number;
    serversOnCloud: number;
    allActiveMs: number;
    /** Why the clusters in ERROR failed: "code: message", each distinct one once. */
    faults: string[];
  };
}

const TENANT = "bench";
const SERVER_SPEC = { imageRef: "debian-12", flavorRef: "m1.small" };

function body(name: string): string {
  return JSON.stringify({
    vcluster: {
      name,
      instances: [
        { name: "a", type: "server", spec: SERVER_SPEC },
        { name: "b", type: "server", spec: SERVER_SPEC },
      ],
      groupings: [{ name: "apart", membersRef: ["a", "b"], spec: { rule: "anti-affinity" } }],
    },
  });
}

interface Running {
  url: string;
  close(): Promise<void>;
  kind: ApiFigures["server"];
}

const BIN = path.join(__dirname, "../../provider/cli/main.js");

/** Compiled, with the built command beside: the server runs in a process of its own. */
function compiled(): boolean {
  return __filename.endsWith(".js") && existsSync(BIN);
}

/** Waits for serve's "listening on" line, read from its stderr pipe or from its log file. */
function listening(child: ChildProcess, logFile: string | undefined): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let said = "";
    let poll: NodeJS.Timeout | undefined;
    const found = (url: string) => {
      clearTimeout(timer);
      clearInterval(poll);
      // From here on one log line per request: drained, not kept (or scanned again).
      child.stderr?.removeAllListeners("data");
      child.stderr?.resume();
      resolve(url);
    };
    const look = () => {
      const m = /listening on (http:\/\/\S+)/.exec(said);
      if (m) found(m[1] as string);
    };
    const timer = setTimeout(() => reject(new Error(`bench api: serve did not start: ${said}`)), 30_000);
    if (logFile) {
      poll = setInterval(() => {
        said = readFileSync(logFile, "utf8").slice(0, 64 * 1024);
        look();
      }, 50);
    } else {
      child.stderr?.on("data", (d) => {
        said += String(d);
        look();
      });
    }
    child.on("exit", (code) => reject(new Error(`bench api: serve exited (${code}): ${said}`)));
  });
}

/**
 * The built command in a child process (compiled run; its log to a pipe, or to `logFile`), or the
 * server in this process (from TypeScript).
 */
async function startService(dir: string, logFile?: string): Promise<Running> {
  const simDir = path.join(dir, "sim");
  const db = path.join(dir, "api.db");
  if (compiled()) {
    const fd = logFile ? openSync(logFile, "w") : undefined;
    const child: ChildProcess = spawn(
      process.execPath,
      [BIN, "serve", "--noauth", "--listen", "127.0.0.1:0", "--backend", "simulated", "--sim-dir", simDir, "--db", db],
      { cwd: dir, stdio: ["ignore", "ignore", fd ?? "pipe"] },
    );
    if (fd !== undefined) closeSync(fd);
    const url = await listening(child, logFile);
    return {
      url,
      kind: "child process",
      close: () =>
        new Promise<void>((resolve) => {
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        }),
    };
  }
  const server = await startServer({
    noauth: true,
    port: 0,
    db,
    config: { backend: "simulated", simulatedDir: simDir },
    log: () => {},
    drainTimeoutMs: 30_000,
  });
  return { ...server, kind: "in process" };
}

async function load(
  o: { url: string; connections: number; durationS?: number; amount?: number },
  request: { method: "GET" | "POST"; path: string; body?: string },
): Promise<LoadFigures> {
  const r = await autocannon({
    url: o.url,
    connections: o.connections,
    ...(o.amount !== undefined ? { amount: o.amount } : { duration: o.durationS ?? 5 }),
    method: request.method,
    headers: { "content-type": "application/json" },
    ...(request.body !== undefined ? { body: request.body } : {}),
    requests: [
      { method: request.method, path: request.path, ...(request.body !== undefined ? { body: request.body } : {}) },
    ],
    timeout: 30,
  });
  const latency = r.latency as unknown as Record<string, number>;
  return {
    connections: o.connections,
    durationS: round(r.duration, 2),
    requests: r.requests.total,
    rps: Math.round(r.requests.average),
    p50Ms: round(latency.p50 ?? Number.NaN, 2),
    p99Ms: round(latency.p99 ?? Number.NaN, 2),
    maxMs: round(latency.max ?? Number.NaN, 2),
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}

async function json(url: string, method: string, route: string, text?: string) {
  const res = await fetch(`${url}${route}`, {
    method,
    ...(text !== undefined ? { body: text, headers: { "content-type": "application/json" } } : {}),
  });
  const t = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: the service's answers, read field by field
  return { status: res.status, body: (t ? JSON.parse(t) : undefined) as any };
}

/** Waits until every cluster is ACTIVE or ERROR (bounded); their statuses. */
async function settle(url: string, tenant: string, ids: string[], timeoutMs: number): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  const status = new Map<string, string>();
  for (;;) {
    const pending = ids.filter((id) => status.get(id) !== "ACTIVE" && status.get(id) !== "ERROR");
    if (pending.length === 0 || Date.now() > deadline) return status;
    for (let i = 0; i < pending.length; i += 20) {
      await Promise.all(
        pending.slice(i, i + 20).map(async (id) => {
          const r = await json(url, "GET", `/v2/${tenant}/vclusters/${id}`);
          status.set(id, r.body?.vcluster?.status ?? `HTTP ${r.status}`);
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Clusters to list and describe: a page of 20, ACTIVE. */
async function seed(url: string): Promise<string[]> {
  const seeded: string[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await json(url, "POST", `/v2/${TENANT}/vclusters`, body(`listed-${i}`));
    if (r.status !== 202) throw new Error(`bench api: seeding answered ${r.status}: ${JSON.stringify(r.body)}`);
    seeded.push(r.body.vcluster.id);
  }
  await settle(url, TENANT, seeded, 60_000);
  return seeded;
}

/** µs to build one request's JSON log line, as serve's log does (written nowhere). */
function logLineCost(lines: number): number {
  let kept = 0;
  const log = logLines((line) => {
    kept += line.length;
  }, "json");
  const t0 = performance.now();
  for (let i = 0; i < lines; i++) {
    log("info", `GET /v2/:tenant_id/vclusters/:vcluster_id 200 (0.8 ms, req-${i})`, {
      event: "request",
      request_id: `req-00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      method: "GET",
      route: "/v2/:tenant_id/vclusters/:vcluster_id",
      status: 200,
      duration_ms: 0.8,
      project_id: TENANT,
      cluster_id: "00000000-0000-4000-8000-000000000000",
    });
  }
  const us = ((performance.now() - t0) * 1000) / lines;
  return kept > 0 ? round(us, 2) : Number.NaN;
}

export async function apiSuite(o: { quick: boolean; log: (line: string) => void }): Promise<ApiFigures> {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-api-"));
  const connections = o.quick ? 20 : 200;
  const durationS = o.quick ? 1 : 5;
  const concurrent = o.quick ? 10 : 100;
  const acceptedAmount = o.quick ? 40 : 1_000;
  let service: Running | undefined;
  try {
    // The cloud first (its default topology: 24 hosts), then the service on it.
    const cloud = await SimulatedCloud.open({
      dir: path.join(dir, "sim"),
      topology: defaultSimulatedTopology(),
      images: [...DEFAULT_IMAGES],
    });
    // Compiled: first a server logging to a file seeds the clusters and serves describe; then the one
    // the figures are of, logging to a pipe, on the same records.
    let seeded: string[] = [];
    let describeLogToFile: LoadFigures | undefined;
    if (compiled()) {
      service = await startService(dir, path.join(dir, "serve.log"));
      seeded = await seed(service.url);
      describeLogToFile = await load(
        { url: service.url, connections, durationS },
        { method: "GET", path: `/v2/${TENANT}/vclusters/${seeded[0]}` },
      );
      o.log(`api: describe, log to a file: p50 ${describeLogToFile.p50Ms} ms, p99 ${describeLogToFile.p99Ms} ms`);
      await service.close();
    }
    service = await startService(dir);
    const url = service.url;
    o.log(`api: serve --noauth (${service.kind}) at ${url}`);
    if (seeded.length === 0) seeded = await seed(url);
    const list = await load({ url, connections, durationS }, { method: "GET", path: `/v2/${TENANT}/vclusters` });
    o.log(`api: list p50 ${list.p50Ms} ms, p99 ${list.p99Ms} ms (${list.requests} requests)`);
    const describe = await load(
      { url, connections, durationS },
      { method: "GET", path: `/v2/${TENANT}/vclusters/${seeded[0]}` },
    );
    o.log(`api: describe p50 ${describe.p50Ms} ms, p99 ${describe.p99Ms} ms (${describe.requests} requests)`);

    // 100 clusters asked for at once, in a project of their own.
    const t0 = performance.now();
    const answers = await Promise.all(
      Array.from({ length: concurrent }, (_, i) =>
        json(url, "POST", `/v2/${TENANT}-many/vclusters`, body(`many-${i}`)).catch((e: unknown) => ({
          status: 0,
          body: String(e),
        })),
      ),
    );
    const ids = answers.filter((a) => a.status === 202).map((a) => a.body.vcluster.id as string);
    const statuses = await settle(url, `${TENANT}-many`, ids, 300_000);
    const allActiveMs = Math.round(performance.now() - t0);
    const snap = await cloud.snapshot();
    const perCluster = new Map<string, number>();
    for (const s of snap.servers) {
      const tag = s.metadata[TAG_CLUSTER];
      if (tag && ids.includes(tag)) perCluster.set(tag, (perCluster.get(tag) ?? 0) + 1);
    }
    const duplicates = ids.reduce((a, id) => a + Math.max(0, (perCluster.get(id) ?? 0) - 2), 0);
    const active = ids.filter((id) => statuses.get(id) === "ACTIVE").length;
    const faults = new Set<string>();
    for (const id of ids.filter((x) => statuses.get(x) !== "ACTIVE")) {
      const f = (await json(url, "GET", `/v2/${TENANT}-many/vclusters/${id}`)).body?.vcluster?.fault;
      faults.add(f ? `${f.code}: ${f.message}` : `status ${statuses.get(id)}`);
    }
    const concurrentCreates = {
      clusters: concurrent,
      accepted: ids.length,
      active,
      errors: concurrent - active,
      duplicates,
      serversOnCloud: [...perCluster.values()].reduce((a, n) => a + n, 0),
      allActiveMs,
      faults: [...faults],
    };
    o.log(`api: ${concurrent} concurrent creates: ${active} ACTIVE, ${duplicates} duplicates, ${allActiveMs} ms`);

    // Creates accepted (202) under load: bounded by count; their work runs on in the background.
    const createAccepted = await load(
      { url, connections: Math.min(connections, 50), amount: acceptedAmount },
      { method: "POST", path: `/v2/${TENANT}-accepted/vclusters`, body: body("accepted") },
    );
    o.log(`api: create accepted p99 ${createAccepted.p99Ms} ms (${createAccepted.requests} requests)`);
    const listed = await json(url, "GET", `/v2/${TENANT}/vclusters`);
    await cloud.close();
    return {
      server: service.kind,
      clustersListed: listed.body?.vclusters?.length ?? 0,
      list,
      describe,
      ...(describeLogToFile ? { describeLogToFile } : {}),
      logLineUs: logLineCost(o.quick ? 10_000 : 200_000),
      createAccepted,
      concurrentCreates,
    };
  } finally {
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function apiReport(a: ApiFigures): string {
  const row = (name: string, f: LoadFigures) => [
    name,
    f.connections,
    f.durationS,
    f.requests,
    f.rps,
    f.p50Ms,
    f.p99Ms,
    f.maxMs,
    f.non2xx,
    f.errors,
  ];
  const c = a.concurrentCreates;
  return [
    `REST API (serve --noauth on the simulated cloud, ${a.server}, loopback, autocannon; ${a.clustersListed} clusters in the listed project)`,
    table(
      ["request", "connections", "s", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "non-2xx", "errors"],
      [
        row("GET list", a.list),
        row("GET describe", a.describe),
        ...(a.describeLogToFile ? [row("GET describe, log to a file", a.describeLogToFile)] : []),
        row("POST create (202)", a.createAccepted),
      ],
    ),
    `per-request log: ${a.logLineUs} µs to build one JSON line; ${
      a.server === "child process"
        ? "written synchronously to stderr (above: a pipe this process drains, and a file)"
        : "in process the server's log is discarded"
    }`,
    `${c.clusters} clusters created at once: ${c.accepted} accepted, ${c.active} ACTIVE, ${c.errors} errors, ${c.duplicates} duplicate servers (${c.serversOnCloud} servers on the cloud for them), all settled in ${c.allActiveMs} ms (target 0 errors, 0 duplicates: ${c.errors === 0 && c.duplicates === 0 ? "met" : "NOT met"})`,
    ...c.faults.map((f) => `  failed: ${f}`),
  ].join("\n");
}
