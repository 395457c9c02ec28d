import { configDefaults, defineConfig } from "vitest/config";

// `npx vitest run --config test/vitest.postgres.config.ts`: the REST service on a real PostgreSQL
// (test/support/postgres.ts starts one from Debian's packages; without them these fail, saying what
// to install). Kept out of `npm test` (about 40 s: replicas in processes of their own, waiting out a
// lease); CI runs it in a stage of its own, after installing postgresql when it is missing.
export const POSTGRES = ["test/api/store.test.ts", "test/api/replicas.test.ts"];

export default defineConfig({
  test: {
    root: `${__dirname}/..`,
    include: POSTGRES,
    exclude: [...configDefaults.exclude],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
