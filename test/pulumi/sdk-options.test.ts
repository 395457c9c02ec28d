// What VCluster hands the engine for the resource options a dynamic provider can't otherwise see:
// `import` goes to the provider as the `importId` input (and not to the engine, whose import can't
// reach a dynamic provider's read), `customTimeouts` as an input too (and to the engine as well);
// neither appears when not set, so stacks written before show no change. Checked on the compiled
// package under the SDK's mocks.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/build";

interface Registered {
  name: string;
  inputs: Record<string, unknown>;
  id?: string;
}

const registered: Registered[] = [];

describe("VCluster resource options", () => {
  beforeAll(async () => {
    await ensureBuilt();
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          registered.push({ name: args.name, inputs: args.inputs, ...(args.id ? { id: args.id } : {}) });
          return { id: `${args.name}-id`, state: args.inputs };
        },
        call: (args) => args.inputs,
      },
      "proj",
      "stack",
      false,
    );
  });

  const instances = [{ name: "a", type: "server" as const, spec: { imageRef: "debian-12", flavorRef: "m1.small" } }];

  async function register(name: string, opts?: pulumi.CustomResourceOptions): Promise<Registered> {
    const { VCluster } = require(path.resolve(__dirname, "../../dist/sdk")) as typeof import("../../sdk");
    const cluster = new VCluster(name, { clusterName: "shop", instances }, opts);
    await new Promise<void>((resolve) => cluster.urn.apply(() => resolve()));
    const reg = registered.find((r) => r.name === name);
    if (!reg) throw new Error(`${name} was not registered`);
    return reg;
  }

  it("import: an input for the provider, not an import for the engine", async () => {
    const reg = await register("imp", { import: "shop:a=6f1c2b1e-0000-4000-8000-000000000001" });
    expect(reg.inputs.importId).toBe("shop:a=6f1c2b1e-0000-4000-8000-000000000001");
    expect(reg.id).toBeUndefined();
  });

  it("customTimeouts: the operations set, as written", async () => {
    const reg = await register("timed", { customTimeouts: { create: "30m", delete: "10m" } });
    expect(reg.inputs.customTimeouts).toEqual({ create: "30m", delete: "10m" });
  });

  it("neither set: no such inputs at all", async () => {
    const reg = await register("plain");
    expect(Object.keys(reg.inputs)).not.toContain("importId");
    expect(Object.keys(reg.inputs)).not.toContain("customTimeouts");
  });
});
