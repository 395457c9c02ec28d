// `npm run bench -- placement|provision|api|validate|all [--quick] [--seeds N] [--out file.json]`: runs the
// suites, prints a table per suite and writes every figure to a JSON file. `cloud [--members N]` is the
// real-cloud suite (not in `all`: it needs the dev cloud up, see cloud.ts).

import { execSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import * as path from "node:path";
import { type ApiFigures, apiReport, apiSuite } from "./api";
import { type CloudFigures, cloudReport, cloudSuite } from "./cloud";
import { type PlacementFigures, placementReport, placementSuite } from "./placement";
import { type ProvisionFigures, provisionSuite } from "./provision";
import { fmt, table } from "./stats";
import { type ValidateFigures, validateReport, validateSuite } from "./validate";

export interface BenchOptions {
  suite: "placement" | "provision" | "api" | "validate" | "cloud" | "all";
  /** The real-cloud suite's cluster size. */
  members: number;
  quick: boolean;
  seeds: number;
  out: string;
  highsLimitS: number;
  log: (line: string) => void;
}

export interface BenchResults {
  meta: {
    suite: string;
    quick: boolean;
    seeds: number;
    highsLimitS: number;
    node: string;
    cpus: number;
    cpuModel: string;
    /** 1/5/15-minute load averages before and after: other work shares this machine. */
    loadBefore: number[];
    loadAfter: number[];
    commit: string;
    startedAt: string;
    durationS: number;
  };
  placement?: PlacementFigures;
  provision?: ProvisionFigures;
  api?: ApiFigures;
  validate?: ValidateFigures;
  cloud?: CloudFigures;
}

export const DEFAULT_OUT = path.join("test", "bench", "results", "latest.json");

export function parseArgs(argv: string[]): Omit<BenchOptions, "log"> {
  let suite: BenchOptions["suite"] = "all";
  let quick = false;
  let seeds: number | undefined;
  let out: string | undefined;
  let highsLimitS: number | undefined;
  let members = 30;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (["placement", "provision", "api", "validate", "cloud", "all"].includes(a)) suite = a as BenchOptions["suite"];
    else if (a === "--quick") quick = true;
    else if (a === "--seeds") seeds = Number(argv[++i]);
    else if (a === "--out") out = argv[++i] as string;
    else if (a === "--highs-limit") highsLimitS = Number(argv[++i]);
    else if (a === "--members") members = Number(argv[++i]);
    else
      throw new Error(
        `bench: unknown argument "${a}"; use placement|provision|api|validate|all [--quick] [--seeds N] [--out file.json] [--highs-limit S], or cloud [--members N]`,
      );
  }
  if (seeds !== undefined && !(Number.isInteger(seeds) && seeds >= 1))
    throw new Error("bench: --seeds needs a whole number ≥ 1");
  if (!(Number.isInteger(members) && members >= 6)) throw new Error("bench: --members needs a whole number ≥ 6");
  return {
    suite,
    quick,
    seeds: seeds ?? (quick ? 2 : 10),
    // The real-cloud suite keeps its own file: a run of it must not replace the offline figures.
    out: out ?? (suite === "cloud" ? path.join("test", "bench", "results", "cloud.json") : DEFAULT_OUT),
    highsLimitS: highsLimitS ?? (quick ? 2 : 10),
    members,
  };
}

