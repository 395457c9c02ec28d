// Diagnostics under the resource, from inside the provider process.
//
// `@pulumi/pulumi`'s dynamic-provider server calls the hooks without the resource's URN, and never
// tells the runtime the engine's address (so `pulumi.log` falls back to the console): a line a hook
// writes to stdout reaches the user, but as an info line of no resource, after the preview's summary
// (progress.ts). For the lines that say what will happen to each member (hooks.ts, dryRun), this
// module finds both: the engine's address is the server's own first argument (the engine starts
// `pulumi-resource-pulumi-nodejs <engine address>`), and the URN of the resource a Diff is for is in
// the request, read when the server asks the request for the resource's id, just before it calls the
// `diff` hook. A Log call with that URN shows the message under the resource, warnings as warnings.
// Anything missing (another SDK version, a test driving the server with no engine, an engine that
// doesn't answer): `logUnder` says so, and the caller prints the line as before.
import { createRequire } from "node:module";

export type EngineLevel = "info" | "warn";

interface LogClient {
  log(req: unknown, metadata: unknown, options: { deadline: number }, callback: (err: unknown) => void): void;
}

let lastDiffUrn: string | undefined;
let watching = false;
/** undefined: not tried yet; null: no engine to talk to. */
let client: LogClient | null | undefined;

/** The engine's address when this process is the SDK's dynamic-provider server, else undefined. */
function engineAddress(): string | undefined {
  const [, script, addr] = process.argv;
  if (script === undefined || !/dynamic-provider[\\/]index\.js$/.test(script)) return undefined;
  return addr !== undefined && /^[\w.:[\]-]+:\d+$/.test(addr) ? addr : undefined;
}

/**
 * Starts noting the URN of each Diff request (once per process; a no-op where the SDK's request type
 * can't be found). Must run before the server handles a Diff: the hooks module calls it when loaded,
 * and the engine always checks a resource (loading the hooks) before it diffs it.
 */
export function watchDiffUrns(): void {
  if (watching) return;
  watching = true;
  try {
    const proto = require("@pulumi/pulumi/proto/provider_pb") as {
      DiffRequest: { prototype: { getId(): string; getUrn(): string } };
    };
    const prototype = proto.DiffRequest.prototype;
    const getId = prototype.getId;
    if (typeof getId !== "function" || typeof prototype.getUrn !== "function") return;
    prototype.getId = function (this: { getUrn(): string }) {
      lastDiffUrn = this.getUrn();
      return getId.call(this);
    };
  } catch {
    // Not under the SDK's server: nothing to watch.
  }
}

/**
 * The URN of the Diff request being handled: call it first thing in the `diff` hook, before any await
 * (the server asks the request for the id right before calling the hook, and nothing runs between).
 */
export function takeDiffUrn(): string | undefined {
  const urn = lastDiffUrn;
  lastDiffUrn = undefined;
  return urn;
}

function engineClient(): LogClient | undefined {
  if (client !== undefined) return client ?? undefined;
  client = null;
  const addr = engineAddress();
  if (addr === undefined) return undefined;
  try {
    // The gRPC library and stubs of the SDK that runs this process.
    const fromSdk = createRequire(require.resolve("@pulumi/pulumi/package.json"));
    const grpc = fromSdk("@grpc/grpc-js") as { credentials: { createInsecure(): unknown } };
    const rpc = fromSdk("./proto/engine_grpc_pb") as {
      EngineClient: new (addr: string, creds: unknown) => LogClient;
    };
    client = new rpc.EngineClient(addr, grpc.credentials.createInsecure());
  } catch {
    client = null;
  }
  return client ?? undefined;
}

/**
 * Shows `message` under the resource `urn` (a warning for "warn"). False when it can't: no URN, no
 * engine, or the engine didn't take it within 5 s; the caller then prints the message itself.
 */
export async function logUnder(urn: string | undefined, level: EngineLevel, message: string): Promise<boolean> {
  if (urn === undefined || urn === "") return false;
  const engine = engineClient();
  if (!engine) return false;
  try {
    const fromSdk = createRequire(require.resolve("@pulumi/pulumi/package.json"));
    const proto = fromSdk("./proto/engine_pb") as {
      LogRequest: new () => {
        setSeverity(s: number): void;
        setMessage(m: string): void;
        setUrn(u: string): void;
        setStreamid(n: number): void;
        setEphemeral(e: boolean): void;
      };
      LogSeverity: { INFO: number; WARNING: number };
    };
    const grpc = fromSdk("@grpc/grpc-js") as { Metadata: new () => unknown };
    const req = new proto.LogRequest();
    req.setSeverity(level === "warn" ? proto.LogSeverity.WARNING : proto.LogSeverity.INFO);
    req.setMessage(message);
    req.setUrn(urn);
    req.setStreamid(0);
    req.setEphemeral(false);
    const ok = await new Promise<boolean>((resolve) =>
      engine.log(req, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err) => resolve(!err)),
    );
    // An engine that refused once won't take the next line either: print from now on.
    if (!ok) client = null;
    return ok;
  } catch {
    client = null;
    return false;
  }
}
