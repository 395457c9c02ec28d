// Progress of an apply or destroy as data, for a live display (the command's status line on a
// terminal). The log lines say the same in words for Pulumi and for plain output; this is beside
// them, and costs nothing when nobody listens.

/** What a run is doing ("preparing": reading the cloud, placing); only member phases count done/total. */
export type ProgressPhase =
  | "preparing"
  | "detaching"
  | "deleting"
  | "updating"
  | "creating"
  | "attaching"
  | "verifying";

export interface ProgressEvent {
  phase: ProgressPhase;
  /** Members (servers and volumes) this phase has finished, of `total`; 0/0 when it doesn't count them. */
  done: number;
  total: number;
  /** What the run waits on now (`server "db-1"`), the longest-waiting first, at most WAITING_SHOWN. */
  waitingOn: string[];
  /** How many waits are in flight in all. */
  waiting: number;
}

/** More names than a line shows: a run of thousands of members copies no more than this per event. */
export const WAITING_SHOWN = 10;

/** Collects a run's progress and tells the listener of every change. */
export class Progress {
  private phase: ProgressPhase = "preparing";
  private done = 0;
  private total = 0;
  /** Label → waits on it in flight (a label may be waited on twice at once: detach, then delete). */
  private readonly waits = new Map<string, number>();

  constructor(private readonly listener: (event: ProgressEvent) => void) {}

  begin(phase: ProgressPhase, total = 0): void {
    this.phase = phase;
    this.done = 0;
    this.total = total;
    this.emit();
  }

  /** One more member of the phase finished. */
  advance(): void {
    this.done++;
    this.emit();
  }

  /** One member of the phase won't be finished after all (a volume that stays attached). */
  drop(): void {
    this.total = Math.max(this.done, this.total - 1);
    this.emit();
  }

  /** Runs `wait` with `what` shown among what the run waits on. */
  async waiting<T>(what: string, wait: () => Promise<T>): Promise<T> {
    this.waits.set(what, (this.waits.get(what) ?? 0) + 1);
    this.emit();
    try {
      return await wait();
    } finally {
      const left = (this.waits.get(what) ?? 1) - 1;
      if (left > 0) this.waits.set(what, left);
      else this.waits.delete(what);
      this.emit();
    }
  }

  private emit(): void {
    const waitingOn: string[] = [];
    for (const what of this.waits.keys()) {
      if (waitingOn.length === WAITING_SHOWN) break;
      waitingOn.push(what);
    }
    this.listener({ phase: this.phase, done: this.done, total: this.total, waitingOn, waiting: this.waits.size });
  }
}
