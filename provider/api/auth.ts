// Who is calling. One small interface: an Authenticator turns a request into the principal it acts
// for, with `--noauth` (the simulated cloud: the URL's tenant_id is the project) or Keystone (the
// X-Auth-Token header, validated at Keystone and cached: token-cache.ts). Tenant isolation is then the
// routes' job, uniformly: every record is read with the principal's project, so another project's
// cluster is simply not found (404), never "forbidden" (which would confirm it exists).
//
// A token is never logged or echoed, whole or in part: no message here is built from it, and
// Keystone's answer to a failed validation (which names the token) is never shown.
import type { KeystoneIdentity } from "../backends/openstack/identity";
import { KeystoneIdentityError } from "../backends/openstack/identity";
import type { ValidatedToken } from "../backends/openstack/keystone";
import { ApiError } from "./errors";
import { TokenCache, type TokenCacheOptions } from "./token-cache";

export interface Principal {
  /** The project every record of this request belongs to ("" for a token scoped to no project). */
  projectId: string;
  /** Role admin in that project: may list every project's clusters (`?all_tenants=1`). Never with noauth. */
  isAdmin: boolean;
  /** Keystone: what the caller's token says (user, roles, expiry, how it was obtained); never the token. */
  keystone?: ValidatedToken;
}

/** What an Authenticator sees of a request. */
export interface AuthRequest {
  headers: Record<string, string | string[] | undefined>;
  /** The `{tenant_id}` of the URL. */
  tenantId: string;
}

export interface Authenticator {
  readonly kind: "noauth" | "keystone";
  /** The principal, or throws ApiError (401 no or bad token, 503 Keystone can't answer). */
  authenticate(req: AuthRequest): Promise<Principal>;
}

/** A project id as the URL may carry it: Keystone's are 32 hex digits; noauth takes any short plain word. */
const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function checkTenantId(tenantId: string): void {
  if (!TENANT_ID.test(tenantId)) {
    throw new ApiError(
      400,
      `tenant id ${JSON.stringify(tenantId)} is not valid: use 1 to 64 letters, digits, "-" or "_" (a Keystone project id)`,
    );
  }
}

/**
 * `--noauth`: every request is trusted, and the URL's tenant_id is the project. For the simulated
 * cloud only: anyone who reaches the port acts as any project.
 */
export function noAuth(): Authenticator {
  return {
    kind: "noauth",
    async authenticate(req) {
      checkTenantId(req.tenantId);
      return { projectId: req.tenantId, isAdmin: false };
    },
  };
}

export const NOAUTH_WARNING =
  "openstack-vcluster serve: --noauth: requests are not authenticated and the URL's tenant_id is taken as the project; for the simulated cloud only, never on a port others can reach";

/** The caller's token as sent, or undefined. Several X-Auth-Token headers are one bad token. */
export function tokenOf(headers: AuthRequest["headers"]): string | undefined {
  const v = headers["x-auth-token"];
  if (Array.isArray(v)) return v.length === 1 ? v[0] : "";
  return v;
}

/** Tokens longer than this, or with anything but printable ASCII, are refused without asking Keystone. */
const MAX_TOKEN_CHARS = 8192;
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

export interface KeystoneAuthOptions extends TokenCacheOptions {
  /** Where a problem of the service itself goes (its own credentials refused, Keystone's policy). */
  log?: (level: "info" | "warn", message: string) => void;
}

export interface KeystoneAuthenticator extends Authenticator {
  readonly kind: "keystone";
  readonly cache: TokenCache<ValidatedToken>;
  /** The header a 401 carries, as keystonemiddleware sends it. */
  readonly wwwAuthenticate: string;
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, message);
}

/**
 * Keystone: X-Auth-Token is validated at Keystone with the service's own token, and the answer is
 * cached (TokenCache: up to its TTL, never past the token's expiry). 401 when the header is missing or
 * Keystone doesn't know the token (expired, revoked, forged); 503 when Keystone can't answer.
 */
export function keystoneAuth(
  identity: Pick<KeystoneIdentity, "validate" | "base">,
  opts: KeystoneAuthOptions = {},
): KeystoneAuthenticator {
  const cache = new TokenCache<ValidatedToken>(opts);
  const said = new Set<string>();
  const warnOnce = (message: string) => {
    if (said.has(message)) return;
    said.add(message);
    opts.log?.("warn", `openstack-vcluster serve: ${message}`);
  };
  return {
    kind: "keystone",
    cache,
    wwwAuthenticate: `Keystone uri="${identity.base.replace(/\/v3$/, "")}"`,
    async authenticate(req) {
      const token = tokenOf(req.headers);
      if (token === undefined) {
        throw unauthorized(
          "The request you have made requires authentication: no X-Auth-Token header; hint: send a Keystone token (openstack token issue -f value -c id)",
        );
      }
      if (token.length > MAX_TOKEN_CHARS || !TOKEN_CHARS.test(token)) {
        throw unauthorized("The request you have made requires authentication: the X-Auth-Token header is not a token");
      }
      let v: ValidatedToken | undefined;
      try {
        v = await cache.lookup(token, (t) => identity.validate(t));
      } catch (e) {
        if (e instanceof KeystoneIdentityError && e.kind === "unavailable") {
          throw new ApiError(503, "Keystone can't be reached to validate the token; retry later");
        }
        warnOnce(e instanceof Error ? e.message : String(e));
        throw new ApiError(500, "this service can't validate tokens at Keystone: its log says why");
      }
      if (!v) {
        throw unauthorized(
          "The request you have made requires authentication: the token is not valid (expired, revoked, or unknown to Keystone); hint: get a new token",
        );
      }
      return { projectId: v.projectId ?? "", isAdmin: v.roles.includes("admin"), keystone: v };
    },
  };
}
