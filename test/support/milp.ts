// The placement problem as a MILP in CPLEX LP text, written straight from the rule semantics
// (DESIGN.md "Rules", placement brief) and independent of the engine's own data structures,
// so HiGHS can act as an exact oracle. Reused by the benchmark.
//
// Variables: x_m_l = member m on location l (a host for servers, a backend for volumes).
// Affinity/proximity: z_g_r_D picks the one domain D at scope r that holds (or is served for)
// every member; soft affinity counts domains used (u_g_D) minus one; proximity's level is
// bound - (number of finer scopes at which the group fits one domain). Anti-affinity: counts
// per domain <= maxPerDomain, or excess e_g_A paid by weight when soft.

import type { ClusterSpec, Member } from "../../provider/model/cluster";
import type { Placement, Topology } from "../../provider/placement";

const SCOPES = ["host", "rack", "zone"] as const;

interface Loc {
  name: string;
  kind: "host" | "backend";
  zone: string;
  /** For hosts and host-local backends: the host. */
  host?: string;
  rack?: string;
  volumeTypes?: string[];
}

export interface Milp {
  lp: string;
  /** Added to HiGHS's objective value to get the soft cost. */
  offset: number;
  /** Decodes a HiGHS solution into a placement. */
  decode(columns: Record<string, { Primal: number }>): Placement;
  /** Trivially infeasible (a member with no allowed location); the LP still encodes that. */
  hasEmptyMember: boolean;
  /** The soft cost and (pack) hosts used from an objective value plus offset. */
  split(total: number): { cost: number; hosts: number };
}

/**
 * `pack`: the objective becomes soft cost × (hosts + 1) + hosts used by servers, so the optimum is
 * the least soft cost and, among those, the fewest hosts (the engine's `pack` order); `split`
 * recovers both from the objective.
 */
