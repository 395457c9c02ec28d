// `npm run demo` is the README's first command: on a machine where the `pulumi` command can't be
// had, it must still build, show and destroy the demo cluster (through the openstack-vcluster
// command, saying so loudly) instead of failing. Its run under the real `pulumi` is in test/e2e.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");

it("npm run demo without pulumi builds, shows and destroys the cluster through the command", () => {
  const cache = mkdtempSync(path.join(tmpdir(), "vcluster-nopulumi-"));
  try {
    const r = spawnSync(process.execPath, [path.join(ROOT, "examples/demo/run.js")], {
      cwd: ROOT,
      encoding: "utf8",
      // No pulumi on PATH, an empty cache and no Go toolchain (Go lives in /usr/local/go/bin here).
      env: {
        PATH: `${path.dirname(process.execPath)}${path.delimiter}/usr/bin:/bin`,
        HOME: process.env.HOME,
        XDG_CACHE_HOME: cache,
      },
      timeout: 120_000,
    });
    expect(r.stderr).toContain("demo: WARNING: no pulumi and no Go toolchain to build it");
    expect(r.stderr.split("\n").filter((l) => l.includes("WARNING") || l.includes("FAILED"))).toHaveLength(1);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/db-2-data\s+volume\s+in-use/);
    expect(r.stdout).toContain("server group app-spread (anti-affinity)");
    expect(r.stdout).toContain("Done: the demo cluster is gone.");
    expect(existsSync(path.join(ROOT, "examples/demo/.openstack-vcluster"))).toBe(false);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}, 150_000);
