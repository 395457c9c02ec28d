// The outputs a program reads (`cluster.members`, …) must be the engine's Outputs, not fields
// that a class-field initializer reset to undefined after `super()` (as `!:` fields compiled
// for ES2022+ do). Checked on the compiled package, as programs load it.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/build";

const OUTPUTS = [
  "clusterName",
  "members",
  "placement",
  "softViolations",
  "brokenRules",
  "missing",
  "backendKind",
  "mode",
];

describe("VCluster outputs", () => {
  beforeAll(async () => {
    await ensureBuilt();
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => ({
          id: `${args.name}-id`,
          state: { ...args.inputs, backendKind: "simulated", mode: "pinned" },
        }),
        call: (args) => args.inputs,
      },
      "proj",
      "stack",
      true,
    );
  });

  it("every declared output is an Output that resolves", async () => {
    const { VCluster } = require(path.resolve(__dirname, "../../dist/sdk")) as typeof import("../../sdk");
    const cluster = new VCluster("c", {
      instances: [{ name: "a", type: "server", spec: { imageRef: "debian-12", flavorRef: "m1.small" } }],
    });
    for (const key of OUTPUTS) {
      expect(pulumi.Output.isInstance((cluster as unknown as Record<string, unknown>)[key]), key).toBe(true);
    }
    const name = await new Promise<string>((resolve) => cluster.clusterName.apply((v) => resolve(v)));
    expect(name).toBe("proj-stack-c");
    const kind = await new Promise<string>((resolve) => cluster.backendKind.apply((v) => resolve(v)));
    expect(kind).toBe("simulated");
  });
});
