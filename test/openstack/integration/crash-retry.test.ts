// Kill and retry through the command on the real dev cloud: `openstack-vcluster apply` is spawned, killed
// with SIGKILL at a point of its work (after the server group, mid server creation, after the servers and
// before the volumes are attached), then run again. The second run must finish the cluster: exactly the
// declared members, each once, nothing in ERROR, what the first run made adopted (not rebuilt, resized or
// replaced), in about the time of a plain apply. Images and flavors are given by name: Nova reports an
// image by id, so this is also the check that adoption compares them by identity, and that an update
// naming a new flavor and image resizes and rebuilds once and its waits end.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TAG_CLUSTER, TAG_MEMBER } from "../../../provider/backends/backend";
import type { OpenStackBackend } from "../../../provider/backends/openstack/openstack-backend";
import { ensureBuilt } from "../../support/build";
import { BIN, launch } from "../../support/cli";
import { connectDevcloud, DEVCLOUD, DEVCLOUD_DIR, requireDevcloud } from "../../support/devcloud";

const RUN = randomBytes(3).toString("hex");
const SERVERS = ["w1", "w2", "w3", "w4"];
const VOLUMES: Record<string, string> = { d1: "w1", d2: "w2" };

/** The cluster of the report: 4 servers in host anti-affinity, 2 attached volumes, image and flavor by name. */
function specYaml(name: string): string {
  const servers = SERVERS.map(
    (n) => `  - { name: ${n}, type: server, spec: { imageRef: fake-image, flavorRef: m1.tiny } }`,
  );
  const volumes = Object.entries(VOLUMES).map(
    ([v, s]) => `  - { name: ${v}, type: volume, spec: { size: 1, attachTo: ${s} } }`,
  );
  return [
    `name: ${name}`,
    "instances:",
    ...servers,
    ...volumes,
    "groupings:",
    `  - { name: spread, membersRef: [${SERVERS.join(", ")}], spec: { rule: anti-affinity, scope: host } }`,
    "",
  ].join("\n");
}

function command(dir: string, args: string[]) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OS_CLIENT_CONFIG_FILE: path.join(DEVCLOUD_DIR, "clouds.yaml"),
    OS_CLOUD: "devcloud-admin",
  };
  return launch([...args, "--backend", "openstack"], dir, env);
}

interface Seen {
  groups: number;
  servers: { member: string; id: string; status: string }[];
  volumes: { member: string; id: string; status: string; attachedTo: string[] }[];
}

async function look(b: OpenStackBackend, cluster: string): Promise<Seen> {
  const tag = { [TAG_CLUSTER]: cluster };
  const [servers, volumes, groups] = await Promise.all([
    b.findServers(tag),
    b.findVolumes(tag),
    b.findServerGroups(tag),
  ]);
  const member = (o: { metadata: Record<string, string> }) => o.metadata[TAG_MEMBER] ?? "?";
  return {
    groups: groups.length,
    servers: servers.map((s) => ({ member: member(s), id: s.id, status: s.status })),
    volumes: volumes.map((v) => ({ member: member(v), id: v.id, status: v.status, attachedTo: v.attachedTo })),
  };
}

function describeSeen(s: Seen): string {
  const list = (xs: { member: string; status: string }[]) =>
    xs.length === 0
      ? "none"
      : xs
          .map((x) => `${x.member} ${x.status}`)
          .sort()
          .join(", ");
  return `groups ${s.groups}; servers: ${list(s.servers)}; volumes: ${list(s.volumes)}`;
}

