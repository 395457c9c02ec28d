// The validated-token cache on its own, with a clock the test moves: bounded by size (least recently
// used out first) and by age, never past a token's expiry, one validation for concurrent lookups,
// errors not remembered.
import { describe, expect, it } from "vitest";
import { TokenCache } from "../../provider/api/token-cache";

interface V {
  expiresAt: number;
  who: string;
}

function setup(opts: { maxEntries?: number; ttlMs?: number; negativeTtlMs?: number } = {}) {
  let now = 1_000_000;
  const cache = new TokenCache<V>({ ...opts, now: () => now });
  const asked: string[] = [];
  const known = new Map<string, V>();
  const validate = async (t: string) => {
    asked.push(t);
    return known.get(t);
  };
  return {
    cache,
    asked,
    known,
    lookup: (t: string) => cache.lookup(t, validate),
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

describe("TokenCache", () => {
  it("asks once per token until the TTL, then again", async () => {
    const t = setup({ ttlMs: 60_000 });
    t.known.set("a", { who: "alice", expiresAt: t.now() + 3_600_000 });
    for (let i = 0; i < 5; i++) expect((await t.lookup("a"))?.who).toBe("alice");
    expect(t.asked).toEqual(["a"]);
    t.advance(59_999);
    await t.lookup("a");
    expect(t.asked).toEqual(["a"]);
    t.advance(2);
    await t.lookup("a");
    expect(t.asked).toEqual(["a", "a"]);
    expect(t.cache.stats).toMatchObject({ hits: 5, misses: 2, size: 1 });
  });

  it("a revoked token is accepted until its entry ages out (the TTL), no longer", async () => {
    const t = setup({ ttlMs: 60_000 });
    t.known.set("a", { who: "alice", expiresAt: t.now() + 3_600_000 });
    await t.lookup("a");
    t.known.delete("a"); // revoked at Keystone
    t.advance(30_000);
    expect(await t.lookup("a")).toBeDefined();
    t.advance(30_001);
    expect(await t.lookup("a")).toBeUndefined();
  });

  it("never past the token's own expiry, even within the TTL", async () => {
    const t = setup({ ttlMs: 60_000 });
    t.known.set("a", { who: "alice", expiresAt: t.now() + 10_000 });
    expect(await t.lookup("a")).toBeDefined();
    t.advance(10_000);
    expect(await t.lookup("a")).toBeUndefined();
  });

  it("an unknown token is remembered briefly (negative TTL)", async () => {
    const t = setup({ negativeTtlMs: 5_000 });
    expect(await t.lookup("forged")).toBeUndefined();
    expect(await t.lookup("forged")).toBeUndefined();
    expect(t.asked).toEqual(["forged"]);
    t.advance(5_001);
    await t.lookup("forged");
    expect(t.asked).toEqual(["forged", "forged"]);
  });

  it("holds at most maxEntries, dropping the least recently used", async () => {
    const t = setup({ maxEntries: 3 });
    for (const k of ["a", "b", "c", "d"]) t.known.set(k, { who: k, expiresAt: t.now() + 3_600_000 });
    await t.lookup("a");
    await t.lookup("b");
    await t.lookup("c");
    await t.lookup("a"); // a is now the most recent
    await t.lookup("d"); // b goes
    expect(t.cache.stats.size).toBe(3);
    t.asked.length = 0;
    await t.lookup("a");
    await t.lookup("c");
    await t.lookup("d");
    expect(t.asked).toEqual([]);
    await t.lookup("b");
    expect(t.asked).toEqual(["b"]);
  });

  it("concurrent lookups of one token share one validation", async () => {
    let calls = 0;
    let release: (v: V) => void = () => {};
    const cache = new TokenCache<V>();
    const validate = () => {
      calls++;
      return new Promise<V | undefined>((r) => {
        release = r;
      });
    };
    const all = Promise.all(Array.from({ length: 20 }, () => cache.lookup("a", validate)));
    release({ who: "alice", expiresAt: Date.now() + 60_000 });
    expect((await all).every((v) => v?.who === "alice")).toBe(true);
    expect(calls).toBe(1);
  });

  it("a failed validation is not remembered", async () => {
    const cache = new TokenCache<V>();
    let fail = true;
    const validate = async () => {
      if (fail) throw new Error("keystone down");
      return { who: "alice", expiresAt: Date.now() + 60_000 };
    };
    await expect(cache.lookup("a", validate)).rejects.toThrow("keystone down");
    fail = false;
    expect((await cache.lookup("a", validate))?.who).toBe("alice");
  });

  it("keeps no token: keys are digests", async () => {
    const t = setup();
    const token = "gAAAAA-the-secret-token";
    t.known.set(token, { who: "alice", expiresAt: t.now() + 60_000 });
    await t.lookup(token);
    const inside = JSON.stringify([...(t.cache as unknown as { entries: Map<string, unknown> }).entries.keys()]);
    expect(inside).not.toContain("secret");
  });
});
