// A MapView as one self-contained HTML page: a legend, the zones side by side, racks, the hosts the
// cluster uses as cards (capacity bars, members, host-local volumes) and every other host collapsed
// into a count that opens to small tiles, so 3,000 hosts stay a page. No script: <details> opens
// and closes, a legend checkbox highlights one grouping through CSS :has().

import type { Grouping } from "../../model/cluster";
import { plural } from "../../model/text";
import { BASE_CSS, colorOf, PALETTE } from "./style";
import {
  type MapBackend,
  type MapGrouping,
  type MapHost,
  type MapMember,
  type MapRack,
  type MapView,
  type MapZone,
  type Mark,
  natural,
} from "./view";

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);

const num = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 1 });
const gb = (mb: number) => num(Math.round((mb / 1024) * 10) / 10);
const OK_STATUS = new Set(["ACTIVE", "available", "in-use"]);

/** Empty hosts of an unplaceable map are shown open up to this many per zone: there is nothing else to see. */
const OPEN_EMPTY_UP_TO = 48;

/** More groupings than this are listed in the legend only when opened. */
const LEGEND_GROUPINGS = 16;

function ruleText(g: Pick<Grouping, "rule" | "scope" | "maxPerDomain">): string {
  if (g.rule === "affinity") return `together in one ${g.scope}`;
  if (g.rule === "anti-affinity") return `apart: at most ${g.maxPerDomain} per ${g.scope}`;
  return `near: never beyond one ${g.scope}, as close as possible`;
}

const markHtml = (m: Mark) => `<span class="mk ${m.kind}" title="${esc(m.title)}">${esc(m.label)}</span>`;
const marksHtml = (marks: Mark[]) => marks.map(markHtml).join("");

function busy(h: MapHost): boolean {
  return h.servers.length > 0 || h.marks.length > 0 || h.backends.some((b) => b.volumes.length + b.marks.length > 0);
}

class Renderer {
  private readonly ids = new Map<string, string>();
  private readonly hostOf = new Map<string, string>();
  private readonly zoneOf = new Map<string, string>();

  constructor(private readonly view: MapView) {
    [...view.members.keys()].sort(natural).forEach((name, i) => {
      this.ids.set(name, `m${i}`);
    });
    for (const z of view.zones) {
      for (const b of z.backends) for (const v of b.volumes) this.zoneOf.set(v, z.name);
      for (const r of z.racks) {
        for (const h of r.hosts) {
          for (const n of [...h.servers, ...h.backends.flatMap((b) => b.volumes)]) {
            this.hostOf.set(n, h.name);
            this.zoneOf.set(n, z.name);
          }
        }
      }
    }
  }

  page(): string {
    const v = this.view;
    const title = `cluster "${v.clusterName}": ${v.kind === "unplaceable" ? "can't be placed" : v.kind === "live" ? "as built" : "placement"}`;
    const zones = [...v.zones].sort((a, b) => natural(a.name, b.name));
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title>
<style>${BASE_CSS}${this.groupingCss()}</style></head><body>
<header><h1>${esc(`cluster "${v.clusterName}"`)}</h1><div class="sub">${esc(this.headline())}</div></header>
${this.legend()}${this.causes()}${this.softs()}${this.problems()}
<main class="zones">
${zones.map((z) => this.zone(z)).join("\n")}
</main>
<footer>${esc(v.source)} · ${esc(this.footerCounts())} · made by openstack-vcluster</footer>
</body></html>
`;
  }

  private headline(): string {
    const v = this.view;
    const hosts = new Set(this.hostOf.values()).size;
    const zones = new Set(this.zoneOf.values()).size;
    const n = plural(v.members.size, "member");
    if (v.kind === "unplaceable") return v.summary ?? `${n} can't be placed`;
    const where = `${plural(hosts, "host")} in ${plural(zones, "zone")}`;
    const rules = v.soft.length > 0 ? `${plural(v.soft.length, "soft rule")} not met` : "every rule is met";
    if (v.kind === "plan") return `placed ${n} on ${where} · ${rules}${v.cost ? ` (cost ${v.cost})` : ""}`;
    const counts = new Map<string, number>();
    for (const m of v.members.values()) counts.set(m.status ?? "?", (counts.get(m.status ?? "?") ?? 0) + 1);
    const statuses = [...counts].sort((a, b) => natural(a[0], b[0])).map(([s, c]) => `${c} ${s}`);
    return `${n} on ${where}: ${statuses.join(", ")} · ${rules}${v.broken.length > 0 ? ` · ${plural(v.broken.length, "hard rule")} broken` : ""}`;
  }

