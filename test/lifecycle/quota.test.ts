// Quota before anything is made: plan reports what the apply would add against what the project
// has left (blocking, so preview fails); apply refuses with it and calls nothing that mutates.
import { afterEach, describe, expect, it } from "vitest";
import type { Quota } from "../../provider/backends/simulated";
import { LifecycleError } from "../../provider/lifecycle";
import { quotaProblems } from "../../provider/lifecycle/quota";
import type { Member } from "../../provider/model/cluster";
import { callCounts, expectEmpty, type Harness, MUTATING_OPS, openHarness } from "../support/lifecycle";
import { server, spec, volume } from "../support/model";

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const servers = (n: number, flavorRef = "m1.small"): Member[] =>
  Array.from({ length: n }, (_, i) => server(`s${i + 1}`, flavorRef));

describe("quota at plan and apply", () => {
  const cases: { name: string; view: "admin" | "tenant"; quota: Quota; members: Member[]; expected: string[] }[] = [
    {
      name: "too many instances (admin)",
      view: "admin",
      quota: { instances: 8 },
      members: servers(12),
      expected: [
        'cluster "c": needs 12 instances but the project has 8 left (quota instances); ask for more quota or remove 4 servers',
      ],
    },
    {
      name: "too many instances (tenant)",
      view: "tenant",
      quota: { instances: 8 },
      members: servers(12),
      expected: [
        'cluster "c": needs 12 instances but the project has 8 left (quota instances); ask for more quota or remove 4 servers',
      ],
    },
    {
      name: "vCPUs and RAM from the flavors",
      view: "admin",
      quota: { vcpus: 10, ramMb: 20480 },
      members: servers(3, "m1.large"),
      expected: [
        'cluster "c": needs 12 vCPUs but the project has 10 left (quota cores); ask for more quota or use smaller flavors or fewer servers (2 vCPUs less)',
        'cluster "c": needs 24576 MB of RAM but the project has 20480 left (quota ram); ask for more quota or use smaller flavors or fewer servers (4096 MB less)',
      ],
    },
    {
      name: "volumes and gigabytes",
      view: "tenant",
      quota: { volumes: 1, gigabytes: 15 },
      members: [server("s1"), volume("v1", 10), volume("v2", 10)],
      expected: [
        'cluster "c": needs 2 volumes but the project has 1 left (quota volumes); ask for more quota or remove 1 volume',
        'cluster "c": needs 20 GB of volumes but the project has 15 left (quota gigabytes); ask for more quota or make volumes smaller or fewer (5 GB less)',
      ],
    },
    {
      name: "exactly the quota fits",
      view: "admin",
      quota: { instances: 3, vcpus: 3, ramMb: 6144, volumes: 1, gigabytes: 10 },
      members: [...servers(3), volume("v1", 10)],
      expected: [],
    },
  ];

  it.each(cases)("$name", async ({ view, quota, members, expected }) => {
    h = await openHarness({ view, quota });
    const plan = await h.controller.plan(spec("c", members));
    expect(plan.blocking).toEqual(expected);
    for (const line of expected) expect(plan.warnings).toContain(line);
    if (expected.length === 0) {
      await h.controller.apply(spec("c", members));
      return;
    }
    const err = await h.controller.apply(spec("c", members)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LifecycleError);
    expect((err as LifecycleError).code).toBe("invalid");
    expect((err as LifecycleError).message).toBe(expected.join("\n"));
    // Refused before anything was made: not even a server group.
    expect(Object.values(await callCounts(h.cloud, MUTATING_OPS)).every((n) => n === 0)).toBe(true);
    await expectEmpty(h.cloud);
  });

  it("on update counts only what is added, and what a removal frees", async () => {
    h = await openHarness({ quota: { instances: 4 } });
    const state = await h.controller.apply(spec("c", servers(3)));

    // 3 used, 1 left: a fourth fits, a fifth doesn't.
    expect((await h.controller.plan(spec("c", servers(4)), state)).blocking).toEqual([]);
    const five = await h.controller.plan(spec("c", servers(5)), state);
    expect(five.blocking).toEqual([
      'cluster "c": needs 2 more instances but the project has 1 left (quota instances); ask for more quota or remove 1 server',
    ]);
    const before = await callCounts(h.cloud, MUTATING_OPS);
    await expect(h.controller.apply(spec("c", servers(5)), state)).rejects.toThrow(/needs 2 more instances/);
    expect(await callCounts(h.cloud, MUTATING_OPS)).toEqual(before);

    // Replacing s3 by s4 and s5: deletes run first, so the net is one more instance.
    const swapped = [server("s1"), server("s2"), server("s4"), server("s5")];
    const plan = await h.controller.plan(spec("c", swapped), state);
    expect(plan.blocking).toEqual([]);
    const next = await h.controller.apply(spec("c", swapped), state);
    expect(Object.keys(next.members)).toEqual(["s1", "s2", "s4", "s5"]);
  });

  it("a resize counts the difference between flavors", async () => {
    h = await openHarness({ quota: { vcpus: 4 } });
    const state = await h.controller.apply(spec("c", servers(2)));
    // 2 of 4 vCPUs used; m1.medium adds 1 each: fits. m1.large adds 3 each: doesn't.
    expect((await h.controller.plan(spec("c", servers(2, "m1.medium")), state)).blocking).toEqual([]);
    expect((await h.controller.plan(spec("c", servers(2, "m1.large")), state)).blocking).toEqual([
      'cluster "c": needs 6 more vCPUs but the project has 2 left (quota cores); ask for more quota or use smaller flavors or fewer servers (4 vCPUs less)',
    ]);
  });
});

