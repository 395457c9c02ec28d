// Drives the VCluster provider the way the Pulumi engine does, offline:
//   1. a real program (`new VCluster(...)`) runs under `pulumi.runtime.setMocks` in a child
//      process, and the `__provider` text the SDK's closure serializer produced is captured;
//   2. the SDK's own dynamic-provider server (`@pulumi/pulumi/cmd/dynamic-provider`) is
//      spawned with the program directory as its working directory, as the engine's
//      `pulumi-resource-pulumi-nodejs` plugin does;
//   3. configure/check/diff/create/update/read/delete go to it over gRPC with the SDK's own
//      stubs, `__provider` riding in the properties as the engine passes it.
// `EngineSession` strings those calls together like the engine's step generator for one
// resource (preview, up, refresh, destroy), including initialization errors (partial state).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import * as statusproto from "@pulumi/pulumi/proto/status_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import { REPO } from "./build";

export const PACKAGE_NAME = "pulumi-openstack-vcluster";
export const RESOURCE_TYPE = "pulumi-nodejs:dynamic/openstack-vcluster:VCluster";
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export type Props = Record<string, unknown>;

/**
 * A throwaway Pulumi program directory whose `node_modules` resolves the package to this
 * repository (as `npm install file:..` would) and `@pulumi/pulumi` to the repo's copy, so
 * the program and the package share one SDK instance.
 */
export function makeProgramDir(prefix = "vcluster-prog-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.mkdirSync(path.join(dir, "node_modules", "@pulumi"), { recursive: true });
  fs.symlinkSync(REPO, path.join(dir, "node_modules", PACKAGE_NAME), "dir");
  fs.symlinkSync(path.join(REPO, "node_modules/@pulumi/pulumi"), path.join(dir, "node_modules/@pulumi/pulumi"), "dir");
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: proj\nruntime: nodejs\n");
  return dir;
}

export interface MockRegistration {
  type: string;
  name: string;
  inputs: Props;
}

const MOCK_RUNNER = `
const pulumi = require("@pulumi/pulumi");
pulumi.runtime.setMocks({
  newResource(args) {
    process.stdout.write("REGISTERED " + JSON.stringify({ type: args.type, name: args.name, inputs: args.inputs }) + "\\n");
    return { id: args.name + "-id", state: args.inputs };
  },
  call(args) { return args.inputs; },
}, "proj", "dev", false);
require(require("node:path").resolve(process.argv[2]));
`;

/**
 * Runs a CommonJS program file (relative to `dir`) under the SDK's mocks in a child
 * process and returns every resource it registered, with inputs as the engine would get
 * them (the `__provider` text included).
 */