  private footerCounts(): string {
    let hosts = 0;
    let racks = 0;
    for (const z of this.view.zones) {
      racks += z.racks.length;
      for (const r of z.racks) hosts += r.hosts.length;
    }
    return `${plural(this.view.zones.length, "zone")}, ${plural(racks, "rack")}, ${plural(hosts, "host")}`;
  }

  private groupingCss(): string {
    // Checking a grouping in the legend outlines its members and fades the rest.
    const rules = this.view.groupings.map(
      (_, i) => `body:has(#hl${i}:checked) .g${i}{opacity:1;box-shadow:0 0 0 2px ${colorOf(i)}}`,
    );
    return `body:has(.hl:checked) main .m{opacity:.3}\n${rules.join("\n")}\n${PALETTE.map((c, i) => `.c${i}{background:${c}}`).join("")}`;
  }

  private legend(): string {
    const v = this.view;
    const keys = [
      `<span class="key"><span class="m s"><b>server</b> <small>flavor</small></span></span>`,
      `<span class="key"><span class="m v">⛁ <b>volume</b> <small>GB type</small> <a>→ its server</a></span> <a class="far">→ red: not on its server's host</a></span>`,
      `<span class="key"><span class="cap" style="width:90px;margin:0"><span>cpu</span><span class="bar"><s style="width:35%"></s><u style="width:30%"></u></span><span></span></span> grey: used by others · blue: this cluster</span>`,
      v.kind !== "unplaceable"
        ? `<span class="key"><span class="mk soft">soft: name</span> soft rule not met on this host</span>`
        : "",
      v.kind === "unplaceable"
        ? `<span class="key"><span class="mk cause">cause 1</span> where a cause blocks <span class="tiles"><b class="nf">host</b></span> no room for the cause's members</span>`
        : "",
      v.kind === "live"
        ? `<span class="key"><span class="st">ACTIVE</span><span class="st bad">ERROR</span> status</span>`
        : "",
      `<span class="key"><details class="empty" style="margin:0"><summary>N empty hosts</summary></details> hosts without members, collapsed: click to list them</span>`,
    ];
    const keysOf = v.groupings.map((g, i) => this.groupingKey(g, i)).join("");
    const head = `<b>${plural(v.groupings.length, "grouping")}</b> <small>(tick one to highlight its members)</small>`;
    // Many groupings would push the map off the first screen: listed when opened.
    const groupings =
      v.groupings.length === 0
        ? `<div class="groupings"><small>no groupings</small></div>`
        : v.groupings.length <= LEGEND_GROUPINGS
          ? `<div class="groupings">${head}${keysOf}</div>`
          : `<details class="groupings many"><summary>${head}</summary><div class="glist">${keysOf}</div></details>`;
    return `<section class="panel legend" id="legend"><h2>Legend</h2>${keys.join("")}${groupings}</section>\n`;
  }

  private groupingKey(g: MapGrouping, i: number): string {
    const enforcement = g.rule === "proximity" || g.enforcement === "soft" ? `soft, cost ${g.weight}` : "hard";
    return `<label${g.violated ? ` class="violated"` : ""}><input type="checkbox" class="hl" id="hl${i}">${this.dot(i)}<b>${esc(g.name)}</b> <small>${esc(`${ruleText(g)} · ${enforcement} · ${plural(g.members.length, "member")}`)}${g.violated ? " · not met" : ""}</small></label>`;
  }

