import { defineConfig } from "vitest/config";

// The placement map in a real browser (`npx vitest run --config test/vitest.browser.config.ts`,
// a stage of .ci/run): Debian's Chromium driven by playwright-core. Kept out of `npm test`, which
// must not need a browser; the suite fails, never skips, where /usr/bin/chromium is missing.
export default defineConfig({
  test: {
    root: `${__dirname}/..`,
    include: ["test/cli/*.browser.ts"],
    // One browser at a time: the machine has 2 cores.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