describe("quotaProblems", () => {
  const demand = { instances: 1, vcpus: 1, ramMb: 512, volumes: 0, gigabytes: 0 };
  it.each([
    { name: "no quota reported", remaining: undefined, out: [] as string[] },
    { name: "unlimited fields are absent", remaining: { volumes: 0 }, out: [] },
    {
      name: "singular wording",
      remaining: { instances: 0 },
      out: [
        'cluster "c": needs 1 instance but the project has 0 left (quota instances); ask for more quota or remove 1 server',
      ],
    },
  ])("$name", ({ remaining, out }) => {
    expect(quotaProblems("c", demand, remaining, false)).toEqual(out);
  });
  it("a negative demand (an apply that frees) never fails", () => {
    expect(quotaProblems("c", { ...demand, instances: -2 }, { instances: 0, vcpus: 1, ramMb: 512 }, true)).toEqual([]);
  });
});

describe("images before anything is made", () => {
  it("an image the cloud doesn't have blocks the plan and apply refuses, naming the members", async () => {
    h = await openHarness();
    const c = spec("c", [
      server("web-1", "m1.small", { imageRef: "debain-12" }),
      server("web-2", "m1.small", { imageRef: "debain-12" }),
    ]);
    const plan = await h.controller.plan(c);
    expect(plan.blocking).toEqual([
      'cluster "c": image "debain-12" of "web-1", "web-2" does not exist (known images: debian-12, ubuntu-24.04, cirros)',
    ]);
    const e = await h.controller.apply(c).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(LifecycleError);
    expect((e as LifecycleError).code).toBe("invalid");
    const counts = await callCounts(h.cloud, MUTATING_OPS);
    expect(Object.values(counts).every((n) => n === 0)).toBe(true);
    await expectEmpty(h.cloud);
  });

  it("only images of servers to create or rebuild are checked", async () => {
    h = await openHarness();
    const c = spec("c", [server("web-1")]);
    await h.controller.apply(c);
    const plan = await h.controller.plan(spec("c", [server("web-1")]));
    expect(plan.blocking).toEqual([]);
    const rebuild = await h.controller.plan(spec("c", [server("web-1", "m1.small", { imageRef: "nope" })]));
    expect(rebuild.blocking).toEqual([
      'cluster "c": image "nope" of "web-1" does not exist (known images: debian-12, ubuntu-24.04, cirros)',
    ]);
  });
});
