// Child process for F5's memory figure: a fresh heap, so what the engine allocates shows in the
// resident memory (in the benchmark's own process the heap is already large and hides it).
// argv: scale seed. Prints JSON { peakMb, baselineMb, ms, placed }.

import { place } from "../../provider/placement";
import { f5 } from "./families";
import { peakMemory } from "./stats";

async function main(): Promise<void> {
  const scale = Number(process.argv[2] ?? 1);
  const seed = Number(process.argv[3] ?? 1);
  const inst = f5(seed, scale);
  const t0 = performance.now();
  const m = await peakMemory(() => place({ spec: inst.spec, topology: inst.topology, seed }));
  process.stdout.write(
    `${JSON.stringify({ peakMb: m.peakMb, baselineMb: m.baselineMb, ms: performance.now() - t0, placed: m.value.placed })}\n`,
  );
}

void main();
