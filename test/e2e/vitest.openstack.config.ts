import { defineConfig } from "vitest/config";

// A whole program under the real `pulumi` command against the OpenStack dev cloud
// (`npm run test:e2e:openstack`, after test/openstack/devcloud/up.sh). Kept out of `npm run test:e2e`,
// which needs no cloud. The same global setup: the CLI (cached) and a fresh dist/.
export default defineConfig({
  test: {
    root: `${__dirname}/../..`,
    include: ["test/e2e/openstack.test.ts"],
    globalSetup: ["test/e2e/global-setup.ts"],
    fileParallelism: false,
    // The tests of one file are steps of one stack's life: each waits on real servers.
    testTimeout: 600_000,
    hookTimeout: 60 * 60_000,
  },
});
