// Who is calling. One small interface, so Keystone token validation plugs in beside `--noauth`:
// an Authenticator turns a request into the project it acts for. Tenant isolation is then the
// routes' job, uniformly: every record is read with the principal's project, so another
// project's cluster is simply not found (404), never "forbidden" (which would confirm it exists).
import { ApiError } from "./errors";

export interface Principal {
  /** The project every record of this request belongs to. */
  projectId: string;
  /** May act on other projects (not used by noauth). */
  isAdmin: boolean;
}

/** What an Authenticator sees of a request. */
export interface AuthRequest {
  headers: Record<string, string | string[] | undefined>;
  /** The `{tenant_id}` of the URL. */
  tenantId: string;
}

export interface Authenticator {
  readonly kind: "noauth" | "keystone";
  /** The principal, or throws ApiError (401 no or bad token, 403 not allowed, 400 URL project mismatch). */
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
