// The per-member diff, pure: baseline (what stays, what goes, what is made), changes (forced moves,
// in-place changes, attachments, server groups) and describeSteps (what apply would do, in order).
import { describe, expect, it } from "vitest";
import {
  type Baseline,
  baseline,
  type ChangeSet,
  changes,
  describeSteps,
  type Step,
} from "../../provider/lifecycle/changes";
import type { DesiredGroup, RuleMapping } from "../../provider/lifecycle/rules";
import type { Live } from "../../provider/lifecycle/survey";
import type { Member } from "../../provider/model/cluster";
import type { Placement } from "../../provider/model/placement";
import type { ClusterState } from "../../provider/model/state";
import { liveGroup, liveOf, liveServer, liveVolume, stateOf, tags } from "../support/live";
import { server, spec, volume } from "../support/model";

const C = "c";

function rulesWith(groups: DesiredGroup[]): RuleMapping {
  return { groups, groupOf: {}, volumeHints: {}, warnings: [], blocking: [] };
}

/** Baseline, compactly: "server a" kept, "server a s-1: why" deleted, create reasons, problems. */
function baselineView(b: Baseline) {
  return {
    kept: [
      ...[...b.kept.server.keys()].map((n) => `server ${n}`),
      ...[...b.kept.volume.keys()].map((n) => `volume ${n}`),
    ],
    deletes: [
      ...b.deleteServers.map((d) => `server ${d.member ?? "-"} ${d.id}: ${d.reason}`),
      ...b.deleteVolumes.map((d) => `volume ${d.member ?? "-"} ${d.id}: ${d.reason}`),
    ],
    create: Object.fromEntries(b.create),
    problems: b.problems,
  };
}

function changeView(c: ChangeSet) {
  return {
    moves: Object.fromEntries(c.moves),
    resizes: c.resizes.map((r) => `${r.member} ${r.id}: ${r.from} -> ${r.to}`),
    rebuilds: c.rebuilds.map((r) => `${r.member} ${r.id}: ${r.from} -> ${r.to}`),
    extends: c.extends.map((e) => `${e.member} ${e.id}: ${e.from} -> ${e.to}`),
    detaches: c.detaches.map((d) => `${d.volume} (${d.volumeId}) from ${d.server} (${d.serverId})`),
    attaches: c.attaches.map((a) => `${a.volume} to ${a.server}`),
    createGroups: c.createGroups.map(
      (g) => `${g.grouping}: ${g.policy}${g.maxServerPerHost ? `/${g.maxServerPerHost}` : ""}`,
    ),
    keepGroups: Object.fromEntries(c.keepGroups),
    deleteGroups: c.deleteGroups.map((d) => `${d.grouping ?? "-"} ${d.id}: ${d.reason}`),
  };
}

const NO_CHANGES: ReturnType<typeof changeView> = {
  moves: {},
  resizes: [],
  rebuilds: [],
  extends: [],
  detaches: [],
  attaches: [],
  createGroups: [],
  keepGroups: {},
  deleteGroups: [],
};

/** Spec -> baseline -> changes, as prepare runs them around the engine. */
function diff(
  members: Member[],
  live: Live,
  o: { state?: ClusterState; groups?: DesiredGroup[]; moves?: { member: string; reason: string }[] } = {},
): ChangeSet {
  const s = spec(C, members);
  return changes(s, baseline(s, o.state, live), live, rulesWith(o.groups ?? []), o.moves ?? []);
}

