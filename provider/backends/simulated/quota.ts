// Quota of the simulated cloud: usage counts what is not being deleted, and a resize in flight at its
// new flavor; absent limits are unlimited.
import { findFlavor } from "../../model/topology";
import { BackendError, type Discovery } from "../backend";
import type { CloudState, Quota } from "./store";

export function quotaUsage(state: CloudState): Required<Quota> {
  const u = { instances: 0, vcpus: 0, ramMb: 0, volumes: 0, gigabytes: 0 };
  for (const s of state.servers) {
    if (s.pending?.kind === "delete") continue;
    const flavorRef = s.pending?.kind === "resize" ? s.pending.flavorRef : s.flavorRef;
    const f = findFlavor(state.topology.flavors, flavorRef);
    u.instances += 1;
    u.vcpus += f?.vcpus ?? 0;
    u.ramMb += f?.ramMb ?? 0;
  }
  for (const v of state.volumes) {
    if (v.pending?.kind === "delete") continue;
    u.volumes += 1;
    u.gigabytes += v.sizeGb;
  }
  return u;
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
