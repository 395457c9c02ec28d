// Edits of a kept member's inputs besides flavor, image and size, pure: each field's edit becomes the
// right step (rebuild, security groups, metadata, retype, replacement) or a refusal, none is dropped;
// and the preview's line per member says what happens, destructive steps marked, never user data.
import { describe, expect, it } from "vitest";
import { baseline, type ChangeSet, changes, describeSteps } from "../../provider/lifecycle/changes";
import { History, type PreviousInputs } from "../../provider/lifecycle/inputs";
import type { RuleMapping } from "../../provider/lifecycle/rules";
import { memberLines } from "../../provider/lifecycle/steps";
import type { Live } from "../../provider/lifecycle/survey";
import type { Member } from "../../provider/model/cluster";
import type { ClusterState } from "../../provider/model/state";
import { liveOf, liveServer, liveVolume, stateOf, tags } from "../support/live";
import { server, spec, volume } from "../support/model";

const C = "c";
const NO_RULES: RuleMapping = { groups: [], groupOf: {}, volumeHints: {}, warnings: [], blocking: [] };

/** Spec -> baseline -> changes, as prepare runs them, with what the last apply was asked for. */
function diff(
  members: Member[],
  live: Live,
  o: { before?: Member[]; state?: ClusterState; previous?: PreviousInputs } = {},
) {
  const s = spec(C, members);
  const previous = o.previous ?? (o.before ? { spec: spec(C, o.before) } : undefined);
  const history = new History(previous, o.state);
  const base = baseline(s, o.state, live, history);
  const c = changes(s, base, live, NO_RULES, [], undefined, history);
  return { base, c, steps: describeSteps(s, c, undefined) };
}

/** The edits compactly, one string each. */
function edits(c: ChangeSet): string[] {
  return [
    ...c.rebuilds.map(
      (r) =>
        `rebuild ${r.member}:${r.image ? ` image ${r.from}->${r.to}` : ""}${r.keyName ? ` key ${r.keyName.from}->${r.keyName.to}` : ""}${r.userData ? ` user_data ${r.userData}` : ""}`,
    ),
    ...c.networks.map((n) => `networks ${n.member}: +[${n.attach.join(",")}] -[${n.detach.join(",")}]`),
    ...c.securityGroups.map((g) => `groups ${g.member}: +[${g.add.join(",")}] -[${g.remove.join(",")}]`),
    ...c.metadata.map(
      (m) => `metadata ${m.type} ${m.member}: set ${JSON.stringify(m.set)} delete [${m.remove.join(",")}]`,
    ),
    ...c.retypes.map((r) => `retype ${r.member}: ${r.from}->${r.to}`),
    ...[...c.create].map(([n, why]) => `create ${n}: ${why}`),
  ];
}

const own = (member: string) => tags(C, { member });