  private causes(): string {
    const v = this.view;
    if (v.kind !== "unplaceable") return "";
    const items = v.causes.map(
      (c) =>
        `<li><code>${esc(c.code)}</code> ${esc(c.message)}<br><small>hint: ${esc(c.hint)} · where: ${esc(c.where)}</small></li>`,
    );
    const reasons = Object.entries(v.reasons).sort((a, b) => natural(a[0], b[0]));
    const table =
      reasons.length > 0
        ? `<table class="reasons"><tr><th>member</th><th>why each host or backend refuses it</th></tr>${reasons
            .map(
              ([m, rs]) =>
                `<tr><td>${esc(m)}</td><td>${Object.entries(rs)
                  .map(([r, n]) => esc(`${plural(n, "place")}: ${r}`))
                  .join("<br>")}</td></tr>`,
            )
            .join("")}</table>`
        : "";
    return `<section class="panel causes"><h2>Why it can't be placed</h2><ol>${items.join("")}</ol>${table}</section>\n`;
  }

  private softs(): string {
    const v = this.view;
    if (v.soft.length === 0) return "";
    const items = v.soft.map((s) => {
      const members = s.members.map((m) =>
        this.link(m, `${m}${this.hostOf.has(m) ? ` on ${this.hostOf.get(m)}` : ""}`),
      );
      return `<li><b>${esc(s.grouping)}</b> (cost ${s.weight}): ${members.join(", ")}</li>`;
    });
    return `<section class="panel softs"><h2>Soft rules not met${v.cost ? ` (cost ${v.cost})` : ""}</h2><ul>${items.join("")}</ul></section>\n`;
  }

  private problems(): string {
    const v = this.view;
    const lines = v.broken.map((b) => `<li>${esc(b)}</li>`);
    if (v.unlocated.length > 0) {
      const what = v.kind === "live" ? "missing (the next apply recreates them)" : "not on this map";
      lines.push(
        `<li>${esc(what)}: ${[...v.unlocated]
          .sort(natural)
          .map((m) => this.chip(m))
          .join(" ")}</li>`,
      );
    }
    return lines.length > 0
      ? `<section class="panel causes"><h2>Problems</h2><ul>${lines.join("")}</ul></section>\n`
      : "";
  }

  private zone(z: MapZone): string {
    const racks = [...z.racks].sort((a, b) => natural(a.name, b.name));
    const shown = racks.filter((r) => r.marks.length > 0 || r.hosts.some(busy));
    const quiet = racks.filter((r) => !shown.includes(r));
    const hosts = racks.reduce((n, r) => n + r.hosts.length, 0);
    const members = racks.reduce((n, r) => n + r.hosts.reduce((k, h) => k + h.servers.length, 0), 0);
    let quietHtml = "";
    if (quiet.length > 0) {
      const quietHosts = quiet.flatMap((r) => r.hosts);
      const blocked = quietHosts.filter((h) => h.blocked !== undefined).length;
      const open = this.view.kind === "unplaceable" && hosts <= OPEN_EMPTY_UP_TO ? " open" : "";
      const summary = `${plural(quiet.length, "rack")} without members (${plural(quietHosts.length, "host")}${blocked > 0 ? `, ${blocked} without room` : ""})`;
      quietHtml = `<details class="empty"${open}><summary>${esc(summary)}</summary>${quiet
        .map(
          (r) =>
            `<div class="rack q"><h3>rack ${esc(r.name)} <small>${plural(r.hosts.length, "host")}</small></h3>${this.tiles(r.hosts)}</div>`,
        )
        .join("")}</details>`;
    }
    const backends = [...z.backends]
      .filter((b) => b.volumes.length + b.marks.length > 0)
      .sort((a, b) => natural(a.name, b.name))
      .map((b) => this.backend(b, "zonal"));
    const stats = `${plural(racks.length, "rack")} · ${plural(hosts, "host")}${members > 0 ? ` · ${plural(members, "server")} here` : ""}`;
    return `<section class="zone"><h2>zone ${esc(z.name)} <small>${esc(stats)}</small>${marksHtml(z.marks)}</h2>${shown
      .map((r) => this.rack(r))
      .join("")}${quietHtml}${backends.join("")}</section>`;
  }

