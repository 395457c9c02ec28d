// The validate suite: `openstack-vcluster validate` on specs of 1,000 / 10,000 / 100,000 members,
// written as YAML (block style, as tools write it) and as JSON (indented), timed through the
// command's own entry (read, decode, parse, schema, names and references, contradictions) with
// the peak resident memory of a fresh process, and where the time goes.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { validateCommand } from "../../provider/cli/validate";
import { defaultPaths, detectContradictions } from "../../provider/clusterspec/contradictions";
import { parseSpecText, readTextFile, validateParsed } from "../../provider/clusterspec/parse";
import { fitExponent, fmt, percentile, round, table } from "./stats";

export interface ValidateOptions {
  quick: boolean;
  log: (line: string) => void;
}

export type SpecFormat = "yaml" | "json";

/** One run of the command, as the child process (or the in-process fallback) reports it. */
export interface ValidateRun {
  ms: number;
  /** CPU time of the whole process over the same span (GC threads included): less swayed by other work on the machine. */
  cpuMs: number;
  /** Peak resident memory of the whole process (node itself included); absent in-process. */
  peakRssMb?: number;
  /** Peak resident memory minus what the process held before the command ran. */
  peakGrowthMb: number;
  exitCode: number;
  /** The command's own line: "cluster … is valid: …" (the bench measures the success path). */
  output: string;
  /** Where the time goes, measured on a separate pass over the same file. */
  phases: { readMs: number; parseMs: number; validateMs: number; contradictionsMs: number };
}

export interface ValidateRow {
  members: number;
  format: SpecFormat;
  fileMb: number;
  runs: ValidateRun[];
  p50Ms: number;
  p50CpuMs: number;
  peakRssMb?: number;
  peakGrowthMb: number;
  valid: boolean;
  phases: ValidateRun["phases"];
}

export interface ValidateFigures {
  /** True when measured in the bench's own process (under the test runner): memory is then only the growth. */
  inProcess: boolean;
  rows: ValidateRow[];
  /** Exponent k of time ≈ a · members^k, per format (1 = linear). */
  timeExponent: Record<SpecFormat, number>;
  targets: { id: string; target: string; measured: string; met: boolean }[];
}

/** The target of issue 14 for 100,000 members written as YAML. */
export const TARGET = { members: 100_000, ms: 3000, rssMb: 400 } as const;

const IMAGES = ["debian-12", "ubuntu-24.04", "rocky-9"];
const FLAVORS = ["c1.small", "m1.small", "m1.small", "m1.medium", "m1.medium", "c1.large", "m1.large", "m1.xlarge"];
const SPREAD = 10;

/**
 * A spec of n members in the args form: 4 servers to each volume, every volume attached to a
 * server; servers spread in tens over hosts (hard), every tenth ten also over zones (soft), and
 * a soft rack affinity between neighbouring tens. Deterministic: the same n gives the same text.
 */
export function benchSpec(n: number): {
  name: string;
  instances: object[];
  groupings: object[];
} {
  const nServers = Math.ceil((n * 4) / 5);
  const server = (i: number) => `app-${String(i).padStart(6, "0")}`;
  const instances: object[] = [];
  for (let i = 0; i < nServers; i++) {
    const spec: Record<string, unknown> = { imageRef: IMAGES[i % 3], flavorRef: FLAVORS[i % FLAVORS.length] };
    if (i % 50 === 0) spec.metadata = { tier: "app", shard: String(Math.floor(i / 50)) };
    instances.push({ name: server(i), type: "server", spec });
  }
  for (let v = 0; instances.length < n; v++) {
    instances.push({
      name: `${server(v * 4)}-data`,
      type: "volume",
      spec: { size: [20, 50, 100][v % 3], volumeType: "ssd", attachTo: server(v * 4) },
    });
  }
  const groupings: object[] = [];
  const tens = Math.floor(nServers / SPREAD);
  for (let g = 0; g < tens; g++) {
    const membersRef = Array.from({ length: SPREAD }, (_, k) => server(g * SPREAD + k));
    groupings.push({ name: `spread-${g}`, membersRef, spec: { rule: "anti-affinity", scope: "host" } });
    if (g % 10 === 0)
      groupings.push({
        name: `spread-${g}-zones`,
        membersRef,
        spec: { rule: "anti-affinity", scope: "zone", enforcement: "soft", maxPerDomain: 4, weight: 20 },
      });
    if (g % 10 === 5 && g + 1 < tens)
      groupings.push({
        name: `near-${g}`,
        membersRef: [server(g * SPREAD), server((g + 1) * SPREAD)],
        spec: { rule: "affinity", scope: "rack", enforcement: "soft", weight: 10 },
      });
  }
  return { name: `validate-bench-${n}`, instances, groupings };
}

