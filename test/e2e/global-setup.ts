import type { TestProject } from "vitest/node";
import { buildPackage, obtainPulumi, pulumiRoute } from "../tools/pulumi-env.js";

declare module "vitest" {
  export interface ProvidedContext {
    pulumiCliDir: string;
  }
}

// Once per run: the CLI (built on first use, then cached) and a fresh dist/ for the programs to load.
// A CLI that can't be obtained fails the whole suite here, with the script's reason: never a skip.
export default async function setup(project: TestProject): Promise<void> {
  const cliDir = await obtainPulumi({ onProgress: (line) => process.stderr.write(`${line}\n`) }).catch((e: unknown) => {
    throw new Error(`e2e: cannot obtain the pulumi CLI: ${e instanceof Error ? e.message : String(e)}`);
  });
  // Type errors elsewhere in the tree (tsc still emits) are for `npm test` to fail on; here they are shown.
  buildPackage({ onWarning: (text) => process.stderr.write(`e2e: warning: ${text}\n`) });
  process.stderr.write(
    pulumiRoute(cliDir) === "host"
      ? "e2e: programs run through the official pulumi-language-nodejs, as users run them\n"
      : "e2e: no pulumi-language-nodejs installed: programs run through the runtime @pulumi/pulumi serves itself (test/tools/pulumi-inline.js)\n",
  );
  project.provide("pulumiCliDir", cliDir);
}
