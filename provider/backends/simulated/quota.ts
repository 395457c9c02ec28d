// Quota of the simulated cloud: usage counts what is not being deleted, and a resize in flight at its
// new flavor; absent limits are unlimited.
import { BackendError, type Discovery } from "../backend";
import { indexOf } from "./indexes";
import type { CloudState, Quota } from "./store";

/** What counts against the quota (indexes.ts keeps the sums): servers at their flavor (a resize in flight at its new one), volumes at their size. */
export function quotaUsage(state: CloudState): Required<Quota> {
  return indexOf(state).quotaUsed();
}

export function remainingQuota(state: CloudState): Discovery["quota"] | undefined {
  const q = state.quota;
  if (!q) return undefined;
  const used = quotaUsage(state);
  const out: NonNullable<Discovery["quota"]> = {};
  for (const k of Object.keys(q) as (keyof Quota)[]) {
    const limit = q[k];
    if (limit !== undefined) out[k] = Math.max(0, limit - used[k]);
  }
  return out;
}

export function checkQuota(state: CloudState, delta: Partial<Record<keyof Quota, number>>): void {
  const q = state.quota;
  if (!q) return;
  const used = quotaUsage(state);
  for (const k of Object.keys(delta).sort() as (keyof Quota)[]) {
    const want = delta[k] ?? 0;
    const limit = q[k];
    if (limit === undefined || want <= 0 || used[k] + want <= limit) continue;
    throw new BackendError(
      "quota_exceeded",
      `Quota exceeded for ${k}: requested ${want}, but already used ${used[k]} of ${limit}.`,
    );
  }
}
