// The real-cloud suite (issue 14, P3): create, grow and destroy a 30-member cluster on a real OpenStack
// (the dev cloud in CI) through the lifecycle controller, as `pulumi up` does, and set its time against
// (a) creating the same members one after another, each waited for before the next, and (b) the critical
// path the cloud itself reports: for each server, Nova's create action start to its `launched_at`; for each
// volume, Cinder's `created_at` to its attachment's `attached_at`. The controller can't beat the slowest
// of those chains; everything above it is our overhead (API calls, polling, the 10 operations in flight).
import { randomBytes } from "node:crypto";
import { TAG_CLUSTER, TAG_MEMBER } from "../../provider/backends/backend";
import type { OpenStackBackend } from "../../provider/backends/openstack/openstack-backend";
import type { Session } from "../../provider/backends/openstack/session";
import { ClusterController } from "../../provider/lifecycle";
import type { ClusterSpec, Grouping, Member } from "../../provider/model/cluster";
import { connectDevcloud, DEVCLOUD, devcloudSession } from "../support/devcloud";
import { table } from "./stats";

export interface CloudOptions {
  /** Members of the cluster (five servers to one attached volume); grown by a third, then destroyed. */
  members: number;
  log: (line: string) => void;
}

export interface CloudFigures {
  cloud: string;
  members: number;
  grownTo: number;
  createS: number;
  growS: number;
  destroyS: number;
  /** The slowest member's chain as the cloud reported it, for the create. */
  criticalPathS: number;
  /** createS / criticalPathS. */
  overCriticalPath: number;
  /** The same members created one after another, each waited for (servers ACTIVE, volumes attached). */
  oneByOneS: number;
  speedUp: number;
  /** Per member: seconds from its create request to ready as the cloud reported them. */
  chains: Record<string, number>;
}

// Tiers of 4 kept apart, softly: the dev cloud has 4 hypervisors, and other suites may be using some.
const TIER = 4;

function members(n: number, from = 0): Member[] {
  const out: Member[] = [];
  for (let i = from; i < from + n; i++) {
    if (i % 6 === 5) {
      out.push({ type: "volume", name: `data-${i}`, sizeGb: 1, zone: DEVCLOUD.zone, attachTo: `node-${i - 1}` });
    } else {
      out.push({
        type: "server",
        name: `node-${i}`,
        imageRef: DEVCLOUD.image,
        flavorRef: DEVCLOUD.flavor,
        zone: DEVCLOUD.zone,
      });
    }
  }
  return out;
}

function tiers(all: Member[]): Grouping[] {
  const servers = all.filter((m) => m.type === "server").map((m) => m.name);
  const out: Grouping[] = [];
  for (let i = 0; i < servers.length; i += TIER) {
    const group = servers.slice(i, i + TIER);
    if (group.length < 2) continue;
    out.push({
      name: `tier-${i / TIER}`,
      members: group,
      rule: "anti-affinity",
      scope: "host",
      enforcement: "soft",
      weight: 50,
      maxPerDomain: 1,
    });
  }
  return out;
}

const seconds = (ms: number) => Math.round(ms / 10) / 100;
const at = (iso: string | null | undefined): number =>
  iso ? Date.parse(iso.endsWith("Z") ? iso : `${iso}Z`) : Number.NaN;

/** What the cloud reported: each server's create action start → launched_at; each volume's created_at → attached_at. */
async function reportedChains(nova: Session, ids: { server: Record<string, string>; volume: Record<string, string> }) {
  const chains: Record<string, number> = {};
  for (const [name, id] of Object.entries(ids.server)) {
    const s = (await nova.request("compute", { method: "GET", path: `/servers/${id}` })).json as {
      server: { "OS-SRV-USG:launched_at"?: string | null };
    };
    const actions = (await nova.request("compute", { method: "GET", path: `/servers/${id}/os-instance-actions` }))
      .json as { instanceActions: { action: string; start_time: string }[] };
    const create = actions.instanceActions.find((a) => a.action === "create");
    chains[name] = (at(s.server["OS-SRV-USG:launched_at"]) - at(create?.start_time)) / 1000;
  }
  for (const [name, id] of Object.entries(ids.volume)) {
    const v = (await nova.request("volume", { method: "GET", path: `/volumes/${id}` })).json as {
      volume: { created_at: string; attachments: { attached_at?: string }[] };
    };
    chains[name] = (at(v.volume.attachments[0]?.attached_at) - at(v.volume.created_at)) / 1000;
  }
  return chains;
}

