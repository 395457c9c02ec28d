#!/usr/bin/env node
import { processIo } from "./io";
// The `openstack-vcluster` command.
import { run } from "./program";

run(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Last resort: every expected failure is handled inside run(); this is a bug, but still one line.
    process.stderr.write(
      `openstack-vcluster: internal error: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exitCode = 3;
  },
);
