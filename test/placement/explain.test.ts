// Every cause code from a crafted instance, deletion filtering down to the groupings that matter,
// and the explanation text users read.

import { describe, expect, it } from "vitest";
import {
  CAUSE_CODES,
  type CauseCode,
  formatExplanation,
  lowerBoundCauses,
  type PlacementInput,
  place,
  type Topology,
} from "../../provider/placement";
import { grid, grouping, server, spec, volume } from "../support/model";

const hosts8 = (zones: number, racks: number, perRack: number, opts: Parameters<typeof grid>[3] = {}) =>
  grid(zones, racks, perRack, { size: { vcpus: 8 }, ...opts });
const withFlavor = (t: Topology, name: string, f: { vcpus: number; ramMb: number; diskGb: number }) => {
  t.flavors[name] = f;
  return t;
};

const crafted: Record<CauseCode, PlacementInput> = {
  capacity: {
    spec: spec("test", [server("a", "m1.xlarge"), server("b", "m1.xlarge"), server("c", "m1.xlarge")]),
    topology: hosts8(1, 1, 2),
  },
  capacity_bin_packing: {
    spec: spec("test", [server("a", "big"), server("b", "big"), server("c", "big")]),
    topology: withFlavor(grid(1, 1, 2, { size: { vcpus: 16 } }), "big", { vcpus: 9, ramMb: 1024, diskGb: 10 }),
  },
  anti_affinity_domains: {
    spec: spec(
      "test",
      [server("db-1", "m1.large"), server("db-2", "m1.large"), server("db-3", "m1.large")],
      [grouping("db-quorum", "anti-affinity", ["db-1", "db-2", "db-3"])],
    ),
    topology: hosts8(1, 1, 2),
  },
  volume_capacity: {
    spec: spec("test", [volume("v1", 600), volume("v2", 600)]),
    topology: hosts8(1, 1, 1, { lvm: false, cephGb: 1000 }),
  },
  no_backend: {
    spec: spec("test", [volume("v1", 10, { volumeType: "nvme" })]),
    topology: (() => {
      const t = hosts8(1, 1, 1);
      for (const b of t.storageBackends) b.volumeTypes = ["ssd"];
      return t;
    })(),
  },
  unknown_flavor: { spec: spec("test", [server("a", "m1.huge")]), topology: hosts8(1, 1, 1) },
  unknown_zone: { spec: spec("test", [server("a", "m1.small", { zone: "az9" })]), topology: hosts8(1, 1, 1) },
  member_fits_nowhere: {
    spec: spec("test", [server("a", "m1.xlarge")]),
    topology: grid(1, 1, 3, { size: { vcpus: 4 } }),
  },
  conflict: {
    spec: spec(
      "test",
      [server("a", "m1.large"), server("b", "m1.large"), server("c", "m1.large"), server("d", "m1.large")],
      [
        grouping("trio", "affinity", ["a", "b", "c"]),
        grouping("spread", "anti-affinity", ["a", "d"], { scope: "rack" }),
      ],
    ),
    topology: hosts8(1, 2, 1),
  },
};