describe("each field's edit on a kept server becomes the right step", () => {
  const cases: {
    name: string;
    members: Member[];
    before?: Member[];
    live: Live;
    state?: ClusterState;
    want: string[];
  }[] = [
    {
      name: "key_name changed: a rebuild with the same image and the new key",
      members: [server("a", "m1.small", { keyName: "new" })],
      before: [server("a", "m1.small", { keyName: "old" })],
      live: liveOf({ servers: { a: liveServer("s-a", { keyName: "old" }) } }),
      want: ["rebuild a: key old->new"],
    },
    {
      name: "key_name taken out of the spec: a rebuild without a key",
      members: [server("a")],
      before: [server("a", "m1.small", { keyName: "old" })],
      live: liveOf({ servers: { a: liveServer("s-a", { keyName: "old" }) } }),
      want: ["rebuild a: key old->null"],
    },
    {
      name: "key_name in neither spec: the key the cloud shows is left alone",
      members: [server("a")],
      before: [server("a")],
      live: liveOf({ servers: { a: liveServer("s-a", { keyName: "someone-elses" }) } }),
      want: [],
    },
    {
      name: "key_name as the cloud shows it: nothing",
      members: [server("a", "m1.small", { keyName: "k" })],
      before: [server("a", "m1.small", { keyName: "k" })],
      live: liveOf({ servers: { a: liveServer("s-a", { keyName: "k" }) } }),
      want: [],
    },
    {
      name: "key_name set by a spec but not reported by the backend: nothing can be compared",
      members: [server("a", "m1.small", { keyName: "k" })],
      live: liveOf({ servers: { a: liveServer("s-a") } }),
      want: [],
    },
    {
      name: "user_data changed: a rebuild with the same image",
      members: [server("a", "m1.small", { userData: "#!/bin/sh\necho two" })],
      before: [server("a", "m1.small", { userData: "#!/bin/sh\necho one" })],
      live: liveOf({ servers: { a: liveServer("s-a") } }),
      want: ["rebuild a: user_data changed"],
    },
    {
      name: "user_data taken out: a rebuild without it",
      members: [server("a")],
      before: [server("a", "m1.small", { userData: "x" })],
      live: liveOf({ servers: { a: liveServer("s-a") } }),
      want: ["rebuild a: user_data removed"],
    },
    {
      name: "user_data with no previous spec: can't be told, no rebuild on a guess",
      members: [server("a", "m1.small", { userData: "x" })],
      live: liveOf({ servers: { a: liveServer("s-a") } }),
      want: [],
    },
    {
      name: "a new image, key and user data: one rebuild makes all three",
      members: [server("a", "m1.small", { imageRef: "cirros", keyName: "k2", userData: "b" })],
      before: [server("a", "m1.small", { keyName: "k1", userData: "a" })],
      live: liveOf({ servers: { a: liveServer("s-a", { keyName: "k1" }) } }),
      want: ["rebuild a: image debian-12->cirros key k1->k2 user_data changed"],
    },
    {
      name: "security_groups grown: the new group is added",
      members: [server("a", "m1.small", { securityGroups: ["default", "web"] })],
      before: [server("a", "m1.small", { securityGroups: ["default"] })],
      live: liveOf({ servers: { a: liveServer("s-a", { securityGroups: ["default"] }) } }),
      want: ["groups a: +[web] -[]"],
    },
    {
      name: "security_groups taken out: back to Nova's default",
      members: [server("a")],
      before: [server("a", "m1.small", { securityGroups: ["web"] })],
      live: liveOf({ servers: { a: liveServer("s-a", { securityGroups: ["web"] }) } }),
      want: ["groups a: +[default] -[web]"],
    },
    {
      name: "security_groups in neither spec: groups others added are left alone",
      members: [server("a")],
      before: [server("a")],
      live: liveOf({ servers: { a: liveServer("s-a", { securityGroups: ["default", "ssh"] }) } }),
      want: [],
    },
    {
      name: "security_groups already as asked on the cloud: nothing sent",
      members: [server("a", "m1.small", { securityGroups: ["web"] })],
      before: [server("a", "m1.small", { securityGroups: ["default"] })],
      live: liveOf({ servers: { a: liveServer("s-a", { securityGroups: ["web"] }) } }),
      want: [],
    },
    {
      name: "metadata: a changed or new key is set, a key dropped from the spec deleted, others' keys and the tags kept",
      members: [server("a", "m1.small", { metadata: { role: "db", tier: "2" } })],
      before: [server("a", "m1.small", { metadata: { role: "web", old: "x" } })],
      live: liveOf({
        servers: {
          a: liveServer("s-a", { metadata: { ...own("a"), role: "web", old: "x", "operator-note": "keep" } }),
        },
      }),
      want: ['metadata server a: set {"role":"db","tier":"2"} delete [old]'],
    },
    {
      name: "metadata the cloud lost is set again (drift), with no previous spec",
      members: [server("a", "m1.small", { metadata: { role: "db" } })],
      live: liveOf({ servers: { a: liveServer("s-a", { metadata: own("a") }) } }),
      want: ['metadata server a: set {"role":"db"} delete []'],
    },
    {
      name: "networks changed: attached and detached in place (Nova os-interface)",
      members: [server("a", "m1.small", { networks: ["net-1", "net-3"] })],
      before: [server("a", "m1.small", { networks: ["net-1", "net-2"] })],
      live: liveOf({ servers: { a: liveServer("s-a") } }),
      want: ["networks a: +[net-3] -[net-2]"],
    },
    {
      name: "networks reordered: replaced (Nova puts an attached network last)",
      members: [server("a", "m1.small", { networks: ["net-2", "net-1"] })],
      before: [server("a", "m1.small", { networks: ["net-1"] })],
      live: liveOf({ servers: { a: liveServer("s-a") } }),
      want: [
        'create a: replaces the old one (its networks change from ["net-1"] to ["net-2", "net-1"]: their order changes, and Nova puts an attached network last)',
      ],
    },
    {
      name: "a network named twice: replaced (its two ports can't be told apart)",
      members: [server("a", "m1.small", { networks: ["net-1", "net-1"] })],
      before: [server("a", "m1.small", { networks: ["net-1"] })],
      live: liveOf({ servers: { a: liveServer("s-a") } }),
      want: [
        `create a: replaces the old one (its networks change from ["net-1"] to ["net-1", "net-1"]: a network named twice can't be detached alone)`,
      ],
    },
    {
      name: "networks given for the first time: replaced (the cloud's default is not known by id)",
      members: [server("a", "m1.small", { networks: ["net-1"] })],
      before: [server("a")],
      live: liveOf({ servers: { a: liveServer("s-a") } }),
      want: [
        `create a: replaces the old one (its networks change from the cloud's default to ["net-1"]: only networks the spec names change in place)`,
      ],
    },
  ];

  it.each(cases)("$name", (c) => {
    const { c: got, base } = diff(c.members, c.live, {
      ...(c.before ? { before: c.before } : {}),
      ...(c.state ? { state: c.state } : {}),
    });
    expect(edits(got)).toEqual(c.want);
    expect(base.problems).toEqual([]);
  });

  it("an edit a failed update left pending is made though the spec looks unchanged", () => {
    const same = [server("a", "m1.small", { userData: "x", metadata: { keep: "1" } })];
    const state = stateOf(C, [
      { name: "a", type: "server", id: "s-a", pending: ["user_data", "metadata"], staleMetadataKeys: ["gone"] },
    ]);
    const live = liveOf({ servers: { a: liveServer("s-a", { metadata: { ...own("a"), keep: "1", gone: "y" } }) } });
    expect(edits(diff(same, live, { before: same, state }).c)).toEqual([
      "rebuild a: user_data changed",
      "metadata server a: set {} delete [gone]",
    ]);
  });

  it("a digest comparison that can't tell is no change (the caller says so)", () => {
    const previous: PreviousInputs = {
      spec: spec(C, [server("a", "m1.small", { userData: "hmac-sha256:other:00" })]),
      sameUserData: () => undefined,
    };
    const got = diff([server("a", "m1.small", { userData: "x" })], liveOf({ servers: { a: liveServer("s-a") } }), {
      previous,
    });
    expect(edits(got.c)).toEqual([]);
  });

  it("a network edit a failed update left pending attaches every network again, detaches what the spec dropped", () => {
    const state = stateOf(C, [{ name: "a", type: "server", id: "s-a", pending: ["networks"] }]);
    const live = liveOf({ servers: { a: liveServer("s-a") } });
    const now = [server("a", "m1.small", { networks: ["net-1", "net-2"] })];
    // Pulumi records a failed update's new inputs: the spec looks unchanged.
    expect(edits(diff(now, live, { before: now, state }).c)).toEqual(["networks a: +[net-1,net-2] -[]"]);
    const before = [server("a", "m1.small", { networks: ["net-1", "net-0"] })];
    expect(edits(diff(now, live, { before, state }).c)).toEqual(["networks a: +[net-1,net-2] -[net-0]"]);
  });

  it("security_groups can't change on a server without ports: refused at preview, with the reason", () => {
    const got = diff(
      [server("a", "m1.small", { securityGroups: ["web"] })],
      liveOf({ servers: { a: liveServer("s-a", { securityGroups: [] }) } }),
      { before: [server("a")] },
    );
    expect(got.base.problems).toEqual([
      'cluster "c": server "a" can\'t change its securityGroups to "web": it has no network port that takes security groups (no network, or port security off); hint: give it networks, or keep its securityGroups as they were',
    ]);
    expect(edits(got.c)).toEqual([]);
  });

  it("unchanged security_groups on a server without ports are no problem (a cloud without networks)", () => {
    const same = [server("a", "m1.small", { securityGroups: ["web"] })];
    const got = diff(same, liveOf({ servers: { a: liveServer("s-a", { securityGroups: [] }) } }), { before: same });
    expect(got.base.problems).toEqual([]);
    expect(edits(got.c)).toEqual([]);
  });
});