export function encodeMilp(spec: ClusterSpec, topology: Topology, opts: { pack?: boolean } = {}): Milp {
  const hosts = [...topology.hosts].sort((a, b) => (a.name < b.name ? -1 : 1));
  const hostByName = new Map(hosts.map((h) => [h.name, h]));
  const locs: Loc[] = hosts.map((h) => ({ name: h.name, kind: "host", zone: h.zone, host: h.name, rack: h.rack }));
  for (const b of [...topology.storageBackends].sort((a, c) => (a.name < c.name ? -1 : 1))) {
    const h = b.host !== undefined ? hostByName.get(b.host) : undefined;
    if (b.host !== undefined && !h) continue;
    const loc: Loc = { name: b.name, kind: "backend", zone: h ? h.zone : (b.zone as string) };
    if (h) {
      loc.host = h.name;
      loc.rack = h.rack;
    }
    if (b.volumeTypes) loc.volumeTypes = b.volumeTypes;
    locs.push(loc);
  }
  const hostKey = (h: { name: string; zone: string; rack: string }, s: number) =>
    s === 0 ? `h:${h.name}` : s === 1 ? `r:${h.zone}/${h.rack}` : `z:${h.zone}`;
  // Concrete domains per scope: those of hosts; at zone scope also zones of zonal backends.
  const domains: string[][] = [0, 1, 2].map((s) => [...new Set(hosts.map((h) => hostKey(h, s)))].sort());
  for (const l of locs) if (!domains[2]?.includes(`z:${l.zone}`)) domains[2]?.push(`z:${l.zone}`);
  const zoneOfDomain = (d: string) => {
    if (d.startsWith("z:")) return d.slice(2);
    if (d.startsWith("r:")) return d.slice(2, d.lastIndexOf("/"));
    return hostByName.get(d.slice(2))?.zone as string;
  };
  /** Domains at scope s that a location serves: its own, or every domain of its zone for a zonal backend. */
  const served = (l: Loc, s: number): string[] => {
    if (l.host !== undefined) return [hostKey({ name: l.host, zone: l.zone, rack: l.rack as string }, s)];
    if (s === 2) return [`z:${l.zone}`];
    return (domains[s] as string[]).filter((d) => zoneOfDomain(d) === l.zone);
  };
  const antiDomain = (l: Loc, s: number): string => {
    if (l.host !== undefined || s === 2) return served(l, s)[0] as string;
    return `b:${l.name}`;
  };

  const members = spec.members;
  const allowed = (m: Member, l: Loc): boolean => {
    if (m.zone !== undefined && l.zone !== m.zone) return false;
    if (m.type === "server") return l.kind === "host" && Object.hasOwn(topology.flavors, m.flavorRef);
    if (l.kind !== "backend") return false;
    return !(m.volumeType !== undefined && l.volumeTypes && !l.volumeTypes.includes(m.volumeType));
  };
  const x = (mi: number, li: number) => `x_${mi}_${li}`;
  const cand: number[][] = members.map((m) => locs.flatMap((l, li) => (allowed(m, l) ? [li] : [])));
  const rows: string[] = [];
  const obj: string[] = [];
  const binaries: string[] = [];
  const generals: string[] = [];
  const bounds: string[] = [];
  let offset = 0;
  let row = 0;
  const add = (terms: string[], rel: string, rhs: number) => {
    if (terms.length === 0) {
      // Encode "0 rel rhs" via a dummy so an impossible empty row still makes the LP infeasible.
      rows.push(`c${row++}: 0 dummy ${rel} ${rhs}`);
      return;
    }
    rows.push(`c${row++}: ${terms.join(" + ")} ${rel} ${rhs}`);
  };
  let hasEmptyMember = false;
  members.forEach((_, mi) => {
    const c = cand[mi] as number[];
    if (c.length === 0) hasEmptyMember = true;
    for (const li of c) binaries.push(x(mi, li));
    add(
      c.map((li) => x(mi, li)),
      "=",
      1,
    );
  });

  // Capacity.
  locs.forEach((l, li) => {
    if (l.kind === "host") {
      const h = hostByName.get(l.name) as Topology["hosts"][number];
      for (const d of ["vcpus", "ramMb", "diskGb"] as const) {
        const terms: string[] = [];
        members.forEach((m, mi) => {
          if (m.type !== "server" || !(cand[mi] as number[]).includes(li)) return;
          const need = topology.flavors[m.flavorRef]?.[d] ?? 0;
          if (need > 0) terms.push(`${need} ${x(mi, li)}`);
        });
        if (terms.length > 0) add(terms, "<=", h[d] - (h.used?.[d] ?? 0));
      }
    } else {
      const b = topology.storageBackends.find((s) => s.name === l.name) as Topology["storageBackends"][number];
      const terms: string[] = [];
      members.forEach((m, mi) => {
        if (m.type === "volume" && (cand[mi] as number[]).includes(li) && m.sizeGb > 0)
          terms.push(`${m.sizeGb} ${x(mi, li)}`);
      });
      if (terms.length > 0) add(terms, "<=", b.capacityGb - (b.usedGb ?? 0));
    }
  });

  const index = new Map(members.map((m, i) => [m.name, i]));
  spec.groupings.forEach((g, gi) => {
    const ms = [...new Set(g.members.map((n) => index.get(n)).filter((i): i is number => i !== undefined))];
    const s = SCOPES.indexOf(g.scope);
    /** One-domain constraints at scope r with domain variables prefix; `gate` relaxes them when 0. */
    const oneDomain = (r: number, prefix: string, gate?: string) => {
      const doms = domains[r] as string[];
      const zv = doms.map((_, di) => `${prefix}_${di}`);
      binaries.push(...zv);
      if (gate) add([...zv, `-1 ${gate}`], "=", 0);
      else add(zv, "=", 1);
      for (const mi of ms) {
        for (const li of cand[mi] as number[]) {
          const ok = served(locs[li] as Loc, r).map((d) => `${prefix}_${doms.indexOf(d)}`);
          // x <= sum(z served) + (1 - gate)
          const terms = [x(mi, li), ...ok.map((v) => `-1 ${v}`)];
          if (gate) terms.push(gate);
          add(terms, "<=", gate ? 1 : 0);
        }
      }
    };
    if (g.rule === "affinity" && g.enforcement === "hard") oneDomain(s, `z_${gi}`);
    else if (g.rule === "affinity") {
      const doms = domains[s] as string[];
      const uv = doms.map((_, di) => `u_${gi}_${di}`);
      binaries.push(...uv);
      for (const v of uv) obj.push(`${g.weight} ${v}`);
      offset -= ms.length > 0 ? g.weight : 0;
      for (const mi of ms) {
        for (const li of cand[mi] as number[]) {
          const ok = served(locs[li] as Loc, s).map((d) => `u_${gi}_${doms.indexOf(d)}`);
          add([x(mi, li), ...ok.map((v) => `-1 ${v}`)], "<=", 0);
        }
      }
    } else if (g.rule === "proximity") {
      oneDomain(s, `z_${gi}`);
      offset += g.weight * s;
      for (let r = 0; r < s; r++) {
        const a = `a_${gi}_${r}`;
        binaries.push(a);
        obj.push(`-${g.weight} ${a}`);
        oneDomain(r, `p_${gi}_${r}`, a);
      }
    } else {
      const byDomain = new Map<string, string[]>();
      for (const mi of ms) {
        for (const li of cand[mi] as number[]) {
          const d = antiDomain(locs[li] as Loc, s);
          byDomain.set(d, [...(byDomain.get(d) ?? []), x(mi, li)]);
        }
      }
      [...byDomain.keys()].sort().forEach((d, di) => {
        const terms = byDomain.get(d) as string[];
        if (g.enforcement === "hard") add(terms, "<=", g.maxPerDomain);
        else {
          const e = `e_${gi}_${di}`;
          generals.push(e);
          bounds.push(`${e} >= 0`);
          obj.push(`${g.weight} ${e}`);
          add([...terms, `-1 ${e}`], "<=", g.maxPerDomain);
        }
      });
    }
  });

  // pack: hosts used (y_h >= x_m_h for every server candidate), under the soft cost scaled above any host count.
  const scale = opts.pack ? hosts.length + 1 : 1;
  if (opts.pack) {
    for (let i = 0; i < obj.length; i++) {
      const [coef, v] = (obj[i] as string).split(" ") as [string, string];
      obj[i] = `${Number(coef) * scale} ${v}`;
    }
    offset *= scale;
    locs.forEach((l, li) => {
      if (l.kind !== "host") return;
      const y = `y_${li}`;
      binaries.push(y);
      obj.push(`1 ${y}`);
      members.forEach((m, mi) => {
        if (m.type === "server" && (cand[mi] as number[]).includes(li)) add([x(mi, li), `-1 ${y}`], "<=", 0);
      });
    });
  }
  const split = (total: number) => {
    const t = Math.round(total);
    return opts.pack ? { cost: Math.floor(t / scale), hosts: t % scale } : { cost: t, hosts: 0 };
  };
  const fix = (t: string) => t.replace(/\+ -/g, "- ");
  const objective = obj.length > 0 ? fix(obj.join(" + ")) : "0 dummy";
  const lp = [
    "Minimize",
    ` obj: ${objective}`,
    "Subject To",
    ...rows.map((r) => ` ${fix(r)}`),
    "Bounds",
    " 0 <= dummy <= 0",
    ...bounds.map((b) => ` ${b}`),
    ...(binaries.length > 0 ? ["Binary", ` ${binaries.join(" ")}`] : []),
    ...(generals.length > 0 ? ["General", ` ${generals.join(" ")}`] : []),
    "End",
  ].join("\n");

  const decode = (columns: Record<string, { Primal: number }>): Placement => {
    const out: Placement = {};
    members.forEach((m, mi) => {
      for (const li of cand[mi] as number[]) {
        if ((columns[x(mi, li)]?.Primal ?? 0) > 0.5) {
          const l = locs[li] as Loc;
          if (m.type === "server") {
            out[m.name] = { type: "server", zone: l.zone, rack: l.rack as string, host: l.name };
          } else {
            out[m.name] =
              l.host !== undefined
                ? { type: "volume", backend: l.name, zone: l.zone, host: l.host }
                : { type: "volume", backend: l.name, zone: l.zone };
          }
        }
      }
    });
    return out;
  };
  return { lp, offset, decode, hasEmptyMember, split };
}
