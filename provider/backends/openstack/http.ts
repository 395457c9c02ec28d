// The HTTP layer every OpenStack service client goes through: one undici Pool per endpoint origin,
// timeouts, retries with backoff and jitter where a retry can help, and errors mapped to BackendError
// with a message a user can act on (service, method, path, status, OpenStack's own message, request id)
// and never a credential.
//
// This client is the one owner of retries for transient HTTP failures (a connection that fails, a
// timeout, 429, 5xx but 501, a Retry-After on 413 or an over-quota 403): at most 1 + maxRetries sends
// per request. A failure it has retried comes out as an HttpError with `retryHandled` set, and Ops does
// not retry it again. (Session adds one resend with a fresh token after a 401.)
//
// The loop is ours rather than undici's RetryAgent/RetryHandler, whose policy would have to be replaced
// wholesale through its `retry` callback: it never resends a POST (not even after a 429 or a connection
// that never opened), caps a long Retry-After instead of giving up, knows nothing of Nova's 413/403 with
// Retry-After, and has no jitter. Its mechanics don't fit either: by default the final error drops the
// body with OpenStack's message, a body that fails mid-stream is resumed with a Range request that
// OpenStack APIs don't serve, and a `retry` callback that waits on an injected sleep breaks under
// MockAgent (which ignores the pause, so the discarded error body reaches the caller).
import { type Dispatcher, Pool, errors as undiciErrors } from "undici";
import { REDACTED, scrubSecrets } from "../../model/text";
import { BackendError, type BackendErrorCode } from "../backend";

export interface HttpOptions {
  /** PEM CA bundle for TLS verification. */
  ca?: string;
  /** Skip TLS verification (OS_INSECURE). */
  insecure?: boolean;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** Retries after the first attempt. */
  maxRetries?: number;
  /** Base of the exponential backoff. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Injected by tests: a dispatcher per origin (undici's MockAgent). */
  dispatcherFor?: (origin: string) => Dispatcher;
  /** Injected by tests so retries don't wait. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface HttpRequest {
  /** Service name for messages: "nova", "cinder", "keystone", ... */
  service: string;
  method: Dispatcher.HttpMethod;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Statuses that are not errors for this call (e.g. 404 on a read). */
  okStatuses?: number[];
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON, or undefined for an empty or non-JSON body. */
  json: unknown;
  text: string;
}

const DEFAULTS = {
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 60_000,
  bodyTimeoutMs: 60_000,
  maxRetries: 4,
  backoffMs: 500,
  maxBackoffMs: 10_000,
};

/** Longest we honour a Retry-After for; beyond it the caller gets the error. */
const MAX_RETRY_AFTER_MS = 60_000;

/** Header names whose values are secrets; their values are scrubbed from every message. */
const SECRET_HEADERS = ["x-auth-token", "x-subject-token", "x-service-token"];

/**
 * A failed OpenStack call as the HttpClient reports it. Its code, message and `retryable` are those of
 * any BackendError; it also says how often the request was sent and whether this client already applied
 * its retries to it.
 */
export class HttpError extends BackendError {
  /** How many times the request was sent (1 + the retries spent on it). */
  readonly attempts: number;
  /**
   * The failure is transient at the HTTP level, so this client retried it until its attempts (or the
   * server's Retry-After) ran out: a caller must not retry it again. False when the client did not
   * consider a resend its call: the failure isn't transient, or a POST may have reached the server and
   * only the caller knows whether resending it is safe.
   */
  readonly retryHandled: boolean;

  constructor(
    code: BackendErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; attempts: number; retryHandled: boolean },
  ) {
    super(code, message, options);
    this.attempts = options.attempts;
    this.retryHandled = options.retryHandled;
  }
}

export class HttpClient {
  private readonly pools = new Map<string, Dispatcher>();
  private readonly opts: HttpOptions & typeof DEFAULTS;
  private readonly secrets = new Set<string>();

