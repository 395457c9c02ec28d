// How the service acts for a caller on a real cloud (Keystone), as Heat does.
//
// Creates, updates and deletes run after their 202, often for longer than the caller's token lives,
// and resume after a restart. So each such request makes a Keystone **trust** with the caller's token:
// trustor the caller, trustee the service user, the token's project, the caller's roles there,
// impersonation on (Nova and Cinder see the caller: members are the caller's, in its project, counted
// against its quota), no redelegation, expiring after `trustLifetimeMs` (24 h by default). The
// operation's record keeps the trust's id, never a token; its work authenticates as the service user
// with the trust as scope (password + `"scope": {"OS-TRUST:trust": {"id": …}}`), re-authenticating as
// tokens expire; when the operation ends (done or failed) the trust is deleted, so no delegation
// outlives the work it was made for (a cluster's delete deletes its own trust at its end). A server
// that stops mid-operation resumes it with the recorded trust; one that could not delete a trust
// retries at its next start.
//
// Why a trust and not an application credential: an application credential is a secret the service
// would have to store (and a restricted one can't be made through another credential); a trust id
// is not a secret — only the service user can use it, with its own password — and the trustor, or
// an admin, sees and revokes it with `openstack trust list/delete`.
//
// Failure modes, and what the API answers:
// - Keystone's policy doesn't let the caller create trusts (identity:create_trust), or the caller's
//   token comes from a restricted application credential or from a trust: the request is a 403 naming
//   the fix; nothing is recorded.
// - The trust can't be used when the work runs (the trustor lost a role in the project, the user or
//   the trust was deleted, the trust expired — an operation resumed more than `trustLifetimeMs` after
//   it was asked for): the operation fails, the cluster is ERROR with that cause and the hint to repeat
//   the request (PUT the same spec, or DELETE) with a valid token, which makes a new trust.
// - Keystone can't be reached: requests are a 503; running work fails like any cloud outage.
// - The service user's own credentials are refused: the server doesn't start.
import { BackendError } from "../backends/backend";
import type { OpenStackConfig } from "../backends/openstack/config";
import { type KeystoneIdentity, KeystoneIdentityError } from "../backends/openstack/identity";
import { OpenStackBackend } from "../backends/openstack/openstack-backend";
import type { BackendSelection } from "../backends/select";
import { quote } from "../model/text";
import type { Principal } from "./auth";
import { TrustBackends } from "./backends";
import { ApiError } from "./errors";

/** A trust lives at most this long (the operation deletes it when done, long before). */
export const DEFAULT_TRUST_LIFETIME_MS = 24 * 3600_000;

/** Connects a backend with `cfg` (a trust's scope, or a caller's token); its identity must be `expected`. */
export type BackendOpener = (cfg: OpenStackConfig, expected: string) => Promise<BackendSelection>;

export async function connectOpenStack(cfg: OpenStackConfig, expected: string): Promise<BackendSelection> {
  const backend = await OpenStackBackend.connect(cfg);
  const id = await backend.identity();
  if (id !== expected) {
    await backend.close();
    throw new BackendError("internal", `the backend connected as ${id}, not ${expected} as the cluster records`);
  }
  return { backend, backendId: id };
}

export interface Delegation {
  backends: TrustBackends;
  /** A new trust for this request's work (its id). Throws ApiError. */
  trustFor(token: string, principal: Principal): Promise<string>;
  deleteTrust(trustId: string): Promise<"deleted" | "gone">;
  /** A backend acting with the caller's own token, for a dry run: the caller closes it. */
  openAsCaller(token: string, principal: Principal): Promise<BackendSelection>;
}

export interface DelegationOptions {
  open?: BackendOpener;
  trustLifetimeMs?: number;
  /** Idle trust backends close after this long. */
  idleMs?: number;
  log: (level: "info" | "warn", message: string) => void;
  now?: () => number;
}

