// Pulumi's customTimeouts: durations as the engine writes them, and the controller keeping an
// operation's limit: every wait of a create ends by its deadline (whatever the per-object ones), the
// rollback that follows gets its own time; a generous limit lets a slow build finish past the
// per-object default; a destroy under its limit.
import { afterEach, describe, expect, it, vi } from "vitest";
import { LifecycleError } from "../../provider/lifecycle";
import { WaitError, waitFor } from "../../provider/lifecycle/wait";
import { operationTimeout, parseDuration, sameTimeouts, timeoutProblems } from "../../provider/pulumi/timeouts";
import { expectEmpty, type Harness, openHarness } from "../support/lifecycle";
import { server, spec } from "../support/model";

describe("durations, as Go's time.ParseDuration reads them", () => {
  it.each([
    ["30m", 1_800_000],
    ["1h30m", 5_400_000],
    ["90s", 90_000],
    ["1.5h", 5_400_000],
    ["250ms", 250],
    [" 2m ", 120_000],
    ["0", 0],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "10", "5 minutes", "m", "1x", "-5m", "1h 30m"])("%j is not a duration", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it("an operation's limit, named for messages; none when unset or 0 (no limit)", () => {
    expect(operationTimeout({ create: "30m" }, "create")).toEqual({
      ms: 1_800_000,
      name: "customTimeouts.create (30m)",
    });
    expect(operationTimeout({ create: "30m" }, "delete")).toBeUndefined();
    expect(operationTimeout({ delete: "0" }, "delete")).toBeUndefined();
    expect(operationTimeout(undefined, "update")).toBeUndefined();
  });

  it("check's problems: not a duration, not an operation", () => {
    expect(timeoutProblems({ create: "30m", update: "soon", read: "1m" })).toEqual([
      'customTimeouts.update: "soon" is not a duration (hint: write it as Go does: "30m", "1h30m", "90s")',
      "customTimeouts.read: not an operation this resource has (hint: create, update or delete)",
    ]);
    expect(timeoutProblems(undefined)).toEqual([]);
  });

  it("absent and empty are the same limits; a changed one is not", () => {
    expect(sameTimeouts(undefined, {})).toBe(true);
    expect(sameTimeouts({ create: "30m" }, { create: "30m" })).toBe(true);
    expect(sameTimeouts({ create: "30m" }, { create: "31m" })).toBe(false);
    expect(sameTimeouts(undefined, { delete: "5m" })).toBe(false);
  });
});

describe("a wait under an operation's deadline", () => {
  it("ends at the deadline, naming it, though its own timeout is longer", async () => {
    const start = Date.now();
    const err = await waitFor(
      { goal: "ACTIVE", pending: ["BUILD"], target: ["ACTIVE"], failure: [] },
      {
        what: 'server "a"',
        read: async () => ({ status: "BUILD" }),
        status: (s) => s.status,
        timeoutMs: 60_000,
        intervalMs: 5,
        maxIntervalMs: 5,
        deadline: { at: start + 60, name: "customTimeouts.create (60ms)" },
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitError);
    expect((err as WaitError).kind).toBe("timeout");
    expect((err as Error).message).toBe(
      'server "a" did not become ACTIVE within the operation\'s customTimeouts.create (60ms) (still BUILD)',
    );
    expect(Date.now() - start).toBeLessThan(5_000);
  });
});

describe("steady polls", () => {
  it("poll every interval on the clock's grid, so waits started apart poll at the same moments", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      const reads: number[][] = [[], []];
      const wait = (k: number) =>
        waitFor(
          { goal: "ACTIVE", pending: ["BUILD"], target: ["ACTIVE"], failure: [] },
          {
            what: `server "${k}"`,
            read: async () => {
              reads[k]?.push(Date.now() - 1_000_000);
              return { status: (reads[k]?.length ?? 0) > 4 ? "ACTIVE" : "BUILD" };
            },
            status: (s) => s.status,
            timeoutMs: 60_000,
            intervalMs: 20,
            maxIntervalMs: 20,
            steady: true,
          },
        );
      const first = wait(0);
      await vi.advanceTimersByTimeAsync(7);
      const second = wait(1);
      await vi.advanceTimersByTimeAsync(200);
      await Promise.all([first, second]);
      expect(reads).toEqual([
        [0, 20, 40, 60, 80],
        [7, 20, 40, 60, 80],
      ]);
    } finally {
      vi.useRealTimers();
    }
  });
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const two = () => spec("t", [server("a", "m1.small"), server("b", "m1.small")]);

describe("the controller under customTimeouts", () => {
  it("a create that can't finish in its limit fails naming it, and is rolled back in full", async () => {
    h = await openHarness({
      faults: [{ kind: "slow", op: "createServer", member: "b", ms: 5_000 }],
      controller: {
        operationTimeout: { ms: 300, name: "customTimeouts.create (300ms)" },
        rollbackTimeout: { ms: 30_000, name: "customTimeouts.delete (30s)" },
      },
    });
    const started = Date.now();
    const err = await h.controller.apply(two()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LifecycleError);
    expect((err as Error).message).toContain("customTimeouts.create (300ms)");
    expect((err as Error).message).toContain('server "b"');
    expect(Date.now() - started).toBeLessThan(5_000);
    await expectEmpty(h.cloud);
  });

  it("a build that takes a while, inside the limit, finishes", async () => {
    h = await openHarness({
      faults: [{ kind: "slow", op: "createServer", member: "b", ms: 400 }],
      controller: { operationTimeout: { ms: 30_000, name: "customTimeouts.create (30s)" } },
    });
    const state = await h.controller.apply(two());
    expect(state.members.b?.status).toBe("ACTIVE");
  });

  it("without a limit, the per-object deadline decides, as before", async () => {
    h = await openHarness({
      faults: [{ kind: "slow", op: "createServer", member: "b", ms: 5_000 }],
      controller: { timeouts: { serverMs: 200 } },
    });
    const err = await h.controller.apply(two()).catch((e: unknown) => e);
    expect((err as Error).message).toContain("within 200 ms");
    await expectEmpty(h.cloud);
  });
});
