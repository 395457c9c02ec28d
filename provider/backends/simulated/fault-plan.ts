// The simulated cloud's fault plan at work: adding faults to the stored plan, and finding and
// consuming the ones due on a call (see faults.ts for what a fault is).
import { BackendError, TAG_MEMBER } from "../backend";
import { type BackendOp, type Fault, faultMatches, type StoredFault } from "./faults";
import type { CloudState } from "./store";

/** Ops that start a transition: a slow fault stretches the transition instead of the call. */
export const TRANSITION_OPS: ReadonlySet<BackendOp> = new Set<BackendOp>([
  "createServer",
  "deleteServer",
  "resizeServer",
  "rebuildServer",
  "createVolume",
  "deleteVolume",
  "extendVolume",
  "retypeVolume",
  "attachVolume",
  "detachVolume",
]);

export type Named = { name: string; metadata: Record<string, string> };

export function addFault(state: CloudState, f: Fault): void {
  const stored: StoredFault = { ...f, id: state.nextFaultId++, left: f.times ?? 1 };
  if (f.kind === "error") stored.baseCount = state.calls[f.op] ?? 0;
  state.faults.push(stored);
}

function consume(state: CloudState, f: StoredFault): void {
  f.left -= 1;
  if (f.left <= 0) state.faults = state.faults.filter((x) => x.id !== f.id);
}

/** An error fault due on this call (the call is already counted), consumed, as the error to throw. */
export function takeError(state: CloudState, op: BackendOp): BackendError | undefined {
  const count = state.calls[op] ?? 0;
  const f = state.faults.find((x) => x.kind === "error" && x.op === op && count >= (x.baseCount ?? 0) + (x.nth ?? 1));
  if (f?.kind !== "error") return undefined;
  consume(state, f);
  const code = f.code ?? "unavailable";
  return new BackendError(code, f.message ?? `Simulated ${code} error on ${op} (injected fault).`);
}

export function takeMatching<K extends "server-error" | "volume-error" | "ignore-placement">(
  state: CloudState,
  kind: K,
  obj: Named,
): Extract<StoredFault, { kind: K }> | undefined {
  const f = state.faults.find(
    (x): x is Extract<StoredFault, { kind: K }> => x.kind === kind && faultMatches(x, obj, TAG_MEMBER),
  );
  if (f) consume(state, f);
  return f;
}

export function takeSlow(state: CloudState, op: BackendOp, obj: Named | undefined): number {
  const f = state.faults.find(
    (x) =>
      x.kind === "slow" &&
      (x.op === undefined ? TRANSITION_OPS.has(op) : x.op === op) &&
      (x.member === undefined || (obj !== undefined && faultMatches(x, obj, TAG_MEMBER))),
  );
  if (f?.kind !== "slow") return 0;
  consume(state, f);
  return f.ms;
}
