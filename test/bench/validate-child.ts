// Child process for the validate suite: a fresh process per run, so the peak resident memory is
// what `openstack-vcluster validate` costs a user (node itself included).
// argv: file format. Prints a ValidateRun as JSON.

import { phasesOf, runValidate, type SpecFormat, type ValidateRun } from "./validate";

function main(): void {
  const file = process.argv[2] as string;
  const format = process.argv[3] as SpecFormat;
  const before = process.memoryUsage.rss();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = runValidate(file);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  // maxRSS (KiB) is the process's lifetime peak: read it before the phases pass runs.
  const peak = process.resourceUsage().maxRSS * 1024;
  const run: ValidateRun = {
    ms: Math.round(ms * 10) / 10,
    cpuMs: Math.round((cpu.user + cpu.system) / 100) / 10,
    peakRssMb: Math.round(peak / 2 ** 20),
    peakGrowthMb: Math.round((peak - before) / 2 ** 20),
    ...r,
    phases: phasesOf(file, format),
  };
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

main();