describe("baseline", () => {
  const cases: {
    name: string;
    members: Member[];
    state?: ClusterState;
    live: Live;
    kept?: string[];
    deletes?: string[];
    create?: Record<string, unknown>;
    problems?: string[];
  }[] = [
    {
      name: "a new cluster: every member is new",
      members: [server("a"), volume("v", 10)],
      live: liveOf(),
      create: { a: "new", v: "new" },
    },
    {
      name: "a member the state knows but the cloud lost is missing",
      members: [server("a"), server("b")],
      state: stateOf(C, [{ name: "a", type: "server", id: "s-a" }]),
      live: liveOf(),
      create: { a: "missing", b: "new" },
    },
    {
      name: "healthy objects stay, whatever their status",
      members: [server("a"), server("b"), server("d"), volume("v", 10), volume("w", 10)],
      live: liveOf({
        servers: {
          a: liveServer("s-a"),
          b: liveServer("s-b", { status: "BUILD" }),
          d: liveServer("s-d", { status: "SHUTOFF" }),
        },
        volumes: { v: liveVolume("v-1", { status: "in-use" }), w: liveVolume("w-1", { status: "creating" }) },
      }),
      kept: ["server a", "server b", "server d", "volume v", "volume w"],
    },
    {
      name: "objects of members gone from the spec are deleted",
      members: [server("a")],
      live: liveOf({
        servers: { a: liveServer("s-a"), old: liveServer("s-old"), older: liveServer("s-0") },
        volumes: { data: liveVolume("v-d") },
      }),
      kept: ["server a"],
      deletes: [
        "server old s-old: no longer in the spec",
        "server older s-0: no longer in the spec",
        "volume data v-d: no longer in the spec",
      ],
    },
    {
      name: "a server in ERROR is replaced, Nova's fault in the reason",
      members: [server("a")],
      live: liveOf({ servers: { a: liveServer("s-a", { status: "ERROR", fault: "No valid host was found." }) } }),
      deletes: ["server a s-a: it is in ERROR (No valid host was found.)"],
      create: { a: "replaces one that is in ERROR (No valid host was found.)" },
    },
    {
      name: "a server in ERROR without a fault, known to the state",
      members: [server("a")],
      state: stateOf(C, [{ name: "a", type: "server", id: "s-a" }]),
      live: liveOf({ servers: { a: liveServer("s-a", { status: "ERROR" }) } }),
      deletes: ["server a s-a: it is in ERROR"],
      create: { a: "replaces one that is in ERROR" },
    },
    {
      name: "a volume in error is replaced",
      members: [volume("v", 10)],
      live: liveOf({ volumes: { v: liveVolume("v-1", { status: "error", fault: "no space" }) } }),
      deletes: ["volume v v-1: it is in error (no space)"],
      create: { v: "replaces one that is in error (no space)" },
    },
    {
      name: "a server whose member is now a volume is deleted and the volume made",
      members: [volume("a", 10)],
      live: liveOf({ servers: { a: liveServer("s-a") } }),
      deletes: ["server a s-a: the member is now a volume"],
      // The reason's wording: see "replacement reasons read as sentences" below.
      create: { a: expect.any(String) },
    },
    {
      name: "a volume whose member is now a server is deleted and the server made",
      members: [server("a")],
      live: liveOf({ volumes: { a: liveVolume("v-a") } }),
      deletes: ["volume a v-a: the member is now a server"],
      create: { a: expect.any(String) },
    },
    {
      name: "a volume the user has can't shrink: refused, and kept",
      members: [volume("v", 10)],
      state: stateOf(C, [{ name: "v", type: "volume", id: "v-1", sizeGb: 20 }]),
      live: liveOf({ volumes: { v: liveVolume("v-1", { sizeGb: 20 }) } }),
      kept: ["volume v"],
      problems: [
        'cluster "c": volume "v" can\'t shrink from 20 GB to 10 GB; hint: keep the size, or rename the member to replace it with a new volume (its data is lost)',
      ],
    },
    {
      name: "a leftover volume (unknown to the state) that doesn't fit is replaced",
      members: [volume("v", 10)],
      live: liveOf({ volumes: { v: liveVolume("v-1", { sizeGb: 20 }) } }),
      deletes: ["volume v v-1: a leftover that doesn't match the spec"],
      create: { v: expect.any(String) },
    },
    {
      name: "a volume the user has changes type in place: kept (a retype, see edits.test.ts), not refused",
      members: [volume("v", 10, { volumeType: "hdd" })],
      state: stateOf(C, [{ name: "v", type: "volume", id: "v-1", volumeType: "ssd" }]),
      live: liveOf({ volumes: { v: liveVolume("v-1") } }),
      kept: ["volume v"],
    },
    {
      name: "a leftover volume of another type is kept too (retyped), not replaced",
      members: [volume("v", 10, { volumeType: "hdd" })],
      live: liveOf({ volumes: { v: liveVolume("v-1", { volumeType: "ssd" }) } }),
      kept: ["volume v"],
    },
    {
      name: "the applied type wins over what the cloud reports",
      members: [volume("v", 10, { volumeType: "hdd" })],
      state: stateOf(C, [{ name: "v", type: "volume", id: "v-1", volumeType: "hdd" }]),
      live: liveOf({ volumes: { v: liveVolume("v-1", { volumeType: "__DEFAULT__" }) } }),
      kept: ["volume v"],
    },
    {
      name: "no type in the spec, or none known: nothing to compare",
      members: [volume("v", 10), volume("w", 10, { volumeType: "ssd" })],
      live: liveOf({ volumes: { v: liveVolume("v-1", { volumeType: "ssd" }), w: liveVolume("w-1") } }),
      kept: ["volume v", "volume w"],
    },
    {
      name: "a volume that grows stays (it is extended later)",
      members: [volume("v", 30)],
      state: stateOf(C, [{ name: "v", type: "volume", id: "v-1" }]),
      live: liveOf({ volumes: { v: liveVolume("v-1", { sizeGb: 10 }) } }),
      kept: ["volume v"],
    },
    {
      name: "strays are deleted, sorted by member then id (untagged first)",
      members: [server("a")],
      live: liveOf({
        servers: { a: liveServer("s-a") },
        strayServers: [liveServer("s-dup", { metadata: tags(C, { member: "a" }) }), liveServer("s-x")],
        strayVolumes: [liveVolume("v-x", { metadata: tags(C) })],
      }),
      kept: ["server a"],
      deletes: [
        "server - s-x: duplicate or untagged leftover",
        "server a s-dup: duplicate or untagged leftover",
        "volume - v-x: duplicate or untagged leftover",
      ],
    },
  ];

  it.each(cases)("$name", (c) => {
    const b = baseline(spec(C, c.members), c.state, c.live);
    expect(baselineView(b)).toEqual({
      kept: c.kept ?? [],
      deletes: c.deletes ?? [],
      create: c.create ?? {},
      problems: c.problems ?? [],
    });
  });

  it("problems are sorted", () => {
    const b = baseline(
      spec(C, [volume("b", 10), volume("a", 10)]),
      stateOf(C, [
        { name: "a", type: "volume", id: "v-a" },
        { name: "b", type: "volume", id: "v-b" },
      ]),
      liveOf({ volumes: { b: liveVolume("v-b", { sizeGb: 20 }), a: liveVolume("v-a", { sizeGb: 30 }) } }),
    );
    expect(b.problems.map((p) => p.slice(0, 'cluster "c": volume "x"'.length))).toEqual([
      'cluster "c": volume "a"',
      'cluster "c": volume "b"',
    ]);
  });

  // A replacement's reason reads as a sentence whatever the old object's reason was (the plan shows it),
  // and a member's own old object explains it before a stray copy does.
  it.each([
    { name: "server now a volume", members: [volume("a", 10)], live: liveOf({ servers: { a: liveServer("s-a") } }) },
    {
      name: "leftover volume that doesn't fit",
      members: [volume("a", 10)],
      live: liveOf({ volumes: { a: liveVolume("v-a", { sizeGb: 20 }) } }),
    },
    {
      name: "every copy of a member broken",
      members: [server("a")],
      live: liveOf({
        servers: { a: liveServer("s-1", { status: "ERROR" }) },
        strayServers: [liveServer("s-2", { status: "ERROR", metadata: tags(C, { member: "a" }) })],
      }),
    },
  ])("replacement reasons read as sentences: $name", ({ members, live }) => {
    const why = baseline(spec(C, members), undefined, live).create.get("a");
    expect(why).toBeDefined();
    expect(why).not.toMatch(/one that (the|a|duplicate) /);
  });
});

