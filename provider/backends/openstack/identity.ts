// Keystone as the REST service (`openstack-vcluster serve`) uses it: the service's own token (its user's
// password from clouds.yaml / OS_*), validating callers' tokens (`GET /v3/auth/tokens` with
// X-Subject-Token), making a trust from a caller to the service user with the caller's token, deleting
// it, and the configurations a backend acting for a caller connects with (a trust scope, or the caller's
// own token).
//
// Requests go through undici directly, not HttpClient: HttpClient remembers every token it sends as a
// secret to scrub, for its whole life, and this client sends a new caller's token with nearly every
// request. Here no message is ever built from a header or from Keystone's answer to a validation
// (Keystone's 404 names the token it could not find), and every other message is scrubbed of the
// secrets of that one request.
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, type Dispatcher, request } from "undici";
import { scrubSecrets, stripUrlCredentials } from "../../model/text";
import type { OpenStackAuth, OpenStackConfig } from "./config";
import { OpenStackConfigError, readCaBundle } from "./config-error";
import { openStackMessage } from "./http";
import {
  authRequestBody,
  identityBase,
  type KeystoneToken,
  needsRefresh,
  parseTokenResponse,
  parseValidatedToken,
  trustRequestBody,
  type ValidatedToken,
} from "./keystone";

type PasswordAuth = Extract<OpenStackAuth, { type: "password" }>;

/**
 * What went wrong talking to Keystone, for the API to answer with: `unavailable` (503: Keystone can't be
 * reached or answered 5xx), `service_auth` (the service's own credentials are refused), `forbidden`
 * (Keystone's policy refused the call), `refused` (another 4xx), `caller_token` (the caller's token was
 * refused while making the trust).
 */
export type IdentityErrorKind = "unavailable" | "service_auth" | "forbidden" | "refused" | "caller_token";

export class KeystoneIdentityError extends Error {
  readonly kind: IdentityErrorKind;
  readonly status: number | undefined;
  constructor(kind: IdentityErrorKind, message: string, status?: number) {
    super(message);
    this.name = "KeystoneIdentityError";
    this.kind = kind;
    this.status = status;
  }
}

export interface IdentityOptions {
  /** Test hook: the dispatcher for every request (default: an Agent with the cloud's CA settings). */
  dispatcher?: Dispatcher;
  timeoutMs?: number;
  now?: () => number;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  json: unknown;
  text: string;
}

/** The cloud's identity for one project, exactly as OpenStackBackend.identity() writes it. */
export function projectBackendId(cfg: OpenStackConfig, projectId: string): string {
  const where = "authUrl" in cfg.auth ? cfg.auth.authUrl : (cfg.endpointOverrides.compute ?? "noauth");
  return `openstack:${stripUrlCredentials(where).replace(/\/+$/, "")}|project=${projectId}|region=${cfg.region ?? ""}`;
}

export class KeystoneIdentity {
  /** `…/v3`, without credentials. */
  readonly base: string;
  private readonly agent: Dispatcher;
  private readonly ownsAgent: boolean;
  private readonly auth: PasswordAuth;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private service: KeystoneToken | undefined;
  private pending: Promise<KeystoneToken> | undefined;

  private constructor(
    readonly cfg: OpenStackConfig,
    opts: IdentityOptions,
  ) {
    if (cfg.auth.type !== "password") {
      throw new OpenStackConfigError(
        `serve with Keystone needs the service user's password (auth_type password in clouds.yaml, or OS_USERNAME/OS_PASSWORD), not ${cfg.auth.type === "application_credential" ? "an application credential" : `auth type "${cfg.auth.type}"`}: the service acts for callers through Keystone trusts, and only a password-authenticated trustee can take a trust's scope`,
      );
    }
    this.auth = cfg.auth;
    this.base = identityBase(stripUrlCredentials(cfg.auth.authUrl));
    this.now = opts.now ?? Date.now;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    if (opts.dispatcher) {
      this.agent = opts.dispatcher;
      this.ownsAgent = false;
    } else {
      const ca = readCaBundle(cfg);
      this.agent = new Agent({
        connections: 16,
        connect: {
          timeout: 10_000,
          ...(ca ? { ca } : {}),
          ...(cfg.insecure ? { rejectUnauthorized: false } : {}),
        },
      });
      this.ownsAgent = true;
    }
  }

  /** Authenticates the service user at once, so bad service credentials fail the start, not a request. */
  static async connect(cfg: OpenStackConfig, opts: IdentityOptions = {}): Promise<KeystoneIdentity> {
    const identity = new KeystoneIdentity(cfg, opts);
    try {
      await identity.serviceToken();
    } catch (e) {
      await identity.close();
      throw e;
    }
    return identity;
  }

  /** The service user's id: every trust names it as trustee. */
  async serviceUserId(): Promise<string> {
    const id = (await this.serviceToken()).userId;
    if (!id) throw new KeystoneIdentityError("service_auth", "keystone: the service's token names no user");
    return id;
  }