  private rack(r: MapRack): string {
    const hosts = [...r.hosts].sort((a, b) => natural(a.name, b.name));
    const cards = hosts.filter(busy);
    const empty = hosts.filter((h) => !busy(h));
    const blocked = empty.filter((h) => h.blocked !== undefined).length;
    const open = this.view.kind === "unplaceable" && hosts.length <= OPEN_EMPTY_UP_TO ? " open" : "";
    const emptyHtml =
      empty.length > 0
        ? `<details class="empty"${open}><summary>${esc(`${plural(empty.length, "empty host")}${blocked > 0 ? `, ${blocked} without room` : ""}`)}</summary>${this.tiles(empty)}</details>`
        : "";
    return `<div class="rack"><h3>rack ${esc(r.name)} <small>${plural(r.hosts.length, "host")}</small>${marksHtml(r.marks)}</h3>${
      cards.length > 0 ? `<div class="hosts">${cards.map((h) => this.host(h)).join("")}</div>` : ""
    }${emptyHtml}</div>`;
  }

  /** Hosts without members as small tiles, shaded by how full they are; hatched where a cause blocks. */
  private tiles(hosts: MapHost[]): string {
    const tile = (h: MapHost) => {
      const c = h.capacity;
      const used = h.others;
      const share = Math.max(...(["vcpus", "ramMb", "diskGb"] as const).map((k) => (c[k] > 0 ? used[k] / c[k] : 0)));
      const cls = `u${Math.min(4, Math.floor(share * 5))}${h.blocked !== undefined ? " nf" : ""}`;
      const title = `${h.name} used: cpu ${used.vcpus}/${c.vcpus}, ram ${gb(used.ramMb)}/${gb(c.ramMb)} GB, disk ${num(used.diskGb)}/${num(c.diskGb)} GB${h.blocked !== undefined ? ` · ${h.blocked}` : ""}`;
      return `<b class="${cls}" title="${esc(title)}">${esc(h.name)}</b>`;
    };
    return `<div class="tiles">${[...hosts]
      .sort((a, b) => natural(a.name, b.name))
      .map(tile)
      .join("")}</div>`;
  }

  private host(h: MapHost): string {
    const cls = [
      "host",
      h.opaque ? "opaque" : "",
      h.marks.some((m) => m.kind === "soft") ? "softv" : "",
      h.marks.some((m) => m.kind === "broken") ? "brk" : "",
    ]
      .filter(Boolean)
      .join(" ");
    const servers = [...h.servers].sort(natural);
    const backends = [...h.backends]
      .filter((b) => b.volumes.length + b.marks.length > 0)
      .sort((a, b) => natural(a.name, b.name));
    return `<div class="${cls}"><h4>${esc(h.name)}${marksHtml(h.marks)}</h4>${h.opaque ? "<small>capacity not visible</small>" : this.capacity(h)}${
      servers.length > 0 ? `<ul class="ms">${servers.map((s) => this.chip(s, "li")).join("")}</ul>` : ""
    }${backends.map((b) => this.backend(b, "local")).join("")}${h.blocked !== undefined ? `<small>${esc(h.blocked)}</small>` : ""}</div>`;
  }

