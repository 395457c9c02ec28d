// Pure units: how rules map onto Nova server groups and Cinder hints, the coarse delegated
// spec, and the wait state machine.
import { describe, expect, it } from "vitest";
import type { PlacementMode, ServerInfo } from "../../provider/backends/backend";
import { coarseSpec, mapRules } from "../../provider/lifecycle/rules";
import { SERVER_ACTIVE, SERVER_GONE, until, WaitError, waitFor } from "../../provider/lifecycle/wait";
import { grouping, server, spec, volume } from "../support/model";

describe("mapRules", () => {
  const s3 = [server("a"), server("b"), server("c")];
  const cases: {
    name: string;
    mode: PlacementMode;
    groupings: ReturnType<typeof grouping>[];
    groups: string[];
    blocking?: number;
  }[] = [
    {
      name: "pinned: a hard host anti-affinity gets a guard group",
      mode: "pinned",
      groupings: [grouping("g", "anti-affinity", ["a", "b", "c"])],
      groups: ["g:anti-affinity"],
    },
    {
      name: "pinned: soft rules get no group (the engine placed them)",
      mode: "pinned",
      groupings: [grouping("g", "anti-affinity", ["a", "b"], { enforcement: "soft" })],
      groups: [],
    },
    {
      name: "pinned: overlapping hard groupings get no group and no warning",
      mode: "pinned",
      groupings: [grouping("g", "anti-affinity", ["a", "b"]), grouping("h", "affinity", ["b", "c"])],
      groups: [],
    },
    {
      name: "pinned: zone- and rack-scope rules need no Nova group",
      mode: "pinned",
      groupings: [
        grouping("g", "anti-affinity", ["a", "b"], { scope: "rack" }),
        grouping("z", "affinity", ["a", "c"], { scope: "zone" }),
      ],
      groups: [],
    },
    {
      name: "delegated: max per host and soft policies",
      mode: "delegated",
      groupings: [
        grouping("g", "anti-affinity", ["a", "b"], { maxPerDomain: 2 }),
        grouping("s", "anti-affinity", ["c", "d"], { enforcement: "soft" }),
      ],
      groups: ["g:anti-affinity/2", "s:soft-anti-affinity"],
    },
    {
      name: "delegated: host proximity is affinity",
      mode: "delegated",
      groupings: [grouping("p", "proximity", ["a", "b"], { scope: "host" })],
      groups: ["p:affinity"],
    },
    {
      name: "delegated: a server in two host groupings is refused",
      mode: "delegated",
      groupings: [
        grouping("g", "anti-affinity", ["a", "b"]),
        grouping("h", "affinity", ["b", "c"], { enforcement: "soft" }),
      ],
      groups: [],
      blocking: 1,
    },
    {
      name: "delegated: rack scope is refused",
      mode: "delegated",
      groupings: [grouping("r", "anti-affinity", ["a", "b"], { scope: "rack" })],
      groups: [],
      blocking: 1,
    },
  ];
  it.each(cases)("$name", ({ mode, groupings, groups, blocking }) => {
    const m = mapRules(spec("c", [...s3, server("d")], groupings), mode);
    expect(
      m.groups.map((g) => `${g.grouping}:${g.policy}${g.maxServerPerHost ? `/${g.maxServerPerHost}` : ""}`),
    ).toEqual(groups);
    expect(m.blocking).toHaveLength(blocking ?? 0);
    for (const g of m.groups) for (const s of g.servers) expect(m.groupOf[s]).toBe(g.grouping);
  });

  it("gives delegated volumes Cinder hints by member name, earlier volumes only", () => {
    const m = mapRules(
      spec(
        "c",
        [server("a"), volume("v1", 1), volume("v2", 1), volume("v3", 1)],
        [grouping("local", "affinity", ["a", "v1", "v2"]), grouping("apart", "anti-affinity", ["v1", "v3"])],
      ),
      "delegated",
    );
    expect(m.volumeHints).toEqual({
      v1: { localToServer: "a", sameBackendAs: [], differentBackendFrom: [] },
      v2: { localToServer: "a", sameBackendAs: ["v1"], differentBackendFrom: [] },
      v3: { sameBackendAs: [], differentBackendFrom: ["v1"] },
    });
    expect(m.blocking).toEqual([]);
  });

  it("coarsens host and rack togetherness to zone and leaves host apartness to Nova", () => {
    const c = coarseSpec(
      spec("c", s3, [
        grouping("t", "affinity", ["a", "b"]),
        grouping("x", "anti-affinity", ["a", "c"]),
        grouping("z", "anti-affinity", ["b", "c"], { scope: "zone" }),
      ]),
    );
    expect(c.groupings.map((g) => `${g.name}:${g.rule}@${g.scope}`)).toEqual([
      "t:affinity@zone",
      "z:anti-affinity@zone",
    ]);
  });
});

