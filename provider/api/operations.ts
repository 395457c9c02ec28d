// The background half of the API: each create, update and delete runs here after its 202, through
// the same ClusterController as `pulumi up` (all-or-nothing create, in-place update, destroy that
// waits until everything is gone). One operation at a time per cluster (the store refuses a
// second), any number of clusters at once.
//
// A cluster's name on the cloud (the tag on every object it owns, and the prefix of their names) is
// its id, not the user's name: ids are unique, so two projects sharing a cloud (noauth on the
// simulated cloud) or two clusters with one name never adopt each other's objects, a rename is only
// a record change, and nothing the command or a Pulumi stack builds can collide with it. Messages
// from the lifecycle are shown with the user's name in its place.
//
// Each operation also holds the cluster's lock on the cloud (backends/cluster-lock.ts), as the
// command and the provider do, so nothing else changes the cluster while it runs.
//
// Clusters built at the same time on one cloud each place against the inventory as they read it,
// so two of them may choose the same last free spot; the cloud then refuses the second ("No valid
// host was found"), and its create is rolled back. Such a failure is a race, not an answer: the
// operation places again against the inventory as it is now, up to MAX_ATTEMPTS times in all (as
// Nova's scheduler retries a build). Ties between equally good hosts are broken by a seed taken
// from the cluster's id, so clusters started together rarely race in the first place, and each
// cluster's placement stays deterministic for its own input.
//
// A crash leaves the operation "running" in the database; the next start resumes it (resumeAll):
// the controller surveys the cloud by tags and adopts what the interrupted run made, so a resumed
// create builds what is missing and duplicates nothing.
//
// Each operation runs with a backend acting for its project (backends.ts): with Keystone, through the
// trust its request made (delegation.ts), which is deleted when the operation ends.
import { setTimeout as sleep } from "node:timers/promises";
import { clusterLockDir, withClusterLock } from "../backends/cluster-lock";
import type { BackendSelection } from "../backends/select";
import { ClusterController, type ClusterState, LifecycleError } from "../lifecycle";
import type { ClusterSpec } from "../model/cluster";
import { quote } from "../model/text";
import type { ApiBackends } from "./backends";
import type { ClusterRecord, Fault, OperationRecord, Store } from "./store";
import { renameExplanation } from "./views";

export type ApiLog = (level: "info" | "warn", message: string) => void;

/** Deletes a finished operation's trust (Keystone). */
export type TrustDeleter = (trustId: string) => Promise<"deleted" | "gone">;

export interface RunnerOptions {
  /** Cloud operations in flight at once, per cluster operation (default 10). */
  concurrency?: number;
  timeouts?: { serverMs?: number; volumeMs?: number; deleteMs?: number };
  log: ApiLog;
  /** Keystone: deletes each operation's trust when it ends. */
  deleteTrust?: TrustDeleter;
  /** Keystone: how long a trust lives (older undeleted ones have expired: not retried). */
  trustLifetimeMs?: number;
}

/** Replaces the cloud-side name (the id, quoted) with the user's name in a lifecycle message. */
export function renamer(id: string, name: string): (text: string) => string {
  const from = `"${id}"`;
  const to = quote(name);
  return (text) => text.split(from).join(to);
}

/** The spec as the controller gets it: named by the cluster's id. */
export function cloudSpec(spec: ClusterSpec, id: string): ClusterSpec {
  return { ...spec, name: id };
}

const HINT = /(?:\(hint: (.*)\)|;? hint: (.*))$/;

/** At most one progress write per operation this often. */
const PROGRESS_MS = 250;

/** Attempts of one create or update when the cloud refused a spot the plan chose. */
export const MAX_ATTEMPTS = 3;
const RACE = /No valid (?:host|backend) was found/;

/** A failure to place again: the cloud refused a spot the plan chose (someone else took it), and nothing was left half-made. */
export function lostRace(error: unknown): boolean {
  return (
    error instanceof LifecycleError &&
    (error.code === "create_failed" || error.code === "update_failed") &&
    RACE.test(error.message)
  );
}

/** The placement seed of a cluster: from its id, so its placement is deterministic and differs from its neighbours'. */
export function seedOf(id: string): number {
  return Number.parseInt(id.replace(/-/g, "").slice(0, 8), 16) >>> 0;
}

