import type { TestProject } from "vitest/node";
import { buildPackage, obtainPulumi } from "../tools/pulumi-env.js";

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
  project.provide("pulumiCliDir", cliDir);
}
