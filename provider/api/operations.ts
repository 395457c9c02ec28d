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
// Nova's scheduler retries a build), each after a random wait (raceBackoffMs) so the losers of one
// race don't meet again. Ties between equally good hosts are broken by a seed taken from the
// cluster's id, and each cluster's placement stays deterministic for its own input; but every
// cluster prefers the emptiest hosts, so many started together do race for them.
//
// Each running operation is owned by one server through its lease (leases.ts). A server that crashes,
// hangs or stops leaves its operations "running" in the database; once their leases expire (at once
// when it handed them over on its way out, or when one server alone holds the SQLite file) another
// server, or the same one restarted, claims and resumes them (claim): the controller surveys the
// cloud by tags and adopts what the interrupted run made, so a resumed create builds what is missing
// and duplicates nothing. A server that lost an operation's lease stops its work at the next cloud
// call (fenced) and records nothing.
//
// Each operation runs with a backend acting for its project (backends.ts): with Keystone, through the
// trust its request made (delegation.ts), which is deleted when the operation ends.
import { setTimeout as sleep } from "node:timers/promises";
import { clusterLockDir, withClusterLock } from "../backends/cluster-lock";
import type { BackendSelection } from "../backends/select";
import { ClusterController, type ClusterState, LifecycleError, type PreviousInputs } from "../lifecycle";
import { quote } from "../model/text";
import type { ApiBackends } from "./backends";
import { type Fence, type FenceReason, fenced, fenceMessage, type Leases } from "./leases";
import type { ApiLog, LogFields } from "./log";
import { cloudSpec, faultOf, lostRace, MAX_ATTEMPTS, raceBackoffMs, renamer, seedOf } from "./outcomes";
import type { ClusterRecord, OperationOutcome, OperationRecord } from "./records";
import type { Store } from "./store";

export type { ApiLog };
export { cloudSpec, faultOf, lostRace, MAX_ATTEMPTS, renamer, seedOf };

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
  /** This server's leases on the operations it runs. */
  leases: Leases;
}

/** At most one progress write per operation this often. */
const PROGRESS_MS = 250;

interface Running {
  cluster: ClusterRecord;
  operation: OperationRecord;
  work: Promise<void>;
}

export class OperationRunner {
  /** Running work, by cluster id. */
  private readonly running = new Map<string, Running>();
  /** Other background work (trust clean-up). */
  private readonly chores = new Set<Promise<void>>();
  /** Set once close() handed over what was left: from then on nothing is written. */
  private detached = false;
  /** Operations this server can't run (another cloud), warned about once each. */
  private readonly warned = new Set<string>();
  private claimTimer: NodeJS.Timeout | undefined;
  private claiming: Promise<number> | undefined;
  private claimFailing = false;
  private readonly leases: Leases;

  constructor(
    private readonly store: Store,
    private readonly backends: ApiBackends,
    private readonly options: RunnerOptions,
  ) {
    this.leases = options.leases;
  }

  get size(): number {
    return this.running.size;
  }

  /** An operation event: its text for the log, and its fields for a structured one. */
  private event(
    level: "info" | "warn",
    event: string,
    cluster: ClusterRecord,
    op: OperationRecord,
    message: string,
    extra: Omit<LogFields, "event"> = {},
  ): void {
    this.options.log(level, message, {
      event,
      operation_id: op.id,
      cluster_id: cluster.id,
      project_id: cluster.tenantId,
      action: op.action,
      request_id: op.requestId,
      server: this.leases.owner,
      ...extra,
    });
  }

  /**
   * Starts an operation the store has recorded as running and leased to this server (`grantedAt`:
   * performance.now() taken before the store granted the lease). Returns at once.
   */
  launch(cluster: ClusterRecord, operation: OperationRecord, grantedAt: number, claimed = false): void {
    const fence = this.leases.hold(operation.id, grantedAt);
    if (!claimed) {
      this.event(
        "info",
        "operation.started",
        cluster,
        operation,
        `cluster ${quote(cluster.name)} (${cluster.id}): ${operation.action} started (operation ${operation.id})`,
      );
    }
    const work = this.work(cluster, operation, fence)
      .catch((e) => {
        this.options.log("warn", `openstack-vcluster serve: internal error in operation ${operation.id}: ${String(e)}`);
      })
      .finally(() => {
        this.leases.end(operation.id);
        if (this.running.get(cluster.id)?.work === work) this.running.delete(cluster.id);
      });
    this.running.set(cluster.id, { cluster, operation, work });
  }

