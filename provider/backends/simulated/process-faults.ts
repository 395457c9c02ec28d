// Faults a process asks for through its environment, kept in that process's memory only.
import { type Fault, parseFaults, type StoredFault } from "./faults";
import type { CloudState } from "./store";

/**
 * Faults for this process, read when it opens a cloud: a JSON array of Fault, e.g.
 * `OPENSTACK_VCLUSTER_SIM_FAULTS='[{"kind":"server-error","member":"db-1"}]' pulumi up`. Lets a demo
 * make a separate process (the Pulumi provider, the command) hit a fault.
 *
 * They stay with the process that read the variable: kept in its memory beside the stored plan
 * (every cloud object of the process on the same directory sees them), never written to
 * the cloud's database, so they end with the process instead of failing every later run that never asked
 * for them. Added once per process and directory, not at every open: the provider opens the cloud
 * for each step of one run. Faults meant to outlive the process go through `injectFault` (or the
 * `faults` option) into the stored plan, which `sim show` lists and `sim reset` clears.
 */
export const SIM_FAULTS_ENV = "OPENSTACK_VCLUSTER_SIM_FAULTS";

/** (directory, variable value) pairs this process has already read. */
const envFaultsApplied = new Set<string>();
/** Per cloud directory, this process's faults from the environment (negative ids: never stored). */
const processFaults = new Map<string, StoredFault[]>();
let nextProcessFaultId = -1;

/** Puts this process's faults into a state read from disk, so the fault plan sees them. */
export function withProcessFaults(dir: string, state: CloudState): CloudState {
  for (const f of processFaults.get(dir) ?? []) state.faults.push(f);
  return state;
}

/** Takes this process's faults back out of a state about to be written, keeping what is left of them. */
export function keepProcessFaults(dir: string, state: CloudState): CloudState {
  const mine = state.faults.filter((f) => f.id < 0);
  if (mine.length > 0 || processFaults.has(dir)) {
    state.faults = state.faults.filter((f) => f.id >= 0);
    if (mine.length > 0) processFaults.set(dir, mine);
    else processFaults.delete(dir);
  }
  return state;
}

/** This process's faults from the environment not yet taken for `dir` (read once per process and directory). */
export function envFaultsFor(dir: string, env: NodeJS.ProcessEnv): { faults: Fault[]; taken(): void } {
  const value = env[SIM_FAULTS_ENV];
  const key = `${dir}\0${value}`;
  const faults =
    value !== undefined && value.trim() !== "" && !envFaultsApplied.has(key) ? parseFaults(value, SIM_FAULTS_ENV) : [];
  return {
    faults,
    taken() {
      if (faults.length > 0) envFaultsApplied.add(key);
    },
  };
}

/** Keeps `faults` as this process's own for `dir`, counting error faults from the state's current calls. */
export function addProcessFaults(dir: string, state: CloudState, faults: readonly Fault[]): void {
  if (faults.length === 0) return;
  const mine = processFaults.get(dir) ?? [];
  for (const f of faults) {
    const stored: StoredFault = { ...f, id: nextProcessFaultId--, left: f.times ?? 1 };
    if (f.kind === "error") stored.baseCount = state.calls[f.op] ?? 0;
    mine.push(stored);
  }
  processFaults.set(dir, mine);
}

/** Forgets this process's faults for `dir` (its cloud was recreated). */
export function forgetProcessFaults(dir: string): void {
  processFaults.delete(dir);
}