describe("kill -9 and retry, and updates by name, through the command on the openstack devcloud (admin)", () => {
  let b: OpenStackBackend;
  let work: string;
  let plainMs = 0;
  const made: string[] = [];

  beforeAll(async () => {
    await requireDevcloud();
    await ensureBuilt();
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: build with npx tsc -p tsconfig.json`);
    b = await connectDevcloud("admin");
    work = fs.mkdtempSync(path.join(os.tmpdir(), "vcluster-crash-"));
  });

  afterAll(async () => {
    // Whatever a failed test left: destroy sweeps by tag, state or not.
    for (const name of made) {
      const d = fs.mkdtempSync(path.join(work, "sweep-"));
      await command(d, ["destroy", name]).done;
    }
    await b?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  function clusterDir(name: string): { dir: string; spec: string } {
    made.push(name);
    const dir = fs.mkdtempSync(path.join(work, `${name}-`));
    const spec = path.join(dir, "cluster.yaml");
    fs.writeFileSync(spec, specYaml(name));
    return { dir, spec };
  }

  /** The cluster is exactly the spec: each member once, all ACTIVE / in-use, volumes on their servers. */
  async function expectExactly(name: string, dir: string): Promise<void> {
    const seen = await look(b, name);
    expect(seen.groups, describeSeen(seen)).toBe(1);
    expect(seen.servers.map((s) => s.member).sort(), describeSeen(seen)).toEqual(SERVERS);
    expect(seen.volumes.map((v) => v.member).sort(), describeSeen(seen)).toEqual(Object.keys(VOLUMES));
    for (const s of seen.servers) expect(s.status, describeSeen(seen)).toBe("ACTIVE");
    const idOf = new Map(seen.servers.map((s) => [s.member, s.id]));
    for (const v of seen.volumes) {
      expect(v.status, describeSeen(seen)).toBe("in-use");
      expect(v.attachedTo).toEqual([idOf.get(VOLUMES[v.member] as string)]);
    }
    const state = JSON.parse(
      fs.readFileSync(path.join(dir, ".openstack-vcluster", "clusters", `${name}.json`), "utf8"),
    ) as { members: Record<string, { id: string }> };
    expect(Object.keys(state.members).sort()).toEqual([...Object.keys(VOLUMES), ...SERVERS].sort());
    for (const o of [...seen.servers, ...seen.volumes]) expect(state.members[o.member]?.id).toBe(o.id);
  }

  async function destroy(name: string, dir: string): Promise<void> {
    const r = await command(dir, ["destroy", name]).done;
    expect(r.code, r.stderr).toBe(0);
    made.splice(made.indexOf(name), 1);
  }

  it("a plain apply (the yardstick), and a re-apply that changes nothing", async () => {
    const name = `crash-plain-${RUN}`;
    const { dir, spec } = clusterDir(name);
    const r = await command(dir, ["apply", spec]).done;
    expect(r.code, r.stderr).toBe(0);
    plainMs = r.ms;
    await expectExactly(name, dir);
    // With state now: Nova shows the image by id, the spec names it; nothing to rebuild.
    const again = await command(dir, ["apply", spec]).done;
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/rebuil|resiz|creat/);
    console.log(`plain apply ${(plainMs / 1000).toFixed(1)} s, re-apply ${(again.ms / 1000).toFixed(1)} s`);
    await destroy(name, dir);
  });

  it("an update naming the new flavor and image resizes and rebuilds, and its waits end", async () => {
    const name = `crash-update-${RUN}`;
    const { dir, spec } = clusterDir(name);
    const one = (image: string, flavor: string) =>
      `name: ${name}\ninstances:\n  - { name: w1, type: server, spec: { imageRef: ${image}, flavorRef: ${flavor} } }\n`;
    fs.writeFileSync(spec, one("fake-image", "m1.tiny"));
    const created = await command(dir, ["apply", spec]).done;
    expect(created.code, created.stderr).toBe(0);
    fs.writeFileSync(spec, one("fake-image-2", "m1.small"));
    const updated = await command(dir, ["apply", spec]).done;
    console.log(`update ${(updated.ms / 1000).toFixed(1)} s:\n${updated.stderr.trim()}`);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stderr).toContain('resized server "w1" to "m1.small"');
    expect(updated.stderr).toContain('rebuilt server "w1" with image "fake-image-2"');
    const state = JSON.parse(
      fs.readFileSync(path.join(dir, ".openstack-vcluster", "clusters", `${name}.json`), "utf8"),
    ) as { members: Record<string, { flavorRef?: string; imageRef?: string; status: string }> };
    expect(state.members.w1).toMatchObject({ status: "ACTIVE", flavorRef: "m1.small", imageRef: DEVCLOUD.otherImage });
    const again = await command(dir, ["apply", spec]).done;
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/rebuil|resiz|creat/);
    await destroy(name, dir);
  });

  const points: { label: string; killWhen: (s: Seen) => boolean }[] = [
    { label: "after the server group", killWhen: (s) => s.groups > 0 },
    {
      label: "mid server creation",
      killWhen: (s) => s.servers.length > 0 && s.servers.some((x) => x.status === "BUILD"),
    },
    {
      label: "after the servers, before the volumes are attached",
      killWhen: (s) => s.servers.length === SERVERS.length && s.servers.every((x) => x.status === "ACTIVE"),
    },
  ];

  for (const [i, point] of points.entries()) {
    it(`killed ${point.label}, the next apply finishes the cluster in about a plain apply's time`, async () => {
      expect(plainMs, "the plain apply ran first").toBeGreaterThan(0);
      const name = `crash-${i}-${RUN}`;
      const { dir, spec } = clusterDir(name);

      const first = command(dir, ["apply", spec]);
      let atKill: Seen | undefined;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const seen = await look(b, name);
        if (point.killWhen(seen)) {
          first.child.kill("SIGKILL");
          atKill = seen;
          break;
        }
        const exited = await Promise.race([first.done, new Promise((r) => setTimeout(() => r(undefined), 50))]);
        if (exited) break;
      }
      const killed = await first.done;
      expect(killed.signal, `the first run ended before the kill point: ${killed.stderr}`).toBe("SIGKILL");
      console.log(`killed ${point.label} after ${(killed.ms / 1000).toFixed(1)} s: ${describeSeen(atKill as Seen)}`);

      const retry = await command(dir, ["apply", spec]).done;
      console.log(
        `retry ${(retry.ms / 1000).toFixed(1)} s (plain ${(plainMs / 1000).toFixed(1)} s):\n${retry.stderr.trim()}`,
      );
      expect(retry.code, retry.stderr).toBe(0);
      expect(retry.stderr).not.toMatch(/rebuil|resiz|rolling back|recreat/);
      await expectExactly(name, dir);
      // What the killed run made is adopted, not replaced.
      const now = await look(b, name);
      const ids = new Set([...now.servers, ...now.volumes].map((o) => o.id));
      for (const o of [...(atKill?.servers ?? []), ...(atKill?.volumes ?? [])]) {
        if (o.status !== "ERROR" && o.status !== "error") expect(ids.has(o.id), `${o.member} was replaced`).toBe(true);
      }
      // About as long as a plain apply: no wait for a state that never comes.
      expect(retry.ms).toBeLessThan(plainMs * 1.5 + 10_000);
      await destroy(name, dir);
    });
  }
  it("two applies of one spec at once, from two state directories, build one cluster: the second waits, then adopts it", async () => {
    const name = `crash-twice-${RUN}`;
    const first = clusterDir(name);
    const second = { dir: fs.mkdtempSync(path.join(work, `${name}-b-`)), spec: "" };
    second.spec = path.join(second.dir, "cluster.yaml");
    fs.writeFileSync(second.spec, specYaml(name));
    const [a, b2] = await Promise.all([
      command(first.dir, ["apply", first.spec]).done,
      command(second.dir, ["apply", second.spec]).done,
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b2.code, b2.stderr).toBe(0);
    expect(`${a.stderr}${b2.stderr}`).toMatch(/waiting for another run changing cluster/);
    await expectExactly(name, first.dir);
    await expectExactly(name, second.dir);
    await destroy(name, first.dir);
  });
});
