// What Keystone said of a token, remembered for a short while: bounded in size (least recently used
// out first) and in age (TTL, and never past the token's own expiry). Keys are SHA-256 digests of the
// tokens, so the cache holds no token. Concurrent lookups of one token share one validation.
//
// The price of the cache: a token revoked at Keystone is still accepted here until its entry ages
// out (at most `ttlMs`, 60 s by default). Tokens Keystone doesn't know are remembered too, for less
// (`negativeTtlMs`, 5 s), so a flood of forged tokens costs Keystone one call per token per 5 s.
import { createHash } from "node:crypto";

export interface TokenCacheOptions {
  /** Entries kept at most (default 4096). */
  maxEntries?: number;
  /** How long a valid token's answer is kept at most (default 60 s). */
  ttlMs?: number;
  /** How long "Keystone doesn't know this token" is kept (default 5 s). */
  negativeTtlMs?: number;
  now?: () => number;
}

export const DEFAULT_TOKEN_TTL_MS = 60_000;
export const DEFAULT_TOKEN_CACHE_ENTRIES = 4096;

interface Entry<T> {
  /** undefined: Keystone doesn't know the token. */
  value: T | undefined;
  until: number;
}

export interface TokenCacheStats {
  hits: number;
  misses: number;
  size: number;
}

export class TokenCache<T extends { expiresAt: number }> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly inflight = new Map<string, Promise<T | undefined>>();
  private readonly maxEntries: number;
  readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly now: () => number;
  private hits = 0;
  private misses = 0;

  constructor(opts: TokenCacheOptions = {}) {
    this.maxEntries = Math.max(1, opts.maxEntries ?? DEFAULT_TOKEN_CACHE_ENTRIES);
    this.ttlMs = opts.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.negativeTtlMs = opts.negativeTtlMs ?? 5_000;
    this.now = opts.now ?? Date.now;
  }

  get stats(): TokenCacheStats {
    return { hits: this.hits, misses: this.misses, size: this.entries.size };
  }

  /**
   * The answer for `token`: remembered, or `validate`'s (shared with concurrent callers). A token
   * past its expiry is undefined even when remembered. Errors of `validate` are not remembered.
   */
  async lookup(token: string, validate: (token: string) => Promise<T | undefined>): Promise<T | undefined> {
    const key = createHash("sha256").update(token).digest("base64url");
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry && entry.until > now) {
      this.hits++;
      // Most recently used last.
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry.value && entry.value.expiresAt > now ? entry.value : undefined;
    }
    if (entry) this.entries.delete(key);
    this.misses++;
    let running = this.inflight.get(key);
    if (!running) {
      running = validate(token)
        .then((value) => {
          this.remember(key, value);
          return value;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, running);
    }
    const value = await running;
    return value && value.expiresAt > this.now() ? value : undefined;
  }

  private remember(key: string, value: T | undefined): void {
    const now = this.now();
    const until = value ? Math.min(now + this.ttlMs, value.expiresAt) : now + this.negativeTtlMs;
    if (until <= now) return;
    this.entries.delete(key);
    this.entries.set(key, { value, until });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
