// The repository, and the built package (dist/) the tests load as users do: built before a test
// needs it when the sources are newer.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as lockfile from "proper-lockfile";

export const REPO = path.resolve(__dirname, "../..");

/**
 * The tests run the built package, as users do: build when the sources are newer than dist.
 * Several test files may ask at once (vitest runs files in parallel): one build at a time.
 */
export async function ensureBuilt(): Promise<void> {
  const outputs = ["dist/sdk/index.js", "dist/provider/dynamic/hooks.js"].map((p) => path.join(REPO, p));
  const fresh = () => {
    if (!outputs.every((p) => fs.existsSync(p))) return false;
    const built = Math.min(...outputs.map((p) => fs.statSync(p).mtimeMs));
    return newestSource(["provider", "sdk"].map((d) => path.join(REPO, d))) <= built;
  };
  if (fresh()) return;
  const release = await lockfile.lock(REPO, {
    lockfilePath: path.join(os.tmpdir(), "openstack-vcluster-dist-build.lock"),
    retries: { retries: 240, minTimeout: 250, maxTimeout: 500 },
    stale: 180_000,
  });
  try {
    if (fresh()) return;
    try {
      execFileSync(process.execPath, [path.join(REPO, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], {
        cwd: REPO,
        stdio: "pipe",
      });
    } catch (err) {
      // tsc emits despite type errors elsewhere in the tree; only missing outputs are fatal.
      if (!outputs.every((p) => fs.existsSync(p))) throw err;
    }
    // tsc leaves an unchanged file's mtime alone: mark the build as done.
    const now = new Date();
    for (const p of outputs) fs.utimesSync(p, now, now);
  } finally {
    await release();
  }
}

function newestSource(dirs: string[]): number {
  let newest = 0;
  for (const dir of dirs) {
    for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
      newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return newest;
}
