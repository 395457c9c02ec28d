// The simulated cloud's addresses and devices: one port and one fixed IP per network a server asks
// for ("private" when it names none), numbered in the order servers are made, kept across processes;
// attached volumes named /dev/vdb, /dev/vdc, … in attach order, a detached one's name free again.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Backend, ServerInfo, VolumeInfo } from "../../provider/backends/backend";
import { defaultSimulatedTopology, SimulatedCloud } from "../../provider/backends/simulated";
import { DEFAULT_NETWORK, nextDevice } from "../../provider/backends/simulated/network";

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

async function cloud(): Promise<{ dir: string; backend: SimulatedCloud }> {
  const root = mkdtempSync(path.join(tmpdir(), "vcluster-simnet-"));
  roots.push(root);
  const dir = path.join(root, "cloud");
  return { dir, backend: await SimulatedCloud.open({ dir }) };
}

async function until<T>(get: () => Promise<T | undefined>, ok: (v: T) => boolean): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = await get();
    if (v !== undefined && ok(v)) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("timed out");
}

const active = (b: Backend, id: string) =>
  until<ServerInfo>(
    () => b.getServer(id),
    (s) => s.status === "ACTIVE",
  );
const settled = (b: Backend, id: string, status: string) =>
  until<VolumeInfo>(
    () => b.getVolume(id),
    (v) => v.status === status,
  );

function serverReq(name: string, networks?: string[]) {
  return { name, imageRef: "debian-12", flavorRef: "m1.small", metadata: {}, ...(networks ? { networks } : {}) };
}

describe("simulated cloud: addresses and ports", () => {
  it("gives each server a port and a fixed IP per network, in the order asked, numbered per cloud", async () => {
    const { dir, backend } = await cloud();
    const a = await active(backend, (await backend.createServer(serverReq("a"))).id);
    const b = await active(backend, (await backend.createServer(serverReq("b", ["front", "back"]))).id);
    expect(Object.keys(a.addresses ?? {})).toEqual([DEFAULT_NETWORK]);
    expect(a.addresses?.[DEFAULT_NETWORK]).toEqual({ fixed: [expect.stringMatching(/^10\.\d+\.0\.2$/)], floating: [] });
    expect(a.ports).toHaveLength(1);
    expect(Object.keys(b.addresses ?? {})).toEqual(["front", "back"]);
    expect(b.addresses?.front?.fixed[0]).toMatch(/^10\.\d+\.0\.3$/);
    expect(b.addresses?.back?.fixed[0]).toMatch(/^10\.\d+\.0\.4$/);
    expect(new Set(b.ports).size).toBe(2);
    // Stable: read again, and from another process's view of the same directory.
    expect((await backend.getServer(b.id))?.addresses).toEqual(b.addresses);
    await backend.close();
    const again = await SimulatedCloud.open({ dir });
    const c = await active(again, (await again.createServer(serverReq("c", ["front"]))).id);
    expect(c.addresses?.front?.fixed[0]).toMatch(/^10\.\d+\.0\.5$/);
    expect((await again.getServer(b.id))?.ports).toEqual(b.ports);
    await again.close();
  });

  it("a server asked onto no network has none; one no host took has none", async () => {
    const root = mkdtempSync(path.join(tmpdir(), "vcluster-simnet-"));
    roots.push(root);
    const topology = defaultSimulatedTopology();
    topology.flavors["x.huge"] = { vcpus: 640, ramMb: 2621440, diskGb: 40000 };
    const backend = await SimulatedCloud.open({ dir: path.join(root, "cloud"), topology });
    const none = await active(backend, (await backend.createServer(serverReq("none", []))).id);
    expect(none.addresses).toEqual({});
    expect(none.ports).toEqual([]);
    const huge = await backend.createServer({ ...serverReq("huge"), flavorRef: "x.huge" });
    expect(huge.status).toBe("ERROR");
    expect(huge.addresses).toEqual({});
    await backend.close();
  });
});

describe("simulated cloud: volume devices", () => {
  it("names attached volumes /dev/vdb, /dev/vdc in attach order, frees a name on detach", async () => {
    const { backend } = await cloud();
    const s = await active(backend, (await backend.createServer({ ...serverReq("s"), zone: "az1" })).id);
    const vols: VolumeInfo[] = [];
    for (const name of ["v1", "v2", "v3"]) {
      const v = await backend.createVolume({ name, sizeGb: 1, zone: "az1", metadata: {} });
      vols.push(await settled(backend, v.id, "available"));
    }
    const [v1, v2, v3] = vols as [VolumeInfo, VolumeInfo, VolumeInfo];
    await backend.attachVolume(s.id, v1.id);
    expect((await settled(backend, v1.id, "in-use")).device).toBe("/dev/vdb");
    await backend.attachVolume(s.id, v2.id);
    expect((await settled(backend, v2.id, "in-use")).device).toBe("/dev/vdc");
    await backend.detachVolume(s.id, v1.id);
    expect((await settled(backend, v1.id, "available")).device).toBeUndefined();
    await backend.attachVolume(s.id, v3.id);
    expect((await settled(backend, v3.id, "in-use")).device).toBe("/dev/vdb");
    await backend.close();
  });

  it("goes on past /dev/vdz as Linux does", () => {
    const volumes = Array.from({ length: 25 }, (_, i) => ({
      attachedTo: ["s"],
      device: `/dev/vd${String.fromCharCode(98 + i)}`,
    })) as unknown as Parameters<typeof nextDevice>[0];
    expect(nextDevice(volumes, "s")).toBe("/dev/vdaa");
    expect(nextDevice(volumes, "other")).toBe("/dev/vdb");
  });
});
