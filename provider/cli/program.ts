// Argument parsing (commander) and dispatch. Each command lives in its own file and returns
// an exit code; this file only wires flags to them and maps usage errors to exit 3.

import { Command, CommanderError, InvalidArgumentError } from "commander";
import type { ServeFlags } from "../api/command";
import { applyCommand, type BackendFlags, destroyCommand, showCommand } from "./cluster";
import type { EndpointAction } from "./endpoint";
import { fail, jsonMode, record } from "./failure";
import { EXIT, type Io } from "./io";
import { planCommand } from "./plan";
import { schemaCommand } from "./schema";
import { simResetCommand, simShowCommand } from "./sim";
import { type UnlockFlags, unlockCommand } from "./unlock";
import { validateCommand } from "./validate";

const VERSION: string = (require("pulumi-openstack-vcluster/package.json") as { version: string }).version;

function parseCount(value: string): number {
  if (!/^\d{1,4}$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError("use a whole number from 1 to 9999.");
  return Number(value);
}

/** The flags of every command that talks to a cloud. */
function backendOptions(command: Command): Command {
  return command
    .option(
      "--backend <kind>",
      'the cloud: "simulated" or "openstack" (default: openstack when OS_CLOUD or OS_AUTH_URL is set)',
    )
    .option("--sim-dir <dir>", "directory of the simulated cloud (default: .openstack-vcluster/sim)")
    .option("--sim-topology <file>", "topology for a new simulated cloud (default: 3 zones x 2 racks x 4 hosts)")
    .option("--state-dir <dir>", "where the command keeps each cluster's state", ".openstack-vcluster")
    .option("--concurrency <n>", "cloud operations in flight at once", parseCount, 10);
}

function parseSeed(value: string): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) > 0xffffffff) {
    throw new InvalidArgumentError("the seed is a whole number from 0 to 4294967295.");
  }
  return Number(value);
}

