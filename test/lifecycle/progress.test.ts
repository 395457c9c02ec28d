// Progress as data (ControllerOptions.onProgress) on the simulated cloud: an apply counts its
// members created up to the whole, names what it waits on while it waits, and ends waiting on
// nothing; a destroy counts what it deletes; the log lines stay as they were.
import { afterEach, describe, expect, it } from "vitest";
import type { ProgressEvent } from "../../provider/lifecycle";
import { Progress, WAITING_SHOWN } from "../../provider/lifecycle/progress";
import type { ClusterSpec } from "../../provider/model/cluster";
import { type Harness, openHarness } from "../support/lifecycle";
import { grouping, server, spec, volume } from "../support/model";

function cluster(): ClusterSpec {
  return spec(
    "kv",
    [server("kv-1"), server("kv-2"), server("kv-3"), volume("data-1", 5, { attachTo: "kv-1" })],
    [grouping("quorum", "anti-affinity", ["kv-1", "kv-2", "kv-3"])],
  );
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

async function withEvents(): Promise<{ h: Harness; events: ProgressEvent[] }> {
  const events: ProgressEvent[] = [];
  h = await openHarness({ controller: { onProgress: (e) => events.push(e) } });
  return { h, events };
}

describe("progress events", () => {
  it("an apply counts its members created and names what it waits on", async () => {
    const { h, events } = await withEvents();
    await h.controller.apply(cluster());
    const creating = events.filter((e) => e.phase === "creating");
    expect(creating.length).toBeGreaterThan(0);
    expect(creating.every((e) => e.total === 4 && e.done <= e.total)).toBe(true);
    expect(creating.map((e) => e.done)).toEqual([...creating.map((e) => e.done)].sort((a, b) => a - b));
    expect(creating.at(-1)?.done).toBe(4);
    const waitedOn = new Set(events.flatMap((e) => e.waitingOn));
    for (const name of ['server "kv-1"', 'server "kv-2"', 'server "kv-3"', 'volume "data-1"']) {
      expect(waitedOn).toContain(name);
    }
    // The phases in the order the apply runs them, and nothing left waited on.
    const phases = events.map((e) => e.phase).filter((p, i, all) => p !== all[i - 1]);
    const order = ["creating", "attaching", "verifying"].map((p) => phases.indexOf(p as ProgressEvent["phase"]));
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > (order[i - 1] as number)))).toBe(true);
    expect(phases.at(-1)).toBe("verifying");
    expect(events.at(-1)).toMatchObject({ waitingOn: [], waiting: 0 });
    // Beside the log lines, not instead of them.
    expect(h.logs).toContain('info: cluster "kv": created 4/4 members');
  });

  it("a destroy counts what it deletes", async () => {
    const { h, events } = await withEvents();
    const state = await h.controller.apply(cluster());
    events.length = 0;
    await h.controller.destroy(state);
    const deleting = events.filter((e) => e.phase === "deleting" && e.total > 0);
    expect(deleting.at(-1)).toMatchObject({ done: 4, total: 4 });
    expect(events.at(-1)?.waitingOn).toEqual([]);
  });

  it("names the longest waits only, and counts them all", async () => {
    const events: ProgressEvent[] = [];
    const progress = new Progress((e) => events.push(e));
    const releases: (() => void)[] = [];
    const waits = Array.from({ length: 25 }, (_, i) =>
      progress.waiting(`server "m-${i}"`, () => new Promise<void>((resolve) => releases.push(resolve))),
    );
    expect(events.at(-1)?.waiting).toBe(25);
    expect(events.at(-1)?.waitingOn).toEqual(Array.from({ length: WAITING_SHOWN }, (_, i) => `server "m-${i}"`));
    releases[0]?.();
    await waits[0];
    expect(events.at(-1)?.waitingOn[0]).toBe('server "m-1"');
    for (const release of releases) release();
    await Promise.all(waits);
    expect(events.at(-1)).toMatchObject({ waiting: 0, waitingOn: [] });
  });

  it("without a listener the apply runs and logs as before", async () => {
    h = await openHarness();
    await h.controller.apply(cluster());
    expect(h.logs).toContain('info: cluster "kv": created 4/4 members');
  });
});
