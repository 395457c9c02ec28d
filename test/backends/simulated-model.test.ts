// Random sequences of calls against the simulated cloud; after every step the invariants Nova's
// placement and Cinder's scheduler keep must hold: no host or backend beyond its capacity, hard
// server-group policies kept, claims only for placed servers, group members that exist.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ServerGroupPolicy } from "../../provider/backends/backend";
import { type CloudSnapshot, SimulatedCloud } from "../../provider/backends/simulated";
import type { Topology } from "../../provider/model/topology";

const topology: Topology = {
  flavors: {
    s: { vcpus: 1, ramMb: 1024, diskGb: 10 },
    m: { vcpus: 2, ramMb: 2048, diskGb: 20 },
    l: { vcpus: 4, ramMb: 4096, diskGb: 40 },
  },
  hosts: ["a", "b"].flatMap((zone) =>
    [1, 2].map((i) => ({ name: `${zone}${i}`, zone, rack: "r1", vcpus: 6, ramMb: 8192, diskGb: 100 })),
  ),
  storageBackends: [
    { name: "shared-a", zone: "a", capacityGb: 60 },
    { name: "shared-b", zone: "b", capacityGb: 60 },
    { name: "lvm@a1", host: "a1", capacityGb: 30 },
  ],
};

type Step =
  | { op: "server"; flavor: string; zone?: string; host?: string; group?: number }
  | { op: "deleteServer"; pick: number }
  | { op: "resize"; pick: number; flavor: string }
  | { op: "volume"; size: number; zone?: string }
  | { op: "deleteVolume"; pick: number }
  | { op: "tick" };

const flavor = fc.constantFrom("s", "m", "l");
const zone = fc.option(fc.constantFrom("a", "b"), { nil: undefined });
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("server" as const),
      flavor,
      zone,
      // Pinned hosts too: the filters must hold against an explicit request, not only by weighing.
      host: fc.option(fc.constantFrom("a1", "a2", "b1", "b2"), { nil: undefined }),
      group: fc.option(fc.nat(3), { nil: undefined }),
    }),
  },
  fc.record({ op: fc.constant("deleteServer" as const), pick: fc.nat() }),
  fc.record({ op: fc.constant("resize" as const), pick: fc.nat(), flavor }),
  fc.record({ op: fc.constant("volume" as const), size: fc.integer({ min: 1, max: 40 }), zone }),
  fc.record({ op: fc.constant("deleteVolume" as const), pick: fc.nat() }),
  fc.record({ op: fc.constant("tick" as const) }),
);

const POLICIES: { policy: ServerGroupPolicy; maxServerPerHost?: number }[] = [
  { policy: "affinity" },
  { policy: "anti-affinity" },
  { policy: "anti-affinity", maxServerPerHost: 2 },
  { policy: "soft-anti-affinity" },
];

function checkInvariants(snap: CloudSnapshot): void {
  for (const h of snap.topology.hosts) {
    const claims = snap.servers.flatMap((s) => (s.claim?.host === h.name ? [s.claim] : []));
    expect(
      claims.reduce((n, c) => n + c.vcpus, 0),
      `vCPUs on ${h.name}`,
    ).toBeLessThanOrEqual(h.vcpus);
    expect(
      claims.reduce((n, c) => n + c.ramMb, 0),
      `RAM on ${h.name}`,
    ).toBeLessThanOrEqual(h.ramMb);
    expect(
      claims.reduce((n, c) => n + c.diskGb, 0),
      `disk on ${h.name}`,
    ).toBeLessThanOrEqual(h.diskGb);
  }
  for (const b of snap.topology.storageBackends) {
    const used = snap.volumes
      .filter((v) => v.backend === b.name && v.status !== "error")
      .reduce((n, v) => n + v.sizeGb, 0);
    expect(used, `GB on ${b.name}`).toBeLessThanOrEqual(b.capacityGb);
  }
  for (const s of snap.servers) {
    expect(s.claim === undefined || s.claim.host === s.host, `claim of ${s.name} is on its host`).toBe(true);
    if (s.status === "ERROR") expect(s.claim, `${s.name} in ERROR holds nothing`).toBeUndefined();
  }
  const ids = new Set(snap.servers.map((s) => s.id));
  for (const g of snap.serverGroups) {
    expect(
      g.members.every((id) => ids.has(id)),
      `members of ${g.name} exist`,
    ).toBe(true);
    const perHost = new Map<string, number>();
    for (const s of snap.servers)
      if (g.members.includes(s.id) && s.host) perHost.set(s.host, (perHost.get(s.host) ?? 0) + 1);
    if (g.policy === "affinity") expect(perHost.size, `affinity ${g.name}`).toBeLessThanOrEqual(1);
    if (g.policy === "anti-affinity") {
      for (const n of perHost.values())
        expect(n, `anti-affinity ${g.name}`).toBeLessThanOrEqual(g.maxServerPerHost ?? 1);
    }
  }
}

