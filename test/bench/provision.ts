// The provisioning suite: create and destroy clusters of 10 / 100 / 1,000 members on the
// simulated cloud with a latency model, against the model's critical-path lower bound and against
// creating members one after another; and the provider's own cost of check + diff on 1,000 members.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { type LatencyModel, SimulatedCloud } from "../../provider/backends/simulated";
import { validateSpec } from "../../provider/clusterspec";
import { ClusterController } from "../../provider/lifecycle";
import type { ClusterSpec } from "../../provider/model/cluster";
import type { Host, StorageBackend, Topology } from "../../provider/placement";
import * as hooks from "../../provider/pulumi/hooks";
import { outputsOf, type Props } from "../../provider/pulumi/props";
import { round } from "./stats";

export interface ProvisionOptions {
  quick: boolean;
  log: (line: string) => void;
}

/** The latency model: per call, build, volume create, attach, delete, and the project's API concurrency. */
export const LATENCY: Required<Omit<LatencyModel, "resizeMs">> = {
  perCallMs: 5,
  serverBuildMs: 300,
  volumeCreateMs: 150,
  attachMs: 60,
  deleteMs: 80,
  concurrency: 20,
};

const ZERO_LATENCY: LatencyModel = { perCallMs: 0, serverBuildMs: 0, volumeCreateMs: 0, attachMs: 0, deleteMs: 0 };

export interface ProvisionRow {
  members: number;
  servers: number;
  volumes: number;
  groups: number;
  createMs: number;
  createLowerBoundMs: number;
  createRatio: number;
  destroyMs: number;
  destroyLowerBoundMs: number;
  destroyRatio: number;
  /** The model's time to create the members one after another (each waited for before the next). */
  sequentialModelMs: number;
  /**
   * The same create and destroy with every latency at zero and no concurrency limit: the cost of
   * the simulator itself (one database transaction per call) plus the controller.
   */
  zeroLatencyCreateMs: number;
  zeroLatencyDestroyMs: number;
  speedupVsSequential: number;
  /** Every timed run's create and destroy (ms); the fastest of each counts, as in the placement suite. */
  runs: { createMs: number; destroyMs: number }[];
  /** The same, fastest of three, with the controller at the cloud's concurrency (20 in flight). */
  matchedConcurrency: { createMs: number; destroyMs: number; createRatio: number; destroyRatio: number };
}

/**
 * Calls the controller keeps outstanding: twice the cloud's slots. A client that sends its next call
 * only when an answer is back leaves each slot idle for its own turnaround (reading the answer,
 * deciding the next step; the simulator's CPU too, in this one process); calls queued at the cloud
 * keep its slots busy, as any client may. The figures with the controller at the cloud's own 20 are
 * in every row (`matchedConcurrency`).
 */
const CONTROLLER_CONCURRENCY = 2 * LATENCY.concurrency;

/** Timed runs per size; the fastest counts (the machine is shared: best-of-3 filters its noise). */
const RUNS = 3;

export interface ProvisionFigures {
  latency: typeof LATENCY;
  controllerConcurrency: number;
  rows: ProvisionRow[];
  checkDiff?: { members: number; checkMs: number; diffMs: number; totalMs: number };
  /** The real OpenStack control plane was not part of this run. */
  openstack: string;
}

/** The cluster in the provider's input form: servers in tiers of 10 (host anti-affinity), a volume per fifth server. */
function inputs(name: string, n: number): Props {
  const instances: Props[] = [];
  const groupings: Props[] = [];
  const nServers = Math.ceil((n * 5) / 6);
  const servers: string[] = [];
  for (let i = 0; i < nServers; i++) {
    const s = `s${String(i).padStart(4, "0")}`;
    servers.push(s);
    instances.push({
      name: s,
      type: "server",
      spec: { imageRef: "debian-12", flavorRef: i % 3 === 0 ? "m1.medium" : "m1.small" },
    });
  }
  for (let i = 0; instances.length < n; i++) {
    const s = servers[(i * 5) % servers.length] as string;
    instances.push({ name: `${s}-data`, type: "volume", spec: { size: 20, attachTo: s } });
  }
  for (let g = 0; g * 10 < nServers; g++) {
    const ms = servers.slice(g * 10, g * 10 + 10);
    if (ms.length >= 2)
      groupings.push({ name: `tier-${g}`, membersRef: ms, spec: { rule: "anti-affinity", scope: "host" } });
  }
  return { clusterName: name, instances, groupings };
}