/** A lifecycle failure as the API shows it: code, message, causes one per entry, hints apart. */
export function faultOf(error: unknown, rename: (text: string) => string): Fault {
  if (error instanceof LifecycleError) {
    const message = rename(error.message);
    if (error.explanation) {
      const explanation = renameExplanation(error.explanation, rename);
      return {
        code: error.code,
        message,
        causes: explanation.causes.map((c) => c.message),
        hints: explanation.causes.map((c) => c.hint),
        explanation,
      };
    }
    const lines = message.split("\n");
    const causes = lines.length > 1 ? lines.slice(1).map((l) => l.trim()) : [message];
    const hints: string[] = [];
    for (const c of causes) {
      const m = HINT.exec(c);
      const hint = m?.[1] ?? m?.[2];
      if (hint) hints.push(hint);
    }
    return { code: error.code, message, causes, hints };
  }
  const text = rename(error instanceof Error ? error.message : String(error));
  return { code: "backend", message: text, causes: [text], hints: [] };
}

export class OperationRunner {
  /** Running work, by cluster id. */
  private readonly running = new Map<string, Promise<void>>();
  /** Set when close() gave up waiting: from then on nothing is written (the database is closed). */
  private detached = false;

  constructor(
    private readonly store: Store,
    private readonly backends: ApiBackends,
    private readonly options: RunnerOptions,
  ) {}

  get size(): number {
    return this.running.size;
  }

  /** Starts an operation the store has recorded as running. Returns at once. */
  launch(cluster: ClusterRecord, operation: OperationRecord): void {
    const work = this.work(cluster, operation)
      .catch((e) => {
        this.options.log("warn", `openstack-vcluster serve: internal error in operation ${operation.id}: ${String(e)}`);
      })
      .finally(() => {
        if (this.running.get(cluster.id) === work) this.running.delete(cluster.id);
      });
    this.running.set(cluster.id, work);
  }

  /** Operations the database says are running but nothing here runs: a previous server stopped mid-way. */
  resumeAll(): number {
    let n = 0;
    for (const { operation, cluster } of this.store.runningOperations()) {
      if (this.running.has(cluster.id)) continue;
      const serving = this.backends.backendIdFor(cluster.tenantId);
      if (cluster.backendId !== serving) {
        this.options.log(
          "warn",
          `cluster ${quote(cluster.name)} (${cluster.id}): its ${operation.action} was left running on ${cluster.backendId}, and this server serves ${serving}: not resumed; hint: serve that cloud to finish it`,
        );
        continue;
      }
      this.options.log(
        "info",
        `cluster ${quote(cluster.name)} (${cluster.id}): resuming its ${operation.action}, left running by a server that stopped`,
      );
      this.launch(cluster, operation);
      n++;
    }
    return n;
  }

  /**
   * Deletes, in the background, the trusts of operations that ended without their trust being
   * deleted (a server stopped, or Keystone failed, first). Returns how many it tries.
   */
  sweepTrusts(): number {
    const deleteTrust = this.options.deleteTrust;
    if (!deleteTrust || this.store.isClosed) return 0;
    // A trust older than its lifetime has expired: nothing can act through it any more.
    const expired = Date.now() - (this.options.trustLifetimeMs ?? Number.POSITIVE_INFINITY);
    const ids: string[] = [];
    for (const { trustId, finishedAt } of this.store.trustsToDelete()) {
      if (Date.parse(finishedAt) < expired) this.store.trustDeleted(trustId);
      else ids.push(trustId);
    }
    if (ids.length === 0) return 0;
    const work = (async () => {
      for (const id of ids) {
        if (this.detached) return;
        await this.dropTrust(id);
      }
    })();
    this.running.set(`trusts:${ids[0]}`, work);
    void work.finally(() => this.running.delete(`trusts:${ids[0]}`));
    return ids.length;
  }

  /** Deletes a trust and records it; a failure is logged and retried at the next start. */
  private async dropTrust(trustId: string): Promise<void> {
    const deleteTrust = this.options.deleteTrust;
    if (!deleteTrust) return;
    await this.backends.retire(trustId);
    try {
      await deleteTrust(trustId);
      this.write(() => this.store.trustDeleted(trustId));
    } catch (e) {
      this.options.log(
        "warn",
        `openstack-vcluster serve: Keystone trust ${trustId} could not be deleted (${e instanceof Error ? e.message : String(e)}); it is retried at the next start, and its trustor can delete it: openstack trust delete ${trustId}`,
      );
    }
  }