function commit(): string {
  try {
    return execSync("git rev-parse --short HEAD", { stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    return "unknown";
  }
}

export async function runBench(o: BenchOptions): Promise<BenchResults> {
  const t0 = performance.now();
  const load = () => loadavg().map((x) => Math.round(x * 100) / 100);
  const results: BenchResults = {
    meta: {
      suite: o.suite,
      quick: o.quick,
      seeds: o.seeds,
      highsLimitS: o.highsLimitS,
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      loadBefore: load(),
      loadAfter: [],
      commit: commit(),
      startedAt: new Date().toISOString(),
      durationS: 0,
    },
  };
  if (o.suite === "placement" || o.suite === "all")
    results.placement = await placementSuite({ ...o, repeats: o.quick ? 1 : 3 });
  if (o.suite === "provision" || o.suite === "all")
    results.provision = await provisionSuite({ quick: o.quick, log: o.log });
  if (o.suite === "api" || o.suite === "all") results.api = await apiSuite({ quick: o.quick, log: o.log });
  if (o.suite === "validate" || o.suite === "all")
    results.validate = await validateSuite({ quick: o.quick, log: o.log });
  if (o.suite === "cloud") results.cloud = await cloudSuite({ members: o.members, log: o.log });
  results.meta.loadAfter = load();
  results.meta.durationS = Math.round((performance.now() - t0) / 100) / 10;
  mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(results, null, 2)}\n`);
  return results;
}

export function report(r: BenchResults): string {
  const out: string[] = [];
  const m = r.meta;
  out.push(
    `node ${m.node}, ${m.cpus} CPUs (${m.cpuModel}), load ${m.loadBefore.join(" ")} → ${m.loadAfter.join(" ")}, commit ${m.commit}, ${m.quick ? "quick, " : ""}${m.seeds} seeds, ${m.durationS} s`,
  );
  if (r.placement) out.push("", placementReport(r.placement));
  if (r.provision) {
    const p = r.provision;
    const l = p.latency;
    out.push(
      "",
      `Provisioning (simulated cloud: ${l.perCallMs} ms/call, build ${l.serverBuildMs} ms, volume ${l.volumeCreateMs} ms, attach ${l.attachMs} ms, delete ${l.deleteMs} ms, ${l.concurrency} calls in flight; the controller keeps ${p.controllerConcurrency} outstanding, and at ${l.concurrency} in the last column)`,
    );
    out.push(
      table(
        [
          "members",
          "create ms",
          "bound ms",
          "×bound",
          "destroy ms",
          "bound ms",
          "×bound",
          "1-by-1 model ms",
          "speed-up",
          "0-latency create ms",
          "0-latency destroy ms",
          `controller at ${l.concurrency}: create ×, destroy ×`,
        ],
        p.rows.map((x) => [
          x.members,
          x.createMs,
          x.createLowerBoundMs,
          x.createRatio,
          x.destroyMs,
          x.destroyLowerBoundMs,
          x.destroyRatio,
          x.sequentialModelMs,
          `${fmt(x.speedupVsSequential)}×`,
          x.zeroLatencyCreateMs,
          x.zeroLatencyDestroyMs,
          `${fmt(x.matchedConcurrency.createRatio)}, ${fmt(x.matchedConcurrency.destroyRatio)}`,
        ]),
      ),
    );
    const within = p.rows.every((x) => x.createRatio <= 1.2 && x.destroyRatio <= 1.2);
    out.push(`target: create and destroy within 1.2× of the critical path: ${within ? "met" : "NOT met"}`);
    if (p.checkDiff) {
      const cd = p.checkDiff;
      out.push(
        `check + diff on ${cd.members} members: check ${cd.checkMs} ms + diff ${cd.diffMs} ms = ${cd.totalMs} ms (target ≤ 200 ms: ${cd.totalMs <= 200 ? "met" : "NOT met"})`,
      );
    }
    out.push(`real OpenStack: ${p.openstack}`);
  }
  if (r.api) out.push("", apiReport(r.api));
  if (r.validate) out.push("", validateReport(r.validate));
  if (r.cloud) out.push("", cloudReport(r.cloud));
  return out.join("\n");
}

async function main(): Promise<void> {
  let opts: Omit<BenchOptions, "log">;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const results = await runBench({ ...opts, log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${report(results)}\n\nfigures: ${opts.out}\n`);
}

// Run as a script (not when a test imports it).
if (typeof module !== "undefined" && require.main === module) void main();
