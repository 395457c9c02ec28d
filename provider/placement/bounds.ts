// Necessary conditions checked in (near) linear time: when one fails, no placement exists, and
// the failure itself is the certificate the user reads.

import type { Member } from "../model/cluster";
import type { Cause, CauseCode, PlacementInput } from "../model/placement";
import { CAUSE_CODES } from "../model/placement";
import { listNames, plural, quote } from "../model/text";
import type { Topology } from "../model/topology";
import { compile } from "./compile";
import { type CGroup, type Problem, type Shape, scopeName, staticOk } from "./problem";

const DIM_NAMES = ["vcpus", "ramMb", "diskGb"] as const;
const DIM_UNITS = ["vCPUs", "MB of RAM", "GB of disk"] as const;

export function sortCauses(causes: Cause[]): Cause[] {
  const rank = (c: CauseCode) => CAUSE_CODES.indexOf(c);
  return [...causes].sort(
    (a, b) => rank(a.code) - rank(b.code) || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0),
  );
}

/** Locations that can take a member of shape `sh` on their own (static filters, free capacity at the start). */
function takes(p: Problem, sh: Shape, l: number): boolean {
  if (!staticOk(p, sh.first, l)) return false;
  for (let k = 0; k < (sh.isVol ? 1 : 3); k++) if ((p.free0[l * 3 + k] as number) < (sh.dem[k] as number)) return false;
  return true;
}

/**
 * Per (shape, scope), the anti-affinity domains with a location that can take the shape, found
 * lazily: a question about "at least n domains" scans only until it has n.
 */
class DomainsTaking {
  /** Per (shape, scope): the domains found, doms[0 .. n), and where the scan resumes. */
  private readonly found = new Map<number, { doms: Int32Array; n: number; next: number; seen: Uint8Array }>();
  private readonly stamp: Int32Array;
  private ep = 0;
  constructor(private readonly p: Problem) {
    this.stamp = new Int32Array(Math.max(p.nDom[0], p.nDom[1], p.nDom[2]) + p.nB + 1);
  }
  /** The shape's domains, at least `enough` of them when there are that many. */
  private of(shape: number, s: number, enough: number): { doms: Int32Array; n: number } {
    const p = this.p;
    const key = shape * 3 + s;
    let f = this.found.get(key);
    const sh = p.shapes[shape] as Shape;
    if (!f) {
      const size = this.stamp.length;
      f = { doms: new Int32Array(size), n: 0, next: sh.isVol ? p.nH : 0, seen: new Uint8Array(size) };
      this.found.set(key, f);
    }
    const to = sh.isVol ? p.nL : p.nH;
    const anti = p.anti[s] as Int32Array;
    while (f.n < enough && f.next < to) {
      const l = f.next++;
      const d = anti[l] as number;
      if (f.seen[d] || !takes(p, sh, l)) continue;
      f.seen[d] = 1;
      f.doms[f.n++] = d;
    }
    return f;
  }
  /** How many s-domains can take at least one of these shapes; counting stops at `enough`. */
  union(shapes: Int32Array, nShapes: number, s: number, enough: number): number {
    if (nShapes === 1) return this.of(shapes[0] as number, s, enough).n;
    const ep = ++this.ep;
    let n = 0;
    for (let x = 0; x < nShapes; x++) {
      const { doms, n: found } = this.of(shapes[x] as number, s, enough);
      if (found >= enough) return found;
      for (let i = 0; i < found; i++) {
        const d = doms[i] as number;
        if (this.stamp[d] === ep) continue;
        this.stamp[d] = ep;
        if (++n >= enough) return n;
      }
    }
    return n;
  }
}

/** Members of the given shapes, in member order (only needed when a cause names them). */
function membersOf(p: Problem, shapes: Iterable<number>): number[] {
  const want = new Uint8Array(p.shapes.length);
  let n = 0;
  for (const sh of shapes) {
    if (!want[sh]) n += (p.shapes[sh] as Shape).count;
    want[sh] = 1;
  }
  const out = new Array<number>(n);
  let i = 0;
  for (let m = 0; m < p.nM && i < n; m++) if (want[p.shape[m] as number]) out[i++] = m;
  return out;
}