  /** The leases said stop (called by Leases): the work ends at its next cloud call. */
  onFence(operationId: string, reason: FenceReason): void {
    const r = [...this.running.values()].find((x) => x.operation.id === operationId);
    if (!r) return;
    this.event(
      reason === "handed_over" ? "info" : "warn",
      `operation.${reason}`,
      r.cluster,
      r.operation,
      `cluster ${quote(r.cluster.name)} (${r.cluster.id}): its ${r.operation.action} stops here: ${fenceMessage(reason)}`,
    );
  }

  /**
   * Claims and resumes operations no server runs: those whose lease expired (their server crashed,
   * hung, or handed them over), or every running one (`all`: this server alone holds the database).
   * Returns how many it resumed.
   */
  async claim(opts: { all: boolean }): Promise<number> {
    if (this.detached || this.store.isClosed) return 0;
    const at = performance.now();
    const { claimed, refused } = await this.store.claimOperations(this.leases.grant, {
      all: opts.all,
      accept: (cluster) =>
        !this.running.has(cluster.id) && cluster.backendId === this.backends.backendIdFor(cluster.tenantId),
    });
    for (const { operation, cluster } of refused) {
      if (this.running.has(cluster.id) || this.warned.has(operation.id)) continue;
      this.warned.add(operation.id);
      const serving = this.backends.backendIdFor(cluster.tenantId);
      this.options.log(
        "warn",
        `cluster ${quote(cluster.name)} (${cluster.id}): its ${operation.action} was left running on ${cluster.backendId}, and this server serves ${serving}: not resumed; hint: serve that cloud to finish it`,
      );
    }
    for (const { operation, cluster, previousOwner } of claimed) {
      const from = previousOwner && !opts.all ? ` (${previousOwner}, whose lease on it expired)` : "";
      this.event(
        "info",
        "operation.taken_over",
        cluster,
        operation,
        `cluster ${quote(cluster.name)} (${cluster.id}): resuming its ${operation.action}, left running by a server that stopped${from}`,
        { previous_server: previousOwner },
      );
      this.launch(cluster, operation, at, true);
    }
    return claimed.length;
  }

  /** Looks for operations to take over every `claimMs` (and renews this server's leases). */
  startClaiming(): void {
    this.leases.start();
    this.claimTimer ??= setInterval(() => {
      if (this.claiming) return;
      this.claiming = this.claim({ all: false })
        .then(
          (n) => {
            this.claimFailing = false;
            return n;
          },
          (e: unknown) => {
            // One warning per streak of failures (the database down), not one per interval.
            if (!this.claimFailing && !this.store.isClosed) {
              this.options.log(
                "warn",
                `openstack-vcluster serve: looking for operations to take over failed (${e instanceof Error ? e.message : String(e)}); retrying every ${this.leases.timings.claimMs / 1000} s`,
              );
            }
            this.claimFailing = true;
            return 0;
          },
        )
        .finally(() => {
          this.claiming = undefined;
        });
    }, this.leases.timings.claimMs);
    this.claimTimer.unref();
  }

  /**
   * Deletes, in the background, the trusts of operations that ended without their trust being
   * deleted (a server stopped, or Keystone failed, first). Returns how many it tries.
   */
  async sweepTrusts(): Promise<number> {
    const deleteTrust = this.options.deleteTrust;
    if (!deleteTrust || this.store.isClosed) return 0;
    // A trust older than its lifetime has expired: nothing can act through it any more.
    const expired = Date.now() - (this.options.trustLifetimeMs ?? Number.POSITIVE_INFINITY);
    const ids: string[] = [];
    for (const { trustId, finishedAt } of await this.store.trustsToDelete()) {
      if (Date.parse(finishedAt) < expired) await this.store.trustDeleted(trustId);
      else ids.push(trustId);
    }
    if (ids.length === 0) return 0;
    const work = (async () => {
      for (const id of ids) {
        if (this.detached) return;
        await this.dropTrust(id);
      }
    })();
    this.chores.add(work);
    void work.finally(() => this.chores.delete(work));
    return ids.length;
  }