/** Block-style YAML of a value made of plain names, numbers, lists and mappings (what benchSpec makes). */
export function toBlockYaml(value: unknown, indent = ""): string {
  const lines: string[] = [];
  const scalar = (v: unknown) => (typeof v === "string" && /^\d+$/.test(v) ? `"${v}"` : String(v));
  const isCollection = (v: unknown) => typeof v === "object" && v !== null;
  const emit = (v: unknown, pad: string, first: string): void => {
    if (Array.isArray(v)) {
      for (const item of v) {
        if (isCollection(item)) emit(item, `${pad}  `, `${pad}- `);
        else lines.push(`${pad}- ${scalar(item)}`);
      }
      return;
    }
    let lead = first;
    for (const [k, x] of Object.entries(v as object)) {
      if (isCollection(x)) {
        lines.push(`${lead}${k}:`);
        emit(x, `${pad}  `, `${pad}  `);
      } else lines.push(`${lead}${k}: ${scalar(x)}`);
      lead = pad;
    }
  };
  emit(value, indent, indent);
  return `${lines.join("\n")}\n`;
}

/** Writes the n-member spec as spec-<n>.yaml and spec-<n>.json in dir. */
export function writeBenchSpec(dir: string, n: number): Record<SpecFormat, string> {
  const spec = benchSpec(n);
  const files = { yaml: path.join(dir, `spec-${n}.yaml`), json: path.join(dir, `spec-${n}.json`) };
  writeFileSync(files.yaml, `# ${n} members, generated by test/bench/validate.ts\n${toBlockYaml(spec)}`);
  writeFileSync(files.json, `${JSON.stringify(spec, null, 2)}\n`);
  return files;
}

/** The command with its output captured, as the binary runs it. */
export function runValidate(file: string): { exitCode: number; output: string } {
  const lines: string[] = [];
  const io = { out: (t: string) => lines.push(t), err: (t: string) => lines.push(t), cwd: process.cwd(), env: {} };
  const exitCode = validateCommand(io, file, { json: false });
  return { exitCode, output: lines.join("").trim().split("\n").slice(0, 3).join("\n") };
}

/** The steps loadSpecFile takes, timed one by one (contradictions again on their own: validate includes them). */
export function phasesOf(file: string, format: SpecFormat): ValidateRun["phases"] {
  const t0 = performance.now();
  const read = readTextFile(file, format);
  const t1 = performance.now();
  if (!("text" in read)) throw new Error(`bench: ${file} does not decode`);
  const parsed = parseSpecText(read.text, format);
  const t2 = performance.now();
  const result = validateParsed(parsed);
  const t3 = performance.now();
  if (result.spec) detectContradictions(result.spec, defaultPaths(result.spec));
  const t4 = performance.now();
  return {
    readMs: round(t1 - t0, 1),
    parseMs: round(t2 - t1, 1),
    validateMs: round(t3 - t2, 1),
    contradictionsMs: round(t4 - t3, 1),
  };
}

const RSS_MB = () => process.memoryUsage.rss() / 2 ** 20;

/** One run in the bench's own process (under the test runner, where there is no compiled child). */
function runInProcess(file: string, format: SpecFormat): ValidateRun {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = RSS_MB();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = runValidate(file);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const peak = Math.max(before, RSS_MB());
  return {
    ms: round(ms, 1),
    cpuMs: round((cpu.user + cpu.system) / 1000, 1),
    peakGrowthMb: round(peak - before, 1),
    ...r,
    phases: phasesOf(file, format),
  };
}

function runInChild(child: string, file: string, format: SpecFormat): ValidateRun {
  const out = execFileSync(process.execPath, [child, file, format], { encoding: "utf8", maxBuffer: 1 << 20 });
  return JSON.parse(out) as ValidateRun;
}