  constructor(opts: HttpOptions = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  /**
   * Register a secret (password, token) that must never appear in an error message. Any length: a short
   * one is scrubbed where it stands as a value (scrubSecrets says why not everywhere).
   */
  addSecret(secret: string | undefined): void {
    if (secret) this.secrets.add(secret);
  }

  private dispatcher(origin: string): Dispatcher {
    let d = this.pools.get(origin);
    if (!d) {
      d =
        this.opts.dispatcherFor?.(origin) ??
        new Pool(origin, {
          connections: 8,
          connect: {
            timeout: this.opts.connectTimeoutMs,
            ...(this.opts.ca ? { ca: this.opts.ca } : {}),
            ...(this.opts.insecure ? { rejectUnauthorized: false } : {}),
          },
          headersTimeout: this.opts.headersTimeoutMs,
          bodyTimeout: this.opts.bodyTimeoutMs,
        });
      this.pools.set(origin, d);
    }
    return d;
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const url = new URL(req.url);
    const path = `${url.pathname}${url.search}`;
    const headers: Record<string, string> = { accept: "application/json", ...req.headers };
    for (const [k, v] of Object.entries(headers)) if (SECRET_HEADERS.includes(k.toLowerCase())) this.addSecret(v);
    let body: string | undefined;
    if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers["content-type"] = "application/json";
    }
    const idempotent = req.method !== "POST" && req.method !== "PATCH";
    for (let attempts = 1; ; attempts++) {
      const retriesLeft = attempts <= this.opts.maxRetries;
      let res: HttpResponse;
      try {
        res = await this.once(url.origin, req.method, path, headers, body);
      } catch (err) {
        const code = transportErrorCode(err);
        // A connection that never opened can be retried for any method; a reset or a timeout once the
        // request may have reached the server only when idempotent (a POST may have created something).
        const retryHandled = code === "connect" || idempotent;
        if (retryHandled && retriesLeft) {
          await this.wait(this.backoff(attempts - 1));
          continue;
        }
        const reason = err instanceof Error ? err.message : String(err);
        throw new HttpError(
          code === "timeout" ? "timeout" : "unavailable",
          this.scrub(`${req.service}: ${req.method} ${path} failed: ${reason}`),
          { cause: err, retryable: true, attempts, retryHandled },
        );
      }
      if (res.status < 400 || req.okStatuses?.includes(res.status)) return res;
      const verdict = this.retryVerdict(res, attempts - 1, idempotent);
      if (verdict.delay !== undefined && retriesLeft) {
        await this.wait(verdict.delay);
        continue;
      }
      throw this.toError(req.service, req.method, path, res, attempts, verdict.handled);
    }
  }

  private async once(
    origin: string,
    method: Dispatcher.HttpMethod,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<HttpResponse> {
    const res = await this.dispatcher(origin).request({ origin, method, path, headers, body });
    const text = await res.body.text();
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) flat[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
    }
    let json: unknown;
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    return { status: res.statusCode, headers: flat, json, text };
  }

  /**
   * handled: the failure is transient at the HTTP level, so this client owns its retries (even when it
   * won't wait: a Retry-After beyond MAX_RETRY_AFTER_MS). delay: how long to wait before the next
   * attempt, undefined for no retry.
   */
  private retryVerdict(res: HttpResponse, attempt: number, idempotent: boolean): { handled: boolean; delay?: number } {
    const retryAfter = parseRetryAfter(res.headers["retry-after"]);
    const wait = (): { handled: true; delay?: number } => {
      if (retryAfter !== undefined && retryAfter > MAX_RETRY_AFTER_MS) return { handled: true };
      return { handled: true, delay: retryAfter ?? this.backoff(attempt) };
    };
    // Rate limited, or Nova over quota with a Retry-After: the request was refused, so even a POST is resent.
    if (res.status === 429) return wait();
    if (retryAfter !== undefined && (res.status === 413 || (res.status === 403 && this.overQuota(res)))) return wait();
    if (res.status >= 500 && res.status !== 501) {
      // A 500 on a POST may have done half the work (a server row exists): let the caller decide.
      if (!idempotent && res.status === 500) return { handled: false };
      return wait();
    }
    return { handled: false };
  }

  private overQuota(res: HttpResponse): boolean {
    return errorCodeFor(res.status, openStackMessage(res)) === "quota_exceeded";
  }

  private backoff(attempt: number): number {
    const cap = Math.min(this.opts.maxBackoffMs, this.opts.backoffMs * 2 ** attempt);
    // Full jitter: spreads the retries of many parallel callers.
    return Math.round(cap / 2 + (cap / 2) * (this.opts.random ?? Math.random)());
  }

