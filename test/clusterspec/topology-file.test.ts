// The topology file: validation issues with paths, JSON and YAML loading, one-line file errors,
// the built-in default topology, and the placement tree the command prints.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  defaultTopology,
  loadTopologyFile,
  TopologyFileError,
  validateTopology,
} from "../../provider/clusterspec/topology-file";
import { place, renderPlacementTree } from "../../provider/placement";
import { grouping, server, spec, volume } from "../support/model";

const fixture = join(__dirname, "../fixtures/topologies/small.json");
const tmp = mkdtempSync(join(tmpdir(), "topology-"));
const write = (name: string, text: string) => {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
};

describe("validateTopology", () => {
  it("accepts the small fixture", () => {
    const { topology, issues } = loadTopologyFile(fixture);
    expect(issues).toEqual([]);
    // Every host has its host-local lvm backend, and every zone a zonal ceph.
    const hosts = topology?.hosts ?? [];
    expect(hosts.length).toBeGreaterThan(0);
    const backends = topology?.storageBackends ?? [];
    expect(backends.filter((b) => b.host !== undefined).map((b) => b.host)).toEqual(hosts.map((h) => h.name));
    expect(new Set(backends.filter((b) => b.zone !== undefined).map((b) => b.zone))).toEqual(
      new Set(hosts.map((h) => h.zone)),
    );
  });

  it("reports shape problems with dot paths", () => {
    const { topology, issues } = validateTopology({
      flavors: { "m1.small": { vcpus: 1, ramMb: 2048, diskGb: -1 } },
      hosts: [{ name: "h1", zone: "az1", vcpus: 1.5, ramMb: 1, diskGb: 1, colour: "red" }],
    });
    expect(topology).toBeUndefined();
    expect(issues.map((i) => [i.code, i.path])).toEqual([
      ["too_small", 'flavors["m1.small"].diskGb'],
      ["unknown_field", "hosts[0].colour"],
      ["missing_field", "hosts[0].rack"],
      ["invalid_type", "hosts[0].vcpus"],
    ]);
  });

  it("reports duplicate names, dangling host-local backends, host and zone both set, usage over capacity", () => {
    const h = { zone: "az1", rack: "r1", vcpus: 4, ramMb: 4096, diskGb: 100 };
    const { issues } = validateTopology({
      flavors: {},
      hosts: [
        { name: "h1", ...h },
        { name: "h1", ...h, used: { vcpus: 5, ramMb: 0, diskGb: 0 } },
      ],
      storageBackends: [
        { name: "lvm@h9", host: "h9", capacityGb: 10 },
        { name: "both", host: "h1", zone: "az1", capacityGb: 10 },
        { name: "neither", capacityGb: 10, usedGb: 11 },
        { name: "neither", zone: "az1", capacityGb: 10 },
      ],
    });
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toMatchInlineSnapshot(`
      [
        "hosts[1].name: host name "h1" is used twice (also hosts[0])",
        "hosts[1].used.vcpus: host "h1" uses 5 vcpus but has only 4",
        "storageBackends[0].host: backend "lvm@h9" names host "h9", which is not in hosts",
        "storageBackends[1]: backend "both" must set exactly one of "host" (host-local) or "zone" (zonal)",
        "storageBackends[2]: backend "neither" must set exactly one of "host" (host-local) or "zone" (zonal)",
        "storageBackends[2].usedGb: backend "neither" uses 11 GB but has only 10 GB",
        "storageBackends[3].name: backend name "neither" is used twice (also storageBackends[2])",
      ]
    `);
  });
});

describe("loadTopologyFile", () => {
  it("reads YAML by extension", () => {
    const path = write(
      "t.yaml",
      "flavors:\n  m1.small: {vcpus: 1, ramMb: 2048, diskGb: 20}\nhosts:\n  - {name: h1, zone: az1, rack: r1, vcpus: 8, ramMb: 8192, diskGb: 100}\nstorageBackends: []\n",
    );
    expect(loadTopologyFile(path).topology?.hosts[0]?.name).toBe("h1");
  });

  it("turns a parse error into one issue", () => {
    const { issues } = loadTopologyFile(write("bad.json", "{ not json"));
    expect(issues.map((i) => i.code)).toEqual(["invalid_json"]);
    expect(issues[0]?.message).not.toMatch(/\n/);
  });

  it("throws a one-line TopologyFileError for a missing file", () => {
    const missing = join(tmp, "nope.json");
    expect(() => loadTopologyFile(missing)).toThrow(TopologyFileError);
    expect(() => loadTopologyFile(missing)).toThrow(`topology file "${missing}": not found`);
  });
});

describe("defaultTopology", () => {
  it("is valid, deterministic and shaped as documented", () => {
    const t = defaultTopology();
    expect(validateTopology(t).issues).toEqual([]);
    expect(t).toEqual(defaultTopology());
    expect(t.hosts).toHaveLength(24);
    expect(new Set(t.hosts.map((h) => h.zone))).toEqual(new Set(["az1", "az2", "az3"]));
    expect(t.storageBackends.filter((b) => b.zone !== undefined).map((b) => [b.name, b.capacityGb])).toEqual([
      ["ceph-az1", 100000],
      ["ceph-az2", 100000],
      ["ceph-az3", 100000],
    ]);
    expect(t.storageBackends.filter((b) => b.host !== undefined)).toHaveLength(24);
    expect(Object.keys(t.flavors)).toEqual(["m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"]);
  });
});

describe("renderPlacementTree", () => {
  it("draws zone, rack, host and members with the capacity used", () => {
    const { topology } = loadTopologyFile(fixture);
    if (!topology) throw new Error("fixture must load");
    const s = spec(
      "shop",
      [
        server("web-1", "m1.large"),
        server("web-2", "m1.large"),
        volume("data", 100, { attachTo: "web-1" }),
        volume("logs", 600),
      ],
      [
        grouping("web", "anti-affinity", ["web-1", "web-2"], { scope: "zone" }),
        grouping("att", "affinity", ["web-1", "data"]),
      ],
    );
    const r = place({ spec: s, topology });
    expect(r.placed).toBe(true);
    if (r.placed)
      expect(renderPlacementTree(s, topology, r.placement)).toMatchInlineSnapshot(`
        "zone az2
          rack r2
            host az2-r2-h1  vcpus 4/16, ram 8192/65536 MB, disk 80/500 GB
              web-2 (server, m1.large)
        zone az3
          rack r2
            host az3-r2-h1  vcpus 4/16, ram 8192/65536 MB, disk 80/500 GB
              web-1 (server, m1.large)
              backend lvm@az3-r2-h1
                data (volume, 100 GB)
                logs (volume, 600 GB)"
      `);
  });
});