/** The members' names, sorted (members are usually named in order already: then no sort). */
const namesOf = (p: Problem, ms: ArrayLike<number>): string[] => {
  const out = new Array<string>(ms.length);
  let sorted = true;
  for (let i = 0; i < ms.length; i++) {
    const name = (p.members[ms[i] as number] as Member).name;
    if (i > 0 && name < (out[i - 1] as string)) sorted = false;
    out[i] = name;
  }
  return sorted ? out : out.sort();
};

const flavorRef = (p: Problem, sh: Shape) => (p.members[sh.first] as { flavorRef: string }).flavorRef;

/**
 * Every necessary condition that fails, from the counts compile gathered (members per shape,
 * demand, domains) rather than from the members one by one: the spec is read once, in compile.
 */
export function lowerBoundCausesOf(p: Problem): Cause[] {
  const causes: Cause[] = [];
  unknownCauses(p, causes);
  const fitsSomewhere = fitsNowhereCauses(p, causes);
  capacityCauses(p, causes, fitsSomewhere);
  volumeCapacityCauses(p, causes);
  antiAffinityCauses(p, causes);
  return sortCauses(causes);
}

function unknownCauses(p: Problem, causes: Cause[]): void {
  const shapes = p.shapes;
  const flavors = p.topology.flavors ?? {};
  const zoneList = () => (p.zones.length > 0 ? p.zones.map(quote).join(", ") : "none");
  // Unknown flavors and zones: no amount of search helps.
  const byFlavor = new Map<string, Set<number>>();
  let unknownZones = false;
  shapes.forEach((sh, i) => {
    if (!sh.isVol && sh.unknownFlavor)
      byFlavor.set(flavorRef(p, sh), (byFlavor.get(flavorRef(p, sh)) ?? new Set()).add(i));
    if (sh.pin === -2) unknownZones = true;
  });
  if (byFlavor.size > 0) {
    const flavorNames = Object.keys(flavors).sort();
    for (const [f, set] of byFlavor) {
      const ms = namesOf(p, membersOf(p, set));
      causes.push({
        code: "unknown_flavor",
        groupings: [],
        members: ms,
        message: `flavor ${quote(f)} of ${listNames(ms)} is not in the topology`,
        hint: flavorNames.length > 0 ? `use one of ${listNames(flavorNames, 8)}` : "add flavors to the topology",
      });
    }
  }
  if (unknownZones) {
    const byZone = new Map<string, number[]>();
    for (let m = 0; m < p.nM; m++) {
      if (p.pin[m] !== -2) continue;
      const z = (p.members[m] as Member).zone as string;
      byZone.set(z, [...(byZone.get(z) ?? []), m]);
    }
    for (const [z, ms] of byZone) {
      const list = namesOf(p, ms);
      causes.push({
        code: "unknown_zone",
        groupings: [],
        members: list,
        message: `${listNames(list)} ${ms.length === 1 ? "is" : "are"} pinned to zone ${quote(z)}, which the topology lacks`,
        hint: `pin to one of ${zoneList()}, or drop the zone`,
      });
    }
  }
}