describe("changes", () => {
  const cases: {
    name: string;
    members: Member[];
    live: Live;
    state?: ClusterState;
    groups?: DesiredGroup[];
    moves?: { member: string; reason: string }[];
    want: Partial<ReturnType<typeof changeView>>;
  }[] = [
    {
      name: "nothing to do: the same flavor, image, size and attachment",
      members: [server("a"), volume("v", 10, { attachTo: "a" })],
      live: liveOf({
        servers: { a: liveServer("s-a", { volumes: ["v-1"] }) },
        volumes: { v: liveVolume("v-1", { status: "in-use", attachedTo: ["s-a"] }) },
      }),
      want: {},
    },
    {
      name: "a new flavor resizes, a new image rebuilds, both may happen to one server",
      members: [
        server("a", "m1.large"),
        server("b", "m1.small", { imageRef: "ubuntu-24.04" }),
        server("d", "m1.medium", { imageRef: "cirros" }),
      ],
      live: liveOf({ servers: { a: liveServer("s-a"), b: liveServer("s-b"), d: liveServer("s-d") } }),
      want: {
        resizes: ["a s-a: m1.small -> m1.large", "d s-d: m1.small -> m1.medium"],
        rebuilds: ["b s-b: debian-12 -> ubuntu-24.04", "d s-d: debian-12 -> cirros"],
      },
    },
    {
      name: "a bigger volume is extended; an equal one is not",
      members: [volume("v", 30), volume("w", 10)],
      live: liveOf({ volumes: { v: liveVolume("v-1", { sizeGb: 10 }), w: liveVolume("w-1", { sizeGb: 10 }) } }),
      want: { extends: ["v v-1: 10 -> 30"] },
    },
    {
      name: "a smaller volume the user has is neither extended nor shrunk (baseline refuses it)",
      members: [volume("v", 10)],
      state: stateOf(C, [{ name: "v", type: "volume", id: "v-1" }]),
      live: liveOf({ volumes: { v: liveVolume("v-1", { sizeGb: 20 }) } }),
      want: {},
    },
    {
      name: "a forced move wins over an in-place change",
      members: [server("a", "m1.large"), server("b")],
      live: liveOf({ servers: { a: liveServer("s-a"), b: liveServer("s-b") } }),
      moves: [{ member: "a", reason: 'anti-affinity "g"' }],
      want: { moves: { a: 'anti-affinity "g"' } },
    },
    {
      name: "a forced move of a member with no live object is ignored",
      members: [server("a")],
      live: liveOf(),
      moves: [{ member: "a", reason: "capacity" }],
      want: {},
    },
    {
      name: "a volume no longer attached to its server is detached",
      members: [server("a"), volume("v", 10)],
      live: liveOf({
        servers: { a: liveServer("s-a") },
        volumes: { v: liveVolume("v-1", { attachedTo: ["s-a"] }) },
      }),
      want: { detaches: ["v (v-1) from a (s-a)"] },
    },
    {
      name: "a volume attached to a server leaving the spec is detached, then attached to its new server",
      members: [server("a"), volume("v", 10, { attachTo: "a" })],
      live: liveOf({
        servers: { a: liveServer("s-a"), old: liveServer("s-old") },
        volumes: { v: liveVolume("v-1", { attachedTo: ["s-old"] }) },
      }),
      want: { detaches: ["v (v-1) from old (s-old)"], attaches: ["v to a"] },
    },
    {
      name: "an attachment to a server that isn't ours is named by its id",
      members: [volume("v", 10)],
      live: liveOf({ volumes: { v: liveVolume("v-1", { attachedTo: ["s-zz", "s-aa"] }) } }),
      want: { detaches: ["v (v-1) from s-aa (s-aa)", "v (v-1) from s-zz (s-zz)"] },
    },
    {
      name: "new volumes and new servers are attached after they are made",
      members: [server("a"), server("b"), volume("v", 10, { attachTo: "a" }), volume("w", 10, { attachTo: "b" })],
      live: liveOf({ servers: { a: liveServer("s-a") } }),
      want: { attaches: ["v to a", "w to b"] },
    },
    {
      name: "a volume whose server is forced to move is detached and attached again",
      members: [server("a"), volume("v", 10, { attachTo: "a" })],
      live: liveOf({
        servers: { a: liveServer("s-a") },
        volumes: { v: liveVolume("v-1", { attachedTo: ["s-a"] }) },
      }),
      moves: [{ member: "a", reason: "capacity" }],
      want: { moves: { a: "capacity" }, detaches: ["v (v-1) from a (s-a)"], attaches: ["v to a"] },
    },
    {
      name: "a volume forced to move is not detached here (deleting it detaches it) but attached again",
      members: [server("a"), volume("v", 10, { attachTo: "a" })],
      live: liveOf({
        servers: { a: liveServer("s-a") },
        volumes: { v: liveVolume("v-1", { attachedTo: ["s-a"] }) },
      }),
      moves: [{ member: "v", reason: "capacity" }],
      want: { moves: { v: "capacity" }, attaches: ["v to a"] },
    },
    {
      name: "a live group whose policy fits is kept",
      members: [server("a"), server("b")],
      live: liveOf({ groups: { g: [liveGroup("grp-1", "anti-affinity")] } }),
      groups: [{ grouping: "g", policy: "anti-affinity", servers: ["a", "b"] }],
      want: { keepGroups: { g: "grp-1" } },
    },
    {
      name: "max per host 1 and none are the same",
      members: [server("a"), server("b")],
      live: liveOf({ groups: { g: [liveGroup("grp-1", "anti-affinity", { maxServerPerHost: 1 })] } }),
      groups: [{ grouping: "g", policy: "anti-affinity", servers: ["a", "b"] }],
      want: { keepGroups: { g: "grp-1" } },
    },
    {
      name: "a desired group with no live one is created",
      members: [server("a"), server("b")],
      live: liveOf(),
      groups: [{ grouping: "g", policy: "anti-affinity", maxServerPerHost: 2, servers: ["a", "b"] }],
      want: { createGroups: ["g: anti-affinity/2"] },
    },
    {
      name: "a changed policy replaces the group",
      members: [server("a"), server("b")],
      live: liveOf({ groups: { g: [liveGroup("grp-1", "affinity")] } }),
      groups: [{ grouping: "g", policy: "soft-affinity", servers: ["a", "b"] }],
      want: { createGroups: ["g: soft-affinity"], deleteGroups: ["g grp-1: its policy changed"] },
    },
    {
      name: "a changed max per host replaces the group",
      members: [server("a"), server("b")],
      live: liveOf({ groups: { g: [liveGroup("grp-1", "anti-affinity")] } }),
      groups: [{ grouping: "g", policy: "anti-affinity", maxServerPerHost: 2, servers: ["a", "b"] }],
      want: { createGroups: ["g: anti-affinity/2"], deleteGroups: ["g grp-1: its policy changed"] },
    },
    {
      name: "groups no longer needed and untagged ones are dropped",
      members: [server("a")],
      live: liveOf({
        groups: { old: [liveGroup("grp-2", "affinity")] },
        strayGroups: [liveGroup("grp-x", "affinity")],
      }),
      want: { deleteGroups: ["- grp-x: untagged leftover", "old grp-2: no longer needed"] },
    },
  ];

  it.each(cases)("$name", (c) => {
    const got = diff(c.members, c.live, { state: c.state, groups: c.groups, moves: c.moves });
    expect(changeView(got)).toEqual({ ...NO_CHANGES, ...c.want });
  });

  it("a forced move deletes the object and creates the member again; the baseline is not changed", () => {
    const s = spec(C, [server("a"), server("b"), volume("v", 10)]);
    const live = liveOf({
      servers: { a: liveServer("s-a"), b: liveServer("s-b") },
      volumes: { v: liveVolume("v-1") },
    });
    const base = baseline(s, undefined, live);
    const c = changes(s, base, live, rulesWith([]), [
      { member: "v", reason: "backend full" },
      { member: "a", reason: 'anti-affinity "g"' },
    ]);
    expect([...c.kept.server.keys()]).toEqual(["b"]);
    expect([...c.kept.volume.keys()]).toEqual([]);
    expect(c.deleteServers).toEqual([{ member: "a", id: "s-a", reason: 'forced move: anti-affinity "g"' }]);
    expect(c.deleteVolumes).toEqual([{ member: "v", id: "v-1", reason: "forced move: backend full" }]);
    expect(Object.fromEntries(c.create)).toEqual({
      a: 'forced move: anti-affinity "g"',
      v: "forced move: backend full",
    });
    expect([...c.moves.keys()]).toEqual(["a", "v"]);
    expect([...base.kept.server.keys()]).toEqual(["a", "b"]);
    expect(base.create.size).toBe(0);
  });

  it("flavors and images are compared by the identity given, not as written", () => {
    const s = spec(C, [server("a", "m1.large", { imageRef: "debian-12" }), server("b", "m1.large")]);
    const live = liveOf({
      servers: {
        a: liveServer("s-a", { flavorRef: "f-large", imageRef: "img-debian" }),
        b: liveServer("s-b", { flavorRef: "m1.small" }),
      },
    });
    const names: Record<string, string> = { "f-large": "m1.large", "img-debian": "debian-12" };
    const identity: NonNullable<Parameters<typeof changes>[5]> = {
      sameFlavor: (x, y) => (names[x] ?? x) === (names[y] ?? y),
      sameImage: (x, y) => (names[x] ?? x) === (names[y] ?? y),
    };
    const c = changes(s, baseline(s, undefined, live), live, rulesWith([]), [], identity);
    expect(changeView(c)).toEqual({ ...NO_CHANGES, resizes: ["b s-b: m1.small -> m1.large"] });
    // Without one, as written.
    const plain = changes(s, baseline(s, undefined, live), live, rulesWith([]), []);
    expect(changeView(plain).resizes).toEqual(["a s-a: f-large -> m1.large", "b s-b: m1.small -> m1.large"]);
    expect(changeView(plain).rebuilds).toEqual(["a s-a: img-debian -> debian-12"]);
  });

  it("of live groups that fit, the one holding most kept servers stays", () => {
    const c = diff(
      [server("a"), server("b")],
      liveOf({
        servers: { a: liveServer("s-a"), b: liveServer("s-b") },
        groups: {
          g: [
            liveGroup("grp-1", "affinity", { members: ["s-a", "s-gone"] }),
            liveGroup("grp-2", "affinity", { members: ["s-a", "s-b"] }),
            liveGroup("grp-3", "affinity", { members: ["s-b"] }),
          ],
        },
      }),
      { groups: [{ grouping: "g", policy: "affinity", servers: ["a", "b"] }] },
    );
    expect(Object.fromEntries(c.keepGroups)).toEqual({ g: "grp-2" });
    expect(c.deleteGroups.map((d) => d.id)).toEqual(["grp-1", "grp-3"]);
  });

  it("of two live groups that fit equally, the first is kept and the other dropped", () => {
    const c = diff(
      [server("a"), server("b")],
      liveOf({ groups: { g: [liveGroup("grp-1", "affinity"), liveGroup("grp-2", "affinity")] } }),
      {
        groups: [{ grouping: "g", policy: "affinity", servers: ["a", "b"] }],
      },
    );
    expect(Object.fromEntries(c.keepGroups)).toEqual({ g: "grp-1" });
    expect(c.deleteGroups.map((d) => d.id)).toEqual(["grp-2"]);
    expect(c.createGroups).toEqual([]);
  });
});