export function buildProgram(io: Io, setCode: (code: number) => void): Command {
  const program = new Command("openstack-vcluster")
    .description(
      "Declare whole OpenStack clusters (servers, volumes and the rules that keep them together or apart), place them, create them all-or-nothing and tear them down clean.",
    )
    .version(VERSION)
    .showHelpAfterError("(add --help for usage)")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .option(
      "--endpoint <url>",
      "apply, show, destroy and list through an `openstack-vcluster serve` at this URL instead of here (token from OS_CLOUD / OS_*)",
    )
    .option(
      "--project <id>",
      "with --endpoint: the project (tenant_id); needed for a --noauth service (or OS_PROJECT_ID)",
    )
    .addHelpText(
      "after",
      `
Exit codes: 0 ok, 1 invalid spec, 2 unplaceable, 3 backend, file or usage error.

Examples:
  openstack-vcluster --endpoint http://127.0.0.1:8788 --project demo apply cluster.json
  openstack-vcluster validate cluster.json
  openstack-vcluster plan cluster.yaml --topology topology.json`,
    );

  /** With --endpoint, apply/show/destroy/list go to the service (endpoint.ts); true when done so. */
  async function viaEndpoint(
    action: EndpointAction,
    target: string | undefined,
    opts: { json?: boolean; dryRun?: boolean },
  ): Promise<boolean> {
    const global = program.opts<{ endpoint?: string; project?: string }>();
    if (global.endpoint === undefined) return false;
    const { endpointCommand } = await import("./endpoint");
    setCode(
      await endpointCommand(io, action, target, {
        endpoint: global.endpoint,
        ...(global.project !== undefined ? { project: global.project } : {}),
        json: opts.json === true,
        dryRun: opts.dryRun === true,
      }),
    );
    return true;
  }

  program
    .command("validate")
    .description(
      "Check a cluster spec (JSON or YAML, Pulumi args form or blueprint form) and report every problem at once.",
    )
    .argument("<spec-file>", "the cluster spec")
    .option("--json", "print the result as JSON")
    .action((specFile: string, opts: { json?: boolean }) => {
      setCode(validateCommand(io, specFile, { json: opts.json === true }));
    });

  backendOptions(
    program
      .command("plan")
      .description(
        "Place a cluster spec and print where every member goes, or explain precisely why it can't be placed: on a topology file, or (without --topology) on the cloud, as `pulumi preview` does. Changes nothing.",
      )
      .argument("<spec-file>", "the cluster spec")
      .option(
        "--topology <file>",
        "plan offline on this topology file (hosts, racks, zones, storage backends, flavors; JSON or YAML)",
      )
      .option("--seed <n>", "seed for tie-breaking (same spec, topology and seed give the same plan)", parseSeed, 0)
      .option("--json", "print the result as JSON")
      .option("--html <file>", "also write the placement as an HTML map (unplaceable: what blocks where)"),
  ).action(async (specFile: string, opts: BackendFlags & { topology?: string; seed: number; json?: boolean }) => {
    setCode(await planCommand(io, specFile, { ...opts, json: opts.json === true }));
  });

  backendOptions(
    program
      .command("apply")
      .description(
        "Create the cluster, or update it to match the spec: placed first, then built all-or-nothing (a failed create leaves nothing behind).",
      )
      .argument("<spec-file>", "the cluster spec")
      .option("--json", "print the cluster's state as JSON")
      .option(
        "--dry-run",
        "change nothing: print what apply would do to each member, against the cloud and the cluster's state (destructive steps as warnings); exit codes as apply's",
      ),
  ).action(async (specFile: string, opts: BackendFlags & { json?: boolean; dryRun?: boolean }) => {
    if (await viaEndpoint("apply", specFile, opts)) return;
    setCode(await applyCommand(io, specFile, { ...opts, json: opts.json === true, dryRun: opts.dryRun === true }));
  });

  backendOptions(
    program
      .command("show")
      .description(
        "Re-read every member of a cluster from the cloud: status, where it sits, broken rules, missing members.",
      )
      .argument("<spec-file|cluster-name>", "the cluster spec, or the cluster's name")
      .option("--json", "print the cluster's state as JSON")
      .option(
        "--html <file>",
        "also write the cluster as a placement map: members where the cloud has them, status, broken rules",
      ),
  ).action(async (target: string, opts: BackendFlags & { json?: boolean; html?: string }) => {
    if (await viaEndpoint("show", target, opts)) return;
    setCode(await showCommand(io, target, { ...opts, json: opts.json === true }));
  });

  backendOptions(
    program
      .command("destroy")
      .description(
        "Delete every member of a cluster and its server groups, and wait until they are gone. Without the cluster's state here, lists what is tagged with its name and deletes it only with --yes.",
      )
      .argument("<spec-file|cluster-name>", "the cluster spec, or the cluster's name")
      .option("--yes", "with no state for the cluster here, delete everything tagged with its name"),
  ).action(async (target: string, opts: BackendFlags & { yes?: boolean }) => {
    if (await viaEndpoint("destroy", target, {})) return;
    setCode(await destroyCommand(io, target, opts));
  });

  program
    .command("unlock")
    .description(
      "Remove a cluster's lock on an OpenStack cloud that a run left behind (killed, or its machine lost): while it is there, apply, destroy and `pulumi up` from other machines are refused, naming it. Says whose lock it was. Removes only a lock whose run is not alive on this machine, unless --force.",
    )
    .argument("<cluster-name>", "the cluster's name")
    .option(
      "--cloud <name>",
      "the clouds.yaml entry of the cloud (default: OS_CLOUD, or OS_AUTH_URL and the other OS_* variables)",
    )
    .option("--backend <kind>", 'the cloud: "openstack" (the simulated cloud keeps no lock to remove)')
    .option(
      "--force",
      "also remove the lock of a run alive on this machine, or a keypair of that name openstack-vcluster did not make",
    )
    .addHelpText(
      "after",
      `
The lock is a Nova keypair of the user ("vcluster-lock-<hash>"): runs of other users of the project don't see it.
Exit codes: 0 removed (or there was none), 3 not removed (a live run's lock, or not a lock), backend or usage error.`,
    )
    .action(async (clusterName: string, opts: UnlockFlags) => {
      setCode(await unlockCommand(io, clusterName, opts));
    });

  program
    .command("list")
    .description("List the clusters of a project on an `openstack-vcluster serve` (with --endpoint).")
    .option("--json", "print the list as JSON")
    .action(async (opts: { json?: boolean }) => {
      if (await viaEndpoint("list", undefined, opts)) return;
      setCode(
        fail(io, {
          kind: "usage",
          message:
            "openstack-vcluster: list asks a service: give --endpoint URL (the clusters this command made here have their state in --state-dir)",
        }),
      );
    });

  const sim = program.command("sim").description("Inspect or reset the embedded simulated cloud.");
  sim
    .command("show")
    .description(
      "The simulated cloud as a tree zone -> rack -> host -> members, with capacity used and the faults it holds.",
    )
    .option("--sim-dir <dir>", "directory of the simulated cloud", ".openstack-vcluster/sim")
    .option("--state-dir <dir>", "where the command keeps each cluster's state", ".openstack-vcluster")
    .option("--json", "print everything the simulated cloud holds as JSON")
    .action(async (opts: { simDir?: string; stateDir?: string; json?: boolean }) => {
      setCode(await simShowCommand(io, { ...opts, json: opts.json === true }));
    });
  sim
    .command("reset")
    .description("Delete every server, volume, server group and fault of the simulated cloud (the topology stays).")
    .option("--sim-dir <dir>", "directory of the simulated cloud", ".openstack-vcluster/sim")
    .option("--state-dir <dir>", "where the command keeps each cluster's state", ".openstack-vcluster")
    .option(
      "--force",
      "also when the cloud's state (cloud.db) is missing or can't be read: start a new, empty cloud (an unreadable file is kept aside) and set aside the state of the clusters built on the old one",
    )
    .option("--sim-topology <file>", "with --force, the topology of a new cloud (default: 3 zones x 2 racks x 4 hosts)")
    .action(async (opts: { simDir?: string; stateDir?: string; force?: boolean; simTopology?: string }) => {
      setCode(await simResetCommand(io, { ...opts, force: opts.force === true }));
    });

  program
    .command("schema")
    .description(
      "Print the JSON Schema of a spec file or of a topology file, for an editor (the package ships them as sdk/schema/vcluster.schema.json and sdk/schema/topology.schema.json).",
    )
    .argument("<spec|topology>", "which file's schema")
    .action((which: string) => {
      setCode(schemaCommand(io, which));
    });

  program
    .command("serve")
    .description(
      "Serve the REST API (the Nova blueprint's /v2/{tenant_id}/vclusters, OpenAPI at /openapi.json) over the same lifecycle as `pulumi up`, until SIGINT or SIGTERM: on the OpenStack cloud of --cloud / OS_CLOUD, every request's X-Auth-Token validated at its Keystone and the work done for the caller through a Keystone trust; or, with --noauth, on the simulated cloud.",
    )
    .option("--listen <host:port>", "address to listen on", "127.0.0.1:8788")
    .option("--noauth", "trust every request and take the URL's tenant_id as the project (simulated cloud only)")
    .option(
      "--cloud <name>",
      "the clouds.yaml entry of the OpenStack cloud, with the service user's password (default: OS_CLOUD, or the OS_* variables)",
    )
    .option("--db <file>", "SQLite file of clusters and operations (default: .openstack-vcluster/api.db)")
    .option(
      "--database <url>",
      "PostgreSQL URL (postgres://user:password@host/db) shared by several replicas, instead of the SQLite file (default: OPENSTACK_VCLUSTER_DATABASE)",
    )
    .option("--log-format <format>", "text, or json (one object per line; the default when stdout is not a terminal)")
    .option("--backend <kind>", 'the cloud: "openstack", or "simulated" (the only one --noauth serves)')
    .option("--sim-dir <dir>", "directory of the simulated cloud (default: .openstack-vcluster/sim)")
    .option("--sim-topology <file>", "topology for a new simulated cloud (default: 3 zones x 2 racks x 4 hosts)")
    .option("--concurrency <n>", "cloud operations in flight at once, per cluster operation", parseCount, 10)
    .action(async (opts: ServeFlags) => {
      // Loaded only here: the HTTP server and node:sqlite are for serve alone.
      const { serveCommand } = await import("../api/command");
      setCode(await serveCommand(io, { logFormat: process.stdout.isTTY ? "text" : "json", ...opts }));
    });

  return program;
}

/** Runs the command line; returns the exit code. Never throws for user errors. */
export async function run(argv: string[], io: Io): Promise<number> {
  // With --json anywhere in it, every outcome is one JSON document on stdout (failure.ts).
  const asJson = argv.includes("--json") ? jsonMode(io) : undefined;
  const code = await runWith(argv, asJson?.io ?? io, asJson !== undefined);
  return asJson ? asJson.finish(code) : code;
}

async function runWith(argv: string[], io: Io, asJson: boolean): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.usage;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0; everything else is a usage error (commander said it).
      if (error.exitCode === 0) return EXIT.ok;
      return record(io, { kind: "usage", message: error.message.replace(/^error: /, "openstack-vcluster: ") });
    }
    if (!asJson) throw error;
    // A bug; main.ts says so in one line, and so does the JSON document.
    return fail(io, {
      kind: "error",
      message: `openstack-vcluster: internal error: ${error instanceof Error ? error.message : String(error)}`,
    });
  }
  return code;
}