function specOf(props: Props): ClusterSpec {
  const r = validateSpec(
    { name: props.clusterName, instances: props.instances, groupings: props.groupings },
    { name: props.clusterName as string },
  );
  if (!r.spec) throw new Error(`bench spec invalid: ${r.issues.map((i) => i.message).join("; ")}`);
  return r.spec;
}

function topology(): Topology {
  const hosts: Host[] = [];
  const storageBackends: StorageBackend[] = [];
  for (let z = 1; z <= 3; z++) {
    for (let r = 1; r <= 5; r++) {
      for (let h = 1; h <= 20; h++) {
        const name = `az${z}-r${r}-h${h}`;
        hosts.push({ name, zone: `az${z}`, rack: `r${r}`, vcpus: 64, ramMb: 262144, diskGb: 4000 });
        storageBackends.push({ name: `lvm@${name}`, host: name, capacityGb: 2000 });
      }
    }
    storageBackends.push({ name: `ceph-az${z}`, zone: `az${z}`, capacityGb: 1_000_000 });
  }
  return {
    flavors: {
      "m1.small": { vcpus: 1, ramMb: 2048, diskGb: 20 },
      "m1.medium": { vcpus: 2, ramMb: 4096, diskGb: 40 },
    },
    hosts,
    storageBackends,
  };
}

/**
 * Lower bounds of the model, for any client. A call holds one of `concurrency` slots for perCallMs,
 * then takes effect; a transition is seen by a call that takes effect once it is done (that call's
 * own perCallMs runs while the transition does). So by time t at most concurrency × ⌊t / perCallMs⌋
 * calls have taken effect, and a client acts on what it has seen.
 * Create: the chain of a group call, a server's create call and its build; an attached volume's
 * create and creation, then (both seen) its attach call and the attach. And throughput: every group
 * and server create call has taken effect before the last of them, whose build is still to come;
 * every mutating call before the last one, which (an attach at best) still has its transition to come.
 * Destroy: a volume is detached and then deleted (or deleted once its server is gone: longer), a
 * server deleted, a group deleted (at once); every server and volume needs a delete call, and the
 * last of them still has deleteMs to come.
 */
export function lowerBounds(servers: number, volumes: number, groups: number, l = LATENCY) {
  const c = l.perCallMs;
  /** When the k-th call can take effect at the earliest. */
  const slot = (k: number) => c * Math.ceil(k / l.concurrency);
  const serverChain = (groups > 0 ? c : 0) + c + l.serverBuildMs;
  const volumeChain = Math.max(serverChain, c + l.volumeCreateMs) + c + l.attachMs;
  const create = Math.max(
    volumes > 0 ? volumeChain : serverChain,
    slot(groups + servers) + l.serverBuildMs,
    volumes > 0 ? slot(groups + servers + 2 * volumes) + Math.min(l.attachMs, l.serverBuildMs) : 0,
  );
  const volumeGone = Math.min(c + l.attachMs + c + l.deleteMs, c + l.deleteMs + c + l.deleteMs);
  const destroy = Math.max(
    volumes > 0 ? volumeGone : c + l.deleteMs,
    slot(servers + volumes) + l.deleteMs,
    slot(servers + volumes + groups),
  );
  // One after another: each member's own chain, waited for before the next starts.
  const sequential = groups * c + servers * (c + l.serverBuildMs) + volumes * (c + l.volumeCreateMs + c + l.attachMs);
  return { create, destroy, sequential };
}

