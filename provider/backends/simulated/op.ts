// What an operation of the simulated cloud sees: the call's database transaction, and the settings of
// the cloud that opened it.
import type { Latency } from "./clock";
import type { CloudState } from "./store";

export type View = "admin" | "tenant";

/** What an operation sees inside its call's transaction. */
export interface Tx {
  /**
   * The cloud's state, to read and change in place like a plain object: what the operation changes
   * is written when the call ends, what it throws on leaves nothing changed (tracking.ts). Its
   * objects are valid during the call only; copy one with `plain` (structuredClone refuses them).
   */
  state: CloudState;
  now: number;
  /** Extra ms from a matching slow fault (consumed). */
  slow(obj?: { name: string; metadata: Record<string, string> }): number;
}

/** The cloud's settings an operation needs. */
export interface OpEnv {
  /** admin: real hosts visible; tenant: zones only, `hostId` instead of `host`. */
  view: View;
  latency: Latency;
}
