// Waits read a cluster's servers and volumes in one list each on the real dev cloud: Nova's `name`
// filter (a regular expression) and Cinder's `metadata` filter, as a tenant. Every request the
// backend sends is counted on its way out, so a filter the cloud refused (the backend then reads
// each object on its own, correctly but one call per object) fails the test instead of passing
// quietly. That reads of one turn go as one call is Ops's, proved in test/lifecycle/ops.test.ts.
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { ClusterController } from "../../../provider/lifecycle";
import type { ClusterSpec } from "../../../provider/model/cluster";
import { countingDevcloud, DEVCLOUD } from "../../support/devcloud";

describe("batched reads on the openstack devcloud as member", () => {
  const closing: (() => Promise<void>)[] = [];
  afterAll(async () => {
    await Promise.all(closing.map((c) => c()));
  });

  it("polls a cluster's servers and volumes with one list each, and builds and deletes it", async () => {
    const { backend: b, sent, close } = await countingDevcloud("member");
    closing.push(close);
    const ctl = new ClusterController(b, { timeouts: { serverMs: 180_000, volumeMs: 120_000, deleteMs: 120_000 } });
    const name = `br-${randomBytes(3).toString("hex")}`;
    const server = (n: string) =>
      ({ type: "server", name: n, imageRef: DEVCLOUD.image, flavorRef: DEVCLOUD.flavor, zone: DEVCLOUD.zone }) as const;
    const spec: ClusterSpec = {
      name,
      members: [
        server("a"),
        server("b"),
        server("c"),
        { type: "volume", name: "a-data", sizeGb: 1, zone: DEVCLOUD.zone, attachTo: "a" },
        { type: "volume", name: "b-data", sizeGb: 1, zone: DEVCLOUD.zone, attachTo: "b" },
      ],
      groupings: [],
    };
    const state = await ctl.apply(spec);
    try {
      for (const m of ["a", "b", "c"]) expect(state.members[m]?.status).toBe("ACTIVE");
      for (const m of ["a-data", "b-data"]) expect(state.members[m]?.status).toBe("in-use");
    } finally {
      await ctl.destroy(state);
    }
    const lists = (what: RegExp) => sent.filter((r) => what.test(r)).length;
    const serverLists = lists(/^GET \/[^ ]*servers\/detail\?limit=1000&name=/);
    const volumeLists = lists(/^GET \/[^ ]*volumes\/detail\?limit=1000&metadata=/);
    const perServer = new Map<string, number>();
    for (const r of sent) {
      const id = /^GET \/[^ ]*servers\/([0-9a-f-]{36})$/.exec(r)?.[1];
      if (id) perServer.set(id, (perServer.get(id) ?? 0) + 1);
    }
    const reads = Object.fromEntries(["a", "b", "c"].map((m) => [m, perServer.get(state.members[m]?.id ?? "") ?? 0]));
    console.log(
      `${sent.length} requests: ${serverLists} server lists, ${volumeLists} volume lists, single reads ${JSON.stringify(reads)}`,
    );
    // The cloud took both filters: polls of several servers or volumes went as lists. (A wait that
    // polls alone still reads its object on its own, as does a read that confirms one gone: how many
    // depends on the cloud's timing, so they are logged, not judged.)
    expect(serverLists).toBeGreaterThan(0);
    expect(volumeLists).toBeGreaterThan(0);
  });
});