  private capacity(h: MapHost): string {
    const row = (
      label: string,
      unit: string,
      others: number,
      mine: number,
      total: number,
      show: (n: number) => string,
    ) => {
      const pct = (n: number) => (total > 0 ? Math.min(100, Math.round((n / total) * 100)) : 0);
      const a = pct(others);
      const b = Math.min(100 - a, pct(mine));
      const title = `${label}: ${show(others)} used by others, ${show(mine)} by this cluster, of ${show(total)}${unit}`;
      return `<span>${label}</span><span class="bar" title="${esc(title)}"><s style="width:${a}%"></s><u style="width:${b}%"></u></span><span>${show(others + mine)}/${show(total)}${unit}</span>`;
    };
    const { capacity: c, others: o, mine: m } = h;
    return `<div class="cap">${row("cpu", "", o.vcpus, m.vcpus, c.vcpus, num)}${row("ram", " GB", o.ramMb, m.ramMb, c.ramMb, gb)}${row("disk", " GB", o.diskGb, m.diskGb, c.diskGb, num)}</div>`;
  }

  private backend(b: MapBackend, kind: "local" | "zonal"): string {
    const used = b.othersGb + b.mineGb;
    const size =
      b.capacityGb > 0
        ? ` <small>${num(used)}/${num(b.capacityGb)} GB${kind === "zonal" ? ", zonal" : ""}</small>`
        : "";
    const vols = [...b.volumes].sort(natural);
    return `<div class="be ${kind}"><h5>⛁ ${esc(b.name)}${size}${marksHtml(b.marks)}</h5>${
      vols.length > 0 ? `<ul class="ms">${vols.map((v) => this.chip(v, "li")).join("")}</ul>` : ""
    }</div>`;
  }

  private link(name: string, text = name, cls = ""): string {
    const id = this.ids.get(name);
    return id ? `<a href="#${id}"${cls ? ` class="${cls}"` : ""}>${esc(text)}</a>` : esc(text);
  }

  /** Grouping i's numbered dot, in its colour (colours repeat past the palette; numbers don't). */
  private dot(i: number): string {
    return `<i class="gt c${i % PALETTE.length}">${i + 1}</i>`;
  }

  /** A member: name, flavor or size, its groupings' numbered dots, its volumes or its server. */
  private chip(name: string, tag: "li" | "span" = "span"): string {
    const m = this.view.members.get(name) as MapMember;
    const groups = m.groupings.map((i) => `g${i}`);
    const cls = ["m", m.type === "server" ? "s" : "v", ...groups, m.soft ? "sv" : ""].filter(Boolean).join(" ");
    const dots = m.groupings.map((i) => this.dot(i)).join("");
    const names = m.groupings.map((i) => (this.view.groupings[i] as MapGrouping).name).join(", ");
    const status =
      m.status !== undefined ? `<em class="st${OK_STATUS.has(m.status) ? "" : " bad"}">${esc(m.status)}</em>` : "";
    const links =
      m.type === "server"
        ? [...m.volumes].sort(natural).map((v) => this.link(v, `⛁ ${v}`))
        : m.attachTo !== undefined
          ? [this.attachment(name, m.attachTo)]
          : [];
    return `<${tag} class="${cls}" id="${this.ids.get(name)}">${m.type === "volume" ? "⛁ " : ""}<b>${esc(name)}</b> <small>${esc(m.detail)}</small>${status}${
      dots ? `<span class="gs" title="${esc(names)}">${dots}</span>` : ""
    }${links.join(" ")}</${tag}>`;
  }

  /** A volume's link to its server, red with the server's host when the two are apart. */
  private attachment(volume: string, server: string): string {
    const vh = this.hostOf.get(volume);
    const sh = this.hostOf.get(server);
    const apart =
      (vh !== undefined && sh !== undefined && vh !== sh) ||
      (this.zoneOf.get(volume) !== undefined && this.zoneOf.get(volume) !== this.zoneOf.get(server));
    return this.link(server, `→ ${server}${apart && sh !== undefined ? ` (on ${sh})` : ""}`, apart ? "far" : "");
  }
}

export function renderMap(view: MapView): string {
  return new Renderer(view).page();
}
