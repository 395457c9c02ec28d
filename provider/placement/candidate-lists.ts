// The greedy's candidate lists, in the order it scans them: host order for spread, fill order
// (most room first) for pack.

import { domainLocations, type Problem, zoneHostList } from "./problem";

/**
 * The order hosts are filled in by `pack`: most room first, room being what a host can take of
 * the cluster's total server demand in its tightest dimension. Ties keep host order.
 */
function packRank(p: Problem): Int32Array {
  const total = [0, 0, 0];
  for (let m = 0; m < p.nM; m++)
    if (!p.isVol[m]) for (let k = 0; k < 3; k++) total[k] = (total[k] as number) + (p.dem[m * 3 + k] as number);
  const score = new Float64Array(p.nH);
  let max = 0;
  for (let h = 0; h < p.nH; h++) {
    let v = Number.POSITIVE_INFINITY;
    for (let k = 0; k < 3; k++) {
      const t = total[k] as number;
      if (t > 0) v = Math.min(v, Math.max(0, p.free0[h * 3 + k] as number) / t);
    }
    if (!Number.isFinite(v)) v = 0;
    score[h] = v;
    max = Math.max(max, v);
  }
  // One numeric sort: the quantized room (high first) above the host index (low first).
  const keys = new Float64Array(p.nH);
  const Q = 2 ** 30;
  const H = 2 ** 21;
  for (let h = 0; h < p.nH; h++) {
    const q = max > 0 ? Math.floor(((score[h] as number) / max) * (Q - 1)) : 0;
    keys[h] = (Q - 1 - q) * H + h;
  }
  keys.sort();
  const order = new Int32Array(p.nH);
  for (let i = 0; i < p.nH; i++) order[i] = (keys[i] as number) % H;
  return order;
}

/** Candidate lists in scan order: host order for spread, fill order for pack. */
export class Lists {
  readonly hosts: Int32Array;
  readonly backends: Int32Array;
  readonly zoneHosts: Int32Array[];
  /** pack: each host's position in the fill order. */
  readonly rank?: Int32Array;
  private readonly byDomain = new Map<number, Int32Array>();
  constructor(private readonly p: Problem) {
    this.backends = new Int32Array(p.nB);
    for (let j = 0; j < p.nB; j++) this.backends[j] = p.nH + j;
    if (p.strategy === "pack") {
      this.hosts = packRank(p);
      const rank = new Int32Array(p.nH);
      this.hosts.forEach((h, i) => {
        rank[h] = i;
      });
      this.rank = rank;
      const counts = new Int32Array(p.zones.length);
      for (let h = 0; h < p.nH; h++) counts[p.locZone[h] as number] = (counts[p.locZone[h] as number] as number) + 1;
      this.zoneHosts = p.zones.map((_, z) => new Int32Array(counts[z] as number));
      const fill = new Int32Array(p.zones.length);
      for (const h of this.hosts) {
        const z = p.locZone[h] as number;
        (this.zoneHosts[z] as Int32Array)[fill[z] as number] = h;
        fill[z] = (fill[z] as number) + 1;
      }
    } else {
      this.hosts = new Int32Array(p.nH);
      for (let i = 0; i < p.nH; i++) this.hosts[i] = i;
      this.zoneHosts = p.zones.map((_, z) => zoneHostList(p, z));
    }
  }
  /** The locations of a concrete s-domain (pack: in fill order). */
  domain(s: number, d: number): Int32Array {
    const list = domainLocations(this.p, s, d);
    const rank = this.rank;
    if (!rank || list.length < 2) return list;
    const key = d * 3 + s;
    let sorted = this.byDomain.get(key);
    if (!sorted) {
      const nH = this.p.nH;
      sorted = Int32Array.from(list).sort((a, b) =>
        a < nH && b < nH ? (rank[a] as number) - (rank[b] as number) : a - b,
      );
      this.byDomain.set(key, sorted);
    }
    return sorted;
  }
}
