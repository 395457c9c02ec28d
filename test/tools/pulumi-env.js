// Obtain the `pulumi` CLI and run it fully offline: local file backend, passphrase secrets, no update
// check, no plugin download, Node 22 from the repo's node_modules first on PATH. Shared by `npm run demo`
// and the e2e tests; plain CommonJS so both can load it without a build step.

const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const REPO = path.resolve(__dirname, "..", "..");
const GET_PULUMI = path.join(__dirname, "get-pulumi.sh");
const INLINE = path.join(__dirname, "pulumi-inline.js");
/** Fixed on purpose: test and demo stacks are throwaway, and the secrets in them are sentinels. */
const TEST_PASSPHRASE = "openstack-vcluster-test-passphrase";

/**
 * Runs get-pulumi.sh and resolves to the directory holding `pulumi`.
 * Progress lines go to `onProgress`; a failure rejects with the script's own one-line reason.
 * @param {{ onProgress?: (line: string) => void }} [opts]
 * @returns {Promise<string>}
 */
function obtainPulumi(opts = {}) {
  const onProgress = opts.onProgress ?? (() => {});
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [GET_PULUMI], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let lastReason = "";
    let partial = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      partial += d;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (line.startsWith("get-pulumi: FAILED: ")) lastReason = line.slice("get-pulumi: FAILED: ".length);
        onProgress(line);
      }
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (partial) onProgress(partial);
      const dir = out.trim().split("\n").pop() ?? "";
      if (code === 0 && dir && fs.existsSync(path.join(dir, "pulumi"))) resolve(dir);
      else reject(new Error(lastReason || `test/tools/get-pulumi.sh exited with ${code}`));
    });
  });
}

/**
 * How programs run under the CLI in `cliDir`: "host" where the official Node.js language host is
 * installed (beside `pulumi` or on PATH), as users run them; else "inline", through the runtime that
 * @pulumi/pulumi serves itself (pulumi-inline.js). OPENSTACK_VCLUSTER_PULUMI_ROUTE=host|inline forces one.
 * @param {string} cliDir
 * @returns {"host" | "inline"}
 */
function pulumiRoute(cliDir) {
  const forced = process.env.OPENSTACK_VCLUSTER_PULUMI_ROUTE;
  if (forced === "host" || forced === "inline") return forced;
  const dirs = [cliDir, ...(process.env.PATH ?? "").split(path.delimiter)];
  return dirs.some((d) => d && fs.existsSync(path.join(d, "pulumi-language-nodejs"))) ? "host" : "inline";
}

/**
 * The command line that runs `pulumi <args>` on the route `pulumiRoute` picks: [file, argv].
 * @param {string} cliDir
 * @param {string[]} args
 * @returns {[string, string[]]}
 */
function pulumiCommand(cliDir, args) {
  const cli = path.join(cliDir, "pulumi");
  return pulumiRoute(cliDir) === "host" ? [cli, args] : [process.execPath, [INLINE, cli, ...args]];
}

/**
 * The environment for one offline stack: state in `stateDir` (file backend), PULUMI_HOME in `home`.
 * @param {{ cliDir: string, stateDir: string, home: string, extra?: Record<string, string> }} o
 * @returns {NodeJS.ProcessEnv}
 */
function pulumiEnv(o) {
  fs.mkdirSync(o.stateDir, { recursive: true });
  fs.mkdirSync(o.home, { recursive: true });
  const env = { ...process.env };
  // Nothing of the caller's cloud or Pulumi setup may leak into a throwaway stack.
  for (const k of Object.keys(env)) {
    if (k.startsWith("OS_") || k.startsWith("PULUMI_")) delete env[k];
  }
  const nodeBin = path.join(REPO, "node_modules", ".bin");
  return {
    ...env,
    // The dynamic provider plugin is found beside `pulumi` (get-pulumi.sh bundles it there, as the CLI's
    // own distribution does); Node 22 comes from the repo's node_modules.
    PATH: [o.cliDir, nodeBin, env.PATH ?? ""].join(path.delimiter),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    PULUMI_BACKEND_URL: `file://${o.stateDir}`,
    PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE,
    PULUMI_HOME: o.home,
    // No TTY here: plain output that tests can read and a demo can print as is.
    PULUMI_SKIP_CONFIRMATIONS: "true",
    NO_COLOR: "1",
    ...o.extra,
  };
}

/** A fresh temp directory under the OS temp dir. */
function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Lays out a program directory's node_modules the way `npm install` would for a user: a real copy of this
 * package (package.json + dist) so the closure serializer sees it under node_modules and captures it by
 * reference, and symlinks to the repo's own dependencies. Call after `npm run build`.
 * @param {string} programDir
 */
function linkProgramModules(programDir) {
  const nm = path.join(programDir, "node_modules");
  const self = path.join(nm, "pulumi-openstack-vcluster");
  fs.rmSync(self, { recursive: true, force: true });
  fs.mkdirSync(self, { recursive: true });
  fs.copyFileSync(path.join(REPO, "package.json"), path.join(self, "package.json"));
  fs.cpSync(path.join(REPO, "dist"), path.join(self, "dist"), { recursive: true });
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8"));
  const deps = [...Object.keys(pkg.dependencies ?? {}), "@pulumi/pulumi", "typescript", "@types/node"];
  for (const dep of deps) {
    const link = path.join(nm, dep);
    const target = path.join(REPO, "node_modules", dep);
    if (!fs.existsSync(target)) continue;
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.rmSync(link, { recursive: true, force: true });
    fs.symlinkSync(target, link, "dir");
  }
}

/**
 * Builds dist/ (the package users get) so programs run the current code. Type errors with output
 * emitted (tsc's exit 2) are passed to `onWarning` and the run goes on; no output is an error.
 * @param {{ onWarning?: (text: string) => void }} [opts]
 */
function buildPackage(opts = {}) {
  const r = spawnSync(path.join(REPO, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], {
    cwd: REPO,
    encoding: "utf8",
  });
  if (r.status === 2 && opts.onWarning) opts.onWarning(`npm run build reported type errors:\n${r.stdout}${r.stderr}`);
  else if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
}

module.exports = {
  REPO,
  TEST_PASSPHRASE,
  obtainPulumi,
  pulumiRoute,
  pulumiCommand,
  pulumiEnv,
  tempDir,
  linkProgramModules,
  buildPackage,
};
