// The project's quota, checked before anything is made: what an apply would add (creates and
// growth, less what it deletes first) against what the cloud says remains. Pure.
import type { Discovery, ServerInfo, VolumeInfo } from "../backends/backend";
import type { ClusterSpec } from "../model/cluster";
import { type Flavor, findFlavor } from "../model/topology";
import type { Baseline, ChangeSet } from "./changes";
import type { Live } from "./survey";

export type QuotaKey = keyof NonNullable<Discovery["quota"]>;
export type Demand = Record<QuotaKey, number>;

const KEYS: QuotaKey[] = ["instances", "vcpus", "ramMb", "volumes", "gigabytes"];

/** How each resource reads to a user, and the quota's name as OpenStack (`openstack quota show`) calls it. */
const WORDS: Record<QuotaKey, { unit: (n: string) => string; quota: string; fix: (over: number) => string }> = {
  instances: {
    unit: (n) => `${n} instance${pluralSuffix(n)}`,
    quota: "instances",
    fix: (over) => `remove ${over} server${over === 1 ? "" : "s"}`,
  },
  vcpus: {
    unit: (n) => `${n} vCPU${pluralSuffix(n)}`,
    quota: "cores",
    fix: (over) => `use smaller flavors or fewer servers (${over} vCPU${over === 1 ? "" : "s"} less)`,
  },
  ramMb: {
    unit: (n) => `${n} MB of RAM`,
    quota: "ram",
    fix: (over) => `use smaller flavors or fewer servers (${over} MB less)`,
  },
  volumes: {
    unit: (n) => `${n} volume${pluralSuffix(n)}`,
    quota: "volumes",
    fix: (over) => `remove ${over} volume${over === 1 ? "" : "s"}`,
  },
  gigabytes: {
    unit: (n) => `${n} GB of volumes`,
    quota: "gigabytes",
    fix: (over) => `make volumes smaller or fewer (${over} GB less)`,
  },
};

/** "1" and "1 more" are singular. */
function pluralSuffix(n: string): string {
  return /^1( |$)/.test(n) ? "" : "s";
}

function zero(): Demand {
  return { instances: 0, vcpus: 0, ramMb: 0, volumes: 0, gigabytes: 0 };
}

function addServer(d: Demand, flavor: Flavor | undefined, sign: 1 | -1): void {
  d.instances += sign;
  // An unknown flavor is reported on its own; here it only counts as an instance.
  d.vcpus += sign * (flavor?.vcpus ?? 0);
  d.ramMb += sign * (flavor?.ramMb ?? 0);
}

/**
 * What apply adds to the project's usage. Deletions run (and finish) before anything is made,
 * so what they free is netted out; a negative figure means the apply frees that resource.
 */
export function quotaDemand(
  spec: ClusterSpec,
  c: Baseline & Partial<Pick<ChangeSet, "resizes" | "extends">>,
  live: Live,
  flavors: Record<string, Flavor> | undefined,
): Demand {
  const d = zero();
  const members = new Map(spec.members.map((m) => [m.name, m]));
  for (const name of c.create.keys()) {
    const m = members.get(name);
    if (m?.type === "server") addServer(d, findFlavor(flavors, m.flavorRef), 1);
    else if (m?.type === "volume") {
      d.volumes += 1;
      d.gigabytes += m.sizeGb;
    }
  }
  const servers = new Map<string, ServerInfo>();
  for (const s of [...live.servers.values(), ...live.strayServers]) servers.set(s.id, s);
  const volumes = new Map<string, VolumeInfo>();
  for (const v of [...live.volumes.values(), ...live.strayVolumes]) volumes.set(v.id, v);
  for (const gone of c.deleteServers) {
    const s = servers.get(gone.id);
    if (s) addServer(d, findFlavor(flavors, s.flavorRef), -1);
  }
  for (const gone of c.deleteVolumes) {
    const v = volumes.get(gone.id);
    if (!v) continue;
    d.volumes -= 1;
    d.gigabytes -= v.sizeGb;
  }
  for (const r of c.resizes ?? []) {
    const from = findFlavor(flavors, r.from);
    const to = findFlavor(flavors, r.to);
    if (!from || !to) continue;
    d.vcpus += to.vcpus - from.vcpus;
    d.ramMb += to.ramMb - from.ramMb;
  }
  for (const e of c.extends ?? []) d.gigabytes += e.to - e.from;
  return d;
}

/**
 * One line per quota the demand exceeds, sorted, e.g. `cluster "c": needs 12 instances but the
 * project has 8 left (quota instances); ask for more quota or remove 4 servers`.
 */
export function quotaProblems(
  clusterName: string,
  demand: Demand,
  remaining: Discovery["quota"],
  isUpdate: boolean,
): string[] {
  if (!remaining) return [];
  const out: string[] = [];
  for (const k of KEYS) {
    const left = remaining[k];
    const want = demand[k];
    if (left === undefined || want <= left) continue;
    const w = WORDS[k];
    const needs = w.unit(isUpdate ? `${want} more` : `${want}`);
    out.push(
      `cluster "${clusterName}": needs ${needs} but the project has ${left} left (quota ${w.quota}); ask for more quota or ${w.fix(want - left)}`,
    );
  }
  return out.sort();
}
