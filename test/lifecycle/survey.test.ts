// survey: what of a cluster exists, from the cluster's tags and the state's ids; one object per
// member, the rest strays. Run against a fake backend that answers from fixed lists.
import { describe, expect, it } from "vitest";
import type { Backend, ServerGroupInfo, ServerInfo, VolumeInfo } from "../../provider/backends/backend";
import { Ops } from "../../provider/lifecycle/ops";
import { isBroken, type Live, survey } from "../../provider/lifecycle/survey";
import type { ClusterState } from "../../provider/model/state";
import { liveGroup, liveServer, liveVolume, stateOf, tags } from "../support/live";

const C = "c";

interface Cloud {
  /** What the tag search finds. */
  servers?: ServerInfo[];
  volumes?: VolumeInfo[];
  groups?: ServerGroupInfo[];
  /** What a lookup by id finds beyond that (objects whose tags were lost). */
  byId?: (ServerInfo | VolumeInfo | ServerGroupInfo)[];
}

/** A backend answering finds from the lists and gets from every object it has; it records the calls. */
function fakeCloud(cloud: Cloud) {
  const calls: string[] = [];
  const all = [...(cloud.servers ?? []), ...(cloud.volumes ?? []), ...(cloud.groups ?? []), ...(cloud.byId ?? [])];
  const get = (kind: string) => async (id: string) => {
    calls.push(`${kind} ${id}`);
    return all.find((o) => o.id === id) as never;
  };
  const find = (kind: string, list: unknown[] | undefined) => async (t: Record<string, string>) => {
    calls.push(`${kind} ${JSON.stringify(t)}`);
    return structuredClone(list ?? []) as never;
  };
  const backend = {
    kind: "simulated",
    description: "fake cloud",
    pollIntervalMs: 1,
    findServers: find("findServers", cloud.servers),
    findVolumes: find("findVolumes", cloud.volumes),
    findServerGroups: find("findServerGroups", cloud.groups),
    getServer: get("getServer"),
    getVolume: get("getVolume"),
    getServerGroup: get("getServerGroup"),
  } as unknown as Backend;
  return { ops: new Ops(backend, 4), calls };
}

/** Live, compactly: "member=id" per kind, strays by id, groups as "grouping=id,id". */
function view(l: Live) {
  return {
    servers: [...l.servers].map(([m, s]) => `${m}=${s.id}`),
    volumes: [...l.volumes].map(([m, v]) => `${m}=${v.id}`),
    groups: [...l.groups].map(([g, list]) => `${g}=${list.map((x) => x.id).join(",")}`),
    strayServers: l.strayServers.map((s) => s.id),
    strayVolumes: l.strayVolumes.map((v) => v.id),
    strayGroups: l.strayGroups.map((g) => g.id),
  };
}

const NOTHING: ReturnType<typeof view> = {
  servers: [],
  volumes: [],
  groups: [],
  strayServers: [],
  strayVolumes: [],
  strayGroups: [],
};

const member = (m: string) => ({ metadata: tags(C, { member: m }) });

