import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    root: `${__dirname}/..`,
    include: ["test/**/*.test.ts"],
    // Slow suites (engine over gRPC, real services) set their own timeouts.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
