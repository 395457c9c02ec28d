import { configDefaults, defineConfig } from "vitest/config";
import { POSTGRES } from "./vitest.postgres.config";
import { SLOW } from "./vitest.slow.config";

export default defineConfig({
  test: {
    root: `${__dirname}/..`,
    include: ["test/**/*.test.ts"],
    // Needs a real OpenStack cloud: `npm run test:openstack` (test/openstack/vitest.integration.config.ts).
    // Needs the real `pulumi` command (may build it first): `npm run test:e2e` (test/e2e/vitest.config.ts).
    // Slow checks CI runs after this: `npm run test:slow` (test/vitest.slow.config.ts).
    // Needs a real PostgreSQL: test/vitest.postgres.config.ts.
    exclude: [...configDefaults.exclude, "test/openstack/integration/**", "test/e2e/**", ...SLOW, ...POSTGRES],
    // One module graph per worker, not per file: importing the provider again for each of ~90 files
    // was a third of npm test's time (145 s → 110 s). Files don't depend on each other's state: runs
    // with the files shuffled pass (`--sequence.shuffle.files`).
    isolate: false,
    // Slow suites (engine over gRPC, real services) set their own timeouts.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
