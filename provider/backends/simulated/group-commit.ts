// Group commit for the simulated cloud's database (database.ts): the calls of one process that
// arrive together — in one turn of the event loop — share one transaction, so under load one
// commit serves many calls. Each call still runs alone on the state, in the order they came; one
// that throws fails alone; none is answered before the commit that holds it, so a process killed
// mid-write has answered no call whose change it lost.
import { setTimeout as sleep } from "node:timers/promises";
import { busyBackoffMs } from "../../model/sqlite";

export type Outcome = { value: unknown } | { error: unknown };

export interface GroupCommitHooks<Tx> {
  /** Starts the write transaction: false when another process holds the lock (try again later). */
  tryBegin(): Promise<boolean>;
  /** The error for calls that waited too long for another process's transaction. */
  busy(): Error;
  /** Runs the calls in the begun transaction and commits it (or rolls it back and throws). */
  run(fns: ((tx: Tx) => unknown)[]): Outcome[];
}

interface Job<Tx> {
  fn: (tx: Tx) => unknown;
  resolve: (value: unknown) => void;
  reject: (e: unknown) => void;
  since: number;
}

export class GroupCommit<Tx> {
  private queue: Job<Tx>[] = [];
  private flushing = false;

  constructor(
    private readonly hooks: GroupCommitHooks<Tx>,
    /** How long calls wait for another process's transaction before failing. */
    private readonly giveUpMs: number,
  ) {}

  /** Runs `fn` in the next group's transaction; resolves once that transaction is committed. */
  add<T>(fn: (tx: Tx) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject, since: Date.now() });
      if (this.flushing) return;
      this.flushing = true;
      // After the current turn: every call made in it joins this group.
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const since = (this.queue[0] as Job<Tx>).since;
    let begun = false;
    for (let attempt = 0; !begun; attempt++) {
      try {
        begun = await this.hooks.tryBegin();
      } catch (e) {
        failAll(this.queue.splice(0), e);
        break;
      }
      if (begun) break;
      if (Date.now() - since >= this.giveUpMs) {
        failAll(this.queue.splice(0), this.hooks.busy());
        break;
      }
      await sleep(busyBackoffMs(attempt));
    }
    if (begun) {
      // From here to the commit without an await: nothing else of this process uses the connection.
      const jobs = this.queue.splice(0);
      let outcomes: Outcome[] | undefined;
      try {
        outcomes = this.hooks.run(jobs.map((j) => j.fn));
      } catch (e) {
        failAll(jobs, e);
      }
      outcomes?.forEach((o, i) => {
        const job = jobs[i] as Job<Tx>;
        if ("error" in o) job.reject(o.error);
        else job.resolve(o.value);
      });
    }
    if (this.queue.length > 0) setImmediate(() => void this.flush());
    else this.flushing = false;
  }
}

function failAll<Tx>(jobs: Job<Tx>[], e: unknown): void {
  for (const job of jobs) job.reject(e);
}
