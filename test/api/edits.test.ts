// A PUT sees every edit `pulumi up` sees: the service records the spec each operation applied and
// hands it to the lifecycle as the previous inputs, so edits the cloud doesn't show back (user_data,
// a metadata key dropped) are made through the API too, and an unchanged PUT changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TAG_CLUSTER, TAG_MEMBER } from "../../provider/backends/backend";
import type { SimulatedCloud } from "../../provider/backends/simulated";
import { call, removeTempDirs, serveOnTempCloud, type TestServer, waitFor } from "../support/api";
import { callCounts, MUTATING_OPS } from "../support/lifecycle";

let server: TestServer;
let cloud: SimulatedCloud;

beforeAll(async () => {
  ({ server, cloud } = await serveOnTempCloud());
});

afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

const TENANT = "tenant-e";
const BASE = `/v2/${TENANT}/vclusters`;

/** Two servers; `app` has user data and metadata as given. */
function body(app: { userData?: string; metadata?: Record<string, string> }) {
  return {
    vcluster: {
      name: "edits",
      instances: [
        { name: "app", type: "server", spec: { imageRef: "cirros", flavorRef: "m1.small", ...app } },
        { name: "other", type: "server", spec: { imageRef: "cirros", flavorRef: "m1.small" } },
      ],
    },
  };
}

async function appOnCloud(id: string) {
  const snap = await cloud.snapshot();
  const s = snap.servers.find((x) => x.metadata[TAG_CLUSTER] === id && x.metadata[TAG_MEMBER] === "app");
  if (!s) throw new Error("server app is not on the cloud");
  return s;
}

/** PUTs `next` and waits for it; returns the cloud's mutating calls meanwhile. */
async function put(id: string, next: unknown): Promise<Record<string, number>> {
  const start = await callCounts(cloud, MUTATING_OPS);
  const r = await call(server.url, "PUT", `${BASE}/${id}`, next);
  expect(r.status).toBe(202);
  const done = (await waitFor(server.url, TENANT, id, ["ACTIVE", "ERROR"])).body.vcluster;
  expect(done.fault ?? null).toBeNull();
  expect(done.operation).toMatchObject({ action: "update", status: "succeeded" });
  const end = await callCounts(cloud, MUTATING_OPS);
  return Object.fromEntries(
    Object.entries(end)
      .map(([op, n]) => [op, n - (start[op] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  );
}

describe("PUT with the previous inputs", () => {
  let id: string;

  beforeAll(async () => {
    const created = await call(
      server.url,
      "POST",
      BASE,
      body({ userData: "#cloud-config\npassword: one", metadata: { role: "web", tier: "front" } }),
    );
    expect(created.status).toBe(202);
    id = created.body.vcluster.id;
    expect((await waitFor(server.url, TENANT, id, ["ACTIVE", "ERROR"])).body.vcluster.status).toBe("ACTIVE");
  });

  it("the same spec again changes nothing on the cloud", async () => {
    const calls = await put(
      id,
      body({ userData: "#cloud-config\npassword: one", metadata: { role: "web", tier: "front" } }),
    );
    expect(calls).toEqual({});
  });

  it("a changed userData rebuilds that server alone, with the new data", async () => {
    const before = await appOnCloud(id);
    const calls = await put(
      id,
      body({ userData: "#cloud-config\npassword: two", metadata: { role: "web", tier: "front" } }),
    );
    expect(calls).toEqual({ rebuildServer: 1 });
    const after = await appOnCloud(id);
    expect(after.id).toBe(before.id);
    expect(after.userDataDigest).not.toBe(before.userDataDigest);
  });

  it("a metadata key the spec drops is deleted on the cloud; the product's tags stay", async () => {
    const calls = await put(id, body({ userData: "#cloud-config\npassword: two", metadata: { role: "web" } }));
    expect(calls).toEqual({ updateServerMetadata: 1 });
    const after = await appOnCloud(id);
    expect(after.metadata).not.toHaveProperty("tier");
    expect(after.metadata).toMatchObject({ role: "web", [TAG_CLUSTER]: id, [TAG_MEMBER]: "app" });
  });

  it("the edit after a rename still compares with what was applied", async () => {
    const renamed = body({ userData: "#cloud-config\npassword: three", metadata: { role: "web" } });
    renamed.vcluster.name = "edits-renamed";
    const calls = await put(id, renamed);
    expect(calls).toEqual({ rebuildServer: 1 });
  });
});
