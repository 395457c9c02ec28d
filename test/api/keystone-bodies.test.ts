// The Keystone bodies the REST service sends and reads: a trust-scoped password auth (the service
// user taking a trust's scope), a trust, and what a validated token says of its caller.
import { describe, expect, it } from "vitest";
import { authRequestBody, parseValidatedToken, trustRequestBody } from "../../provider/backends/openstack/keystone";

describe("Keystone bodies for the REST service", () => {
  it("a trust scope replaces the project scope of a password auth", () => {
    expect(
      authRequestBody({
        type: "password",
        authUrl: "x",
        username: "vcluster",
        password: "pw",
        userDomainName: "Default",
        trustId: "t-1",
      }),
    ).toEqual({
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { name: "vcluster", domain: { name: "Default" }, password: "pw" } },
        },
        scope: { "OS-TRUST:trust": { id: "t-1" } },
      },
    });
  });

  it("a trust: impersonation, no redelegation, the roles once each, an expiry", () => {
    expect(
      trustRequestBody({
        trustorUserId: "u",
        trusteeUserId: "svc",
        projectId: "p",
        roles: ["member", "reader", "member"],
        expiresAt: Date.UTC(2030, 0, 1),
      }),
    ).toEqual({
      trust: {
        trustor_user_id: "u",
        trustee_user_id: "svc",
        project_id: "p",
        roles: [{ name: "member" }, { name: "reader" }],
        impersonation: true,
        allow_redelegation: false,
        expires_at: "2030-01-01T00:00:00.000Z",
      },
    });
  });

  it("reads a validated token: user, project, roles, expiry, methods, trust, application credential", () => {
    expect(
      parseValidatedToken({
        token: {
          expires_at: "2030-01-01T00:00:00.000000Z",
          methods: ["application_credential"],
          user: { id: "u", name: "alice" },
          project: { id: "p", name: "alpha" },
          roles: [{ name: "member" }, { name: "reader" }],
          application_credential: { id: "ac", restricted: true },
        },
      }),
    ).toEqual({
      userId: "u",
      userName: "alice",
      projectId: "p",
      projectName: "alpha",
      roles: ["member", "reader"],
      expiresAt: Date.UTC(2030, 0, 1),
      methods: ["application_credential"],
      applicationCredential: { id: "ac", unrestricted: false },
    });
    expect(parseValidatedToken({ token: { expires_at: "2030-01-01T00:00:00Z" } })).toBeUndefined();
    expect(parseValidatedToken({ token: { user: { id: "u" } } })).toBeUndefined();
  });
});
