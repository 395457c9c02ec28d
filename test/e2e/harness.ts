// A program under the real `pulumi` command: a copy of an example in a temp dir, its own stack on a
// local file backend, and the simulated cloud beside it. Every command writes the engine's event log,
// so tests read what the engine did (create, update, replace, ...) instead of parsing its display.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { inject } from "vitest";
import { linkProgramModules, pulumiCommand, pulumiEnv, REPO, tempDir } from "../tools/pulumi-env.js";

export const EXAMPLES = path.join(REPO, "examples");
export const VCLUSTER_TYPE = "pulumi-nodejs:dynamic/openstack-vcluster:VCluster";

/** One engine event from `--event-log` (only the parts the tests read). */
export interface EngineEvent {
  resourcePreEvent?: { metadata: { op: string; type: string; urn: string; diffs?: string[] } };
  diagnosticEvent?: { message: string; severity: string; urn?: string };
  summaryEvent?: { resourceChanges?: Record<string, number> };
}

export interface RunResult {
  code: number;
  /** stdout and stderr together, as a person would see them. */
  output: string;
  events: EngineEvent[];
}

export interface SimObject {
  id: string;
  name: string;
  status: string;
  metadata: Record<string, string>;
}

export interface SimView {
  servers: SimObject[];
  volumes: SimObject[];
  serverGroups: SimObject[];
}

/** A stack resource as `pulumi stack export` has it. */
export interface ExportedResource {
  type: string;
  urn: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

const SKIP = new Set(["node_modules", ".pulumi-state", ".openstack-vcluster"]);

function run(
  file: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { ...opts, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export class Program {
  private seq = 0;

  private constructor(
    readonly dir: string,
    readonly cliDir: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Where the provider keeps this program's simulated cloud (its default, beside the program). */
  get simDir(): string {
    return path.join(this.dir, ".openstack-vcluster", "sim");
  }

  /**
   * Copies `examples/<example>` to a temp dir, links its node_modules to this repo, and creates a stack.
   * `env` is added to what the engine, the program and the provider see.
   */
  static async start(example: string, env: Record<string, string> = {}): Promise<Program> {
    const cliDir = inject("pulumiCliDir");
    const root = tempDir(`vcluster-e2e-${example}-`);
    const dir = path.join(root, example);
    fs.cpSync(path.join(EXAMPLES, example), dir, {
      recursive: true,
      filter: (src) => !SKIP.has(path.basename(src)) && !/^Pulumi\..+\.yaml$/.test(path.basename(src)),
    });
    linkProgramModules(dir);
    const penv = pulumiEnv({
      cliDir,
      stateDir: path.join(root, "state"),
      home: path.join(root, "home"),
      // PULUMI_DEBUG_COMMANDS unhides --event-log (the automation API's own event stream).
      extra: { PULUMI_NODEJS_TRANSPILE_ONLY: "true", PULUMI_DEBUG_COMMANDS: "true", ...env },
    });
    const p = new Program(dir, cliDir, penv);
    await p.ok(["stack", "init", "e2e"]);
    return p;
  }

  /** Runs `pulumi <args>` with an event log; never throws on a non-zero exit. */
  async pulumi(args: string[]): Promise<RunResult> {
    const log = path.join(this.dir, "..", `events-${++this.seq}.jsonl`);
    const engine = ["preview", "up", "refresh", "destroy"].includes(args[0] ?? "");
    const full = [...args, "--non-interactive", ...(engine ? ["--event-log", log, "--color", "never"] : [])];
    const [file, argv] = pulumiCommand(this.cliDir, full);
    const r = await run(file, argv, { cwd: this.dir, env: this.env });
    const events: EngineEvent[] = fs.existsSync(log)
      ? fs
          .readFileSync(log, "utf8")
          .split("\n")
          .filter((l) => l.trim() !== "")
          .map((l) => JSON.parse(l) as EngineEvent)
      : [];
    return { code: r.code, output: `${r.stdout}${r.stderr}`, events };
  }

  /** Like `pulumi`, but a non-zero exit fails the test with the command's whole output. */
  async ok(args: string[]): Promise<RunResult> {
    const r = await this.pulumi(args);
    if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${r.code}:\n${r.output}`);
    return r;
  }

  /** The simulated cloud, read behind the engine's back. */
  async sim(): Promise<SimView> {
    if (!fs.existsSync(this.simDir)) return { servers: [], volumes: [], serverGroups: [] };
    const r = await run(process.execPath, [path.join(REPO, "test", "tools", "sim.js"), this.simDir, "json"], {
      cwd: this.dir,
      env: this.env,
    });
    if (r.code !== 0) throw new Error(`sim.js json: ${r.stderr}`);
    return JSON.parse(r.stdout) as SimView;
  }

  /** Deletes a member's server out of band, as an operator with the cloud's console would. */
  async deleteServerOutOfBand(member: string): Promise<void> {
    const r = await run(
      process.execPath,
      [path.join(REPO, "test", "tools", "sim.js"), this.simDir, "delete-server", member],
      { cwd: this.dir, env: this.env },
    );
    if (r.code !== 0) throw new Error(`sim.js delete-server ${member}: ${r.stderr}`);
  }

  /** The stack's state as `pulumi stack export` writes it (secrets encrypted; raw text, and its VCluster resources). */
  async exportState(): Promise<{ text: string; clusters: ExportedResource[] }> {
    const r = await this.ok(["stack", "export"]);
    const doc = JSON.parse(r.output) as { deployment?: { resources?: ExportedResource[] } };
    const clusters = (doc.deployment?.resources ?? []).filter((res) => res.type === VCLUSTER_TYPE);
    return { text: r.output, clusters };
  }

  /** Every file the file backend wrote for this stack (state, history, backups), concatenated. */
  backendFiles(): string {
    const root = path.join(path.dirname(this.dir), "state");
    return (fs.readdirSync(root, { recursive: true, withFileTypes: true }) as fs.Dirent[])
      .filter((d) => d.isFile())
      .map((d) => fs.readFileSync(path.join(d.parentPath, d.name), "utf8"))
      .join("\n");
  }

  async dispose(): Promise<void> {
    fs.rmSync(path.dirname(this.dir), { recursive: true, force: true });
  }
}

/** The engine's step ops on VCluster resources, in order (create, same, update, replace, ...). */
export function clusterOps(r: RunResult): string[] {
  return r.events.flatMap((e) =>
    e.resourcePreEvent && e.resourcePreEvent.metadata.type === VCLUSTER_TYPE ? [e.resourcePreEvent.metadata.op] : [],
  );
}

/** The run's summary counts by op (e.g. { same: 1, update: 1 }). */
export function summary(r: RunResult): Record<string, number> {
  const s = r.events.find((e) => e.summaryEvent)?.summaryEvent?.resourceChanges ?? {};
  return Object.fromEntries(Object.entries(s).filter(([, n]) => n > 0));
}

/** Member names by kind, from what the simulated cloud holds for a cluster. */
export function memberNames(view: SimView): { servers: string[]; volumes: string[] } {
  const names = (xs: SimObject[]) => xs.map((x) => x.metadata["vcluster:member"] ?? x.name).sort();
  return { servers: names(view.servers), volumes: names(view.volumes) };
}