/** Causes for shapes that fit no location on their own; returns which shapes fit somewhere. */
function fitsNowhereCauses(p: Problem, causes: Cause[]): Uint8Array {
  const shapes = p.shapes;
  // Shapes that fit nowhere on their own (one scan per shape).
  const fitsSomewhere = new Uint8Array(shapes.length);
  const nowhere = new Map<string, { shapes: Set<number>; first: Shape }>();
  const noBackend = new Map<string, Set<number>>();
  shapes.forEach((sh, i) => {
    if (sh.unknownFlavor || sh.pin === -2) return;
    const [from, to] = sh.isVol ? [p.nH, p.nL] : [0, p.nH];
    let served = false;
    let ok = false;
    for (let l = from; l < to && !ok; l++) {
      if (!staticOk(p, sh.first, l)) continue;
      served = true;
      ok = takes(p, sh, l);
    }
    if (ok) {
      fitsSomewhere[i] = 1;
      return;
    }
    const member = p.members[sh.first] as Member;
    const vt = sh.volumeType;
    const label = sh.isVol
      ? `volume of ${sh.dem[0]} GB${vt !== undefined ? ` of type ${quote(vt)}` : ""}${member.zone !== undefined ? ` in zone ${quote(member.zone)}` : ""}`
      : `flavor ${quote(flavorRef(p, sh))}${member.zone !== undefined ? ` in zone ${quote(member.zone)}` : ""}`;
    if (sh.isVol && !served) noBackend.set(label, (noBackend.get(label) ?? new Set()).add(i));
    else {
      const e = nowhere.get(label) ?? { shapes: new Set<number>(), first: sh };
      e.shapes.add(i);
      nowhere.set(label, e);
    }
  });
  for (const [label, set] of noBackend) {
    const ms = namesOf(p, membersOf(p, set));
    causes.push({
      code: "no_backend",
      groupings: [],
      members: ms,
      message: `no storage backend serves ${listNames(ms)} (${label})`,
      hint: "add a backend serving that volume type and zone, or change the volume type or zone",
    });
  }
  for (const [label, { shapes: set, first: sh }] of nowhere) {
    const ms = namesOf(p, membersOf(p, set));
    const m = sh.first;
    const [from, to] = sh.isVol ? [p.nH, p.nL] : [0, p.nH];
    const most = [0, 0, 0];
    for (let l = from; l < to; l++) {
      if (!staticOk(p, m, l)) continue;
      for (let k = 0; k < 3; k++) most[k] = Math.max(most[k] as number, p.free0[l * 3 + k] as number);
    }
    const short = sh.isVol
      ? `needs ${sh.dem[0]} GB, the most any backend has free is ${most[0]} GB`
      : [0, 1, 2]
          .filter((k) => (sh.dem[k] as number) > (most[k] as number))
          .map((k) => `needs ${sh.dem[k]} ${DIM_NAMES[k]}, most free on one host is ${most[k]}`)
          .join("; ");
    causes.push({
      code: "member_fits_nowhere",
      groupings: [],
      members: ms,
      message: `${label} of ${listNames(ms)} fits no single ${sh.isVol ? "backend" : "host"}: ${short || "no host has room in every dimension at once"}`,
      hint: sh.isVol
        ? "use a smaller volume or add backend capacity"
        : `use a smaller flavor than ${quote(flavorRef(p, sh))}, or add a host with room for it`,
    });
  }
  return fitsSomewhere;
}

