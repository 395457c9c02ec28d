// `npm run demo`: brings up the demo cluster on the simulated cloud with the real `pulumi` command,
// shows where every member landed, and tears it down again.
//
//   npm run demo               up, show, destroy
//   npm run demo -- --keep     up, show, and leave it running
//   npm run demo -- --destroy  tear down a cluster left running by --keep
//
// Everything stays beside this file (git-ignored): the stack state in .pulumi-state/, the simulated
// cloud in .openstack-vcluster/sim (the provider's default: no cloud configured means simulated).
// Nothing touches ~/.pulumi or a real cloud.
"use strict";

const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const env = require("../../test/tools/pulumi-env.js");

const DEMO = __dirname;
const STATE = path.join(DEMO, ".pulumi-state");
const SIM_DIR = path.join(DEMO, ".openstack-vcluster", "sim");
const STACK = "dev";

function say(line) {
  process.stdout.write(`${line}\n`);
}

function fail(message) {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(1);
}

async function main(args) {
  const keep = args.includes("--keep");
  const destroyOnly = args.includes("--destroy");
  const unknown = args.filter((a) => a !== "--keep" && a !== "--destroy");
  if (unknown.length > 0) fail(`unknown argument "${unknown[0]}"; use --keep or --destroy`);

  let building = false;
  const cliDir = await env
    .obtainPulumi({
      onProgress: (line) => {
        // The first run compiles the CLI: say so once, then show the script's progress as it goes.
        if (!building && line.includes("building pulumi")) {
          building = true;
          say("The pulumi command is not installed: building it from Go modules, first time only.");
        }
        // A failure's reason is said once, below, by whoever handles it.
        if (!line.startsWith("get-pulumi: FAILED: ")) process.stderr.write(`${line}\n`);
      },
    })
    .catch((e) => {
      // Only a machine with no Go toolchain falls back; a failed build is a failure, with its reason.
      if (hasGo()) fail(e.message);
      withoutPulumi({ keep, destroyOnly });
      return undefined;
    });
  if (cliDir === undefined) return;
  if (env.pulumiRoute(cliDir) === "inline") {
    say("(No pulumi-language-nodejs here: the program runs through the runtime @pulumi/pulumi serves itself.)");
  }

  say("Building the package (npm run build) and linking it into examples/demo/node_modules ...");
  env.buildPackage({ onWarning: (text) => process.stderr.write(`demo: warning: ${text}\n`) });
  env.linkProgramModules(DEMO);

  const penv = env.pulumiEnv({
    cliDir,
    stateDir: path.join(STATE, "backend"),
    home: path.join(STATE, "home"),
    extra: { PULUMI_NODEJS_TRANSPILE_ONLY: "true" },
  });
  const pulumi = (argv, opts = {}) => {
    const [file, args] = env.pulumiCommand(cliDir, [...argv, "--non-interactive"]);
    const r = spawnSync(file, args, {
      cwd: DEMO,
      env: penv,
      encoding: "utf8",
      stdio: opts.capture ? ["ignore", "pipe", "pipe"] : "inherit",
    });
    if (r.status !== 0 && !opts.allowFail) {
      fail(`pulumi ${argv.join(" ")} failed${opts.capture ? `:\n${r.stdout}${r.stderr}` : " (see above)"}`);
    }
    return r;
  };

  const exists = pulumi(["stack", "ls", "--json"], { capture: true });
  const hasStack = (JSON.parse(exists.stdout || "[]") ?? []).some((s) => s.name === STACK);

  if (destroyOnly) {
    if (!hasStack) {
      say("Nothing to destroy: no demo stack is up.");
      return;
    }
    tearDown(pulumi);
    return;
  }

  if (hasStack) pulumi(["stack", "select", STACK], { capture: true });
  else pulumi(["stack", "init", STACK], { capture: true });

  say("\n$ pulumi up --yes");
  pulumi(["up", "--yes"]);

  say("\nWhat was created, and where (read from the simulated cloud itself):\n");
  const shown = spawnSync(process.execPath, [path.join(env.REPO, "test", "tools", "sim.js"), SIM_DIR, "where"], {
    stdio: "inherit",
  });
  if (shown.status !== 0) fail("cannot show the simulated cloud");

  if (keep) {
    say("\nThe demo cluster is still up (--keep). Look around with:");
    say(`  cd examples/demo && PULUMI_BACKEND_URL=file://${path.join(STATE, "backend")} \\`);
    say(`    PULUMI_CONFIG_PASSPHRASE=${env.TEST_PASSPHRASE} PULUMI_HOME=${path.join(STATE, "home")} \\`);
    say(`    PATH=${cliDir}:$PATH pulumi stack output --json`);
    say(`The whole simulated cloud:\n  node test/tools/sim.js ${path.relative(env.REPO, SIM_DIR)} show`);
    say("Tear it down with:\n  npm run demo -- --destroy");
    return;
  }
  tearDown(pulumi);
}

function hasGo() {
  return spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;
}

// No `pulumi` on this machine and no Go toolchain to build one: run the same cluster through the
// `openstack-vcluster` command (the same engine, controller and simulated cloud), and say so.
function withoutPulumi({ keep, destroyOnly }) {
  process.stderr.write(
    "demo: WARNING: no pulumi and no Go toolchain to build it: showing the same cluster through the openstack-vcluster command.\n",
  );
  env.buildPackage({ onWarning: (text) => process.stderr.write(`demo: warning: ${text}\n`) });
  const command = (argv) => {
    say(`\n$ openstack-vcluster ${argv.join(" ")}`);
    const r = spawnSync(process.execPath, [path.join(env.REPO, "dist", "provider", "cli", "main.js"), ...argv], {
      cwd: DEMO,
      stdio: "inherit",
    });
    if (r.status !== 0) fail(`openstack-vcluster ${argv.join(" ")} failed (see above)`);
  };
  if (destroyOnly) {
    command(["destroy", "cluster.yaml"]);
    return;
  }
  command(["apply", "cluster.yaml"]);
  say("\nWhat was created, and where (read from the simulated cloud itself):\n");
  spawnSync(process.execPath, [path.join(env.REPO, "test", "tools", "sim.js"), SIM_DIR, "where"], { stdio: "inherit" });
  if (keep) {
    say("\nThe demo cluster is still up (--keep). Tear it down with:\n  npm run demo -- --destroy");
    return;
  }
  command(["destroy", "cluster.yaml"]);
  fs.rmSync(path.join(DEMO, ".openstack-vcluster"), { recursive: true, force: true });
  say("\nDone: the demo cluster is gone.");
}

function tearDown(pulumi) {
  say("\n$ pulumi destroy --yes");
  pulumi(["destroy", "--yes", "--stack", STACK]);
  pulumi(["stack", "rm", "--yes", STACK], { capture: true });
  fs.rmSync(SIM_DIR, { recursive: true, force: true });
  say("\nDone: the demo cluster is gone, and so is its stack.");
}

main(process.argv.slice(2)).catch((e) => fail(e instanceof Error ? e.message : String(e)));
