// A check of the simulated cloud's change tracking (tracking.ts), for tests: after a commit, every
// record and meta value the cache holds must be what was last written for it, so a change the
// tracking missed (never written, so lost for every other process) fails the call that made it.
import { COLLECTIONS, type Collection, recordId, type TrackedState } from "./tracking";

/**
 * On in tests (and with OPENSTACK_VCLUSTER_SIM_VERIFY=1), on clouds of up to VERIFY_MAX_OBJECTS
 * objects: it serializes the whole cache after every call.
 */
export const VERIFY = process.env.VITEST !== undefined || process.env.OPENSTACK_VCLUSTER_SIM_VERIFY === "1";
const VERIFY_MAX_OBJECTS = 300;

/** What was last read or written for each record and meta value of one database's cache. */
export class WrittenCheck {
  private readonly records = new WeakMap<object, string>();
  private readonly meta = new Map<string, string>();

  /** A record as read from (or written to) its row: `value` is the record itself or the cache's copy of it. */
  record(tracked: TrackedState, coll: Collection, value: Record<PropertyKey, unknown>, json: string): void {
    const p = tracked.records(coll, [recordId(coll, value)])[0];
    if (p) this.records.set(tracked.targetOf(p), json);
  }

  written(target: object, json: string): void {
    this.records.set(target, json);
  }

  metaValue(key: string, json: string | undefined): void {
    if (json === undefined) this.meta.delete(key);
    else this.meta.set(key, json);
  }

  /** After a full load: every record and meta value as read (`jsons`: each collection's rows, as `records`). */
  loaded(
    tracked: TrackedState,
    records: Map<Collection, Record<PropertyKey, unknown>[]>,
    jsons: Map<Collection, string[]>,
  ): void {
    for (const [coll, list] of records) {
      const rows = jsons.get(coll) ?? [];
      list.forEach((r, i) => {
        this.record(tracked, coll, r, rows[i] as string);
      });
    }
    this.meta.clear();
    for (const key of tracked.metaKeys()) this.meta.set(key, JSON.stringify(tracked.meta(key)));
  }

  /** Throws when the cache holds something the database doesn't (a change the tracking missed). */
  verify(tracked: TrackedState): void {
    if (tracked.size() > VERIFY_MAX_OBJECTS) return;
    for (const coll of COLLECTIONS) {
      for (const t of tracked.stored(coll)) {
        if (JSON.stringify(t) !== this.records.get(t)) {
          throw new Error(
            `simulated cloud: ${coll} record ${String(t.id)} changed without being written (a change the tracking missed)`,
          );
        }
      }
    }
    for (const key of tracked.metaKeys()) {
      if (JSON.stringify(tracked.meta(key)) !== this.meta.get(key)) {
        throw new Error(`simulated cloud: meta value "${key}" changed without being written`);
      }
    }
  }
}