async function withCloud<T>(
  fn: (cloud: SimulatedCloud, dir: string) => Promise<T>,
  latency?: LatencyModel,
): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), "vcluster-bench-"));
  try {
    const cloud = await SimulatedCloud.open({ dir, topology: topology(), ...(latency ? { latency } : {}) });
    return await fn(cloud, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function createDestroy(
  n: number,
  concurrency: number,
  latency: LatencyModel,
): Promise<{ createMs: number; destroyMs: number; spec: ClusterSpec }> {
  const props = inputs(`bench-${n}`, n);
  const spec = specOf(props);
  return withCloud(async (cloud) => {
    const controller = new ClusterController(cloud, { concurrency });
    const t0 = performance.now();
    const state = await controller.apply(spec);
    const createMs = performance.now() - t0;
    const t1 = performance.now();
    await controller.destroy(state);
    return { createMs, destroyMs: performance.now() - t1, spec };
  }, latency);
}

/** check (a new cluster: validate + dry-run placement) and diff (one member added: dry run against state). */
async function checkDiff(n: number): Promise<ProvisionFigures["checkDiff"]> {
  const props = inputs("bench-check", n);
  const spec = specOf(props);
  return withCloud(async (cloud, dir) => {
    const controller = new ClusterController(cloud, { backendId: `simulated:${cloud.cloudId}`, concurrency: 50 });
    const state = await controller.apply(spec);
    const host = {};
    hooks.setProgressSink(host, () => {});
    const rawConfig = { "openstack-vcluster:backend": "simulated", "openstack-vcluster:simulatedDir": dir };
    await hooks.configure(host, { config: { rawConfig, get: () => undefined } } as unknown as Parameters<
      typeof hooks.configure
    >[1]);
    const olds = outputsOf(props, state);
    const news: Props = {
      ...props,
      instances: [
        ...(props.instances as Props[]),
        { name: "extra", type: "server", spec: { imageRef: "debian-12", flavorRef: "m1.small" } },
      ],
    };
    // Warm-up once (module caches, the backend selection), then measure.
    await hooks.check(host, {}, { ...props, clusterName: "bench-check-new" });
    const t0 = performance.now();
    const c = await hooks.check(host, {}, { ...props, clusterName: "bench-check-new" });
    const checkMs = performance.now() - t0;
    if (c.failures && c.failures.length > 0) throw new Error(`bench check failed: ${JSON.stringify(c.failures[0])}`);
    const t1 = performance.now();
    const d = await hooks.diff(host, "bench-check", olds, news);
    const diffMs = performance.now() - t1;
    if (!d.changes) throw new Error("bench diff saw no change");
    return { members: n, checkMs: round(checkMs, 1), diffMs: round(diffMs, 1), totalMs: round(checkMs + diffMs, 1) };
  });
}

export async function provisionSuite(o: ProvisionOptions): Promise<ProvisionFigures> {
  const concurrency = CONTROLLER_CONCURRENCY;
  const rows: ProvisionRow[] = [];
  for (const n of o.quick ? [10] : [10, 100, 1000]) {
    o.log(`provision ${n} members ...`);
    // Untimed first: the code paths compiled, as the placement suite warms up before timing.
    if (n === 10) await createDestroy(n, concurrency, LATENCY);
    const runs: { createMs: number; destroyMs: number; spec: ClusterSpec }[] = [];
    for (let k = 0; k < (o.quick ? 1 : RUNS); k++) runs.push(await createDestroy(n, concurrency, LATENCY));
    const r = {
      spec: (runs[0] as (typeof runs)[number]).spec,
      createMs: Math.min(...runs.map((x) => x.createMs)),
      destroyMs: Math.min(...runs.map((x) => x.destroyMs)),
    };
    const matched: { createMs: number; destroyMs: number }[] = [];
    for (let k = 0; k < (o.quick ? 1 : RUNS); k++) matched.push(await createDestroy(n, LATENCY.concurrency, LATENCY));
    const zero = await createDestroy(n, concurrency, ZERO_LATENCY);
    const servers = r.spec.members.filter((m) => m.type === "server").length;
    const volumes = r.spec.members.length - servers;
    const groups = r.spec.groupings.filter((g) => !g.implied).length;
    const lb = lowerBounds(servers, volumes, groups);
    const row: ProvisionRow = {
      members: n,
      servers,
      volumes,
      groups,
      createMs: round(r.createMs, 1),
      createLowerBoundMs: round(lb.create, 1),
      createRatio: round(r.createMs / lb.create, 2),
      destroyMs: round(r.destroyMs, 1),
      destroyLowerBoundMs: round(lb.destroy, 1),
      destroyRatio: round(r.destroyMs / lb.destroy, 2),
      sequentialModelMs: round(lb.sequential, 1),
      speedupVsSequential: round(lb.sequential / r.createMs, 1),
      zeroLatencyCreateMs: round(zero.createMs, 1),
      zeroLatencyDestroyMs: round(zero.destroyMs, 1),
      runs: runs.map((x) => ({ createMs: round(x.createMs, 1), destroyMs: round(x.destroyMs, 1) })),
      matchedConcurrency: (() => {
        const createMs = Math.min(...matched.map((x) => x.createMs));
        const destroyMs = Math.min(...matched.map((x) => x.destroyMs));
        return {
          createMs: round(createMs, 1),
          destroyMs: round(destroyMs, 1),
          createRatio: round(createMs / lb.create, 2),
          destroyRatio: round(destroyMs / lb.destroy, 2),
        };
      })(),
    };
    rows.push(row);
  }
  const n = o.quick ? 50 : 1000;
  o.log(`check + diff on ${n} members ...`);
  return {
    latency: LATENCY,
    controllerConcurrency: concurrency,
    rows,
    checkDiff: await checkDiff(n),
    openstack: "not run: the real OpenStack control plane is measured by test/openstack (npm run test:openstack)",
  };
}
