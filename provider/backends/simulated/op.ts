// What an operation of the simulated cloud sees: the transaction inside the lock, and the settings of
// the cloud that opened it.
import type { Latency } from "./clock";
import type { CloudState } from "./store";

export type View = "admin" | "tenant";

/** What an operation sees inside the lock. */
export interface Tx {
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
