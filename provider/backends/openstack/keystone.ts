// Keystone v3, pure: the auth request body for each credential kind (a trust scope too), the token response,
// choosing an endpoint from the service catalog by type, region and interface, and for the REST service
// (identity.ts) what a validated token says of its caller and the body of a trust.
import type { Interface, OpenStackAuth, Scope } from "./config";

export interface CatalogEndpoint {
  interface: string;
  region_id?: string;
  region?: string;
  url: string;
}

export interface CatalogService {
  type: string;
  name?: string;
  endpoints: CatalogEndpoint[];
}

export interface KeystoneToken {
  token: string;
  /** ms since epoch. */
  expiresAt: number;
  issuedAt: number;
  catalog: CatalogService[];
  projectId?: string;
  userId?: string;
  roles: string[];
}

/** `{authUrl}` as the user wrote it ("https://id:5000", ".../v3", ".../v3/") -> ".../v3". */
export function identityBase(authUrl: string): string {
  const trimmed = authUrl.replace(/\/+$/, "");
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

function scopeBody(s: Scope): Record<string, unknown> | undefined {
  if (s.trustId) return { "OS-TRUST:trust": { id: s.trustId } };
  if (s.projectId) return { project: { id: s.projectId } };
  if (s.projectName) {
    const domain = s.projectDomainId ? { id: s.projectDomainId } : { name: s.projectDomainName };
    return { project: { name: s.projectName, domain } };
  }
  if (s.domainId) return { domain: { id: s.domainId } };
  if (s.domainName) return { domain: { name: s.domainName } };
  return undefined;
}

function userBody(a: { username?: string; userId?: string; userDomainId?: string; userDomainName?: string }) {
  if (a.userId) return { id: a.userId };
  const domain = a.userDomainId ? { id: a.userDomainId } : { name: a.userDomainName };
  return { name: a.username, domain };
}

/** Body of `POST /v3/auth/tokens`. Application credentials carry their own scope. */
export function authRequestBody(auth: Exclude<OpenStackAuth, { type: "noauth" }>): unknown {
  switch (auth.type) {
    case "password": {
      const scope = scopeBody(auth);
      return {
        auth: {
          identity: { methods: ["password"], password: { user: { ...userBody(auth), password: auth.password } } },
          ...(scope ? { scope } : {}),
        },
      };
    }
    case "application_credential": {
      const cred: Record<string, unknown> = auth.applicationCredentialId
        ? { id: auth.applicationCredentialId, secret: auth.applicationCredentialSecret }
        : { name: auth.applicationCredentialName, secret: auth.applicationCredentialSecret, user: userBody(auth) };
      return { auth: { identity: { methods: ["application_credential"], application_credential: cred } } };
    }
    case "token": {
      const scope = scopeBody(auth);
      return {
        auth: { identity: { methods: ["token"], token: { id: auth.token } }, ...(scope ? { scope } : {}) },
      };
    }
  }
}

interface TokenBody {
  token?: {
    expires_at?: string;
    issued_at?: string;
    catalog?: CatalogService[];
    project?: { id?: string };
    user?: { id?: string };
    roles?: Array<{ name?: string }>;
  };
}

export function parseTokenResponse(subjectToken: string | undefined, body: unknown, now: number): KeystoneToken {
  if (!subjectToken) throw new Error("keystone answered without an X-Subject-Token header");
  const t = (body as TokenBody | undefined)?.token ?? {};
  const expiresAt = t.expires_at ? Date.parse(t.expires_at) : Number.NaN;
  const issuedAt = t.issued_at ? Date.parse(t.issued_at) : now;
  return {
    token: subjectToken,
    // A token without expiry is treated as an hour, so we still refresh it eventually.
    expiresAt: Number.isNaN(expiresAt) ? now + 3_600_000 : expiresAt,
    issuedAt: Number.isNaN(issuedAt) ? now : issuedAt,
    catalog: Array.isArray(t.catalog) ? t.catalog : [],
    ...(t.project?.id ? { projectId: t.project.id } : {}),
    ...(t.user?.id ? { userId: t.user.id } : {}),
    roles: (t.roles ?? []).map((r) => r.name ?? "").filter((n) => n !== ""),
  };
}

/** Re-authenticate when less than this is left: 10% of the token's lifetime, at least 1 min, at most 10 min. */
export function refreshMarginMs(tok: Pick<KeystoneToken, "expiresAt" | "issuedAt">): number {
  const life = tok.expiresAt - tok.issuedAt;
  return Math.min(600_000, Math.max(60_000, life / 10));
}

export function needsRefresh(tok: Pick<KeystoneToken, "expiresAt" | "issuedAt">, now: number): boolean {
  return tok.expiresAt - now <= refreshMarginMs(tok);
}

export type EndpointChoice = { url: string } | { error: string };

/**
 * First catalog service of one of `types` (in order: e.g. ["block-storage", "volumev3"]) with an endpoint of the
 * interface (and region, when set).
 */
export function selectEndpoint(
  catalog: CatalogService[],
  types: string[],
  iface: Interface,
  region: string | undefined,
): EndpointChoice {
  for (const type of types) {
    for (const svc of catalog.filter((s) => s.type === type)) {
      const ep = svc.endpoints.find(
        (e) =>
          e.interface.replace(/URL$/, "") === iface &&
          (region === undefined || e.region_id === region || e.region === region),
      );
      if (ep) return { url: ep.url.replace(/\/+$/, "") };
    }
  }
  const offered = catalog
    .filter((s) => types.includes(s.type))
    .flatMap((s) => s.endpoints.map((e) => `${s.type} ${e.interface} ${e.region_id ?? e.region ?? "(no region)"}`))
    .sort();
  return {
    error:
      `no ${types.map((t) => `"${t}"`).join(" or ")} endpoint with interface "${iface}"` +
      (region ? ` in region "${region}"` : "") +
      (offered.length > 0 ? `; the catalog offers: ${offered.join(", ")}` : "; the catalog has none") +
      "\nhint: set OS_REGION_NAME / OS_INTERFACE (or region_name / interface in clouds.yaml) to one the catalog offers",
  };
}

/** What Keystone says of a caller's token (`GET /v3/auth/tokens`), as the REST service uses it. Never the token. */
export interface ValidatedToken {
  userId: string;
  userName?: string;
  /** The project the token is scoped to; absent for an unscoped, domain- or system-scoped token. */
  projectId?: string;
  projectName?: string;
  /** Role names in that project (implied roles included, as Keystone lists them). */
  roles: string[];
  /** ms since epoch. */
  expiresAt: number;
  /** Authentication methods: "password", "token", "application_credential", … */
  methods: string[];
  /** The token was itself obtained through a trust (it can't make another one). */
  trustId?: string;
  /** The token comes from an application credential (restricted ones can't make trusts). */
  applicationCredential?: { id?: string; unrestricted: boolean };
}

interface ValidateBody {
  token?: {
    expires_at?: string;
    methods?: string[];
    user?: { id?: string; name?: string };
    project?: { id?: string; name?: string };
    roles?: Array<{ name?: string }>;
    "OS-TRUST:trust"?: { id?: string };
    application_credential?: { id?: string; restricted?: boolean };
  };
}

/** The body of a successful validation; undefined when it says nothing usable (no user, no expiry). */
export function parseValidatedToken(body: unknown): ValidatedToken | undefined {
  const t = (body as ValidateBody | undefined)?.token;
  const expiresAt = t?.expires_at ? Date.parse(t.expires_at) : Number.NaN;
  if (!t?.user?.id || Number.isNaN(expiresAt)) return undefined;
  const appCred = t.application_credential;
  return {
    userId: t.user.id,
    ...(t.user.name ? { userName: t.user.name } : {}),
    ...(t.project?.id ? { projectId: t.project.id } : {}),
    ...(t.project?.name ? { projectName: t.project.name } : {}),
    roles: (t.roles ?? []).map((r) => r.name ?? "").filter((n) => n !== ""),
    expiresAt,
    methods: Array.isArray(t.methods) ? t.methods.filter((m) => typeof m === "string") : [],
    ...(t["OS-TRUST:trust"]?.id ? { trustId: t["OS-TRUST:trust"].id } : {}),
    ...(appCred
      ? {
          applicationCredential: {
            ...(appCred.id ? { id: appCred.id } : {}),
            unrestricted: appCred.restricted === false,
          },
        }
      : {}),
  };
}

/**
 * Body of `POST /v3/OS-TRUST/trusts`, sent with the trustor's own token: the trustee may act as the
 * trustor (impersonation) in one project with these roles, until `expiresAt` (none: until deleted),
 * and may not delegate further.
 */
export function trustRequestBody(t: {
  trustorUserId: string;
  trusteeUserId: string;
  projectId: string;
  roles: string[];
  expiresAt?: number;
}): unknown {
  return {
    trust: {
      trustor_user_id: t.trustorUserId,
      trustee_user_id: t.trusteeUserId,
      project_id: t.projectId,
      roles: [...new Set(t.roles)].map((name) => ({ name })),
      impersonation: true,
      allow_redelegation: false,
      ...(t.expiresAt !== undefined ? { expires_at: new Date(t.expiresAt).toISOString() } : {}),
    },
  };
}