/** A Keystone refusal while connecting through a trust, said as what it means. */
function trustRefused(trustId: string, tenantId: string, error: unknown): unknown {
  if (
    error instanceof BackendError &&
    (error.code === "unauthorized" || error.code === "forbidden" || error.code === "not_found") &&
    error.message.startsWith("keystone:")
  ) {
    return new BackendError(
      "forbidden",
      `this service can no longer act for project ${quote(tenantId)} through trust ${trustId}: Keystone refused it (${error.message}): the trust expired or was deleted, or its trustor lost a role in the project or was deleted; hint: repeat the request (PUT the same spec, or DELETE) with a valid token: it makes a new trust`,
      { cause: error },
    );
  }
  return error;
}

export function keystoneDelegation(identity: KeystoneIdentity, opts: DelegationOptions): Delegation {
  const open = opts.open ?? connectOpenStack;
  const lifetime = opts.trustLifetimeMs ?? DEFAULT_TRUST_LIFETIME_MS;
  const now = opts.now ?? Date.now;
  const backends = new TrustBackends({
    backendIdFor: (tenantId) => identity.backendIdFor(tenantId),
    open: async (trustId, tenantId, expected) => {
      try {
        return await open(identity.trustConfig(trustId), expected);
      } catch (e) {
        throw trustRefused(trustId, tenantId, e);
      }
    },
    ...(opts.idleMs !== undefined ? { idleMs: opts.idleMs } : {}),
  });

  async function trustFor(token: string, principal: Principal): Promise<string> {
    const v = principal.keystone;
    if (!v?.projectId) throw new ApiError(500, "internal error: no Keystone principal for a trust");
    if (v.trustId) {
      throw new ApiError(
        403,
        "this token was itself obtained through a Keystone trust, which can't be delegated again, and the service needs a trust to act for the project once the token expires; hint: send a token of the user itself",
      );
    }
    if (v.applicationCredential && !v.applicationCredential.unrestricted) {
      throw new ApiError(
        403,
        "this token comes from a restricted application credential, which Keystone doesn't let create trusts, and the service needs a trust to act for the project once the token expires; hint: use a password token, or an application credential created with --unrestricted",
      );
    }
    try {
      return await identity.createTrust(
        token,
        { userId: v.userId, projectId: v.projectId, roles: v.roles },
        now() + lifetime,
      );
    } catch (e) {
      if (!(e instanceof KeystoneIdentityError)) throw e;
      const who = quote(v.userName ?? v.userId);
      switch (e.kind) {
        case "caller_token":
          throw new ApiError(
            401,
            "The request you have made requires authentication: Keystone no longer accepts the token",
          );
        case "unavailable":
          throw new ApiError(503, "Keystone can't be reached to make the trust this request needs; retry later");
        case "forbidden":
          throw new ApiError(
            403,
            `Keystone refused to let user ${who} delegate to this service (${e.message}); the service acts for the project through a trust, as Heat does, so its work outlives the token; hint: the cloud's Keystone policy must let users create trusts of their own (identity:create_trust, by default "user_id:%(trust.trustor_user_id)s"), and the token must be a password or unrestricted-application-credential token`,
          );
        default:
          opts.log("warn", `openstack-vcluster serve: making a trust for user ${who} failed: ${e.message}`);
          throw new ApiError(
            500,
            `Keystone refused to make the trust this request needs (${e.message}); hint: the service user must exist in Keystone and the caller's roles must be assignable; the service's log has the details`,
          );
      }
    }
  }

  async function openAsCaller(token: string, principal: Principal): Promise<BackendSelection> {
    try {
      return await open(identity.callerConfig(token, principal.projectId), identity.backendIdFor(principal.projectId));
    } catch (e) {
      if (e instanceof BackendError && (e.code === "unauthorized" || e.code === "forbidden")) {
        throw new ApiError(
          e.code === "unauthorized" ? 401 : 403,
          `Keystone refused a token for project ${quote(principal.projectId)} made from this one: ${e.message}`,
        );
      }
      throw e;
    }
  }

  return { backends, trustFor, deleteTrust: (id) => identity.deleteTrust(id), openAsCaller };
}