/** A step's kind, member, grouping and detail (its member-line fields are tested in edits.test.ts). */
function core(steps: Step[]) {
  return steps.map(({ kind, member, grouping, detail }) => ({
    kind,
    ...(member !== undefined ? { member } : {}),
    ...(grouping !== undefined ? { grouping } : {}),
    detail,
  }));
}

describe("describeSteps", () => {
  it("lists every step in the order apply takes them", () => {
    const members = [
      server("a", "m1.large"),
      server("b", "m1.small", { imageRef: "cirros" }),
      server("d"),
      volume("v", 20),
      volume("w", 10, { attachTo: "d" }),
      volume("x", 10),
    ];
    const live = liveOf({
      servers: { a: liveServer("s-a"), b: liveServer("s-b"), old: liveServer("s-old") },
      volumes: {
        v: liveVolume("v-1", { sizeGb: 10 }),
        x: liveVolume("x-1", { attachedTo: ["s-a"] }),
        data: liveVolume("v-d"),
      },
      groups: { gone: [liveGroup("grp-2", "affinity")] },
    });
    const s = spec(C, members);
    const c = changes(
      s,
      baseline(s, undefined, live),
      live,
      rulesWith([{ grouping: "g", policy: "anti-affinity", maxServerPerHost: 2, servers: ["a", "b", "d"] }]),
      [],
    );
    const placement: Placement = {
      d: { type: "server", zone: "az1", rack: "r1", host: "az1-r1-h1" },
      w: { type: "volume", zone: "az1", backend: "lvm@az1-r1-h1", host: "az1-r1-h1" },
    };
    expect(core(describeSteps(s, c, placement))).toEqual([
      { kind: "detach", member: "x", detail: 'detach volume "x" from server "a"' },
      { kind: "delete-server", member: "old", detail: 'delete server "old": no longer in the spec' },
      { kind: "delete-volume", member: "data", detail: 'delete volume "data": no longer in the spec' },
      {
        kind: "create-server-group",
        grouping: "g",
        detail: 'create server group "c-g" with policy anti-affinity (at most 2 per host) for "a", "b", "d"',
      },
      { kind: "resize", member: "a", detail: 'resize server "a" from "m1.small" to "m1.large"' },
      { kind: "rebuild", member: "b", detail: 'rebuild server "b" from "debian-12" to "cirros"' },
      { kind: "extend", member: "v", detail: 'extend volume "v" from 10 GB to 20 GB' },
      { kind: "create-server", member: "d", detail: 'create server "d" (m1.small) on host "az1-r1-h1"' },
      { kind: "create-volume", member: "w", detail: 'create volume "w" (10 GB) on backend "lvm@az1-r1-h1"' },
      { kind: "attach", member: "w", detail: 'attach volume "w" to server "d"' },
      {
        kind: "delete-server-group",
        grouping: "gone",
        detail: 'delete server group of grouping "gone": no longer needed',
      },
    ]);
  });

  it.each([
    { name: "a real host", at: { type: "server", zone: "az1", rack: "r1", host: "h1" }, want: 'on host "h1"' },
    {
      name: "a zone's pseudo-host (delegated)",
      at: { type: "server", zone: "az2", rack: "az2", host: "zone:az2" },
      want: 'in zone "az2"',
    },
    {
      name: "a real backend",
      at: { type: "volume", zone: "az1", backend: "ceph-az1" },
      want: 'on backend "ceph-az1"',
    },
    {
      name: "a zone's pseudo-backend (delegated)",
      at: { type: "volume", zone: "az1", backend: "zone-storage:az1" },
      want: 'in zone "az1"',
    },
  ] as const)("says where a new member goes: $name", ({ at, want }) => {
    const member = at.type === "server" ? server("m") : volume("m", 10);
    const s = spec(C, [member]);
    const c = diff([member], liveOf());
    const [step] = describeSteps(s, c, { m: at });
    expect(step?.detail).toMatch(new RegExp(` ${want.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
  });

  it("says nothing about where when there is no placement", () => {
    const s = spec(C, [server("a"), volume("v", 5)]);
    expect(describeSteps(s, diff(s.members, liveOf()), undefined).map((x) => x.detail)).toEqual([
      'create server "a" (m1.small)',
      'create volume "v" (5 GB)',
    ]);
  });

  it.each([
    {
      name: "a broken server is recreated, with no separate delete step",
      live: liveOf({ servers: { a: liveServer("s-a", { status: "ERROR", fault: "boom" }) } }),
      moves: [],
      detail: 'recreate server "a" on host "h1": replaces one that is in ERROR (boom)',
    },
    {
      name: "a missing server is recreated",
      state: stateOf(C, [{ name: "a", type: "server", id: "s-a" }]),
      live: liveOf(),
      moves: [],
      detail: 'recreate server "a" on host "h1": missing',
    },
    {
      name: "a server forced to move is recreated",
      live: liveOf({ servers: { a: liveServer("s-a") } }),
      moves: [{ member: "a", reason: "host h0 is full" }],
      detail: 'recreate server "a" on host "h1": forced move: host h0 is full',
    },
  ])("$name", ({ state, live, moves, detail }) => {
    const s = spec(C, [server("a")]);
    const c = changes(s, baseline(s, state, live), live, rulesWith([]), moves);
    expect(core(describeSteps(s, c, { a: { type: "server", zone: "az1", rack: "r1", host: "h1" } }))).toEqual([
      { kind: "recreate", member: "a", detail },
    ]);
  });

  it("names objects without a member by id, and leaves member and grouping out of their steps", () => {
    const s = spec(C, [server("a")]);
    const live = liveOf({
      servers: { a: liveServer("s-a") },
      strayServers: [liveServer("s-x")],
      strayVolumes: [liveVolume("v-x")],
      strayGroups: [liveGroup("grp-x", "affinity")],
    });
    const steps = core(describeSteps(s, changes(s, baseline(s, undefined, live), live, rulesWith([]), []), undefined));
    expect(steps).toEqual([
      { kind: "delete-server", detail: "delete server s-x: duplicate or untagged leftover" },
      { kind: "delete-volume", detail: "delete volume v-x: duplicate or untagged leftover" },
      { kind: "delete-server-group", detail: "delete server group grp-x: untagged leftover" },
    ]);
  });

  it("a duplicate of a kept member is deleted as a step of its own", () => {
    const s = spec(C, [server("a")]);
    const live = liveOf({
      servers: { a: liveServer("s-a") },
      strayServers: [liveServer("s-b", { metadata: tags(C, { member: "a" }) })],
    });
    const steps = core(describeSteps(s, changes(s, baseline(s, undefined, live), live, rulesWith([]), []), undefined));
    expect(steps).toEqual([
      { kind: "delete-server", member: "a", detail: 'delete server "a": duplicate or untagged leftover' },
    ]);
  });

  it("a group without a maximum per host says none", () => {
    const s = spec(C, [server("a"), server("b")]);
    const c = diff(s.members, liveOf({ servers: { a: liveServer("s-a"), b: liveServer("s-b") } }), {
      groups: [{ grouping: "g", policy: "affinity", servers: ["a", "b"] }],
    });
    expect(core(describeSteps(s, c, undefined))).toEqual([
      {
        kind: "create-server-group",
        grouping: "g",
        detail: 'create server group "c-g" with policy affinity for "a", "b"',
      },
    ]);
  });
});
