// An authenticated session: holds the Keystone token (re-authenticating before it expires, and once on a 401),
// finds endpoints in the catalog, and sends service requests through the HttpClient.
import type { Dispatcher } from "undici";
import { BackendError } from "../backend";
import type { OpenStackConfig } from "./config";
import type { HttpClient, HttpResponse } from "./http";
import {
  authRequestBody,
  identityBase,
  type KeystoneToken,
  needsRefresh,
  parseTokenResponse,
  selectEndpoint,
} from "./keystone";

/** Catalog types per service, newest name first. */
export const SERVICE_TYPES = {
  compute: ["compute"],
  volume: ["block-storage", "volumev3", "volume"],
  image: ["image"],
  placement: ["placement"],
} as const;
export type ServiceName = keyof typeof SERVICE_TYPES;

const SERVICE_LABEL: Record<ServiceName, string> = {
  compute: "nova",
  volume: "cinder",
  image: "glance",
  placement: "placement",
};

export interface ServiceRequest {
  method: Dispatcher.HttpMethod;
  /** Path below the endpoint ("/servers/detail"), or an absolute URL (pagination links). */
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  okStatuses?: number[];
}

export class Session {
  private current: KeystoneToken | undefined;
  private pending: Promise<KeystoneToken> | undefined;

  constructor(
    readonly cfg: OpenStackConfig,
    readonly http: HttpClient,
    private readonly now: () => number = Date.now,
  ) {
    const a = cfg.auth;
    if (a.type === "password") http.addSecret(a.password);
    if (a.type === "application_credential") http.addSecret(a.applicationCredentialSecret);
    if (a.type === "token") http.addSecret(a.token);
  }

  /** The project the token is scoped to. */
  async projectId(): Promise<string | undefined> {
    if (this.cfg.auth.type === "noauth") return this.cfg.auth.projectId;
    return (await this.token()).projectId;
  }

  async roles(): Promise<string[]> {
    if (this.cfg.auth.type === "noauth") return this.cfg.auth.token.startsWith("admin:") ? ["admin"] : ["member"];
    return (await this.token()).roles;
  }

  private async token(force = false): Promise<KeystoneToken> {
    if (!force && this.current && !needsRefresh(this.current, this.now())) return this.current;
    // Concurrent callers share one authentication.
    this.pending ??= this.authenticate().finally(() => {
      this.pending = undefined;
    });
    this.current = await this.pending;
    return this.current;
  }

  private async authenticate(): Promise<KeystoneToken> {
    const auth = this.cfg.auth;
    if (auth.type === "noauth") throw new Error("unreachable: noauth has no Keystone");
    const res = await this.http.request({
      service: "keystone",
      method: "POST",
      url: `${identityBase(auth.authUrl)}/auth/tokens`,
      body: authRequestBody(auth),
    });
    const subject = res.headers["x-subject-token"];
    this.http.addSecret(subject);
    try {
      return parseTokenResponse(subject, res.json, this.now());
    } catch (err) {
      throw new BackendError("internal", `keystone: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async endpoint(service: ServiceName): Promise<string> {
    const types: readonly string[] = SERVICE_TYPES[service];
    for (const t of types) {
      const override = this.cfg.endpointOverrides[t];
      if (override) return override.replace(/\/+$/, "");
    }
    if (this.cfg.auth.type === "noauth") {
      throw new BackendError(
        "bad_request",
        `no endpoint for ${service}: with auth_type noauth, set ${types[0]}_endpoint_override in clouds.yaml`,
      );
    }
    const tok = await this.token();
    const choice = selectEndpoint(tok.catalog, [...types], this.cfg.interface, this.cfg.region);
    if ("error" in choice) throw new BackendError("not_found", `keystone catalog: ${choice.error}`);
    return choice.url;
  }

  async request(service: ServiceName, req: ServiceRequest): Promise<HttpResponse> {
    const base = await this.endpoint(service);
    const url = /^https?:\/\//.test(req.path) ? req.path : `${base}${req.path}`;
    const send = async (token: string) =>
      this.http.request({
        service: SERVICE_LABEL[service],
        method: req.method,
        url,
        headers: { ...req.headers, "x-auth-token": token },
        body: req.body,
        okStatuses: req.okStatuses,
      });
    if (this.cfg.auth.type === "noauth") return send(this.cfg.auth.token);
    try {
      return await send((await this.token()).token);
    } catch (err) {
      // The token was revoked or expired early: authenticate again, once.
      if (err instanceof BackendError && err.code === "unauthorized") {
        return send((await this.token(true)).token);
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}