  /** Waits for running operations, at most `timeoutMs`; true when none is left. Then writes nothing more. */
  async drain(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      const done = await Promise.race([Promise.all([...this.running.values()]).then(() => true as const), deadline]);
      return done && this.running.size === 0;
    } finally {
      clearTimeout(timer);
      this.detached = true;
    }
  }

  private write(fn: () => void): void {
    if (this.detached || this.store.isClosed) return;
    fn();
  }

  /**
   * Progress lines into the operation's record: the first at once, then at most one write per
   * PROGRESS_MS (the latest line wins), so a cluster of thousands of members doesn't cost
   * thousands of synchronous commits. flush() writes what is pending.
   */
  private progressWriter(operationId: string, rename: (text: string) => string) {
    let pending: string | undefined;
    let last = 0;
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (pending === undefined) return;
      const message = pending;
      pending = undefined;
      last = Date.now();
      this.write(() => this.store.recordProgress(operationId, message));
    };
    return {
      push: (message: string) => {
        pending = rename(message);
        const wait = last + PROGRESS_MS - Date.now();
        if (wait <= 0) flush();
        else timer ??= setTimeout(flush, wait).unref();
      },
      flush,
    };
  }

  private async work(cluster: ClusterRecord, op: OperationRecord): Promise<void> {
    const rename = renamer(cluster.id, op.spec?.name ?? cluster.name);
    const progress = this.progressWriter(op.id, rename);
    const log: ApiLog = (level, message) => {
      progress.push(message);
      if (level === "warn") this.options.log(level, rename(message));
    };
    try {
      await this.backends.use(
        { tenantId: cluster.tenantId, ...(op.trustId ? { trustId: op.trustId } : {}) },
        (selection) => this.apply(selection, cluster, op, log, progress),
      );
    } catch (error) {
      const fault = faultOf(error, rename);
      const partial = error instanceof LifecycleError ? error.partialState : undefined;
      progress.flush();
      this.write(() => this.store.finishOperation(op.id, { ok: false, fault, ...(partial ? { state: partial } : {}) }));
      this.options.log("info", `cluster ${quote(cluster.name)} (${cluster.id}): ${op.action} failed: ${fault.message}`);
    }
    // Done or failed, the operation's delegation ends with it (not when the server gave up waiting:
    // the operation resumes at the next start and needs it).
    if (op.trustId && !this.detached) await this.dropTrust(op.trustId);
  }

  private async apply(
    selection: BackendSelection,
    cluster: ClusterRecord,
    op: OperationRecord,
    log: ApiLog,
    progress: { flush(): void },
  ): Promise<void> {
    const controller = new ClusterController(selection.backend, {
      backendId: selection.backendId,
      log,
      seed: seedOf(cluster.id),
      ...(this.options.concurrency !== undefined ? { concurrency: this.options.concurrency } : {}),
      ...(this.options.timeouts ? { timeouts: this.options.timeouts } : {}),
    });
    await withClusterLock(
      clusterLockDir(selection),
      cluster.id,
      async () => {
        // Read once the lock is held: what the previous operation left.
        let previous: ClusterState | undefined = this.store.isClosed ? undefined : this.store.stateOf(cluster.id);
        if (op.action === "delete") {
          await controller.destroy(previous ?? { clusterName: cluster.id });
          progress.flush();
          this.write(() => this.store.finishOperation(op.id, { ok: true, deleted: true }));
          return;
        }
        const spec = cloudSpec(op.spec ?? cluster.spec, cluster.id);
        for (let attempt = 1; ; attempt++) {
          try {
            const state = await controller.apply(spec, previous);
            progress.flush();
            this.write(() => this.store.finishOperation(op.id, { ok: true, state }));
            return;
          } catch (error) {
            if (attempt >= MAX_ATTEMPTS || !lostRace(error)) throw error;
            if (error instanceof LifecycleError && error.partialState) previous = error.partialState;
            log(
              "info",
              `cluster "${cluster.id}": the cloud refused a spot the plan chose (another change took it first); placing again (attempt ${attempt + 1} of ${MAX_ATTEMPTS})`,
            );
            await sleep(100 * attempt + Math.floor(Math.random() * 200));
          }
        }
      },
      { purpose: `openstack-vcluster serve: ${op.action}`, log },
    );
  }
}
