import { defineConfig } from "vitest/config";

// Whole programs under the real `pulumi` command (`npm run test:e2e`), kept out of `npm test`:
// the first run may have to build the CLI. One file at a time: the machine has 2 cores and every
// `pulumi` run starts a language host, a Node program and a provider process.
export default defineConfig({
  test: {
    root: `${__dirname}/../..`,
    include: ["test/e2e/**/*.test.ts"],
    // Needs the OpenStack dev cloud: its own config (vitest.openstack.config.ts).
    exclude: ["test/e2e/openstack.test.ts", "**/node_modules/**"],
    globalSetup: ["test/e2e/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 60 * 60_000,
  },
});
