// Fencing (provider/api/leases.ts): the work of an operation whose lease this server lost, or could
// not renew in time, is stopped: its signal fires, with the reason, and the backend it runs with
// refuses every call from then on. On a SQLite file (the same leases as on PostgreSQL:
// test/api/store.test.ts runs the store's contract on both).
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fenced, Leases } from "../../provider/api/leases";
import { Store } from "../../provider/api/store";
import type { Backend } from "../../provider/backends/backend";
import { BackendError } from "../../provider/backends/backend";
import type { ClusterSpec } from "../../provider/model/cluster";
import { removeTempDirs, tempDir } from "../support/api";

afterAll(removeTempDirs);

async function leasedOperation(store: Store, leases: Leases): Promise<string> {
  const made = await store.createCluster({
    id: randomUUID(),
    operationId: randomUUID(),
    tenantId: "t",
    backendId: "simulated:test",
    spec: { name: "c", members: [], groupings: [] } as unknown as ClusterSpec,
    requestId: "req-1",
    lease: leases.grant,
  });
  return made.operation?.id as string;
}

function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
}

describe("fencing", () => {
  it("a renewal that finds the lease taken over stops the work; its backend refuses every call", async () => {
    const store = await Store.open(path.join(tempDir(), "api.db"));
    const fencedOps: string[] = [];
    const mine = new Leases(store, { leaseMs: 400, renewMs: 100 }, (id, reason) => fencedOps.push(`${id} ${reason}`));
    try {
      const at = performance.now();
      const op = await leasedOperation(store, mine);
      const fence = mine.hold(op, at);
      const calls: string[] = [];
      const backend = fenced(
        {
          kind: "simulated",
          getServer: async (id: string) => {
            calls.push(id);
            return undefined;
          },
        } as unknown as Backend,
        fence,
      );
      expect(await backend.getServer("before")).toBeUndefined();
      await mine.renew();
      expect(fence.signal.aborted).toBe(false);

      // Another server takes it over (its lease given up here, as a hand-over would).
      await store.releaseLeases(mine.owner, [op]);
      const other = await store.claimOperations(
        { owner: "other", leaseMs: 60_000 },
        { all: false, accept: () => true },
      );
      expect(other.claimed.map((c) => c.operation.id)).toEqual([op]);
      await mine.renew();
      const reason = await aborted(fence.signal);
      expect(reason).toBeInstanceOf(BackendError);
      expect((reason as BackendError).message).toBe(
        "this server's lease on the operation was taken over by another server",
      );
      expect(fence.reason).toBe("lease_lost");
      expect(fencedOps).toEqual([`${op} lease_lost`]);
      await expect(backend.getServer("after")).rejects.toBe(reason);
      expect(calls).toEqual(["before"]);
      // And what it would still record is refused by the store.
      expect(await store.finishOperation(op, { ok: true, deleted: true }, mine.owner)).toBe(false);
    } finally {
      mine.stop();
      await store.close();
    }
  });

  it("no renewal in time (the database gone): the work stops a renewal interval before the lease ends", async () => {
    const store = await Store.open(path.join(tempDir(), "api.db"));
    const errors: unknown[] = [];
    const mine = new Leases(store, { leaseMs: 600, renewMs: 150 }, undefined, (e) => {
      if (e !== undefined) errors.push(e);
    });
    try {
      const at = performance.now();
      const op = await leasedOperation(store, mine);
      const fence = mine.hold(op, at);
      mine.start();
      await store.close();
      await aborted(fence.signal);
      expect(fence.reason).toBe("lease_unrenewed");
      expect(errors.length).toBeGreaterThan(0);
    } finally {
      mine.stop();
    }
  });

  it("a call made past the deadline is refused as it is made, before the deadline's timer has run (a paused process)", async () => {
    const store = await Store.open(path.join(tempDir(), "api.db"));
    const mine = new Leases(store, { leaseMs: 400, renewMs: 100 });
    try {
      const op = await leasedOperation(store, mine);
      // Granted "1 s ago": as if the process had been stopped since.
      const fence = mine.hold(op, performance.now() - 1_000);
      const calls: string[] = [];
      const backend = fenced(
        {
          createServer: async (req: { name: string }) => {
            calls.push(req.name);
            return {};
          },
        } as unknown as Backend,
        fence,
      );
      const call = backend.createServer({ name: "late" } as never);
      expect(fence.reason).toBe("lease_unrenewed");
      await expect(call).rejects.toBeInstanceOf(BackendError);
      expect(calls).toEqual([]);
    } finally {
      mine.stop();
      await store.close();
    }
  });

  it("a renewal interval that leaves no margin within the lease is refused", async () => {
    const store = await Store.open(":memory:");
    try {
      expect(() => new Leases(store, { leaseMs: 1_000, renewMs: 800 })).toThrow(
        "a lease of 1000 ms renewed every 800 ms leaves no margin; hint: renew at most every half of the lease (a third is usual)",
      );
    } finally {
      await store.close();
    }
  });
});