  async serviceUserName(): Promise<string> {
    return this.auth.username ?? this.auth.userId ?? (await this.serviceUserId());
  }

  /** The cloud's identity for a project (what clusters of that project record). */
  backendIdFor(projectId: string): string {
    return projectBackendId(this.cfg, projectId);
  }

  /**
   * What Keystone says of a caller's token, or undefined when Keystone doesn't know it (expired,
   * revoked, malformed, forged). Throws KeystoneIdentityError when Keystone can't answer.
   */
  async validate(token: string): Promise<ValidatedToken | undefined> {
    for (let attempt = 1; ; attempt++) {
      const service = await this.serviceToken(attempt > 1);
      const res = await this.send("GET", "/auth/tokens", { "x-auth-token": service.token, "x-subject-token": token }, [
        token,
        service.token,
      ]);
      if (res.status === 200) {
        const v = parseValidatedToken(res.json);
        if (!v)
          throw new KeystoneIdentityError(
            "unavailable",
            "keystone: a token validation answered without user or expiry",
          );
        return v;
      }
      // Keystone answers 404 for a token it doesn't know (its message names the token: never shown).
      if (res.status === 404) return undefined;
      // Our own token was refused (expired, revoked): authenticate again, once.
      if (res.status === 401 && attempt === 1) continue;
      if (res.status === 401) {
        throw new KeystoneIdentityError(
          "service_auth",
          "keystone: GET /v3/auth/tokens refused the service's own token (401) right after it was issued",
          401,
        );
      }
      if (res.status === 403) {
        throw new KeystoneIdentityError(
          "forbidden",
          `keystone: the service user ${JSON.stringify(await this.serviceUserName())} may not validate tokens (GET /v3/auth/tokens answered 403); hint: give it the role "service" in its project, as Nova's own service user has (openstack role add --user <user> --project service service)`,
          403,
        );
      }
      throw new KeystoneIdentityError(
        res.status >= 500 ? "unavailable" : "refused",
        `keystone: GET /v3/auth/tokens answered ${res.status}`,
        res.status,
      );
    }
  }

  /**
   * A trust from the caller (its token, just validated) to the service user: in the caller's project,
   * with the caller's roles there, impersonating the caller, not delegable further, until `expiresAt`.
   * Returns its id.
   */
  async createTrust(
    callerToken: string,
    caller: { userId: string; projectId: string; roles: string[] },
    expiresAt?: number,
  ): Promise<string> {
    const body = trustRequestBody({
      trustorUserId: caller.userId,
      trusteeUserId: await this.serviceUserId(),
      projectId: caller.projectId,
      roles: caller.roles,
      ...(expiresAt !== undefined ? { expiresAt } : {}),
    });
    const res = await this.send("POST", "/OS-TRUST/trusts", { "x-auth-token": callerToken }, [callerToken], body);
    const id = (res.json as { trust?: { id?: unknown } } | undefined)?.trust?.id;
    if (res.status === 201 && typeof id === "string") return id;
    const said = openStackMessage({ json: res.json, text: res.text });
    const why = `POST /v3/OS-TRUST/trusts answered ${res.status}${said ? `: ${scrubSecrets(said, [callerToken])}` : ""}`;
    if (res.status === 401) throw new KeystoneIdentityError("caller_token", `keystone: ${why}`, 401);
    if (res.status === 403) throw new KeystoneIdentityError("forbidden", `keystone: ${why}`, 403);
    throw new KeystoneIdentityError(res.status >= 500 ? "unavailable" : "refused", `keystone: ${why}`, res.status);
  }

  /**
   * Deletes a trust through a token scoped to it (the trustee impersonating the trustor: Keystone lets a
   * trustor delete its trusts, as Heat does it); when Keystone won't give such a token (the trustor lost
   * a role, the trust expired), with the service's own token (which works where the service user may
   * delete others' trusts, e.g. an admin). "gone" when Keystone has no such trust. Throws when it can't
   * be deleted now.
   */
  async deleteTrust(trustId: string): Promise<"deleted" | "gone"> {
    const auth = await this.send(
      "POST",
      "/auth/tokens",
      {},
      [this.auth.password],
      authRequestBody(this.trustAuth(trustId)),
    );
    if (auth.status === 404) return "gone";
    const trustToken = auth.headers["x-subject-token"];
    let token: string;
    if ((auth.status === 201 || auth.status === 200) && trustToken) token = trustToken;
    else if (auth.status === 401 || auth.status === 403) token = (await this.serviceToken()).token;
    else {
      throw new KeystoneIdentityError(
        auth.status >= 500 ? "unavailable" : "refused",
        `keystone: a token for trust ${trustId} answered ${auth.status}`,
        auth.status,
      );
    }
    const path = `/OS-TRUST/trusts/${encodeURIComponent(trustId)}`;
    const res = await this.send("DELETE", path, { "x-auth-token": token }, [token]);
    if (res.status === 204 || res.status === 200) return "deleted";
    if (res.status === 404) return "gone";
    const said = openStackMessage({ json: res.json, text: res.text });
    const how =
      token === trustToken
        ? "with a token of the trust"
        : `with the service's own token, as Keystone refused a token of the trust (${auth.status}: its trustor may have lost a role in the project)`;
    throw new KeystoneIdentityError(
      res.status >= 500 ? "unavailable" : res.status === 403 ? "forbidden" : "refused",
      `keystone: DELETE /v3/OS-TRUST/trusts/${trustId} ${how} answered ${res.status}${said ? `: ${scrubSecrets(said, [token])}` : ""}`,
      res.status,
    );
  }

