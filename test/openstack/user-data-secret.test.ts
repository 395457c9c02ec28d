// A server's `user_data` (a cloud-init script: keys, passwords, join tokens) must never be plain text in
// the Pulumi state. The SDK marks it secret in the inputs it registers, and asks for `instances` (the
// outputs echo the inputs) as an additional secret output. Checked on the compiled package under the
// SDK's mocks, by reading the RegisterResource request the engine would get.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/build";

interface Registration {
  name: string;
  object: Record<string, unknown>;
  additionalSecretOutputs: string[];
}

interface RegisterRequest {
  getName(): string;
  getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
  getAdditionalsecretoutputsList(): string[];
}

const registrations: Registration[] = [];
const SECRET = { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig };
const UD = "#cloud-config\nchpasswd: { list: 'root:ud-s3cret' }\n";

type Sdk = typeof import("../../sdk");

beforeAll(async () => {
  await ensureBuilt();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
      call: (args) => args.inputs,
    },
    "proj",
    "stack",
    false,
  );
  // The mock monitor passes only the inputs to `newResource`: look at the request itself.
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: RegisterRequest, cb: (...a: unknown[]) => void): void;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    registrations.push({
      name: req.getName(),
      object: req.getObject()?.toJavaScript() ?? {},
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    });
    register(req, cb);
  };
});

function sdk(): Sdk {
  return require(path.resolve(__dirname, "../../dist/sdk")) as Sdk;
}

/** The request for resource `name`, once the SDK has sent it. */
async function registered(cluster: pulumi.CustomResource, name: string): Promise<Registration> {
  await new Promise<void>((resolve) => cluster.urn.apply(() => resolve()));
  const reg = registrations.find((r) => r.name === name);
  if (!reg) throw new Error(`${name} was not registered`);
  return reg;
}

function instancesOf(reg: Registration): Array<{ name: string; spec: Record<string, unknown> }> {
  return reg.object.instances as Array<{ name: string; spec: Record<string, unknown> }>;
}

/** The request as text, without the secret envelopes (which the engine encrypts before it stores them). */
function plainText(reg: Registration): string {
  return JSON.stringify(reg.object, (_k, v: unknown) =>
    v && typeof v === "object" && (v as Record<string, unknown>)[pulumi.runtime.specialSigKey] ? "[secret]" : v,
  );
}

const server = (userData?: pulumi.Input<string>, key: "userData" | "user_data" = "userData") => ({
  name: "web",
  type: "server" as const,
  spec: { imageRef: "debian-12", flavorRef: "m1.small", ...(userData !== undefined ? { [key]: userData } : {}) },
});
const volume = { name: "data", type: "volume" as const, spec: { size: 10 } };

describe("VCluster user_data", () => {
  it.each([
    ["plain", () => UD],
    ["pulumi.secret()", () => pulumi.secret(UD)],
    ["an Output", () => pulumi.output(UD)],
  ])("given %s is registered as a secret, and instances as a secret output", async (how, value) => {
    const { VCluster } = sdk();
    const name = `ud-${how.replace(/\W/g, "")}`;
    const cluster = new VCluster(name, { instances: [server(value()), volume] });
    const reg = await registered(cluster, name);
    expect(reg.additionalSecretOutputs).toContain("instances");
    const [web, data] = instancesOf(reg);
    expect(web?.spec.userData).toEqual({ ...SECRET, value: UD });
    // Only userData is hidden: the rest of the cluster stays readable in previews.
    expect(web?.spec.imageRef).toBe("debian-12");
    expect(data).toEqual(volume);
    expect(plainText(reg)).not.toContain("ud-s3cret");
  });

  it("is secret when the list, an instance or its spec is itself an Output or a Promise", async () => {
    const { VCluster } = sdk();
    const a = new VCluster("ud-list", { instances: pulumi.output([server(UD), volume]) });
    const b = new VCluster("ud-items", {
      instances: [pulumi.output(server(UD)), Promise.resolve({ ...server(), spec: Promise.resolve(server(UD).spec) })],
    });
    for (const [cluster, name] of [
      [a, "ud-list"],
      [b, "ud-items"],
    ] as const) {
      const reg = await registered(cluster, name);
      expect(reg.additionalSecretOutputs).toContain("instances");
      expect(plainText(reg), name).not.toContain("ud-s3cret");
      const servers = instancesOf(reg).filter((i) => i.spec.imageRef !== undefined);
      expect(
        servers.map((i) => i.spec.userData),
        name,
      ).toEqual(servers.map(() => ({ ...SECRET, value: UD })));
    }
  });

  it("user_data, the deprecated spelling a program may still use, is as secret", async () => {
    const { VCluster } = sdk();
    const cluster = new VCluster("ud-old", { instances: [server(pulumi.output(UD), "user_data"), volume] });
    const reg = await registered(cluster, "ud-old");
    expect(reg.additionalSecretOutputs).toContain("instances");
    expect(instancesOf(reg)[0]?.spec.user_data).toEqual({ ...SECRET, value: UD });
    expect(plainText(reg)).not.toContain("ud-s3cret");
  });

  it("leaves a cluster without user_data as it is, and keeps the caller's own secret outputs", async () => {
    const { VCluster } = sdk();
    const cluster = new VCluster("ud-none", { instances: [server(), volume] }, { additionalSecretOutputs: ["mode"] });
    const reg = await registered(cluster, "ud-none");
    expect(reg.additionalSecretOutputs).toEqual(["mode", "instances"]);
    expect(instancesOf(reg)).toEqual([server(), volume]);
  });
});