  /** Deletes a trust and records it; a failure is logged and retried at the next start. */
  private async dropTrust(trustId: string): Promise<void> {
    const deleteTrust = this.options.deleteTrust;
    if (!deleteTrust) return;
    await this.backends.retire(trustId);
    try {
      await deleteTrust(trustId);
      if (!this.detached && !this.store.isClosed) await this.store.trustDeleted(trustId);
    } catch (e) {
      this.options.log(
        "warn",
        `openstack-vcluster serve: Keystone trust ${trustId} could not be deleted (${e instanceof Error ? e.message : String(e)}); it is retried at the next start, and its trustor can delete it: openstack trust delete ${trustId}`,
      );
    }
  }

  /** Waits for everything running, at most `timeoutMs`; true when nothing is left. */
  private async settle(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const all = () => [...[...this.running.values()].map((r) => r.work), ...this.chores];
    try {
      const done = await Promise.race([Promise.all(all()).then(() => true as const), deadline]);
      return done && this.running.size === 0 && this.chores.size === 0;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops looking for operations to take over, and waits for running ones, at most `timeoutMs`; true when none is left. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.claimTimer) clearInterval(this.claimTimer);
    this.claimTimer = undefined;
    await this.claiming;
    return this.settle(timeoutMs);
  }

  /**
   * Stops what still runs at its next cloud call and gives its leases up, so another server takes it
   * over at once (or this one's next start); waits for the work to stop at most `timeoutMs`. From
   * then on nothing is written. Returns how many operations were handed over.
   */
  async handOver(timeoutMs: number): Promise<number> {
    const ids = this.leases.ids;
    for (const id of ids) this.leases.fence(id, "handed_over");
    await this.settle(timeoutMs);
    this.detached = true;
    this.leases.stop();
    if (ids.length > 0 && !this.store.isClosed) {
      await this.store.releaseLeases(this.leases.owner, ids).catch((e: unknown) => {
        this.options.log(
          "warn",
          `openstack-vcluster serve: the leases of ${ids.length} operation(s) could not be given up (${e instanceof Error ? e.message : String(e)}); another server takes them over once they expire (${this.leases.timings.leaseMs / 1000} s)`,
        );
      });
    }
    return ids.length;
  }

