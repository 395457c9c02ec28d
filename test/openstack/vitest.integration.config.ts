import { defineConfig } from "vitest/config";

// The OpenStack integration suite: against the dev cloud of test/openstack/devcloud/up.sh (or any cloud
// named by OS_CLOUD). Not part of `npm test`, which stays offline; run with `npm run test:openstack`.
export default defineConfig({
  test: {
    root: `${__dirname}/../..`,
    include: ["test/openstack/integration/**/*.test.ts"],
    testTimeout: 300_000,
    // The conformance suite's afterAll waits up to timeoutMs for each volume it made, even deleted ones.
    hookTimeout: 600_000,
    // One cloud, two cores: files one at a time.
    fileParallelism: false,
  },
});