describe("survey", () => {
  const cases: { name: string; cloud: Cloud; state?: ClusterState; want: Partial<ReturnType<typeof view>> }[] = [
    { name: "nothing exists", cloud: {}, want: {} },
    {
      name: "objects tagged with a member are that member's",
      cloud: {
        servers: [liveServer("s-b", member("b")), liveServer("s-a", member("a"))],
        volumes: [liveVolume("v-1", member("data"))],
      },
      want: { servers: ["a=s-a", "b=s-b"], volumes: ["data=v-1"] },
    },
    {
      name: "objects tagged with the cluster but no member are strays",
      cloud: {
        servers: [liveServer("s-2", { metadata: tags(C) })],
        volumes: [liveVolume("v-2", { metadata: tags(C) })],
      },
      want: { strayServers: ["s-2"], strayVolumes: ["v-2"] },
    },
    {
      name: "of a member's duplicates the healthy one is chosen, the rest are strays by id",
      cloud: {
        servers: [
          liveServer("s-1", { status: "ERROR", ...member("a") }),
          liveServer("s-3", member("a")),
          liveServer("s-2", { status: "BUILD", ...member("a") }),
        ],
        volumes: [liveVolume("v-1", { status: "error", ...member("v") }), liveVolume("v-2", member("v"))],
      },
      want: { servers: ["a=s-2"], volumes: ["v=v-2"], strayServers: ["s-1", "s-3"], strayVolumes: ["v-1"] },
    },
    {
      name: "among healthy duplicates the state's own object wins",
      cloud: { servers: [liveServer("s-1", member("a")), liveServer("s-9", member("a"))] },
      state: stateOf(C, [{ name: "a", type: "server", id: "s-9" }]),
      want: { servers: ["a=s-9"], strayServers: ["s-1"] },
    },
    {
      name: "a healthy duplicate wins over the state's broken object",
      cloud: { servers: [liveServer("s-1", member("a")), liveServer("s-9", { status: "ERROR", ...member("a") })] },
      state: stateOf(C, [{ name: "a", type: "server", id: "s-9" }]),
      want: { servers: ["a=s-1"], strayServers: ["s-9"] },
    },
    {
      name: "when every copy is broken, one is still chosen (and replaced later)",
      cloud: {
        servers: [
          liveServer("s-2", { status: "ERROR", ...member("a") }),
          liveServer("s-1", { status: "ERROR", ...member("a") }),
        ],
      },
      want: { servers: ["a=s-1"], strayServers: ["s-2"] },
    },
    {
      name: "objects on their way out are left alone: neither members nor strays",
      cloud: {
        servers: [
          liveServer("s-1", { status: "DELETED", ...member("a") }),
          liveServer("s-2", { status: "SOFT_DELETED", metadata: tags(C) }),
        ],
        volumes: [
          liveVolume("v-1", { status: "deleting", ...member("v") }),
          liveVolume("v-2", { status: "error_deleting", metadata: tags(C) }),
        ],
      },
      want: {},
    },
    {
      name: "the state's ids find objects whose tags were lost, under the state's member name",
      cloud: { byId: [liveServer("s-a"), liveVolume("v-1"), liveGroup("grp-1", "anti-affinity")] },
      state: stateOf(
        C,
        [
          { name: "a", type: "server", id: "s-a" },
          { name: "v", type: "volume", id: "v-1" },
        ],
        { g: { grouping: "g", id: "grp-1", policy: "anti-affinity" } },
      ),
      want: { servers: ["a=s-a"], volumes: ["v=v-1"], groups: ["g=grp-1"] },
    },
    {
      name: "the state's member name wins over the object's tag",
      cloud: { servers: [liveServer("s-a", member("renamed"))] },
      state: stateOf(C, [{ name: "a", type: "server", id: "s-a" }]),
      want: { servers: ["a=s-a"] },
    },
    {
      name: "a state id the cloud doesn't know is simply absent",
      cloud: {},
      state: stateOf(C, [{ name: "a", type: "server", id: "s-gone" }], {
        g: { grouping: "g", id: "grp-gone", policy: "affinity" },
      }),
      want: {},
    },
    {
      name: "server groups by grouping tag, several per grouping in id order; untagged ones are strays",
      cloud: {
        groups: [
          liveGroup("grp-3", "affinity", { metadata: tags(C, { grouping: "g" }) }),
          liveGroup("grp-1", "anti-affinity", { metadata: tags(C, { grouping: "g" }) }),
          liveGroup("grp-2", "affinity", { metadata: tags(C, { grouping: "h" }) }),
          liveGroup("grp-0", "affinity", { metadata: tags(C) }),
        ],
      },
      want: { groups: ["g=grp-1,grp-3", "h=grp-2"], strayGroups: ["grp-0"] },
    },
    {
      name: "the state's grouping wins over a group's tag",
      cloud: { groups: [liveGroup("grp-1", "affinity", { metadata: tags(C, { grouping: "old" }) })] },
      state: stateOf(C, [], { g: { grouping: "g", id: "grp-1", policy: "affinity" } }),
      want: { groups: ["g=grp-1"] },
    },
  ];

  it.each(cases)("$name", async (c) => {
    const { ops } = fakeCloud(c.cloud);
    expect(view(await survey(ops, C, c.state))).toEqual({ ...NOTHING, ...c.want });
  });

  it("searches by the cluster's tag, and looks up by id only what the search missed", async () => {
    const { ops, calls } = fakeCloud({
      servers: [liveServer("s-a", member("a"))],
      volumes: [liveVolume("v-1", member("v"))],
      groups: [liveGroup("grp-1", "affinity", { metadata: tags(C, { grouping: "g" }) })],
      byId: [liveServer("s-b"), liveVolume("v-2"), liveGroup("grp-2", "affinity")],
    });
    const state = stateOf(
      C,
      [
        { name: "a", type: "server", id: "s-a" },
        { name: "b", type: "server", id: "s-b" },
        { name: "never", type: "server", id: "" },
        { name: "v", type: "volume", id: "v-1" },
        { name: "w", type: "volume", id: "v-2" },
      ],
      {
        g: { grouping: "g", id: "grp-1", policy: "affinity" },
        h: { grouping: "h", id: "grp-2", policy: "affinity" },
      },
    );
    const live = await survey(ops, C, state);
    expect(calls.sort()).toEqual([
      'findServerGroups {"vcluster:cluster":"c"}',
      'findServers {"vcluster:cluster":"c"}',
      'findVolumes {"vcluster:cluster":"c"}',
      "getServer s-b",
      "getServerGroup grp-2",
      "getVolume v-2",
    ]);
    expect(view(live)).toEqual({
      ...NOTHING,
      servers: ["a=s-a", "b=s-b"],
      volumes: ["v=v-1", "w=v-2"],
      groups: ["g=grp-1", "h=grp-2"],
    });
  });

  it("without a state it only searches by tag", async () => {
    const { ops, calls } = fakeCloud({ servers: [liveServer("s-a", member("a"))] });
    await survey(ops, C);
    expect(calls.filter((c) => c.startsWith("get"))).toEqual([]);
  });

  it("an object the search found twice counts once", async () => {
    const s = liveServer("s-a", member("a"));
    const { ops } = fakeCloud({ servers: [s, structuredClone(s)] });
    expect(view(await survey(ops, C))).toEqual({ ...NOTHING, servers: ["a=s-a"] });
  });
});

describe("isBroken", () => {
  it.each([
    ["ERROR", true],
    ["error", true],
    ["ACTIVE", false],
    ["BUILD", false],
    ["SHUTOFF", false],
    ["VERIFY_RESIZE", false],
    ["available", false],
    ["in-use", false],
    ["error_deleting", false],
  ] as const)("%s: %s", (status, broken) => {
    expect(isBroken(status)).toBe(broken);
  });
});