  /**
   * Progress lines into the operation's record: the first at once, then at most one write per
   * PROGRESS_MS (the latest line wins), so a cluster of thousands of members doesn't cost
   * thousands of commits. flush() writes what is pending. Nothing once the work is fenced.
   */
  private progressWriter(operationId: string, rename: (text: string) => string, fence: Fence) {
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
      if (this.detached || this.store.isClosed || fence.signal.aborted) return;
      // Progress is a courtesy: a failed write (the database briefly away) is not the operation's failure.
      this.store.recordProgress(operationId, message, this.leases.owner).catch(() => {});
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

  /**
   * Records the outcome, if this server still owns the operation: "written", "fenced" (its work was
   * stopped: nothing written), or "unrecorded" (another server owns it now, or the database failed:
   * its lease lapses and a server resumes it, which finds the work done).
   */
  private async record(
    cluster: ClusterRecord,
    op: OperationRecord,
    outcome: OperationOutcome,
    fence: Fence,
  ): Promise<"written" | "fenced" | "unrecorded"> {
    if (fence.signal.aborted) return "fenced";
    if (this.detached || this.store.isClosed) return "unrecorded";
    try {
      if (await this.store.finishOperation(op.id, outcome, this.leases.owner)) return "written";
      this.leases.fence(op.id, "lease_lost");
    } catch (e) {
      this.event(
        "warn",
        "operation.unrecorded",
        cluster,
        op,
        `cluster ${quote(cluster.name)} (${cluster.id}): the end of its ${op.action} could not be recorded (${e instanceof Error ? e.message : String(e)}); its lease lapses and a server resumes it`,
      );
    }
    return "unrecorded";
  }

  private async work(cluster: ClusterRecord, op: OperationRecord, fence: Fence): Promise<void> {
    const rename = renamer(cluster.id, op.spec?.name ?? cluster.name);
    const progress = this.progressWriter(op.id, rename, fence);
    const log: ApiLog = (level, message) => {
      progress.push(message);
      if (level === "warn" && !fence.signal.aborted) this.options.log(level, rename(message));
    };
    let recorded: "written" | "fenced" | "unrecorded" = "fenced";
    try {
      recorded = await this.backends.use(
        { tenantId: cluster.tenantId, ...(op.trustId ? { trustId: op.trustId } : {}) },
        (selection) => this.apply(selection, cluster, op, log, progress, fence),
      );
    } catch (error) {
      progress.flush();
      const fault = faultOf(error, rename);
      const partial = error instanceof LifecycleError ? error.partialState : undefined;
      recorded = await this.record(cluster, op, { ok: false, fault, ...(partial ? { state: partial } : {}) }, fence);
      if (recorded === "written") {
        this.event(
          "info",
          "operation.failed",
          cluster,
          op,
          `cluster ${quote(cluster.name)} (${cluster.id}): ${op.action} failed: ${fault.message}`,
          { code: fault.code },
        );
      }
    }
    if (recorded !== "written") return;
    // Done or failed, the operation's delegation ends with it (not when it was handed over or taken
    // over: whoever resumes it needs the trust).
    if (op.trustId && !this.detached) await this.dropTrust(op.trustId);
  }

  private async apply(
    selection: BackendSelection,
    cluster: ClusterRecord,
    op: OperationRecord,
    log: ApiLog,
    progress: { flush(): void },
    fence: Fence,
  ): Promise<"written" | "fenced" | "unrecorded"> {
    const controller = new ClusterController(fenced(selection.backend, fence), {
      backendId: selection.backendId,
      log,
      seed: seedOf(cluster.id),
      ...(this.options.concurrency !== undefined ? { concurrency: this.options.concurrency } : {}),
      ...(this.options.timeouts ? { timeouts: this.options.timeouts } : {}),
    });
    const finished = async (outcome: OperationOutcome) => {
      progress.flush();
      const recorded = await this.record(cluster, op, outcome, fence);
      if (recorded === "written") {
        this.event(
          "info",
          "operation.finished",
          cluster,
          op,
          `cluster ${quote(cluster.name)} (${cluster.id}): ${op.action} done`,
        );
      }
      return recorded;
    };
    return withClusterLock(
      clusterLockDir(selection),
      cluster.id,
      async () => {
        // Read once the lock is held: what the previous operation left, and the spec it applied.
        const applied = this.store.isClosed ? {} : await this.store.appliedOf(cluster.id);
        let previous: ClusterState | undefined = applied.state;
        if (op.action === "delete") {
          await controller.destroy(previous ?? { clusterName: cluster.id });
          return finished({ ok: true, deleted: true });
        }
        const spec = cloudSpec(op.spec ?? cluster.spec, cluster.id);
        // The previous inputs, as Pulumi gives a resource's: edits the cloud doesn't show back
        // (user_data, networks, security groups, metadata keys dropped) are seen against them.
        let inputs: PreviousInputs | undefined = applied.spec
          ? { spec: cloudSpec(applied.spec, cluster.id) }
          : undefined;
        for (let attempt = 1; ; attempt++) {
          try {
            const state = await controller.apply(spec, previous, inputs);
            return finished({ ok: true, state });
          } catch (error) {
            if (attempt >= MAX_ATTEMPTS || !lostRace(error) || fence.signal.aborted) throw error;
            // A partial state marks what this spec's edits left pending: the next attempt starts from both.
            if (error instanceof LifecycleError && error.partialState) {
              previous = error.partialState;
              inputs = { spec };
            }
            log(
              "info",
              `cluster "${cluster.id}": the cloud refused a spot the plan chose (another change took it first); placing again (attempt ${attempt + 1} of ${MAX_ATTEMPTS})`,
            );
            await sleep(raceBackoffMs(attempt));
          }
        }
      },
      { purpose: `openstack-vcluster serve: ${op.action}`, log },
    );
  }
}
