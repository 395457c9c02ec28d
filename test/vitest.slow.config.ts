import { configDefaults, defineConfig } from "vitest/config";

// `npm run test:slow`: what CI runs after `npm test`, kept out of it to keep the README's test command
// short: the demo's fallback through the command, the examples type-checked and previewed, and the
// benchmark's quick mode (presence of every figure, never values).
export const SLOW = ["test/cli/demo-fallback.test.ts", "test/pulumi/examples.test.ts", "test/bench/bench.test.ts"];

export default defineConfig({
  test: {
    root: `${__dirname}/..`,
    include: SLOW,
    exclude: [...configDefaults.exclude],
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
