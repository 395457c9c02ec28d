// A small Keystone v3 in this process, on a real socket (node:http), for the REST service's unit tests:
// password, token and trust-scoped authentication, token validation (service or admin role), revocation,
// and trusts (create with the trustor's own token, use, delete). Keystone's own quirks that matter are
// kept: a failed validation is a 404 whose message names the token, a trust can't be made with a token
// that came from a trust, a trust's token impersonates the trustor and dies with the trust.
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { BackendError } from "../../provider/backends/backend";
import type { OpenStackConfig } from "../../provider/backends/openstack/config";
import { authRequestBody } from "../../provider/backends/openstack/keystone";
import type { BackendSelection } from "../../provider/backends/select";
import { SimulatedCloud } from "../../provider/backends/simulated";

export interface FakeUser {
  id: string;
  name: string;
  password: string;
}

interface Issued {
  userId: string;
  projectId?: string;
  roles: string[];
  expiresAt: number;
  methods: string[];
  trustId?: string;
  applicationCredential?: { id: string; restricted: boolean };
}

interface Trust {
  id: string;
  trustorUserId: string;
  trusteeUserId: string;
  projectId: string;
  roles: string[];
  impersonation: boolean;
  expiresAt?: number;
}

interface AuthBody {
  identity: {
    methods: string[];
    password: { user: { id?: string; name?: string; password: string } };
    token: { id: string };
  };
  scope?: { "OS-TRUST:trust"?: { id: string }; project?: { id?: string; name?: string } };
}

interface TrustBody {
  trustor_user_id: string;
  trustee_user_id: string;
  project_id: string;
  roles: { name: string }[];
  impersonation?: boolean;
  expires_at?: string;
}

export interface FakeKeystoneOptions {
  /** Tokens live this long (default 1 h). */
  tokenLifetimeMs?: number;
}

export class FakeKeystone {
  readonly users = new Map<string, FakeUser>();
  readonly projects = new Map<string, { id: string; name: string }>();
  /** userId -> projectId -> role names */
  readonly assignments = new Map<string, Map<string, string[]>>();
  readonly tokens = new Map<string, Issued>();
  readonly trusts = new Map<string, Trust>();
  /** Every trust ever made, and every one deleted, in order. */
  readonly trustsMade: Trust[] = [];
  readonly trustsDeleted: string[] = [];
  /** Calls by "METHOD path". */
  readonly calls = new Map<string, number>();
  /** Answer every request with this status (503: down) when set. */
  failWith: number | undefined;
  /** Keystone's policy refuses identity:create_trust. */
  forbidTrusts = false;
  tokenLifetimeMs: number;
  private server: Server | undefined;
  url = "";

  constructor(opts: FakeKeystoneOptions = {}) {
    this.tokenLifetimeMs = opts.tokenLifetimeMs ?? 3_600_000;
  }