describe("waitFor", () => {
  const srv = (status: string, extra: Partial<ServerInfo> = {}): ServerInfo => ({
    id: "1",
    name: "s",
    status,
    flavorRef: "f",
    imageRef: "i",
    metadata: {},
    volumes: [],
    ...extra,
  });
  const seq = (...xs: (ServerInfo | undefined)[]) => {
    let i = 0;
    return async () => xs[Math.min(i++, xs.length - 1)];
  };
  const opts = {
    what: 'server "s"',
    status: (s: ServerInfo) => s.status,
    fault: (s: ServerInfo) => s.fault,
    timeoutMs: 5_000,
    intervalMs: 1,
    maxIntervalMs: 2,
  };

  it("polls through pending statuses to the target", async () => {
    const got = await waitFor(SERVER_ACTIVE, { ...opts, read: seq(srv("BUILD"), srv("BUILD"), srv("ACTIVE")) });
    expect(got?.status).toBe("ACTIVE");
  });

  it("fails on a failure status with the fault", async () => {
    const e = await waitFor(SERVER_ACTIVE, {
      ...opts,
      read: seq(srv("BUILD"), srv("ERROR", { fault: "No valid host was found." })),
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WaitError);
    expect((e as WaitError).message).toBe('server "s" went to ERROR: No valid host was found.');
  });

  it("reports an unexpected status and a vanished object", async () => {
    const a = await waitFor(SERVER_ACTIVE, { ...opts, read: seq(srv("PAUSED")) }).catch((x: unknown) => x);
    expect((a as WaitError).kind).toBe("unexpected");
    const b = await waitFor(SERVER_ACTIVE, { ...opts, read: seq(srv("BUILD"), undefined) }).catch((x: unknown) => x);
    expect((b as WaitError).kind).toBe("vanished");
  });

  it("waits for an extra condition on the target and for disappearance", async () => {
    const machine = until(SERVER_ACTIVE, (s) => s.flavorRef === "big");
    const got = await waitFor(machine, {
      ...opts,
      read: seq(srv("ACTIVE"), srv("RESIZE"), srv("ACTIVE", { flavorRef: "big" })),
    });
    expect(got?.flavorRef).toBe("big");
    expect(await waitFor(SERVER_GONE, { ...opts, read: seq(srv("ACTIVE"), srv("ERROR"), undefined) })).toBeUndefined();
  });

  it("times out with the last status", async () => {
    const e = await waitFor(SERVER_ACTIVE, { ...opts, timeoutMs: 20, read: seq(srv("BUILD")) }).catch(
      (x: unknown) => x,
    );
    expect((e as WaitError).kind).toBe("timeout");
    expect((e as WaitError).message).toBe('server "s" did not become ACTIVE within 20 ms (still BUILD)');
  });

  it("stops when aborted", async () => {
    const abort = new AbortController();
    abort.abort();
    const e = await waitFor(SERVER_ACTIVE, { ...opts, signal: abort.signal, read: seq(srv("BUILD")) }).catch(
      (x: unknown) => x,
    );
    expect((e as WaitError).kind).toBe("aborted");
  });
});