function capacityCauses(p: Problem, causes: Cause[], fitsSomewhere: Uint8Array): void {
  const shapes = p.shapes;
  // L1: summed demand per dimension, over everything and per pinned zone (host sums from compile).
  const { free: total, zoneFree, maxCap: maxHostCap, maxFree } = p.hostTotals;
  const zoneDemand = new Float64Array(p.zones.length * 3);
  const demand = [0, 0, 0];
  const serverShapes = new Set<number>();
  shapes.forEach((sh, i) => {
    if (sh.isVol || sh.unknownFlavor || sh.pin === -2) return;
    serverShapes.add(i);
    for (let k = 0; k < 3; k++) {
      const d = (sh.dem[k] as number) * sh.count;
      demand[k] = (demand[k] as number) + d;
      if (sh.pin >= 0) zoneDemand[sh.pin * 3 + k] = (zoneDemand[sh.pin * 3 + k] as number) + d;
    }
  });
  const hostsToAdd = (deficit: number, k: number) => Math.max(1, Math.ceil(deficit / ((maxHostCap[k] as number) || 1)));
  for (let k = 0; k < 3; k++) {
    const need = demand[k] as number;
    const have = total[k] as number;
    if (need > have) {
      causes.push({
        code: "capacity",
        groupings: [],
        members: namesOf(p, membersOf(p, serverShapes)),
        message: `the servers need ${need} ${DIM_UNITS[k]} but all hosts together have ${have} free`,
        hint:
          p.nH === 0
            ? "add hosts to the topology"
            : `add ${plural(hostsToAdd(need - have, k), "host")} (or free ${need - have} ${DIM_UNITS[k]}), or use smaller flavors`,
      });
    }
  }
  p.zones.forEach((zone, z) => {
    for (let k = 0; k < 3; k++) {
      const need = zoneDemand[z * 3 + k] as number;
      const have = zoneFree[z * 3 + k] as number;
      const totalNeed = demand[k] as number;
      if (need > have && totalNeed <= (total[k] as number)) {
        const pinned = new Set([...serverShapes].filter((i) => (shapes[i] as Shape).pin === z));
        causes.push({
          code: "capacity",
          groupings: [],
          members: namesOf(p, membersOf(p, pinned)),
          message: `the servers pinned to zone ${quote(zone)} need ${need} ${DIM_UNITS[k]} but its hosts have ${have} free`,
          hint: `add ${plural(hostsToAdd(need - have, k), "host")} to zone ${quote(zone)}, or pin some servers elsewhere`,
        });
      }
    }
  });

  // Martello-Toth style: servers needing more than half of the largest free host in a dimension
  // can't share a host, so the k-th largest needs k hosts with at least its demand free.
  for (let k = 0; k < 3; k++) {
    const big = [...serverShapes]
      .filter((i) => fitsSomewhere[i] && ((shapes[i] as Shape).dem[k] as number) * 2 > (maxFree[k] as number))
      .sort((a, b) => ((shapes[b] as Shape).dem[k] as number) - ((shapes[a] as Shape).dem[k] as number) || a - b);
    let nBig = 0;
    for (const i of big) nBig += (shapes[i] as Shape).count;
    if (nBig < 2) continue;
    const frees = new Float64Array(p.nH);
    for (let h = 0; h < p.nH; h++) frees[h] = -(p.free0[h * 3 + k] as number);
    frees.sort();
    let j = 0;
    let before = 0;
    for (let b = 0; b < big.length; b++) {
      const sh = shapes[big[b] as number] as Shape;
      const d = sh.dem[k] as number;
      while (j < frees.length && -(frees[j] as number) >= d) j++;
      if (j < before + sh.count) {
        const i = Math.max(before, j);
        // Largest demand first (members of one shape are already in member order).
        const all = membersOf(p, big);
        if (big.length > 1) all.sort((x, y) => (p.dem[y * 3 + k] as number) - (p.dem[x * 3 + k] as number) || x - y);
        const ms = all.slice(0, i + 1);
        const at = p.dem[(ms[ms.length - 1] as number) * 3 + k] as number;
        causes.push({
          code: "capacity_bin_packing",
          groupings: [],
          members: namesOf(p, ms),
          message: `${ms.length} servers each need at least ${at} ${DIM_NAMES[k]}, more than half of any host's free ${DIM_NAMES[k]}, so each needs a host of its own, but only ${plural(j, "host")} ${j === 1 ? "has" : "have"} that much free`,
          hint: `add ${plural(i + 1 - j, "host")} with at least ${at} ${DIM_NAMES[k]} free, or use smaller flavors`,
        });
        break;
      }
      before += sh.count;
    }
  }
}