export async function validateSuite(o: ValidateOptions): Promise<ValidateFigures> {
  const sizes = o.quick ? [1000] : [1000, 10_000, 100_000];
  const repeats = o.quick ? 1 : 3;
  const child = path.join(__dirname, "validate-child.js");
  const inProcess = !__filename.endsWith(".js") || !existsSync(child);
  const dir = mkdtempSync(path.join(tmpdir(), "bench-validate-"));
  const rows: ValidateRow[] = [];
  try {
    for (const n of sizes) {
      const files = writeBenchSpec(dir, n);
      for (const format of ["yaml", "json"] as const) {
        const file = files[format];
        const runs: ValidateRun[] = [];
        for (let r = 0; r < repeats; r++)
          runs.push(inProcess ? runInProcess(file, format) : runInChild(child, file, format));
        const last = runs[runs.length - 1] as ValidateRun;
        const rssRuns = runs.flatMap((x) => (x.peakRssMb === undefined ? [] : [x.peakRssMb]));
        const row: ValidateRow = {
          members: n,
          format,
          fileMb: round(statSync(file).size / 2 ** 20, 2),
          runs,
          p50Ms: percentile(
            runs.map((x) => x.ms),
            50,
          ),
          p50CpuMs: percentile(
            runs.map((x) => x.cpuMs),
            50,
          ),
          ...(rssRuns.length > 0 ? { peakRssMb: Math.max(...rssRuns) } : {}),
          peakGrowthMb: Math.max(...runs.map((x) => x.peakGrowthMb)),
          valid: runs.every((x) => x.exitCode === 0),
          phases: last.phases,
        };
        rows.push(row);
        o.log(
          `validate ${n} members ${format}: ${fmt(row.p50Ms)} ms, peak ${fmt(row.peakRssMb ?? row.peakGrowthMb)} MB${row.valid ? "" : ` (NOT valid: ${last.output})`}`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const exponent = (format: SpecFormat) => {
    const rs = rows.filter((r) => r.format === format);
    return round(
      fitExponent(
        rs.map((r) => r.members),
        rs.map((r) => r.p50Ms),
      ),
      2,
    );
  };
  const targets: ValidateFigures["targets"] = [];
  const big = rows.find((r) => r.format === "yaml" && r.members === TARGET.members);
  if (big) {
    targets.push({
      id: "validate-yaml-time",
      target: `≤ ${TARGET.ms} ms`,
      measured: `${fmt(big.p50Ms)} ms (CPU ${fmt(big.p50CpuMs)} ms)`,
      met: big.p50Ms <= TARGET.ms,
    });
    const rss = big.peakRssMb ?? big.peakGrowthMb;
    targets.push({
      id: "validate-yaml-memory",
      target: `≤ ${TARGET.rssMb} MB peak RSS`,
      measured: `${fmt(rss)} MB`,
      met: big.peakRssMb !== undefined && rss <= TARGET.rssMb,
    });
  }
  return { inProcess, rows, timeExponent: { yaml: exponent("yaml"), json: exponent("json") }, targets };
}

export function validateReport(v: ValidateFigures): string {
  const out = [
    `Validating large specs (\`openstack-vcluster validate\`, ${v.inProcess ? "in-process: memory is growth only" : "a fresh process per run"})`,
    table(
      [
        "members",
        "format",
        "file MB",
        "p50 ms",
        "CPU ms",
        "peak RSS MB",
        "read ms",
        "parse ms",
        "validate ms",
        "of which contradictions ms",
        "valid",
      ],
      v.rows.map((r) => [
        r.members,
        r.format,
        r.fileMb,
        r.p50Ms,
        r.p50CpuMs,
        r.peakRssMb ?? "-",
        r.phases.readMs,
        r.phases.parseMs,
        r.phases.validateMs,
        r.phases.contradictionsMs,
        r.valid ? "yes" : "NO",
      ]),
    ),
    `time exponent (members^k): YAML ${fmt(v.timeExponent.yaml)}, JSON ${fmt(v.timeExponent.json)}`,
  ];
  for (const t of v.targets)
    out.push(`target ${t.id}: ${t.target}, measured ${t.measured}: ${t.met ? "met" : "NOT met"}`);
  return out.join("\n");
}