describe("causes", () => {
  it.each(CAUSE_CODES.map((c) => [c]))("%s is produced by a crafted instance", (code) => {
    const input = crafted[code];
    const r = place(input);
    expect(r.placed).toBe(false);
    if (r.placed) return;
    expect(r.explanation.causes.map((c) => c.code)).toContain(code);
    for (const c of r.explanation.causes) {
      expect(c.hint.length).toBeGreaterThan(0);
      expect(c.message).not.toMatch(/\n/);
    }
    // Lower-bound codes answer without search; conflict only comes from search.
    expect(lowerBoundCauses(input).some((c) => c.code === code)).toBe(code !== "conflict");
  });

  it("deletion filtering keeps only the groupings that conflict", () => {
    const r = place(crafted.conflict);
    expect(!r.placed && r.explanation.causes).toEqual([
      {
        code: "conflict",
        groupings: ["trio"],
        members: ["a", "b", "c"],
        message: 'affinity grouping "trio" (host) together with the hosts\' free capacity admit no placement',
        hint: 'relax "trio" to enforcement: soft, or widen its scope beyond host',
      },
    ]);
  });

  it("keeps two groupings when neither alone is the problem", () => {
    const s = spec(
      "test",
      [server("a", "m1.large"), server("b", "m1.large"), server("c", "m1.large")],
      [
        grouping("ab", "affinity", ["a", "b"]),
        grouping("bc", "affinity", ["b", "c"]),
        grouping("free", "anti-affinity", ["a", "c"], { enforcement: "soft" }),
      ],
    );
    const r = place({ spec: s, topology: hosts8(1, 1, 2) });
    expect(!r.placed && r.explanation.causes.map((c) => [c.code, c.groupings])).toEqual([["conflict", ["ab", "bc"]]]);
  });

  it("a lower bound answers at once even at scale", () => {
    const members = Array.from({ length: 5000 }, (_, i) => server(`s${i}`, "m1.small"));
    const r = place({
      spec: spec("test", members, [
        grouping(
          "all",
          "anti-affinity",
          members.map((m) => m.name),
        ),
      ]),
      topology: grid(3, 4, 10, { size: { vcpus: 128, ramMb: 262144, diskGb: 100000 } }),
    });
    expect(!r.placed && r.explanation.causes.map((c) => c.code)).toEqual(["anti_affinity_domains"]);
  });
});

describe("explanation text", () => {
  it("anti-affinity over too few hosts", () => {
    const r = place(crafted.anti_affinity_domains);
    expect(!r.placed && formatExplanation(r.explanation)).toMatchInlineSnapshot(`
      "cluster "test" can't be placed: anti-affinity grouping "db-quorum" needs 3 hosts but only 2 hosts can take m1.large
        - anti-affinity grouping "db-quorum" needs 3 hosts but only 2 hosts can take m1.large (hint: add 1 host, raise maxPerDomain to 2, or relax "db-quorum" to enforcement: soft)"
    `);
  });

  it("conflict found by search, with per-member reason counts", () => {
    const r = place(crafted.conflict);
    expect(!r.placed && formatExplanation(r.explanation)).toMatchInlineSnapshot(`
      "cluster "test" can't be placed: affinity grouping "trio" (host) together with the hosts' free capacity admit no placement
        - affinity grouping "trio" (host) together with the hosts' free capacity admit no placement (hint: relax "trio" to enforcement: soft, or widen its scope beyond host)
        0/2 hosts fit "c": 1 insufficient vcpus (need 4, most free 0), 1 outside the host of affinity grouping "trio""
    `);
    expect(!r.placed && r.explanation.members).toMatchInlineSnapshot(`
      {
        "c": {
          "insufficient vcpus (need 4, most free 0)": 1,
          "outside the host of affinity grouping "trio"": 1,
        },
      }
    `);
  });

  it("a flavor too big for every host", () => {
    const r = place(crafted.member_fits_nowhere);
    expect(!r.placed && formatExplanation(r.explanation)).toMatchInlineSnapshot(`
      "cluster "test" can't be placed: flavor "m1.xlarge" of "a" fits no single host: needs 8 vcpus, most free on one host is 4
        - flavor "m1.xlarge" of "a" fits no single host: needs 8 vcpus, most free on one host is 4 (hint: use a smaller flavor than "m1.xlarge", or add a host with room for it)
        0/3 hosts fit "a": 3 insufficient vcpus (need 8, most free 4)"
    `);
  });

  it("volumes that no backend serves", () => {
    const r = place(crafted.no_backend);
    expect(!r.placed && formatExplanation(r.explanation)).toMatchInlineSnapshot(`
      "cluster "test" can't be placed: no storage backend serves "v1" (volume of 10 GB of type "nvme")
        - no storage backend serves "v1" (volume of 10 GB of type "nvme") (hint: add a backend serving that volume type and zone, or change the volume type or zone)
        0/2 backends fit "v1": 2 doesn't serve volume type "nvme""
    `);
  });
});
