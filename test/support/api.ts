// A real server on 127.0.0.1 over a temp simulated cloud and a temp SQLite file, and a small
// HTTP client for it (global fetch: real requests, real sockets).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { expect } from "vitest";
import { type RunningServer, type ServerOptions, startServer } from "../../provider/api";
import { TAG_CLUSTER, TAG_MEMBER } from "../../provider/backends/backend";
import { type Fault, SimulatedCloud } from "../../provider/backends/simulated";
import { loadTopologyFile } from "../../provider/clusterspec/topology-file";
import { REPO } from "./build";

export const SPECS = path.join(REPO, "test/fixtures/specs");

/** The blueprint's images (its examples name "xxx-yyy-zzz") beside the usual ones. */
export const IMAGES = ["xxx-yyy-zzz", "debian-12", "cirros"];

/** A spec file's text, from test/fixtures/specs. */
export function specFile(file: string): string {
  return readFileSync(path.join(SPECS, file), "utf8");
}

/** The blueprint's use case 1 under another name (and `over` merged into its vcluster). */
export function blueprintNamed(name: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  const body = JSON.parse(specFile("blueprint-usecase-1.json")) as { vcluster: Record<string, unknown> };
  return { vcluster: { ...body.vcluster, name, ...over } };
}

const dirs: string[] = [];

export function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "vcluster-api-"));
  dirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A simulated cloud on the small test topology (flavor "123-456-789" is m1.large's id there). */
export async function makeCloud(dir: string, faults: Fault[] = []): Promise<SimulatedCloud> {
  const { topology } = loadTopologyFile(path.join(REPO, "test/fixtures/topologies/small.json"));
  if (!topology) throw new Error("test topology has problems");
  return SimulatedCloud.open({ dir, topology, images: IMAGES, faults });
}

export interface TestServer extends RunningServer {
  logs: string[];
  simDir: string;
  db: string;
}

export async function serve(
  where: { simDir: string; db: string },
  over: Partial<ServerOptions> = {},
): Promise<TestServer> {
  const logs: string[] = [];
  const server = await startServer({
    noauth: true,
    port: 0,
    db: where.db,
    config: { backend: "simulated", simulatedDir: where.simDir },
    log: (level, message) => logs.push(`${level}: ${message}`),
    drainTimeoutMs: 10_000,
    ...over,
  });
  return { ...server, logs, ...where };
}

export interface Reply {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  body: any;
  text: string;
}

export async function call(
  url: string,
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] ??= "application/json";
  }
  const res = await fetch(`${url}${route}`, init);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  // Every response carries Nova's request id.
  expect(res.headers.get("x-openstack-request-id")).toMatch(/^req-[0-9a-f-]{36}$/);
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Polls GET until the cluster's status is one of `want` (or it is gone, for want "gone"). */
export async function waitFor(
  url: string,
  tenant: string,
  id: string,
  want: string[],
  timeoutMs = 20_000,
): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  let last: Reply | undefined;
  for (;;) {
    last = await call(url, "GET", `/v2/${tenant}/vclusters/${id}`);
    const status = last.status === 404 ? "gone" : last.body?.vcluster?.status;
    if (want.includes(status)) return last;
    if (Date.now() > deadline) throw new Error(`cluster ${id} is still ${status}: ${last.text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What the cloud holds for a cluster (tagged with its id): member tag per object kind. */
export async function onCloud(
  cloud: SimulatedCloud,
  clusterId: string,
): Promise<{ servers: string[]; volumes: string[]; groups: number }> {
  const snap = await cloud.snapshot();
  const mine = (o: { metadata: Record<string, string> }) => o.metadata[TAG_CLUSTER] === clusterId;
  return {
    servers: snap.servers
      .filter(mine)
      .map((s) => s.metadata[TAG_MEMBER] as string)
      .sort(),
    volumes: snap.volumes
      .filter(mine)
      .map((v) => v.metadata[TAG_MEMBER] as string)
      .sort(),
    groups: snap.serverGroups.filter(mine).length,
  };
}

/** A server over a fresh temp simulated cloud and SQLite file, for one test file (removeTempDirs cleans up). */
export async function serveOnTempCloud(): Promise<{ server: TestServer; cloud: SimulatedCloud }> {
  const dir = tempDir();
  const cloud = await makeCloud(path.join(dir, "sim"));
  const server = await serve({ simDir: path.join(dir, "sim"), db: path.join(dir, "api.db") });
  return { server, cloud };
}
