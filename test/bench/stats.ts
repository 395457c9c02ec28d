// Small measuring helpers: percentiles, a clock, peak memory from a sampling thread, tables.

import { Worker } from "node:worker_threads";

/** Nearest-rank percentile (p in 0..100) of the values; NaN when there are none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function timed<T>(fn: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t0 };
}

/**
 * Wall-clock and CPU time of `fn`. CPU time is the whole process's (user + system), so other work
 * on the machine inflates it less than the wall clock. (No forced GC before: on V8 it throws away
 * compiled code and makes the next run slower, not fairer.)
 */
export function measured<T>(fn: () => T): { value: T; ms: number; cpuMs: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, ms, cpuMs: (c.user + c.system) / 1000 };
}

/** The exponent k of the least-squares fit y = a · x^k (a line through the log-log points). */
export function fitExponent(xs: number[], ys: number[]): number {
  const pts = xs.flatMap((x, i) => (x > 0 && (ys[i] as number) > 0 ? [[Math.log(x), Math.log(ys[i] as number)]] : []));
  if (pts.length < 2) return Number.NaN;
  const mx = pts.reduce((a, p) => a + (p[0] as number), 0) / pts.length;
  const my = pts.reduce((a, p) => a + (p[1] as number), 0) / pts.length;
  let num = 0;
  let den = 0;
  for (const [x, y] of pts as [number, number][]) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den > 0 ? num / den : Number.NaN;
}

export const round = (x: number, digits = 3): number =>
  Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x;

/**
 * Peak resident memory while `fn` runs. The engine is synchronous, so the sampling runs on a
 * worker thread (resident memory is per process) every 2 ms; the baseline is taken after a GC.
 */
export async function peakMemory<T>(fn: () => T): Promise<{ value: T; peakMb: number; baselineMb: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const shared = new SharedArrayBuffer(16);
  const cells = new Float64Array(shared);
  const worker = new Worker(
    `const { workerData } = require("node:worker_threads");
     const cells = new Float64Array(workerData);
     const flag = new Int32Array(workerData, 8, 1);
     const tick = () => { cells[0] = Math.max(cells[0], process.memoryUsage.rss()); if (Atomics.load(flag, 0) === 0) setTimeout(tick, 2); };
     tick();`,
    { eval: true, workerData: shared },
  );
  await new Promise((r) => setTimeout(r, 20));
  const baseline = process.memoryUsage.rss();
  const value = fn();
  cells[0] = Math.max(cells[0] as number, process.memoryUsage.rss());
  Atomics.store(new Int32Array(shared, 8, 1), 0, 1);
  await worker.terminate();
  return { value, peakMb: ((cells[0] as number) - baseline) / 2 ** 20, baselineMb: baseline / 2 ** 20 };
}

/** A plain text table, columns padded, numbers right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === "number" ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? "").length)));
  const line = (r: (string | number)[]) =>
    r
      .map((c, i) => {
        const s = String(c ?? "");
        return /^[-\d.,]+( ?[a-z%×]+)?$/.test(s) ? s.padStart(widths[i] as number) : s.padEnd(widths[i] as number);
      })
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return "-";
  if (Number.isInteger(x)) return String(x);
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(x === Math.round(x) ? 0 : 3);
}
