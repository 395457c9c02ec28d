// The simulated cloud's API concurrency as the latency model states it: at most `concurrency`
// calls in flight, each holding its slot for `perCallMs` and then taking effect. A call reserves,
// as it arrives, the next window of the slot that frees first: by time t at most
// concurrency × ⌊t / perCallMs⌋ calls have taken effect, whatever the simulator's own CPU time.
// (A limiter that frees a slot only once the call's transaction has run would add that CPU time to
// every window, and the windows of calls that arrive together would stay in step: the cloud would
// be slower than the model it simulates, and the more so the busier this process is.)

export class ApiSlots {
  /** When each slot is free again (performance.now() ms). */
  private readonly freeAt: number[];

  constructor(
    concurrency: number,
    private readonly perCallMs: number,
  ) {
    this.freeAt = new Array(Math.max(1, Math.floor(concurrency))).fill(0);
  }

  /** Reserves the call's window; returns its slot and when it takes effect. */
  reserve(): { slot: number; effectAt: number } {
    let slot = 0;
    for (let i = 1; i < this.freeAt.length; i++)
      if ((this.freeAt[i] as number) < (this.freeAt[slot] as number)) slot = i;
    const effectAt = Math.max(performance.now(), this.freeAt[slot] as number) + this.perCallMs;
    this.freeAt[slot] = effectAt;
    return { slot, effectAt };
  }

  /** The call holds its slot until `until` (performance.now() ms): a slow call, as a fault makes it. */
  holdUntil(slot: number, until: number): void {
    this.freeAt[slot] = Math.max(this.freeAt[slot] as number, until);
  }
}