describe("each field's edit on a kept volume", () => {
  it("volume_type changed: a retype from the applied type", () => {
    const got = diff(
      [volume("v", 10, { volumeType: "ssd" })],
      liveOf({ volumes: { v: liveVolume("v-1", { volumeType: "hdd" }) } }),
      { state: stateOf(C, [{ name: "v", type: "volume", id: "v-1", volumeType: "hdd" }]) },
    );
    expect(edits(got.c)).toEqual(["retype v: hdd->ssd"]);
    expect(got.base.problems).toEqual([]);
  });

  it("the applied type wins over the name the cloud shows: no retype", () => {
    const got = diff(
      [volume("v", 10, { volumeType: "hdd" })],
      liveOf({ volumes: { v: liveVolume("v-1", { volumeType: "0d5e-type-id" }) } }),
      { state: stateOf(C, [{ name: "v", type: "volume", id: "v-1", volumeType: "hdd" }]) },
    );
    expect(edits(got.c)).toEqual([]);
  });

  it("metadata: set and deleted as on a server; Cinder's own keys left alone", () => {
    const got = diff(
      [volume("v", 10, { metadata: { backup: "daily" } })],
      liveOf({
        volumes: {
          v: liveVolume("v-1", { metadata: { ...own("v"), backup: "weekly", owner: "x", readonly: "False" } }),
        },
      }),
      { before: [volume("v", 10, { metadata: { backup: "weekly", owner: "x" } })] },
    );
    expect(edits(got.c)).toEqual(['metadata volume v: set {"backup":"daily"} delete [owner]']);
  });
});