async function oneByOne(b: OpenStackBackend, cluster: string, list: Member[], log: (l: string) => void) {
  const tags = (m: string) => ({ [TAG_CLUSTER]: cluster, [TAG_MEMBER]: m });
  const servers: Record<string, string> = {};
  const volumes: string[] = [];
  const until = async <T>(get: () => Promise<T>, done: (v: T) => boolean, what: string) => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const v = await get();
      if (done(v)) return v;
      if (Date.now() > deadline) throw new Error(`bench cloud: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, b.pollIntervalMs));
    }
  };
  const t0 = performance.now();
  try {
    for (const m of list) {
      if (m.type === "server") {
        const s = await b.createServer({
          name: `${cluster}-${m.name}`,
          imageRef: m.imageRef,
          flavorRef: m.flavorRef,
          zone: m.zone,
          metadata: tags(m.name),
        });
        servers[m.name] = s.id;
        await until(
          () => b.getServer(s.id),
          (x) => x?.status === "ACTIVE",
          `server ${m.name}`,
        );
      } else {
        const v = await b.createVolume({
          name: `${cluster}-${m.name}`,
          sizeGb: m.sizeGb,
          zone: m.zone,
          metadata: tags(m.name),
        });
        volumes.push(v.id);
        await until(
          () => b.getVolume(v.id),
          (x) => x?.status === "available",
          `volume ${m.name}`,
        );
        await b.attachVolume(servers[m.attachTo as string] as string, v.id);
        await until(
          () => b.getVolume(v.id),
          (x) => x?.status === "in-use",
          `volume ${m.name} attached`,
        );
      }
    }
    return (performance.now() - t0) / 1000;
  } finally {
    log(`  one by one: cleaning up ${Object.keys(servers).length} servers and ${volumes.length} volumes`);
    for (const id of Object.values(servers)) await b.deleteServer(id).catch(() => undefined);
    for (const id of Object.values(servers))
      await until(
        () => b.getServer(id),
        (x) => x === undefined,
        `server ${id} gone`,
      ).catch(() => undefined);
    for (const id of volumes)
      await until(
        () => b.getVolume(id),
        (x) => x === undefined || x.status === "available",
        `volume ${id} detached`,
      ).catch(() => undefined);
    for (const id of volumes) await b.deleteVolume(id).catch(() => undefined);
  }
}

export async function cloudSuite(o: CloudOptions): Promise<CloudFigures> {
  const b = await connectDevcloud("admin");
  const nova = devcloudSession("admin");
  const run = randomBytes(3).toString("hex");
  const grownTo = o.members + Math.ceil(o.members / 3);
  const ctl = new ClusterController(b, { timeouts: { serverMs: 300_000, volumeMs: 300_000, deleteMs: 300_000 } });
  const name = `bench-${run}`;
  const first = members(o.members);
  const spec: ClusterSpec = { name, members: first, groupings: tiers(first) };
  const grown = [...first, ...members(grownTo - o.members, o.members)];
  try {
    o.log(`cloud: creating ${o.members} members on ${b.description}`);
    let t = performance.now();
    let state = await ctl.apply(spec);
    const createS = seconds(performance.now() - t);
    const ids = { server: {} as Record<string, string>, volume: {} as Record<string, string> };
    for (const [m, s] of Object.entries(state.members)) (s.type === "server" ? ids.server : ids.volume)[m] = s.id;
    const chains = await reportedChains(nova, ids);
    const criticalPathS = seconds(Math.max(...Object.values(chains)) * 1000);
    o.log(`cloud: created in ${createS} s; the slowest chain the cloud reported: ${criticalPathS} s`);

    t = performance.now();
    state = await ctl.apply({ name, members: grown, groupings: tiers(grown) }, state);
    const growS = seconds(performance.now() - t);
    o.log(`cloud: grown to ${grownTo} in ${growS} s`);
    t = performance.now();
    await ctl.destroy(state);
    const destroyS = seconds(performance.now() - t);
    o.log(`cloud: destroyed in ${destroyS} s`);

    o.log(`cloud: the same ${o.members} members one after another`);
    const oneByOneS = seconds((await oneByOne(b, `bench-seq-${run}`, first, o.log)) * 1000);
    return {
      cloud: b.description,
      members: o.members,
      grownTo,
      createS,
      growS,
      destroyS,
      criticalPathS,
      overCriticalPath: Math.round((createS / criticalPathS) * 100) / 100,
      oneByOneS,
      speedUp: Math.round((oneByOneS / createS) * 10) / 10,
      chains,
    };
  } finally {
    await nova.close();
    await b.close();
  }
}

export function cloudReport(c: CloudFigures): string {
  return [
    `Real cloud (${c.cloud}): ${c.members} members (five servers to one attached volume), grown to ${c.grownTo}, destroyed`,
    table(
      ["create s", "critical path s", "×", "one after another s", "speed-up", "grow s", "destroy s"],
      [[c.createS, c.criticalPathS, c.overCriticalPath, c.oneByOneS, `${c.speedUp}×`, c.growS, c.destroyS]],
    ),
    "critical path: the slowest member's chain as the cloud reported it (Nova's create action to launched_at; Cinder's created_at to attached_at)",
  ].join("\n");
}