  static async start(opts: FakeKeystoneOptions = {}): Promise<FakeKeystone> {
    const ks = new FakeKeystone(opts);
    ks.server = createServer((req, res) => {
      ks.handle(req, res).catch((e: unknown) => {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: 500, message: String(e) } }));
      });
    });
    await new Promise<void>((resolve) => ks.server?.listen(0, "127.0.0.1", resolve));
    ks.url = `http://127.0.0.1:${(ks.server.address() as AddressInfo).port}`;
    return ks;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  count(call: string): number {
    return this.calls.get(call) ?? 0;
  }

  addProject(name: string): string {
    const id = randomBytes(16).toString("hex");
    this.projects.set(id, { id, name });
    return id;
  }

  addUser(name: string, password = randomBytes(12).toString("hex")): FakeUser {
    const user = { id: randomBytes(16).toString("hex"), name, password };
    this.users.set(user.id, user);
    return user;
  }

  grant(userId: string, projectId: string, roles: string[]): void {
    let byProject = this.assignments.get(userId);
    if (!byProject) {
      byProject = new Map();
      this.assignments.set(userId, byProject);
    }
    byProject.set(projectId, [...roles]);
  }

  revokeRoles(userId: string, projectId: string): void {
    this.assignments.get(userId)?.delete(projectId);
  }

  private rolesOf(userId: string, projectId: string): string[] {
    return this.assignments.get(userId)?.get(projectId) ?? [];
  }

  /** A token as Keystone would issue it to `user` for `projectId` (undefined: unscoped). */
  issue(userId: string, projectId: string | undefined, over: Partial<Issued> = {}): string {
    const token = `gAAAAA${randomBytes(90).toString("base64url")}`;
    this.tokens.set(token, {
      userId,
      ...(projectId ? { projectId } : {}),
      roles: projectId ? this.rolesOf(userId, projectId) : [],
      expiresAt: Date.now() + this.tokenLifetimeMs,
      methods: ["password"],
      ...over,
    });
    return token;
  }

  revoke(token: string): void {
    this.tokens.delete(token);
  }

  private live(token: string | undefined): Issued | undefined {
    if (!token) return undefined;
    const t = this.tokens.get(token);
    if (!t || t.expiresAt <= Date.now()) return undefined;
    if (t.trustId) {
      const trust = this.trusts.get(t.trustId);
      if (!trust || (trust.expiresAt !== undefined && trust.expiresAt <= Date.now())) return undefined;
    }
    return t;
  }

  private tokenBody(t: Issued) {
    const user = this.users.get(t.userId);
    const project = t.projectId ? this.projects.get(t.projectId) : undefined;
    return {
      token: {
        methods: t.methods,
        expires_at: new Date(t.expiresAt).toISOString(),
        issued_at: new Date().toISOString(),
        user: { id: t.userId, name: user?.name, domain: { id: "default", name: "Default" } },
        ...(project ? { project: { id: project.id, name: project.name, domain: { id: "default" } } } : {}),
        roles: t.roles.map((name) => ({ id: name, name })),
        catalog: [],
        ...(t.trustId ? { "OS-TRUST:trust": { id: t.trustId, impersonation: true } } : {}),
        ...(t.applicationCredential ? { application_credential: t.applicationCredential } : {}),
      },
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", this.url);
    const path = url.pathname.replace(/^\/v3/, "");
    const key = `${req.method} ${path.replace(/\/OS-TRUST\/trusts\/.+/, "/OS-TRUST/trusts/{id}")}`;
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(body === undefined ? "" : JSON.stringify(body));
    };
    const error = (status: number, message: string) =>
      send(status, { error: { code: status, message, title: status === 404 ? "Not Found" : "Error" } });
    if (this.failWith !== undefined) return error(this.failWith, "Service Unavailable");
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const caller = this.live(header("x-auth-token"));

    if (path === "/auth/tokens" && req.method === "POST") {
      const auth = (JSON.parse(text) as { auth: AuthBody }).auth;
      const identity = auth.identity;
      let userId: string | undefined;
      if (identity.methods[0] === "password") {
        const u = identity.password.user;
        const user = [...this.users.values()].find((x) => (u.id ? x.id === u.id : x.name === u.name));
        if (!user || user.password !== u.password)
          return error(401, "The request you have made requires authentication.");
        userId = user.id;
      } else if (identity.methods[0] === "token") {
        const t = this.live(identity.token.id);
        if (!t) return error(401, "The request you have made requires authentication.");
        if (t.applicationCredential) return error(401, "Application credentials cannot request a scope.");
        userId = t.userId;
      } else {
        return error(401, "unsupported method");
      }
      const trustScope = auth.scope?.["OS-TRUST:trust"];
      let token: string;
      if (trustScope) {
        const trust = this.trusts.get(trustScope.id);
        if (!trust) return error(404, `Could not find trust: ${trustScope.id}.`);
        if (trust.trusteeUserId !== userId) return error(403, "User is not a trustee.");
        if (trust.expiresAt !== undefined && trust.expiresAt <= Date.now()) return error(404, "Trust expired");
        const have = this.rolesOf(trust.trustorUserId, trust.projectId);
        if (!trust.roles.every((r) => have.includes(r))) return error(403, "Trustor does not have the role any more");
        token = this.issue(trust.trustorUserId, trust.projectId, { roles: trust.roles, trustId: trust.id });
      } else {
        const p = auth.scope?.project;
        const project = p
          ? [...this.projects.values()].find((x) => (p.id ? x.id === p.id : x.name === p.name))
          : undefined;
        if (p && !project) return error(401, "project not found");
        if (project && this.rolesOf(userId, project.id).length === 0) return error(401, "no role on the project");
        token = this.issue(userId, project?.id);
      }
      return send(201, this.tokenBody(this.tokens.get(token) as Issued), { "x-subject-token": token });
    }

    if (path === "/auth/tokens" && (req.method === "GET" || req.method === "DELETE")) {
      if (!caller) return error(401, "The request you have made requires authentication.");
      const subject = header("x-subject-token") ?? "";
      const isService = caller.roles.includes("service") || caller.roles.includes("admin");
      if (!isService && this.tokens.get(subject)?.userId !== caller.userId) {
        return error(403, "You are not authorized to perform the requested action: identity:validate_token.");
      }
      const t = this.live(subject);
      // Keystone's own message names the token: a client must never show it.
      if (!t) return error(404, `Could not find token: ${subject}.`);
      if (req.method === "DELETE") {
        this.revoke(subject);
        return send(204);
      }
      return send(200, this.tokenBody(t), { "x-subject-token": subject });
    }

    if (path === "/OS-TRUST/trusts" && req.method === "POST") {
      if (!caller) return error(401, "The request you have made requires authentication.");
      if (this.forbidTrusts) {
        return error(403, "You are not authorized to perform the requested action: identity:create_trust.");
      }
      if (caller.trustId) return error(403, "Redelegation is not allowed for this trust.");
      if (caller.applicationCredential?.restricted) {
        return error(403, "Using method 'application_credential' is not allowed for managing trusts.");
      }
      const t = (JSON.parse(text) as { trust: TrustBody }).trust;
      if (t.trustor_user_id !== caller.userId) return error(403, "The authenticated user should match the trustor.");
      if (!this.users.has(t.trustee_user_id)) return error(404, `Could not find user: ${t.trustee_user_id}.`);
      const roles = t.roles.map((r) => r.name);
      const have = this.rolesOf(caller.userId, t.project_id);
      const missing = roles.find((r) => !have.includes(r));
      if (missing) return error(403, `Requested role ${missing} is not assigned to the trustor.`);
      const trust: Trust = {
        id: randomUUID().replace(/-/g, ""),
        trustorUserId: caller.userId,
        trusteeUserId: t.trustee_user_id,
        projectId: t.project_id,
        roles,
        impersonation: t.impersonation === true,
        ...(t.expires_at ? { expiresAt: Date.parse(t.expires_at) } : {}),
      };
      this.trusts.set(trust.id, trust);
      this.trustsMade.push(trust);
      return send(201, { trust: { id: trust.id, trustor_user_id: trust.trustorUserId } });
    }

    const m = /^\/OS-TRUST\/trusts\/([^/]+)$/.exec(path);
    if (m && req.method === "DELETE") {
      if (!caller) return error(401, "The request you have made requires authentication.");
      const trust = this.trusts.get(m[1] as string);
      if (!trust) return error(404, `Could not find trust: ${m[1]}.`);
      if (caller.userId !== trust.trustorUserId && !caller.roles.includes("admin")) {
        return error(403, "Only admin or trustor can delete a trust");
      }
      this.trusts.delete(trust.id);
      this.trustsDeleted.push(trust.id);
      return send(204);
    }
    return error(404, `no route ${req.method} ${path}`);
  }
}

