// Necessary conditions checked in (near) linear time: when one fails, no placement exists, and
// the failure itself is the certificate the user reads.

import type { Member } from "../model/cluster";
import type { Cause, CauseCode, PlacementInput } from "../model/placement";
import { CAUSE_CODES } from "../model/placement";
import { listNames, plural, quote } from "../model/text";
import type { Topology } from "../model/topology";
import { compile, type Problem, scopeName, staticOk } from "./problem";

const DIM_NAMES = ["vcpus", "ramMb", "diskGb"] as const;
const DIM_UNITS = ["vCPUs", "MB of RAM", "GB of disk"] as const;

export function sortCauses(causes: Cause[]): Cause[] {
  const rank = (c: CauseCode) => CAUSE_CODES.indexOf(c);
  return [...causes].sort(
    (a, b) => rank(a.code) - rank(b.code) || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0),
  );
}

/** Hosts (or racks/zones) that can take at least one member of `ms`, counted per domain at scope s. */
function domainsTaking(p: Problem, ms: number[], s: number, cache: Map<string, Set<number>>, enough: number): number {
  const union = new Set<number>();
  const seenKeys = new Set<string>();
  for (const m of ms) {
    const key = p.isVol[m]
      ? `v:${p.dem[m * 3]}:${(p.members[m] as Member & { volumeType?: string }).volumeType ?? ""}:${p.pin[m]}:${s}`
      : `s:${p.dem[m * 3]}:${p.dem[m * 3 + 1]}:${p.dem[m * 3 + 2]}:${p.unknownFlavor[m]}:${p.pin[m]}:${s}`;
    if (seenKeys.has(key)) continue;
    seenKeys.add(key);
    let doms = cache.get(key);
    if (!doms) {
      doms = new Set<number>();
      const [from, to] = p.isVol[m] ? [p.nH, p.nL] : [0, p.nH];
      for (let l = from; l < to; l++) {
        if (!staticOk(p, m, l)) continue;
        let ok = true;
        for (let k = 0; k < (p.isVol[m] ? 1 : 3); k++)
          if ((p.free0[l * 3 + k] as number) < (p.dem[m * 3 + k] as number)) ok = false;
        if (ok) doms.add((p.anti[s] as Int32Array)[l] as number);
      }
      cache.set(key, doms);
    }
    // Only "fewer than enough" matters, so stop counting there: keeps big groups on big topologies cheap.
    if (doms.size >= enough) return doms.size;
    for (const d of doms) {
      union.add(d);
      if (union.size >= enough) return union.size;
    }
  }
  return union.size;
}

