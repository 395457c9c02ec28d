// Argument parsing (commander) and dispatch. Each command lives in its own file and returns
// an exit code; this file only wires flags to them and maps usage errors to exit 3.

import { Command, CommanderError, InvalidArgumentError } from "commander";
import type { ServeFlags } from "../api/command";
import { applyCommand, type BackendFlags, destroyCommand, showCommand } from "./cluster";
import { EXIT, type Io } from "./io";
import { planCommand } from "./plan";
import { simResetCommand, simShowCommand } from "./sim";
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
    .addHelpText(
      "after",
      `
Exit codes: 0 ok, 1 invalid spec, 2 unplaceable, 3 backend, file or usage error.

Examples:
  openstack-vcluster validate cluster.json
  openstack-vcluster plan cluster.yaml --topology topology.json`,
    );

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
      .option("--html <file>", "also write the placement as an HTML map"),
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
      .option("--json", "print the cluster's state as JSON"),
  ).action(async (specFile: string, opts: BackendFlags & { json?: boolean }) => {
    setCode(await applyCommand(io, specFile, { ...opts, json: opts.json === true }));
  });

  backendOptions(
    program
      .command("show")
      .description(
        "Re-read every member of a cluster from the cloud: status, where it sits, broken rules, missing members.",
      )
      .argument("<spec-file|cluster-name>", "the cluster spec, or the cluster's name")
      .option("--json", "print the cluster's state as JSON"),
  ).action(async (target: string, opts: BackendFlags & { json?: boolean }) => {
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
    setCode(await destroyCommand(io, target, opts));
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
      "also when cloud.json is missing or can't be read: start a new, empty cloud (an unreadable file is kept aside) and set aside the state of the clusters built on the old one",
    )
    .option("--sim-topology <file>", "with --force, the topology of a new cloud (default: 3 zones x 2 racks x 4 hosts)")
    .action(async (opts: { simDir?: string; stateDir?: string; force?: boolean; simTopology?: string }) => {
      setCode(await simResetCommand(io, { ...opts, force: opts.force === true }));
    });

  program
    .command("serve")
    .description(
      "Serve the REST API (the Nova blueprint's /v2/{tenant_id}/vclusters, OpenAPI at /openapi.json) over the same lifecycle as `pulumi up`, until SIGINT or SIGTERM. This release: --noauth on the simulated cloud only.",
    )
    .option("--listen <host:port>", "address to listen on", "127.0.0.1:8788")
    .option("--noauth", "trust every request and take the URL's tenant_id as the project (simulated cloud only)")
    .option("--db <file>", "SQLite file of clusters and operations", ".openstack-vcluster/api.db")
    .option("--backend <kind>", 'the cloud: "simulated" (the only one --noauth serves)')
    .option("--sim-dir <dir>", "directory of the simulated cloud (default: .openstack-vcluster/sim)")
    .option("--sim-topology <file>", "topology for a new simulated cloud (default: 3 zones x 2 racks x 4 hosts)")
    .option("--concurrency <n>", "cloud operations in flight at once, per cluster operation", parseCount, 10)
    .action(async (opts: ServeFlags) => {
      // Loaded only here: the HTTP server and node:sqlite are for serve alone.
      const { serveCommand } = await import("../api/command");
      setCode(await serveCommand(io, opts));
    });

  return program;
}

/** Runs the command line; returns the exit code. Never throws for user errors. */
export async function run(argv: string[], io: Io): Promise<number> {
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
      // --help and --version end here with exit code 0; everything else is a usage error.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    throw error;
  }
  return code;
}
