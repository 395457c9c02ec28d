// The placement maps the HTML tests draw: a 10-host cloud (names that sort naturally only: h2
// before h10), the bench's F1 on 300 hosts and F3 on 3,000, each placed, and two clusters that can't
// be placed (too many zones asked for; servers too big for any host). Pure and seeded.

import { renderPlanHtml } from "../../provider/cli/html";
import type { ClusterSpec } from "../../provider/model/cluster";
import type { PlacementResult, Topology } from "../../provider/placement";
import { place } from "../../provider/placement";
import { f1, f3 } from "../bench/families";
import { FLAVORS, grouping, server, volume } from "../support/model";

export interface MapCase {
  name: string;
  spec: ClusterSpec;
  topology: Topology;
  result: PlacementResult;
  html: string;
}

function mapCase(name: string, spec: ClusterSpec, topology: Topology): MapCase {
  const result = place({ spec, topology, seed: 1 });
  return { name, spec, topology, result, html: renderPlanHtml(spec, topology, result, `test map "${name}"`) };
}

/** Ten 8-vCPU hosts h1..h10 in racks r1, r2, r10 of az1 and az2 (r1, r2: natural order matters). */
export function tenHosts(): Topology {
  const at: [string, string][] = [
    ["az1", "r1"],
    ["az1", "r1"],
    ["az1", "r2"],
    ["az1", "r10"],
    ["az2", "r1"],
    ["az2", "r1"],
    ["az2", "r2"],
    ["az2", "r2"],
    ["az1", "r10"],
    ["az1", "r2"],
  ];
  const hosts = at.map(([zone, rack], i) => ({
    name: `h${i + 1}`,
    zone,
    rack,
    vcpus: 8,
    ramMb: 32768,
    diskGb: 500,
    used: { vcpus: i % 3, ramMb: (i % 3) * 4096, diskGb: 40 * (i % 4) },
  }));
  return {
    flavors: FLAVORS,
    hosts,
    storageBackends: [
      ...hosts.map((h) => ({ name: `lvm@${h.name}`, host: h.name, capacityGb: 1000 })),
      { name: "ceph-az1", zone: "az1", capacityGb: 20_000 },
      { name: "ceph-az2", zone: "az2", capacityGb: 20_000 },
    ],
  };
}

/** A web tier apart, two databases with their volumes, and an app/cache pair that can't share a host. */
export function shopSpec(): ClusterSpec {
  return {
    name: "shop <&>",
    members: [
      server("web-1"),
      server("web-2"),
      server("web-3"),
      server("db-1", "m1.large"),
      server("db-2", "m1.large"),
      volume("db-1-data", 100, { attachTo: "db-1" }),
      volume("db-2-data", 100, { attachTo: "db-2" }),
      volume("shared-logs", 500),
      server("app-1", "m1.xlarge"),
      server("cache-1", "m1.medium"),
    ],
    groupings: [
      grouping("web-apart", "anti-affinity", ["web-1", "web-2", "web-3"]),
      grouping("db-zones", "anti-affinity", ["db-1", "db-2"], { scope: "zone" }),
      grouping("db-1-local", "affinity", ["db-1", "db-1-data"], { implied: true }),
      grouping("db-2-local", "affinity", ["db-2", "db-2-data"], { implied: true }),
      // app-1 fills an 8-vCPU host: the cache can't be beside it (the soft rule not met).
      grouping("app-cache", "affinity", ["app-1", "cache-1"], { enforcement: "soft", weight: 30 }),
      grouping("near-web", "proximity", ["web-1", "app-1"], { scope: "zone", weight: 20 }),
    ],
  };
}

export const small = () => mapCase("10 hosts", shopSpec(), tenHosts());
export const medium = () => {
  const { spec, topology } = f1(300, 1);
  return mapCase("300 hosts", spec, topology);
};
export const large = () => {
  const { spec, topology } = f3(1, 0.6);
  return mapCase("3,000 hosts", spec, topology);
};

/** Four servers each in a zone of its own, on two zones. */
export const zonesApart = () =>
  mapCase(
    "unplaceable: zones",
    {
      name: "wide",
      members: ["s1", "s2", "s3", "s4"].map((n) => server(n)),
      groupings: [grouping("apart", "anti-affinity", ["s1", "s2", "s3", "s4"], { scope: "zone" })],
    },
    tenHosts(),
  );

/** Servers bigger than any host has free, on 3,000 hosts. */
export const tooBig = () => {
  const { topology } = f3(1, 0.6);
  const big = { vcpus: 48, ramMb: 200 * 1024, diskGb: 100 };
  return mapCase(
    "unplaceable: 3,000 hosts",
    {
      name: "huge",
      members: ["big-1", "big-2", "big-3"].map((n) => server(n, "x1.huge")),
      groupings: [grouping("big-apart", "anti-affinity", ["big-1", "big-2", "big-3"])],
    },
    { ...topology, flavors: { ...topology.flavors, "x1.huge": big } },
  );
};
