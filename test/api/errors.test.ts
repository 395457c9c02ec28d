// What the API refuses, and how: Nova's error shape, the spec layer's issues (code, path, hint),
// 413 above 1 MiB, 415 for anything but JSON, JSON syntax errors with line and column, and a
// repeated key (the blueprint's own examples repeat "instance") named with its lines.
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  blueprintNamed,
  call,
  makeCloud,
  removeTempDirs,
  serve,
  specFile,
  type TestServer,
  tempDir,
  waitFor,
} from "../support/api";

let server: TestServer;

beforeAll(async () => {
  const dir = tempDir();
  await makeCloud(path.join(dir, "sim"));
  server = await serve({ simDir: path.join(dir, "sim"), db: path.join(dir, "api.db") });
});

afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

const POST = "/v2/tenant-a/vclusters";

describe("request bodies", () => {
  it("a repeated key is a 400 naming the key and its lines, with a hint to write an array", async () => {
    const r = await call(server.url, "POST", POST, specFile("blueprint-example-1-repeated-keys.json"));
    expect(r.status).toBe(400);
    const fault = r.body.badRequest;
    expect(fault.code).toBe(400);
    expect(fault.message).toMatch(/^cluster "new-virtual-cluster": the request body has 2 problems: /);
    expect(fault.message).toContain('key "instance" occurs 2 times in "vcluster.instances" (lines 5 and 10)');
    expect(fault.issues).toEqual([
      {
        code: "invalid_type",
        path: "vcluster.groupings",
        message: '"groupings" must be an array, got an object',
        hint: 'write an array: "groupings": [ {...}, {...} ]',
      },
      {
        code: "duplicate_key",
        path: "vcluster.instances.instance",
        message:
          'key "instance" occurs 2 times in "vcluster.instances" (lines 5 and 10); only the last one would be kept',
        hint: 'write an array instead of repeating a key: "instances": [ {...}, {...} ]',
      },
    ]);
    // Nothing was created.
    expect((await call(server.url, "GET", POST)).body.vclusters).toEqual([]);
  });

  it("malformed JSON is a 400 with the line and column", async () => {
    const r = await call(server.url, "POST", POST, '{\n  "vcluster": {\n    "name": "x",\n  }\n}');
    expect(r.status).toBe(400);
    expect(r.body.badRequest.message).toBe(
      "the request body is not valid JSON: (body): line 4, column 3: trailing comma before } (hint: remove the last comma)",
    );
    expect(r.body.badRequest.issues).toEqual([
      {
        code: "invalid_json",
        path: "",
        message: "line 4, column 3: trailing comma before }",
        hint: "remove the last comma",
        line: 4,
        column: 3,
      },
    ]);
  });

  it("every problem of a spec at once, each with a code, a path and a hint", async () => {
    const body = blueprintNamed("typos", {
      groupings: [{ name: "g", membersRef: ["db-server-1", "db-vol-9"], spec: { rule: "affinity", scop: "host" } }],
    });
    const r = await call(server.url, "POST", POST, body);
    expect(r.status).toBe(400);
    expect(r.body.badRequest.message).toMatch(/^cluster "typos": the request body has 2 problems: /);
    expect(r.body.badRequest.issues).toEqual([
      expect.objectContaining({
        code: "unknown_member",
        path: "vcluster.groupings[0].membersRef[1]",
        hint: 'did you mean "db-vol-1"?',
      }),
      expect.objectContaining({
        code: "unknown_field",
        path: "vcluster.groupings[0].spec.scop",
        hint: expect.stringContaining('"scope"'),
      }),
    ]);
  });

  it('the body is the blueprint\'s {"vcluster": …} or the args form, read as the command reads it', async () => {
    for (const body of [{ name: "x", members: [] }, [], "1"]) {
      const r = await call(server.url, "POST", POST, body);
      expect(r.status).toBe(400);
      expect(r.body.badRequest.issues).toEqual([
        expect.objectContaining({
          code: "missing_field",
          path: "vcluster",
          hint: expect.stringContaining('{"vcluster"'),
        }),
      ]);
    }
    const args = await call(server.url, "POST", POST, { name: "x", instances: [] });
    expect(args.status).toBe(400);
    expect(args.body.badRequest.issues).toEqual([expect.objectContaining({ path: "instances" })]);
  });

  it("no body, and an empty one, are 400s saying what to send", async () => {
    for (const [body, headers] of [
      [undefined, {}],
      ["", { "content-type": "application/json" }],
    ] as const) {
      const r = await call(server.url, "POST", POST, body, headers);
      expect(r.status).toBe(400);
      expect(r.body.badRequest.message).toMatch(/^the request has no body; hint: send \{"vcluster"/);
    }
  });

  it("a body over 1 MiB is a 413", async () => {
    const big = JSON.stringify(blueprintNamed("big", { padding: "x".repeat(1024 * 1024) }));
    const r = await call(server.url, "POST", POST, big);
    expect(r.status).toBe(413);
    expect(r.body.overLimit).toMatchObject({
      code: 413,
      message: expect.stringContaining("larger than 1048576 bytes"),
    });
  });

  it("a body just under 1 MiB is read (and judged on its content)", async () => {
    const body = JSON.stringify(blueprintNamed("big", { padding: "" }));
    const padded = body.replace('"padding":""', `"padding":"${"x".repeat(1024 * 1024 - body.length - 10)}"`);
    const r = await call(server.url, "POST", POST, padded);
    expect(r.status).toBe(400);
    expect(r.body.badRequest.issues).toEqual([
      expect.objectContaining({ code: "unknown_field", path: "vcluster.padding" }),
    ]);
  });

  it("a content type other than JSON is a 415", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/yaml"]) {
      const r = await call(server.url, "POST", POST, "vcluster: {}", { "content-type": type });
      expect(r.status, type).toBe(415);
      expect(r.body.badMediaType).toEqual({
        code: 415,
        message: `content type "${type}" is not supported; hint: send the body as application/json`,
      });
    }
    const charset = await call(server.url, "POST", POST, specFile("blueprint-usecase-1.json"), {
      "content-type": "application/json; charset=utf-8",
    });
    expect(charset.status).toBe(202);
    await waitFor(server.url, "tenant-a", charset.body.vcluster.id, ["ACTIVE"]);
  });

  it("a PUT with a bad body changes nothing", async () => {
    const created = await call(server.url, "POST", POST, blueprintNamed("keep-me"));
    const id = created.body.vcluster.id;
    await waitFor(server.url, "tenant-a", id, ["ACTIVE"]);
    const r = await call(server.url, "PUT", `${POST}/${id}`, specFile("blueprint-example-1-repeated-keys.json"));
    expect(r.status).toBe(400);
    const after = await call(server.url, "GET", `${POST}/${id}`);
    expect(after.body.vcluster).toMatchObject({ name: "keep-me", status: "ACTIVE", operation: { action: "create" } });
  });
});

describe("URLs", () => {
  it("unknown paths and ids that are not uuids are itemNotFound", async () => {
    for (const route of ["/v3", `${POST}/not-a-uuid`, `${POST}/00000000-0000-0000-0000-000000000000`]) {
      const r = await call(server.url, "GET", route);
      expect(r.status, route).toBe(404);
      expect(r.body.itemNotFound.code).toBe(404);
    }
  });

  it("a tenant id that is no project id is a 400", async () => {
    const r = await call(server.url, "GET", "/v2/bad%20tenant/vclusters");
    expect(r.status).toBe(400);
    expect(r.body.badRequest.message).toMatch(/^tenant id "bad tenant" is not valid/);
  });

  it("a bad limit is a 400", async () => {
    const r = await call(server.url, "GET", `${POST}?limit=ten`);
    expect(r.status).toBe(400);
    expect(r.body.badRequest.message).toMatch(/^limit "ten" is not valid/);
  });
});