describe("the preview's line per member", () => {
  it("one line per member, sorted; destructive steps are warnings and say what is lost; user data never shown", () => {
    const { steps } = diff(
      [
        server("db-1", "m1.large", { keyName: "b", userData: "SECRET-TOKEN=hunter2" }),
        server("web-1", "m1.small", { metadata: { role: "web" }, securityGroups: ["web"] }),
        server("app-1", "m1.small", { networks: ["net-2"] }),
        server("app-2", "m1.small", { networks: ["net-2", "net-1"] }),
        volume("data", 20, { volumeType: "ssd" }),
      ],
      liveOf({
        servers: {
          "db-1": liveServer("s-db", { keyName: "a" }),
          "web-1": liveServer("s-web", { securityGroups: ["default"], metadata: own("web-1") }),
          "app-1": liveServer("s-app"),
          "app-2": liveServer("s-app-2"),
        },
        volumes: { data: liveVolume("v-d", { volumeType: "hdd" }) },
      }),
      {
        before: [
          server("db-1", "m1.small", { keyName: "a", userData: "SECRET-TOKEN=old" }),
          server("web-1"),
          server("app-1", "m1.small", { networks: ["net-1"] }),
          server("app-2", "m1.small", { networks: ["net-1"] }),
          volume("data", 10, { volumeType: "hdd" }),
        ],
      },
    );
    const lines = memberLines(C, steps);
    expect(lines.map((l) => `${l.level}: ${l.text}`)).toEqual([
      'info: cluster "c": server "app-1": networks: detach "net-1", attach "net-2"',
      'warn: cluster "c": server "app-2": replace (the old server is deleted: its disks are lost): replaces the old one (its networks change from ["net-1"] to ["net-2", "net-1"]: their order changes, and Nova puts an attached network last)',
      'info: cluster "c": volume "data": extend 10 GB → 20 GB; retype "hdd" → "ssd"',
      'warn: cluster "c": server "db-1": resize "m1.small" → "m1.large"; rebuild (root disk is wiped): keyName "a" → "b", userData changed',
      'info: cluster "c": server "web-1": securityGroups: add "web", remove "default"; metadata: set "role" = "web"',
    ]);
    expect(JSON.stringify(steps)).not.toContain("hunter2");
    expect(JSON.stringify(steps)).not.toContain("SECRET");
  });

  it("a member gone from the spec is a warning: its disks are lost", () => {
    const { steps } = diff([server("a")], liveOf({ servers: { a: liveServer("s-a"), b: liveServer("s-b") } }));
    expect(memberLines(C, steps).map((l) => `${l.level}: ${l.text}`)).toEqual([
      'warn: cluster "c": server "b": delete (its disks are lost): no longer in the spec',
    ]);
  });

  it("a member made again because it was missing destroys nothing: info", () => {
    const { steps } = diff([server("a")], liveOf(), { state: stateOf(C, [{ name: "a", type: "server", id: "s-a" }]) });
    expect(memberLines(C, steps).map((l) => `${l.level}: ${l.text}`)).toEqual([
      'info: cluster "c": server "a": create again: missing',
    ]);
  });

  it("names and values are quoted and escaped; long metadata values are cut", () => {
    const long = "x".repeat(100);
    const { steps } = diff(
      [server("a\u001b[31m", "m1.small", { metadata: { note: long } })],
      liveOf({ servers: { "a\u001b[31m": liveServer("s-a", { metadata: {} }) } }),
    );
    const [line] = memberLines(C, steps);
    expect(line?.text).toBe(`cluster "c": server "a\\u001b[31m": metadata: set "note" = "${"x".repeat(40)}…"`);
  });
});