/**
 * The REST service's backend opener for tests: authenticates at the fake Keystone with the config it is
 * given (a trust's scope, or the caller's token), as OpenStackBackend.connect would, and on success
 * opens the simulated cloud in `simDir` under the identity the cluster records. `gate` holds every
 * open until it resolves (to change Keystone between a request and its work).
 */
export function simulatedOpener(
  ks: FakeKeystone,
  simDir: string,
  opts: { gate?: () => Promise<void>; opened?: { trust: number; token: number } } = {},
) {
  return async (cfg: OpenStackConfig, expected: string): Promise<BackendSelection> => {
    await opts.gate?.();
    if (cfg.auth.type === "noauth") throw new Error("unexpected noauth");
    const res = await fetch(`${ks.url}/v3/auth/tokens`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(authRequestBody(cfg.auth)),
    });
    if (res.status !== 201) {
      const code = res.status === 401 ? "unauthorized" : res.status === 403 ? "forbidden" : "not_found";
      throw new BackendError(code, `keystone: POST /v3/auth/tokens returned ${res.status}`);
    }
    const body = (await res.json()) as { token: { project?: { id: string } } };
    const project = body.token.project?.id;
    if (!project || !expected.includes(`|project=${project}|`)) {
      throw new Error(`the token's project ${project} is not the cluster's (${expected})`);
    }
    if (opts.opened) {
      if ("trustId" in cfg.auth && cfg.auth.trustId) opts.opened.trust++;
      else opts.opened.token++;
    }
    return { backend: await SimulatedCloud.open({ dir: simDir }), backendId: expected };
  };
}