  /** The service user's password auth, scoped to a trust instead of its own project. */
  private trustAuth(trustId: string): PasswordAuth {
    const a = this.auth;
    return {
      type: "password",
      authUrl: a.authUrl,
      password: a.password,
      ...(a.username !== undefined ? { username: a.username } : {}),
      ...(a.userId !== undefined ? { userId: a.userId } : {}),
      ...(a.userDomainId !== undefined ? { userDomainId: a.userDomainId } : {}),
      ...(a.userDomainName !== undefined ? { userDomainName: a.userDomainName } : {}),
      trustId,
    };
  }

  /** How a backend acting through a trust connects: the service user's password, the trust's scope. */
  trustConfig(trustId: string): OpenStackConfig {
    const { notice: _notice, ...rest } = this.cfg;
    return { ...rest, auth: this.trustAuth(trustId) };
  }

  /** How a backend acting with the caller's own token connects (a dry run: done before the token expires). */
  callerConfig(token: string, projectId: string): OpenStackConfig {
    const { notice: _notice, ...rest } = this.cfg;
    return { ...rest, auth: { type: "token", authUrl: this.auth.authUrl, token, projectId } };
  }

  private async serviceToken(force = false): Promise<KeystoneToken> {
    if (!force && this.service && !needsRefresh(this.service, this.now())) return this.service;
    this.pending ??= this.authenticate().finally(() => {
      this.pending = undefined;
    });
    this.service = await this.pending;
    return this.service;
  }

  private async authenticate(): Promise<KeystoneToken> {
    const res = await this.send("POST", "/auth/tokens", {}, [this.auth.password], authRequestBody(this.auth));
    if (res.status === 201 || res.status === 200) {
      try {
        return parseTokenResponse(res.headers["x-subject-token"], res.json, this.now());
      } catch (e) {
        throw new KeystoneIdentityError("service_auth", `keystone: ${(e as Error).message}`);
      }
    }
    const said = openStackMessage({ json: res.json, text: res.text });
    const who = this.auth.username ?? this.auth.userId ?? "?";
    throw new KeystoneIdentityError(
      res.status >= 500 ? "unavailable" : "service_auth",
      `keystone: the service user ${JSON.stringify(who)} can't authenticate at ${this.base} (${res.status}${said ? `: ${scrubSecrets(said, [this.auth.password])}` : ""})${this.cfg.cloudName ? ` with clouds.yaml entry "${this.cfg.cloudName}"` : ""}; hint: check the service's credentials`,
      res.status,
    );
  }

  /**
   * One request, resent (at most twice more) when the connection failed or Keystone answered 5xx and
   * resending can't do anything twice (not a POST that may have made a trust).
   */
  private async send(
    method: "GET" | "POST" | "DELETE",
    path: string,
    headers: Record<string, string>,
    secrets: string[],
    body?: unknown,
  ): Promise<Answer> {
    const url = `${this.base}${path}`;
    const canResend = method !== "POST" || path === "/auth/tokens";
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await request(url, {
          method,
          dispatcher: this.agent,
          headers: {
            accept: "application/json",
            ...(body !== undefined ? { "content-type": "application/json" } : {}),
            ...headers,
          },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
        });
        const text = await res.body.text();
        let json: unknown;
        try {
          json = text === "" ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        const flat: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined) flat[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
        }
        if (res.statusCode >= 500 && res.statusCode !== 501 && canResend && attempt < 3) {
          await sleep(200 * attempt);
          continue;
        }
        return { status: res.statusCode, headers: flat, json, text };
      } catch (err) {
        if (canResend && attempt < 3) {
          await sleep(200 * attempt);
          continue;
        }
        const reason = scrubSecrets(err instanceof Error ? err.message : String(err), secrets);
        throw new KeystoneIdentityError(
          "unavailable",
          `keystone: ${method} ${this.base}${path.split("?")[0]} failed: ${reason}`,
        );
      }
    }
  }

  async close(): Promise<void> {
    if (this.ownsAgent) await this.agent.close();
  }
}