describe("simulated cloud: invariants under random use", () => {
  it("keeps capacity and hard group policies whatever the sequence", { timeout: 120_000 }, async () => {
    const root = mkdtempSync(path.join(tmpdir(), "vcluster-sim-model-"));
    let run = 0;
    const seen = { noValidHost: 0, refusals: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 30 }), async (steps) => {
        let t = 0;
        const dir = path.join(root, `run-${run++}`);
        const cloud = await SimulatedCloud.open({ dir, topology, now: () => t });
        const groups = [];
        for (const [i, p] of POLICIES.entries()) {
          groups.push(await cloud.createServerGroup({ name: `g${i}`, ...p, metadata: {} }));
        }
        const servers: string[] = [];
        const volumes: string[] = [];
        const pick = <T>(xs: T[], n: number): T | undefined => (xs.length === 0 ? undefined : xs[n % xs.length]);
        for (const [i, s] of steps.entries()) {
          // A refusal must be a conflict (a volume still creating, no host for a resize) and change nothing.
          const tolerate = async (call: () => Promise<unknown>) => {
            const before = await cloud.snapshot();
            await call().catch(async (e: { code?: string }) => {
              seen.refusals++;
              expect(e.code).toBe("conflict");
              const after = await cloud.snapshot();
              expect([after.servers, after.volumes]).toEqual([before.servers, before.volumes]);
            });
          };
          switch (s.op) {
            case "server": {
              const g = s.group === undefined ? undefined : groups[s.group];
              const made = await cloud.createServer({
                name: `s${i}`,
                imageRef: "cirros",
                flavorRef: s.flavor,
                ...(s.zone ? { zone: s.zone } : {}),
                ...(s.host ? { host: s.host } : {}),
                ...(g ? { serverGroupId: g.id } : {}),
                metadata: {},
              });
              servers.push(made.id);
              if (made.status === "ERROR") seen.noValidHost++;
              break;
            }
            case "deleteServer": {
              const id = pick(servers, s.pick);
              if (id) await cloud.deleteServer(id);
              break;
            }
            case "resize": {
              const id = pick(servers, s.pick);
              const cur = id && (await cloud.getServer(id));
              if (cur && cur.status === "ACTIVE" && cur.flavorRef !== s.flavor)
                await tolerate(() => cloud.resizeServer(cur.id, s.flavor));
              break;
            }
            case "volume": {
              const made = await cloud.createVolume({
                name: `v${i}`,
                sizeGb: s.size,
                ...(s.zone ? { zone: s.zone } : {}),
                metadata: {},
              });
              volumes.push(made.id);
              break;
            }
            case "deleteVolume": {
              const id = pick(volumes, s.pick);
              if (id) await tolerate(() => cloud.deleteVolume(id));
              break;
            }
            case "tick":
              t += 1000;
              break;
          }
          checkInvariants(await cloud.snapshot());
        }
        await SimulatedCloud.destroyDir(dir);
      }),
      { numRuns: 25, seed: 20261123 },
    );
    // The sequences reached the interesting corners, not only the easy path.
    expect(seen.noValidHost).toBeGreaterThan(0);
    expect(seen.refusals).toBeGreaterThan(0);
  });
});
