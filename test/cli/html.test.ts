// The placement map as HTML text: what it draws for a plan, an unplaceable cluster and a built
// cluster (`plan --html`, `show --html`). How it looks in a browser: html-map.browser.ts.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "../support/cli";
import { large, small, tooBig, zonesApart } from "./html-maps";

const ROOT = path.resolve(__dirname, "../..");
const SPECS = path.join(ROOT, "test/fixtures/specs");

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "vcluster-html-"));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** The text of the page with tags dropped, in document order. */
const text = (html: string) => html.replace(/<style>[\s\S]*?<\/style>/, "").replace(/<[^>]+>/g, " ");

describe("a placed cluster's map", () => {
  const map = small();

  it("is one self-contained page: no script, nothing fetched", () => {
    expect(map.html).toMatch(/^<!doctype html>/);
    expect(map.html).not.toMatch(/<script|<link|<img|src=|url\(|@import/i);
  });

  it("has a legend naming every grouping with its rule", () => {
    expect(map.html).toContain('id="legend"');
    expect(text(map.html)).toMatch(/web-apart\s+apart: at most 1 per host · hard · 3 members/);
    expect(text(map.html)).toMatch(/app-cache\s+together in one host · soft, cost 30/);
    // Implied groupings (attachTo) are the volume's link instead.
    expect(map.html).not.toContain("db-1-local");
  });

  it("sorts zones, racks and hosts naturally: h2 before h10, r2 before r10", () => {
    const t = text(map.html.slice(map.html.indexOf("<main")));
    const at = (s: string) => t.search(new RegExp(`\\b${s}\\b`));
    expect(at("rack r2")).toBeLessThan(at("rack r10"));
    expect(at("h3")).toBeLessThan(at("h10"));
    expect(at("zone az1")).toBeLessThan(at("zone az2"));
  });

  it("marks the soft rule not met on the hosts of its members, and links volumes to their servers", () => {
    if (!map.result.placed) throw new Error("the 10-host case must place");
    const violation = map.result.softViolations.find((v) => v.grouping === "app-cache");
    expect(violation).toBeDefined();
    const hostOf = (m: string) => map.result.placed && map.result.placement[m]?.host;
    for (const m of ["app-1", "cache-1"]) {
      const card = new RegExp(`<h4>${hostOf(m)}<span class="mk soft"[^>]*>soft: app-cache</span>`);
      expect(map.html).toMatch(card);
    }
    // db-1-data is linked to db-1's chip, and db-1 to it.
    const id = (name: string) => (map.html.match(new RegExp(`id="(m\\d+)">(?:⛁ )?<b>${name}</b>`)) ?? [])[1];
    expect(map.html).toMatch(new RegExp(`<a href="#${id("db-1")}">→ db-1</a>`));
    expect(map.html).toContain(`<a href="#${id("db-1-data")}">⛁ db-1-data</a>`);
  });

  it("collapses the hosts without members into a count", () => {
    expect(text(map.html)).toMatch(/1 empty host/);
    expect(map.html).toMatch(/<details class="empty"><summary>1 rack without members \(2 hosts\)<\/summary>/);
  });

  it("escapes the user's names", () => {
    expect(map.html).toContain("shop &lt;&amp;&gt;");
    expect(map.html).not.toContain("shop <&>");
  });
});

describe("at 3,000 hosts", () => {
  it("every member is on the page once, and the file stays under 1 MB", () => {
    const map = large();
    expect(map.topology.hosts).toHaveLength(3000);
    const shown = new Map<string, number>();
    for (const [, name] of map.html.matchAll(/<b>([^<]*)<\/b>/g))
      shown.set(name as string, (shown.get(name as string) ?? 0) + 1);
    for (const m of map.spec.members) expect(shown.get(m.name), m.name).toBe(1);
    // Every host is findable: the ones without members as tiles.
    for (const h of map.topology.hosts) expect(map.html).toContain(`>${h.name}<`);
    expect(Buffer.byteLength(map.html)).toBeLessThan(1_000_000);
  });
});

describe("an unplaceable cluster's map", () => {
  it("puts the cause on every zone when a grouping needs more zones than there are", () => {
    const map = zonesApart();
    expect(map.result.placed).toBe(false);
    expect(text(map.html)).toContain("Why it can't be placed");
    expect(map.html).toContain("anti_affinity_domains");
    expect(map.html.match(/<h2>zone az\d[\s\S]*?<\/h2>/g)?.every((h) => h.includes("cause 1: ≤ 1 of"))).toBe(true);
  });

  it("hatches the hosts without room, and counts them on each zone", () => {
    const map = tooBig();
    expect(map.result.placed).toBe(false);
    expect(map.html).toMatch(/cause 2: 600 of 600 hosts without room/);
    expect(map.html.match(/<b class="u\d nf"/g)).toHaveLength(3000);
    expect(Buffer.byteLength(map.html)).toBeLessThan(600_000);
  });
});

describe("the command", () => {
  it("plan --html also writes a map for an unplaceable cluster (exit 2)", async () => {
    const file = path.join(work, "wide.html");
    const topology = path.join(ROOT, "test/fixtures/topologies/small.json");
    const r = await cli(
      ["plan", path.join(SPECS, "four-zones-apart.json"), "--topology", topology, "--html", file],
      work,
    );
    expect(r.code).toBe(2);
    const page = readFileSync(file, "utf8");
    expect(page).toContain("Why it can't be placed");
    expect(page).toContain("cause 1: ≤ 1 of &quot;apart&quot;");
  });

  it("show --html draws the built cluster where the cloud has it, with status and groupings", async () => {
    const dir = mkdtempSync(path.join(work, "show-"));
    expect((await cli(["apply", path.join(SPECS, "three-tier.yaml")], dir)).code).toBe(0);
    const file = path.join(dir, "shop.html");
    const r = await cli(["show", "shop", "--html", file], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("db-vol-1");
    const page = readFileSync(file, "utf8");
    const state = JSON.parse((await cli(["show", "shop", "--json"], dir)).stdout) as {
      members: Record<string, { host?: string; status: string }>;
    };
    for (const [name, m] of Object.entries(state.members)) {
      expect(page).toMatch(new RegExp(`<b>${name}</b> <small>[^<]*</small><em class="st">${m.status}</em>`));
    }
    // Each server on the host the cloud reports, in a card of that host.
    const db1Host = state.members["db-1"]?.host as string;
    expect(page).toMatch(new RegExp(`<h4>${db1Host}</h4>(?:(?!<h4>)[^])*<b>db-1</b>`));
    expect(page).toContain("db-spread");
    expect(page).toMatch(/<a href="#m\d+">→ db-1<\/a>/);
  });

  it("show --html to a directory that doesn't exist fails in one line (exit 3)", async () => {
    const dir = mkdtempSync(path.join(work, "show-bad-"));
    expect((await cli(["apply", path.join(SPECS, "three-tier.yaml")], dir)).code).toBe(0);
    const r = await cli(["show", "shop", "--html", path.join(dir, "no/such/dir/map.html")], dir);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^openstack-vcluster: can't write .*: ENOENT$/);
  });
});
