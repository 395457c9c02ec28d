// A cluster's lock on an OpenStack cloud (provider/backends/openstack/cluster-marker.ts): the Nova
// keypair's name and public key, what is read back from one, and the calls that make, read and
// delete it.
import { createHash } from "node:crypto";
import fc from "fast-check";
import type { MockAgent } from "undici";
import { describe, expect, it } from "vitest";
import type { ClusterLockHolder } from "../../provider/backends/backend";
import {
  formatMarker,
  MARKER_PUBLIC_KEY,
  markerName,
  parseMarker,
} from "../../provider/backends/openstack/cluster-marker";
import { OpenStackBackend } from "../../provider/backends/openstack/openstack-backend";
import {
  interceptAuth,
  interceptNovaVersion,
  json,
  mockCloud,
  NOVA,
  PROJECT,
  passwordConfig,
} from "../support/openstack-mock";

/** Lone surrogates as U+FFFD (String.prototype.toWellFormed, which the ES2023 lib doesn't type). */
const wellFormed = (s: string) => Buffer.from(s, "utf8").toString("utf8");

const holder: ClusterLockHolder = {
  host: "ci-runner-7",
  pid: 4242,
  since: Date.UTC(2030, 0, 2, 3, 4, 5, 678),
  purpose: "pulumi up (create)",
  token: "0123456789abcdef",
};

describe("the marker's name", () => {
  it("is a keypair name Nova accepts at every microversion, per project and cluster", () => {
    const name = markerName("p1", "shop");
    expect(name).toMatch(/^vcluster-lock-[0-9a-f]{20}$/);
    expect(markerName("p1", "shop")).toBe(name);
    // One user's keypairs serve all of the user's projects: a cluster name in two projects is two locks.
    expect(markerName("p2", "shop")).not.toBe(name);
    expect(markerName("p1", "shop2")).not.toBe(name);
    // A lone surrogate is not U+FFFD (UTF-8 would make them one).
    expect(markerName("p1", "a\ud800")).not.toBe(markerName("p1", "a\ufffd"));
  });
});

describe("the marker's public key", () => {
  it("is an ed25519 key chosen in the open: the SHA-256 of a phrase, so nobody holds its private key", () => {
    const blob = Buffer.from(MARKER_PUBLIC_KEY.split(" ")[1] as string, "base64");
    const point = createHash("sha256").update("openstack-vcluster cluster lock 0").digest();
    const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
    expect(blob.equals(Buffer.concat([str(Buffer.from("ssh-ed25519")), str(point)]))).toBe(true);
  });

  it("carries the holder in its comment, readable by a person and read back exactly", () => {
    const key = formatMarker("db/main", holder);
    expect(key).toBe(
      `${MARKER_PUBLIC_KEY} openstack-vcluster-lock:v1;cluster=db%2Fmain;host=ci-runner-7;pid=4242;since=2030-01-02T03:04:05.678Z;purpose=pulumi%20up%20(create);token=0123456789abcdef`,
    );
    expect(parseMarker(key)).toEqual({ ...holder, cluster: "db/main" });
  });

  it("reads back any holder and cluster name (a lone surrogate comes back as U+FFFD)", () => {
    const text = fc.string({ unit: "binary", minLength: 1 });
    fc.assert(
      fc.property(text, text, text, fc.integer({ min: 1, max: 2 ** 31 }), (cluster, host, purpose, pid) => {
        const h = { host, pid, since: holder.since, purpose, token: "t" };
        const key = formatMarker(cluster, h);
        // One comment word: no ssh parser splits it.
        expect(key.split(" ")).toHaveLength(3);
        const back = parseMarker(key);
        expect(back).toEqual({
          ...h,
          host: wellFormed(host),
          purpose: wellFormed(purpose),
          cluster: wellFormed(cluster),
        });
      }),
    );
  });

  it("of a keypair openstack-vcluster did not write, names a holder unknown, since Nova made it", () => {
    for (const key of [
      MARKER_PUBLIC_KEY,
      "ssh-rsa AAAAB3NzaC1yc2E alice@laptop",
      `${MARKER_PUBLIC_KEY} openstack-vcluster-lock:v1;host=h;pid=x;since=2030-01-01T00:00:00Z;token=t`,
      `${MARKER_PUBLIC_KEY} openstack-vcluster-lock:v1;host=%E0;pid=1;since=2030-01-01T00:00:00Z;token=t`,
    ]) {
      expect(parseMarker(key, "2030-01-01T00:00:00.000000")).toEqual({
        host: "",
        pid: 0,
        since: Date.UTC(2030, 0, 1),
        purpose: "unknown",
        token: `unknown:${key}`,
      });
    }
    expect(parseMarker("garbage").since).toBe(0);
  });
});

