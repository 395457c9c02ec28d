// What the greedy prepares so that checking a candidate is a few array reads: per member, the
// domains its groupings have already filled are marked once (kube-scheduler's PreFilter state:
// counts per (grouping, domain) kept up to date as members are placed).

import type { CGroup, Scoped } from "./problem";
import { type Cover, INFEASIBLE, type State } from "./search-state";
import { float64Views, int32Views } from "./typed-views";

/** An anti-affinity grouping with more filled domains than this is checked per candidate instead. */
const MAX_MARKED = 48;

/**
 * The marks for one member: hard anti-affinity blocks a domain, soft anti-affinity prices it,
 * and the groupings whose delta depends on more than one domain (affinity, proximity, huge
 * anti-affinity groupings) are left to State.groupDelta, the definition.
 */
export class Filter {
  private ep = 0;
  private readonly mark: Scoped<Int32Array>;
  private readonly pen: Scoped<Float64Array>;
  private scopes = 0;
  private slow: Int32Array;
  private nSlow = 0;
  /** Whether the prepared member's delta can be anything but 0 or INFEASIBLE (a soft term). */
  soft = false;
  /** Whether the prepared member has any term at all (else every spot's delta is 0). */
  any = false;
  constructor(private readonly state: State) {
    const p = state.p;
    const size = (s: number) => (p.nDom[s] as number) + p.nB + 1;
    this.mark = int32Views([size(0), size(1), size(2)]);
    this.pen = float64Views([size(0), size(1), size(2)]);
    this.slow = new Int32Array(8);
  }

  prepare(m: number): void {
    const state = this.state;
    const p = state.p;
    const ep = ++this.ep;
    this.scopes = 0;
    this.nSlow = 0;
    this.soft = false;
    const end = p.mgOff[m + 1] as number;
    for (let k = p.mgOff[m] as number; k < end; k++) {
      const gi = p.mgIdx[k] as number;
      const g = p.groups[gi] as CGroup;
      const st = state.gs[gi] as NonNullable<State["gs"][number]>;
      if (g.kind === "anti-affinity") {
        const full = st.full;
        if (full.length === 0) continue;
        if (!g.hard) this.soft = true;
        if (full.length > MAX_MARKED) {
          this.addSlow(gi);
          continue;
        }
        const s = g.s;
        const mark = this.mark[s] as Int32Array;
        const pen = this.pen[s] as Float64Array;
        const add = g.hard ? Number.POSITIVE_INFINITY : g.weight;
        this.scopes |= 1 << s;
        for (let i = 0; i < full.length; i++) {
          const d = full[i] as number;
          if (mark[d] !== ep) {
            mark[d] = ep;
            pen[d] = add;
          } else pen[d] = (pen[d] as number) + add;
        }
      } else if ((st.covers[st.covers.length - 1] as Cover).value() > 0) {
        // Nothing placed yet: any spot keeps it (cost 0, the hard bound holds).
        if (!(g.hard && g.kind === "affinity")) this.soft = true;
        this.addSlow(gi);
      }
    }
    this.any = this.scopes !== 0 || this.nSlow > 0;
  }

  private addSlow(gi: number): void {
    if (this.nSlow === this.slow.length) {
      const next = new Int32Array(this.slow.length * 2);
      next.set(this.slow);
      this.slow = next;
    }
    this.slow[this.nSlow++] = gi;
  }

  /** The soft-cost delta of m (the member prepared) on l, or INFEASIBLE; capacity not included. */
  delta(l: number): number {
    let d = 0;
    const sc = this.scopes;
    if (sc !== 0) {
      const p = this.state.p;
      const ep = this.ep;
      for (let s = 0; s < 3; s++) {
        if ((sc & (1 << s)) === 0) continue;
        const a = (p.anti[s] as Int32Array)[l] as number;
        if ((this.mark[s] as Int32Array)[a] === ep) d += (this.pen[s] as Float64Array)[a] as number;
      }
      if (d === Number.POSITIVE_INFINITY) return INFEASIBLE;
    }
    const slow = this.slow;
    for (let i = 0; i < this.nSlow; i++) {
      const x = this.state.groupDelta(slow[i] as number, l);
      if (x === INFEASIBLE) return INFEASIBLE;
      d += x;
    }
    return d;
  }
}