export function lowerBoundCausesOf(p: Problem): Cause[] {
  const causes: Cause[] = [];
  const names = (ms: number[]) => ms.map((m) => (p.members[m] as Member).name).sort();
  const flavors = p.topology.flavors ?? {};
  const flavorNames = Object.keys(flavors).sort();
  const zoneList = p.zones.length > 0 ? p.zones.map(quote).join(", ") : "none";

  // Unknown flavors and zones: no amount of search helps.
  const byFlavor = new Map<string, number[]>();
  const byZone = new Map<string, number[]>();
  for (let m = 0; m < p.nM; m++) {
    const member = p.members[m] as Member;
    if (member.type === "server" && p.unknownFlavor[m])
      byFlavor.set(member.flavorRef, [...(byFlavor.get(member.flavorRef) ?? []), m]);
    if (p.pin[m] === -2) byZone.set(member.zone as string, [...(byZone.get(member.zone as string) ?? []), m]);
  }
  for (const [f, ms] of byFlavor) {
    causes.push({
      code: "unknown_flavor",
      groupings: [],
      members: names(ms),
      message: `flavor ${quote(f)} of ${listNames(names(ms))} is not in the topology`,
      hint: flavorNames.length > 0 ? `use one of ${listNames(flavorNames, 8)}` : "add flavors to the topology",
    });
  }
  for (const [z, ms] of byZone) {
    causes.push({
      code: "unknown_zone",
      groupings: [],
      members: names(ms),
      message: `${listNames(names(ms))} ${ms.length === 1 ? "is" : "are"} pinned to zone ${quote(z)}, which the topology lacks`,
      hint: `pin to one of ${zoneList}, or drop the zone`,
    });
  }

  // Members that fit nowhere on their own (one check per distinct shape).
  const fitsSomewhere = new Uint8Array(p.nM);
  const shapeSeen = new Map<string, boolean>();
  const nowhere = new Map<string, number[]>();
  const noBackend = new Map<string, number[]>();
  for (let m = 0; m < p.nM; m++) {
    if (p.unknownFlavor[m] || p.pin[m] === -2) continue;
    const member = p.members[m] as Member;
    const vt = member.type === "volume" ? member.volumeType : undefined;
    const key = p.isVol[m]
      ? `v:${p.dem[m * 3]}:${vt ?? ""}:${p.pin[m]}`
      : `s:${p.dem[m * 3]}:${p.dem[m * 3 + 1]}:${p.dem[m * 3 + 2]}:${p.pin[m]}`;
    let ok = shapeSeen.get(key);
    let served = true;
    if (ok === undefined) {
      ok = false;
      served = false;
      const [from, to] = p.isVol[m] ? [p.nH, p.nL] : [0, p.nH];
      for (let l = from; l < to && !ok; l++) {
        if (!staticOk(p, m, l)) continue;
        served = true;
        let fits = true;
        for (let k = 0; k < (p.isVol[m] ? 1 : 3); k++)
          if ((p.free0[l * 3 + k] as number) < (p.dem[m * 3 + k] as number)) fits = false;
        ok = fits;
      }
      shapeSeen.set(key, ok);
      if (!ok && !served) shapeSeen.set(`${key}:unserved`, true);
    }
    if (ok) {
      fitsSomewhere[m] = 1;
      continue;
    }
    const unserved = shapeSeen.get(`${key}:unserved`) === true || !served;
    const label = p.isVol[m]
      ? `volume of ${p.dem[m * 3]} GB${vt !== undefined ? ` of type ${quote(vt)}` : ""}${member.zone !== undefined ? ` in zone ${quote(member.zone)}` : ""}`
      : `flavor ${quote((member as { flavorRef: string }).flavorRef)}${member.zone !== undefined ? ` in zone ${quote(member.zone)}` : ""}`;
    const target = p.isVol[m] && unserved ? noBackend : nowhere;
    target.set(label, [...(target.get(label) ?? []), m]);
  }
  for (const [label, ms] of noBackend) {
    causes.push({
      code: "no_backend",
      groupings: [],
      members: names(ms),
      message: `no storage backend serves ${listNames(names(ms))} (${label})`,
      hint: "add a backend serving that volume type and zone, or change the volume type or zone",
    });
  }
  for (const [label, ms] of nowhere) {
    const m = ms[0] as number;
    const [from, to] = p.isVol[m] ? [p.nH, p.nL] : [0, p.nH];
    const most = [0, 0, 0];
    for (let l = from; l < to; l++) {
      if (!staticOk(p, m, l)) continue;
      for (let k = 0; k < 3; k++) most[k] = Math.max(most[k] as number, p.free0[l * 3 + k] as number);
    }
    const short = p.isVol[m]
      ? `needs ${p.dem[m * 3]} GB, the most any backend has free is ${most[0]} GB`
      : [0, 1, 2]
          .filter((k) => (p.dem[m * 3 + k] as number) > (most[k] as number))
          .map((k) => `needs ${p.dem[m * 3 + k]} ${DIM_NAMES[k]}, most free on one host is ${most[k]}`)
          .join("; ");
    causes.push({
      code: "member_fits_nowhere",
      groupings: [],
      members: names(ms),
      message: `${label} of ${listNames(names(ms))} fits no single ${p.isVol[m] ? "backend" : "host"}: ${short || "no host has room in every dimension at once"}`,
      hint: p.isVol[m]
        ? "use a smaller volume or add backend capacity"
        : `use a smaller flavor than ${quote((p.members[m] as { flavorRef: string }).flavorRef)}, or add a host with room for it`,
    });
  }

  // L1: summed demand per dimension, over everything and per pinned zone.
  const zoneFree = new Float64Array(p.zones.length * 3);
  const zoneDemand = new Float64Array(p.zones.length * 3);
  const total = [0, 0, 0];
  const demand = [0, 0, 0];
  let maxHostCap = [0, 0, 0];
  for (let h = 0; h < p.nH; h++) {
    const z = p.locZone[h] as number;
    for (let k = 0; k < 3; k++) {
      const f = Math.max(0, p.free0[h * 3 + k] as number);
      total[k] = (total[k] as number) + f;
      zoneFree[z * 3 + k] = (zoneFree[z * 3 + k] as number) + f;
    }
    maxHostCap = maxHostCap.map((c, k) => Math.max(c, p.cap[h * 3 + k] as number));
  }
  const servers: number[] = [];
  for (let m = 0; m < p.nM; m++) {
    if (p.isVol[m] || p.unknownFlavor[m] || p.pin[m] === -2) continue;
    servers.push(m);
    for (let k = 0; k < 3; k++) {
      demand[k] = (demand[k] as number) + (p.dem[m * 3 + k] as number);
      const z = p.pin[m] as number;
      if (z >= 0) zoneDemand[z * 3 + k] = (zoneDemand[z * 3 + k] as number) + (p.dem[m * 3 + k] as number);
    }
  }
  const hostsToAdd = (deficit: number, k: number) => Math.max(1, Math.ceil(deficit / ((maxHostCap[k] as number) || 1)));
  for (let k = 0; k < 3; k++) {
    const need = demand[k] as number;
    const have = total[k] as number;
    if (need > have) {
      causes.push({
        code: "capacity",
        groupings: [],
        members: names(servers),
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
        const ms = servers.filter((m) => p.pin[m] === z);
        causes.push({
          code: "capacity",
          groupings: [],
          members: names(ms),
          message: `the servers pinned to zone ${quote(zone)} need ${need} ${DIM_UNITS[k]} but its hosts have ${have} free`,
          hint: `add ${plural(hostsToAdd(need - have, k), "host")} to zone ${quote(zone)}, or pin some servers elsewhere`,
        });
      }
    }
  });

  // Martello-Toth style: servers needing more than half of the largest free host in a dimension
  // can't share a host, so the k-th largest needs k hosts with at least its demand free.
  for (let k = 0; k < 3; k++) {
    let maxFree = 0;
    for (let h = 0; h < p.nH; h++) maxFree = Math.max(maxFree, p.free0[h * 3 + k] as number);
    const big = servers
      .filter((m) => fitsSomewhere[m] && (p.dem[m * 3 + k] as number) * 2 > maxFree)
      .sort((a, b) => (p.dem[b * 3 + k] as number) - (p.dem[a * 3 + k] as number) || a - b);
    if (big.length < 2) continue;
    const frees = Array.from({ length: p.nH }, (_, h) => p.free0[h * 3 + k] as number).sort((a, b) => b - a);
    let j = 0;
    for (let i = 0; i < big.length; i++) {
      const d = p.dem[(big[i] as number) * 3 + k] as number;
      while (j < frees.length && (frees[j] as number) >= d) j++;
      if (j < i + 1) {
        const ms = big.slice(0, i + 1);
        causes.push({
          code: "capacity_bin_packing",
          groupings: [],
          members: names(ms),
          message: `${ms.length} servers each need at least ${d} ${DIM_NAMES[k]}, more than half of any host's free ${DIM_NAMES[k]}, so each needs a host of its own, but only ${plural(j, "host")} ${j === 1 ? "has" : "have"} that much free`,
          hint: `add ${plural(i + 1 - j, "host")} with at least ${d} ${DIM_NAMES[k]} free, or use smaller flavors`,
        });
        break;
      }
    }
  }

  // Volumes: for each set of backends a kind of volume may use, the volumes confined to it must fit.
  const volSets = new Map<string, { locs: number[]; ms: number[] }>();
  for (let m = 0; m < p.nM; m++) {
    if (!p.isVol[m] || p.pin[m] === -2) continue;
    const vt = (p.members[m] as Member & { volumeType?: string }).volumeType;
    const key = `${vt ?? ""}\u0000${p.pin[m]}`;
    let entry = volSets.get(key);
    if (!entry) {
      const locs: number[] = [];
      for (let l = p.nH; l < p.nL; l++) if (staticOk(p, m, l)) locs.push(l);
      entry = { locs, ms: [] };
    }
    if (entry.locs.length === 0) continue;
    entry.ms.push(m);
    volSets.set(key, entry);
  }
  const sets = [...volSets.values()].slice(0, 64);
  for (const set of sets) {
    const inSet = new Set(set.locs);
    const ms = sets.filter((o) => o.locs.every((l) => inSet.has(l))).flatMap((o) => o.ms);
    const need = ms.reduce((a, m) => a + (p.dem[m * 3] as number), 0);
    const have = set.locs.reduce((a, l) => a + Math.max(0, p.free0[l * 3] as number), 0);
    if (need > have) {
      const backendNames = set.locs.map((l) => p.locName[l] as string);
      causes.push({
        code: "volume_capacity",
        groupings: [],
        members: names(ms),
        message: `volumes ${listNames(names(ms))} need ${need} GB but the backends that can take them (${listNames(backendNames, 4)}) have ${have} GB free`,
        hint: `add ${need - have} GB to those backends, or use smaller volumes`,
      });
    }
  }

  // Anti-affinity: more members than domains x maxPerDomain, counting only domains that can take one of them.
  const cache = new Map<string, Set<number>>();
  for (const g of p.groups) {
    if (g.kind !== "anti-affinity" || !g.hard) continue;
    // A member whose flavor is unknown is reported as such; counting domains for it would blame the rule.
    if (g.members.some((m) => p.unknownFlavor[m])) continue;
    const doms = domainsTaking(p, g.members, g.s, cache, Math.ceil(g.members.length / g.maxPer));
    if (g.members.length > doms * g.maxPer) {
      const needDoms = Math.ceil(g.members.length / g.maxPer);
      const scope = scopeName(g.s);
      const unit = p.isVol[g.members[0] as number] ? (g.s === 2 ? "zone" : "backend") : scope;
      const flavorsOf = [
        ...new Set(
          g.members.map((m) => {
            const mm = p.members[m] as Member;
            return mm.type === "server" ? mm.flavorRef : `${mm.sizeGb} GB volumes`;
          }),
        ),
      ].sort();
      causes.push({
        code: "anti_affinity_domains",
        groupings: [g.g.name],
        members: names(g.members),
        message: `anti-affinity grouping ${quote(g.g.name)} needs ${plural(needDoms, unit)} but only ${plural(doms, unit)} can take ${flavorsOf.join(" or ")}`,
        hint: `add ${plural(needDoms - doms, unit)}, raise maxPerDomain to ${Math.ceil(g.members.length / Math.max(1, doms))}, or relax ${quote(g.g.name)} to enforcement: soft`,
      });
    }
  }
  return sortCauses(causes);
}

export function lowerBoundCauses(input: PlacementInput): Cause[] {
  const p = compile(input.spec, input.topology as Topology, input.current, input.currentIsCounted ?? true);
  return lowerBoundCausesOf(p);
}