export function runUnderMocks(dir: string, programFile: string, env: NodeJS.ProcessEnv = {}): MockRegistration[] {
  fs.writeFileSync(path.join(dir, "mock-runner.js"), MOCK_RUNNER);
  const out = execFileSync(process.execPath, ["mock-runner.js", programFile], {
    cwd: dir,
    env: { ...process.env, ...env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000,
  });
  return out
    .split("\n")
    .filter((l) => l.startsWith("REGISTERED "))
    .map((l) => JSON.parse(l.slice("REGISTERED ".length)) as MockRegistration);
}

/** The serialized provider of the program's one VCluster. */
export function serializedProvider(dir: string, env: NodeJS.ProcessEnv = {}): string {
  fs.writeFileSync(
    path.join(dir, "index.js"),
    `const { VCluster } = require("${PACKAGE_NAME}");\nnew VCluster("db", { instances: [] });\n`,
  );
  const regs = runUnderMocks(dir, "index.js", env).filter((r) => r.type === RESOURCE_TYPE);
  const text = regs[0]?.inputs.__provider;
  if (typeof text !== "string") throw new Error(`the program registered no ${RESOURCE_TYPE} with a __provider`);
  return text;
}

export interface InitFailure {
  id: string;
  properties: Props;
  reasons: string[];
}

/** An error returned over gRPC, with the initialization-error details when the SDK sent them. */
export class RpcError extends Error {
  readonly init?: InitFailure;
  constructor(message: string, init?: InitFailure) {
    super(message);
    this.name = "RpcError";
    this.init = init;
  }
}

export interface CheckResponse {
  inputs: Props;
  failures: { property: string; reason: string }[];
}

export interface DiffResponse {
  changes: "none" | "some" | "unknown";
  replaces: string[];
  deleteBeforeReplace: boolean;
}

type Unary<Req, Res> = (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown;

/** The SDK's dynamic-provider server in a child process, and a gRPC client to it. */
export class ProviderServer {
  /** Every line the server wrote to stdout after its port (progress) and to stderr. */
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly client: provrpc.ResourceProviderClient,
  ) {}

  static async start(dir: string, env: NodeJS.ProcessEnv = {}): Promise<ProviderServer> {
    const entry = require.resolve("@pulumi/pulumi/cmd/dynamic-provider", { paths: [REPO] });
    const child = spawn(process.execPath, [entry, "127.0.0.1:1"], {
      cwd: dir,
      env: { ...process.env, PULUMI_NODEJS_PROJECT: "proj", PULUMI_NODEJS_STACK: "dev", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    const errLines: string[] = [];
    const port = await new Promise<number>((resolve, reject) => {
      let buf = "";
      let resolved = false;
      child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
        buf += chunk;
        let nl = buf.indexOf("\n");
        while (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!resolved) {
            resolved = true;
            resolve(Number(line.trim()));
          } else if (line.trim() !== "") lines.push(line);
          nl = buf.indexOf("\n");
        }
      });
      child.stderr?.setEncoding("utf8").on("data", (chunk: string) => errLines.push(chunk));
      child.on("exit", (code) => {
        if (!resolved)
          reject(new Error(`provider server exited (${code}) before printing its port: ${errLines.join("")}`));
      });
    });
    const client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const server = new ProviderServer(child, client);
    // Keep the server's own arrays as the sinks from now on.
    server.stdout.push(...lines.splice(0));
    child.stdout?.on("data", () => server.stdout.push(...lines.splice(0)));
    child.stderr?.on("data", () => server.stderr.push(...errLines.splice(0)));
    server.stderr.push(...errLines.splice(0));
    return server;
  }

  /**
   * Its stdout lines from `from` on, once stdout has been quiet for 100 ms (3 s at most): they come
   * through a pipe, and may arrive after the gRPC answer of the call that logged them.
   */
  async settledStdout(from = 0): Promise<string[]> {
    const deadline = Date.now() + 3000;
    let seen = -1;
    while (this.stdout.length !== seen && Date.now() < deadline) {
      seen = this.stdout.length;
      await new Promise((r) => setTimeout(r, 100));
    }
    return this.stdout.slice(from);
  }

  async stop(): Promise<void> {
    this.client.close();
    if (this.child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      this.child.once("exit", () => resolve());
      this.child.kill("SIGTERM");
    });
  }

  private call<Req, Res>(method: Unary<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(this.client, req, (err, res) => {
        if (err) reject(toRpcError(err));
        else resolve(res);
      });
    });
  }

  async configure(config: Record<string, string>): Promise<void> {
    const req = new provproto.ConfigureRequest();
    req.setArgs(structproto.Struct.fromJavaScript(config as structproto.JavaScriptValue as never));
    req.setAcceptsecrets(false);
    await this.call(this.client.configure, req);
  }

  async check(urn: string, olds: Props, news: Props): Promise<CheckResponse> {
    const req = new provproto.CheckRequest();
    req.setUrn(urn);
    req.setOlds(struct(olds));
    req.setNews(struct(news));
    const res = await this.call<provproto.CheckRequest, provproto.CheckResponse>(this.client.check, req);
    return {
      inputs: (res.getInputs()?.toJavaScript() ?? {}) as Props,
      failures: res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  async diff(urn: string, id: string, olds: Props, news: Props): Promise<DiffResponse> {
    const req = new provproto.DiffRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setOlds(struct(olds));
    req.setNews(struct(news));
    const res = await this.call<provproto.DiffRequest, provproto.DiffResponse>(this.client.diff, req);
    const c = res.getChanges();
    const D = provproto.DiffResponse.DiffChanges;
    return {
      changes: c === D.DIFF_SOME ? "some" : c === D.DIFF_NONE ? "none" : "unknown",
      replaces: res.getReplacesList(),
      deleteBeforeReplace: res.getDeletebeforereplace(),
    };
  }

  async create(urn: string, props: Props): Promise<{ id: string; properties: Props }> {
    const req = new provproto.CreateRequest();
    req.setUrn(urn);
    req.setProperties(struct(props));
    const res = await this.call<provproto.CreateRequest, provproto.CreateResponse>(this.client.create, req);
    return { id: res.getId(), properties: (res.getProperties()?.toJavaScript() ?? {}) as Props };
  }

  async update(urn: string, id: string, olds: Props, news: Props): Promise<{ properties: Props }> {
    const req = new provproto.UpdateRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setOlds(struct(olds));
    req.setNews(struct(news));
    const res = await this.call<provproto.UpdateRequest, provproto.UpdateResponse>(this.client.update, req);
    return { properties: (res.getProperties()?.toJavaScript() ?? {}) as Props };
  }

  async read(
    urn: string,
    id: string,
    props: Props,
    inputs: Props,
  ): Promise<{ id: string; properties: Props; inputs?: Props }> {
    const req = new provproto.ReadRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setProperties(struct(props));
    req.setInputs(struct(inputs));
    const res = await this.call<provproto.ReadRequest, provproto.ReadResponse>(this.client.read, req);
    const ins = res.getInputs()?.toJavaScript() as Props | undefined;
    return {
      id: res.getId(),
      properties: (res.getProperties()?.toJavaScript() ?? {}) as Props,
      inputs: ins && Object.keys(ins).length > 0 ? ins : undefined,
    };
  }

  async delete(urn: string, id: string, props: Props): Promise<void> {
    const req = new provproto.DeleteRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setProperties(struct(props));
    await this.call(this.client.delete, req);
  }
}

function struct(v: Props): structproto.Struct {
  // Struct can't carry undefined; the engine never sends it either.
  return structproto.Struct.fromJavaScript(JSON.parse(JSON.stringify(v)) as never);
}

/** Decodes the `grpc-status-details-bin` trailer the SDK attaches to initialization errors. */
function toRpcError(err: grpc.ServiceError): RpcError {
  const bin = err.metadata?.get("grpc-status-details-bin")[0];
  if (bin instanceof Buffer) {
    const status = statusproto.Status.deserializeBinary(new Uint8Array(bin));
    for (const any of status.getDetailsList()) {
      if (!any.getTypeUrl().endsWith("pulumirpc.ErrorResourceInitFailed")) continue;
      const detail = provproto.ErrorResourceInitFailed.deserializeBinary(any.getValue_asU8());
      return new RpcError(err.details, {
        id: detail.getId(),
        properties: (detail.getProperties()?.toJavaScript() ?? {}) as Props,
        reasons: detail.getReasonsList(),
      });
    }
  }
  return new RpcError(err.details ?? err.message);
}

export interface StoredResource {
  id: string;
  inputs: Props;
  outputs: Props;
  /** Set when the last create/update failed with an initialization error (partial state). */
  initErrors?: string[];
}

export type UpOutcome =
  | { kind: "failed-check"; failures: CheckResponse["failures"] }
  | { kind: "same" }
  | { kind: "created" | "updated" | "replaced" }
  | { kind: "init-error"; message: string; step: "create" | "update" };

/**
 * One VCluster resource in one stack, stepped like the engine: check → (create | diff →
 * update/replace), refresh = read, destroy = delete, with the state the engine would store
 * in between. An initialization error is recorded as the engine does (partial outputs,
 * the new inputs) and the next `up` updates it.
 */
export class EngineSession {
  resource?: StoredResource;
  /** The last diff the session saw. */
  lastDiff?: DiffResponse;
  readonly urn: string;

  constructor(
    readonly server: ProviderServer,
    readonly providerText: string,
    name = "db",
  ) {
    this.urn = `urn:pulumi:dev::proj::${RESOURCE_TYPE}::${name}`;
  }

  private withProvider(args: Props): Props {
    return { ...args, __provider: this.providerText };
  }

  /** `pulumi preview`: check, and diff for an existing resource; nothing is created. */
  async preview(args: Props): Promise<{ failures: CheckResponse["failures"]; diff?: DiffResponse }> {
    const news = this.withProvider(args);
    const checked = await this.server.check(this.urn, this.resource?.inputs ?? {}, news);
    if (checked.failures.length > 0 || !this.resource) return { failures: checked.failures };
    const diff = await this.server.diff(this.urn, this.resource.id, this.resource.outputs, checked.inputs);
    return { failures: [], diff };
  }

  /** `pulumi up` for this one resource. */
  async up(args: Props): Promise<UpOutcome> {
    const news = this.withProvider(args);
    const checked = await this.server.check(this.urn, this.resource?.inputs ?? {}, news);
    if (checked.failures.length > 0) return { kind: "failed-check", failures: checked.failures };
    const inputs = checked.inputs;
    if (!this.resource) return this.createWith(inputs, "created");
    const diff = await this.server.diff(this.urn, this.resource.id, this.resource.outputs, inputs);
    this.lastDiff = diff;
    // The engine updates a resource with initialization errors even when the diff is empty.
    if (diff.changes === "none" && !this.resource.initErrors) {
      this.resource.inputs = inputs;
      return { kind: "same" };
    }
    if (diff.replaces.length > 0) {
      await this.server.delete(this.urn, this.resource.id, this.resource.outputs);
      this.resource = undefined;
      return this.createWith(inputs, "replaced");
    }
    const { id } = this.resource;
    try {
      const res = await this.server.update(this.urn, id, this.resource.outputs, inputs);
      this.resource = { id, inputs, outputs: res.properties };
      return { kind: "updated" };
    } catch (err) {
      return this.recordInitError(err, inputs, "update");
    }
  }

  private async createWith(inputs: Props, kind: "created" | "replaced"): Promise<UpOutcome> {
    try {
      const res = await this.server.create(this.urn, inputs);
      this.resource = { id: res.id, inputs, outputs: res.properties };
      return { kind };
    } catch (err) {
      return this.recordInitError(err, inputs, "create");
    }
  }

  private recordInitError(err: unknown, inputs: Props, step: "create" | "update"): UpOutcome {
    if (err instanceof RpcError && err.init) {
      this.resource = { id: err.init.id, inputs, outputs: err.init.properties, initErrors: err.init.reasons };
      return { kind: "init-error", message: err.message, step };
    }
    throw err;
  }

  /** `pulumi refresh`: read with the stored outputs; returned inputs replace the stored ones. */
  async refresh(): Promise<void> {
    if (!this.resource) return;
    const res = await this.server.read(this.urn, this.resource.id, this.resource.outputs, this.resource.inputs);
    if (res.id === "") {
      this.resource = undefined;
      return;
    }
    this.resource = {
      ...this.resource,
      id: res.id,
      inputs: res.inputs ?? this.resource.inputs,
      outputs: res.properties,
    };
  }

  /** `pulumi destroy`. */
  async destroy(): Promise<void> {
    if (!this.resource) return;
    await this.server.delete(this.urn, this.resource.id, this.resource.outputs);
    this.resource = undefined;
  }
}