function volumeCapacityCauses(p: Problem, causes: Cause[]): void {
  const shapes = p.shapes;
  // Volumes: for each set of backends a kind of volume (type and zone pin) may use, the volumes
  // confined to it must fit. A set is a row of flags over the backends.
  const kindOf = new Map<string, number>();
  const kindFirst: number[] = [];
  const kindShapes: number[][] = [];
  const kindNeed: number[] = [];
  shapes.forEach((sh, i) => {
    if (!sh.isVol || sh.pin === -2) return;
    const key = `${sh.volumeType ?? ""}\u0000${sh.pin}`;
    let k = kindOf.get(key);
    if (k === undefined) {
      k = kindFirst.length;
      kindOf.set(key, k);
      kindFirst.push(sh.first);
      kindShapes.push([]);
      kindNeed.push(0);
    }
    (kindShapes[k] as number[]).push(i);
    kindNeed[k] = (kindNeed[k] as number) + (sh.dem[0] as number) * sh.count;
  });
  if (kindFirst.length > 0) {
    const nB = p.nB;
    const served = new Uint8Array(kindFirst.length * nB);
    const sets: { row: number; size: number; have: number }[] = [];
    for (let k = 0; k < kindFirst.length && sets.length < 64; k++) {
      let size = 0;
      let have = 0;
      for (let j = 0; j < nB; j++) {
        if (!staticOk(p, kindFirst[k] as number, p.nH + j)) continue;
        served[k * nB + j] = 1;
        size++;
        have += Math.max(0, p.free0[(p.nH + j) * 3] as number);
      }
      // Served by no backend: reported as no_backend.
      if (size > 0) sets.push({ row: k, size, have });
    }
    const within = (o: (typeof sets)[number], set: (typeof sets)[number]): boolean => {
      if (o.size > set.size) return false;
      for (let j = 0; j < nB; j++) if (served[o.row * nB + j] && !served[set.row * nB + j]) return false;
      return true;
    };
    for (const set of sets) {
      const inside = sets.filter((o) => within(o, set));
      const need = inside.reduce((a, o) => a + (kindNeed[o.row] as number), 0);
      const have = set.have;
      if (need <= have) continue;
      const ms = namesOf(
        p,
        membersOf(
          p,
          inside.flatMap((o) => kindShapes[o.row] as number[]),
        ),
      );
      const backendNames: string[] = [];
      for (let j = 0; j < nB; j++) if (served[set.row * nB + j]) backendNames.push(p.locName[p.nH + j] as string);
      causes.push({
        code: "volume_capacity",
        groupings: [],
        members: ms,
        message: `volumes ${listNames(ms)} need ${need} GB but the backends that can take them (${listNames(backendNames, 4)}) have ${have} GB free`,
        hint: `add ${need - have} GB to those backends, or use smaller volumes`,
      });
    }
  }
}

function antiAffinityCauses(p: Problem, causes: Cause[]): void {
  const shapes = p.shapes;
  // Anti-affinity: more members than domains x maxPerDomain, counting only domains that can take one of them.
  const taking = new DomainsTaking(p);
  const shapeStamp = new Int32Array(shapes.length);
  let ep = 0;
  // The grouping's shapes, own[0 .. nOwn) (one array for all groupings: there may be thousands).
  const own = new Int32Array(shapes.length);
  for (let gi = 0; gi < p.groups.length; gi++) {
    const g = p.groups[gi] as CGroup;
    if (g.kind !== "anti-affinity" || !g.hard) continue;
    // A member whose flavor is unknown is reported as such; counting domains for it would blame the rule.
    let nOwn = 0;
    ep++;
    let unknown = false;
    const gm = g.members;
    for (let i = 0; i < gm.length; i++) {
      const sh = p.shape[gm[i] as number] as number;
      if (shapeStamp[sh] === ep) continue;
      shapeStamp[sh] = ep;
      if ((shapes[sh] as Shape).unknownFlavor) unknown = true;
      own[nOwn++] = sh;
    }
    if (unknown) continue;
    const needDoms = Math.ceil(g.members.length / g.maxPer);
    const doms = taking.union(own, nOwn, g.s, needDoms);
    if (g.members.length > doms * g.maxPer) {
      const scope = scopeName(g.s);
      const unit = p.isVol[g.members[0] as number] ? (g.s === 2 ? "zone" : "backend") : scope;
      const flavorsOf = [
        ...new Set(
          Array.from(own.subarray(0, nOwn), (i) => {
            const mm = p.members[(shapes[i] as Shape).first] as Member;
            return mm.type === "server" ? mm.flavorRef : `${mm.sizeGb} GB volumes`;
          }),
        ),
      ].sort();
      causes.push({
        code: "anti_affinity_domains",
        groupings: [g.g.name],
        members: namesOf(p, g.members),
        message: `anti-affinity grouping ${quote(g.g.name)} needs ${plural(needDoms, unit)} but only ${plural(doms, unit)} can take ${flavorsOf.join(" or ")}`,
        hint: `add ${plural(needDoms - doms, unit)}, raise maxPerDomain to ${Math.ceil(g.members.length / Math.max(1, doms))}, or relax ${quote(g.g.name)} to enforcement: soft`,
      });
    }
  }
}

export function lowerBoundCauses(input: PlacementInput): Cause[] {
  const p = compile(input.spec, input.topology as Topology, input.current, input.currentIsCounted ?? true);
  return lowerBoundCausesOf(p);
}