  private wait(ms: number): Promise<void> {
    return (this.opts.sleep ?? ((n: number) => new Promise<void>((r) => setTimeout(r, n))))(ms);
  }

  private toError(
    service: string,
    method: string,
    path: string,
    res: HttpResponse,
    attempts: number,
    retryHandled: boolean,
  ): HttpError {
    // Scrubbed before openStackMessage shortens it, which could cut a secret in two and leave half of it.
    const osMessage = openStackMessage({ json: this.scrubJson(res.json), text: this.scrub(res.text) });
    const code = errorCodeFor(res.status, osMessage);
    const requestId = res.headers["x-openstack-request-id"] ?? res.headers["x-compute-request-id"];
    const msg =
      `${service}: ${method} ${path} returned ${res.status}` +
      (osMessage ? `: ${osMessage}` : "") +
      (requestId ? ` (request id ${requestId})` : "");
    return new HttpError(code, this.scrub(msg), {
      retryable: res.status >= 500 || res.status === 429,
      attempts,
      retryHandled,
    });
  }

  /**
   * Removes every registered secret from a message, in every encoding a message can carry it (an echoed
   * request body has it JSON-escaped, a query URL-encoded, basic auth base64-encoded), and credentials in
   * URLs: a token must never reach a log or a state file.
   */
  scrub(message: string): string {
    return scrubSecrets(message, this.secrets);
  }

  /** A parsed body with every string scrubbed; a string that is a secret, whole, is one value: gone. */
  private scrubJson(v: unknown): unknown {
    if (typeof v === "string") return this.secrets.has(v) ? REDACTED : this.scrub(v);
    if (Array.isArray(v)) return v.map((x) => this.scrubJson(x));
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.scrubJson(x)]));
    }
    return v;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    // Injected dispatchers (tests) belong to the caller.
    if (!this.opts.dispatcherFor) await Promise.all(pools.map((p) => p.close()));
  }
}

type TransportCode = "connect" | "timeout" | "other";

function transportErrorCode(err: unknown): TransportCode {
  if (
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError
  ) {
    return err instanceof undiciErrors.ConnectTimeoutError ? "connect" : "timeout";
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EHOSTUNREACH") {
    return "connect";
  }
  return "other";
}

/** Retry-After in ms: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * OpenStack's own message from an error body. Nova: {"badRequest": {"message"}}; Keystone: {"error": {"message"}};
 * Neutron: {"NeutronError": {"message"}}; Placement: {"errors": [{"detail"}]}; Glance: plain text or HTML.
 */
export function openStackMessage(res: Pick<HttpResponse, "json" | "text">): string | undefined {
  const j = res.json;
  if (j && typeof j === "object" && !Array.isArray(j)) {
    const obj = j as Record<string, unknown>;
    const errs = obj.errors;
    if (Array.isArray(errs) && errs.length > 0) {
      const first = errs[0] as Record<string, unknown>;
      const d = first.detail ?? first.title;
      if (typeof d === "string") return clean(d);
    }
    if (typeof obj.message === "string") return clean(obj.message);
    for (const v of Object.values(obj)) {
      if (v && typeof v === "object") {
        const m = (v as Record<string, unknown>).message;
        if (typeof m === "string") return clean(m);
      }
    }
  }
  const t = clean(res.text.replace(/<[^>]*>/g, " "));
  return t.length > 0 ? t : undefined;
}

function clean(s: string): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > 400 ? `${one.slice(0, 400)}…` : one;
}

export function errorCodeFor(status: number, message: string | undefined): BackendErrorCode {
  const quota = message !== undefined && /quota|limit exceeded|exceeded.*limit/i.test(message);
  if (status === 400) return "bad_request";
  if (status === 401) return "unauthorized";
  if (status === 403) return quota ? "quota_exceeded" : "forbidden";
  if (status === 404) return "not_found";
  if (status === 409) return quota ? "quota_exceeded" : "conflict";
  // Nova before 2.x answered over-quota with 413 and no Retry-After.
  if (status === 413) return quota ? "quota_exceeded" : "unavailable";
  if (status === 429 || status >= 500) return "unavailable";
  return "bad_request";
}