async function connect(): Promise<{ agent: MockAgent; backend: OpenStackBackend }> {
  const c = mockCloud();
  interceptAuth(c.agent);
  interceptNovaVersion(c.agent, "2.93");
  const backend = await OpenStackBackend.connect(passwordConfig({ cloudName: "prod cloud" }), {
    http: { dispatcherFor: () => c.agent, sleep: async () => {} },
  });
  return { agent: c.agent, backend };
}

describe("KeypairLocks", () => {
  const name = markerName(PROJECT, "shop");

  it("creates the keypair once: a second create is Nova's 409, answered false", async () => {
    const { agent, backend } = await connect();
    const bodies: unknown[] = [];
    const nova = agent.get(NOVA);
    for (const status of [201, 409]) {
      nova
        .intercept({
          path: "/v2.1/os-keypairs",
          method: "POST",
          body: (b) => {
            bodies.push(JSON.parse(b));
            return true;
          },
        })
        .reply(
          status,
          status === 409 ? { conflictingRequest: { message: `Key pair '${name}' already exists.` } } : { keypair: {} },
          json,
        );
    }
    expect(await backend.cloudLocks.create("shop", holder)).toBe(true);
    expect(await backend.cloudLocks.create("shop", holder)).toBe(false);
    expect(bodies[0]).toEqual({ keypair: { name, public_key: formatMarker("shop", holder), type: "ssh" } });
    expect(await backend.cloudLocks.describe("shop")).toBe(`Nova keypair "${name}"`);
    // The command selects this cloud the way the backend was: its clouds.yaml entry.
    expect(backend.cloudLocks.selectArgs).toEqual(["--cloud", "prod cloud"]);
    await backend.close();
  });

  it("reads the holder back; no keypair is no holder; deleting one that is gone is done", async () => {
    const { agent, backend } = await connect();
    const nova = agent.get(NOVA);
    nova
      .intercept({ path: `/v2.1/os-keypairs/${name}`, method: "GET" })
      .reply(
        200,
        { keypair: { name, public_key: formatMarker("shop", holder), created_at: "2030-01-02T03:04:05.000000" } },
        json,
      );
    nova
      .intercept({ path: `/v2.1/os-keypairs/${name}`, method: "GET" })
      .reply(404, { itemNotFound: { message: "Keypair not found" } }, json);
    nova.intercept({ path: `/v2.1/os-keypairs/${name}`, method: "DELETE" }).reply(404, {}, json);
    expect(await backend.cloudLocks.read("shop")).toEqual(holder);
    expect(await backend.cloudLocks.read("shop")).toBeUndefined();
    await backend.cloudLocks.remove("shop");
    await backend.close();
  });

  it("without a clouds.yaml entry, the command selects the cloud from the same OS_* variables", async () => {
    const c = mockCloud();
    interceptAuth(c.agent);
    interceptNovaVersion(c.agent, "2.93");
    const backend = await OpenStackBackend.connect(passwordConfig(), {
      http: { dispatcherFor: () => c.agent, sleep: async () => {} },
    });
    expect(backend.cloudLocks.selectArgs).toEqual(["--backend", "openstack"]);
    await backend.close();
  });
});
