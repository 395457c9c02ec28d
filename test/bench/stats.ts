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
