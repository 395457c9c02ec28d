// The placement map in a real browser (Debian's Chromium, headless, driven by playwright-core): at
// 10, 300 and 3,000 hosts, unplaceable, and as `show --html` draws a built cluster. It checks what a
// reader would: the legend, every member visible, groupings marked (and highlighted from the legend),
// soft rules not met marked on their hosts, the causes of an unplaceable cluster on the zones, nothing
// overlapping or sticking out, no console error. Never how fast.
//
// Screenshots are artifacts (test/cli/screenshots/, ignored by git), not references compared pixel by
// pixel: the page uses the machine's fonts and Chromium's antialiasing, which change across machines
// and releases; what they would catch (overlap, overflow, hidden members) is asserted on the layout.
// page.evaluate's callbacks run in the page: the DOM's types.
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "../support/cli";
import { large, type MapCase, medium, small, tooBig, zonesApart } from "./html-maps";

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = path.join(__dirname, "screenshots");
const ROOT = path.resolve(__dirname, "../..");
// Without the background-networking flags Chromium's own connections are refused on CI machines.
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let work: string;
let browser: BrowserContext | undefined;
let page: Page;
let problems: string[] = [];

const MISSING = `${CHROMIUM} is missing: install it with \`apt-get install -y chromium\` (as root)`;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "vcluster-map-"));
  mkdirSync(SHOTS, { recursive: true });
  // Without Chromium each test fails with the install line (open() throws it): none is skipped.
  if (!existsSync(CHROMIUM)) return;
  browser = await chromium.launchPersistentContext(path.join(work, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1400, height: 900 },
  });
  page = await browser.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // A self-contained page asks for nothing: any request but the file itself is a fault.
  page.on("request", (r) => {
    if (!r.url().startsWith("file://")) problems.push(`request: ${r.url()}`);
  });
});

afterAll(async () => {
  await browser?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function open(name: string, html: string): Promise<void> {
  if (!browser) throw new Error(MISSING);
  problems = [];
  const file = path.join(work, `${name}.html`);
  writeFileSync(file, html);
  await page.goto(`file://${file}`);
}

async function shoot(name: string, fullPage = false): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

/** What the layout checks read: boxes of the parts a reader looks at. */
async function layout() {
  return page.evaluate(() => {
    const box = (e: Element) => {
      const r = e.getBoundingClientRect();
      return { x: r.x, y: r.y + window.scrollY, w: r.width, h: r.height };
    };
    const chips = [...document.querySelectorAll(".zones .m, .causes .m")].map((e) => ({
      name: e.querySelector("b")?.textContent ?? "",
      classes: e.className,
      ...box(e),
    }));
    const cards = [...document.querySelectorAll(".hosts")].map((grid) => [...grid.children].map(box));
    const overflowing = [...document.querySelectorAll(".zone, .rack, .host, .m")]
      .filter((e) => e.scrollWidth > e.clientWidth + 1)
      .map((e) => `${e.className}: ${e.querySelector("h2,h3,h4,b")?.textContent}`);
    return {
      legend: document.querySelector("#legend") ? box(document.querySelector("#legend") as Element) : undefined,
      chips,
      cards,
      overflowing,
      pageWidth: document.documentElement.scrollWidth,
      viewWidth: window.innerWidth,
      hosts: [...document.querySelectorAll(".zones h4")].map((h) => h.firstChild?.textContent ?? ""),
      softHosts: [...document.querySelectorAll(".host")]
        .filter((h) => h.querySelector(".mk.soft"))
        .map((h) => h.querySelector("h4")?.firstChild?.textContent ?? ""),
    };
  });
}

const overlaps = (a: { x: number; y: number; w: number; h: number }, b: typeof a) =>
  a.x < b.x + b.w - 0.5 && b.x < a.x + a.w - 0.5 && a.y < b.y + b.h - 0.5 && b.y < a.y + a.h - 0.5;

/** The checks every map of a placed cluster passes. */
async function checkPlaced(c: MapCase, shot: string) {
  await open(shot, c.html);
  const l = await layout();
  expect(l.legend, "the legend").toBeDefined();
  expect(l.legend?.y ?? 1e9, "the legend on the first screen").toBeLessThan(900);
  // Every member drawn once, visible (not in a closed <details>), not overlapping its neighbours.
  expect(l.chips.map((m) => m.name).sort()).toEqual(c.spec.members.map((m) => m.name).sort());
  for (const m of l.chips) expect(m.w * m.h, m.name).toBeGreaterThan(0);
  for (const grid of l.cards) {
    for (let i = 0; i < grid.length; i++) {
      for (let j = i + 1; j < grid.length; j++) expect(overlaps(grid[i] as never, grid[j] as never)).toBe(false);
    }
  }
  expect(l.overflowing, "boxes whose content sticks out").toEqual([]);
  expect(l.pageWidth, "no horizontal scrolling").toBeLessThanOrEqual(l.viewWidth);
  // Groupings: each member carries the class of every grouping it is in (the dots and the highlight).
  const drawn = c.spec.groupings.filter((g) => g.implied !== true);
  drawn.forEach((g, i) => {
    for (const name of g.members) {
      expect(l.chips.find((m) => m.name === name)?.classes.split(" "), `${name} in ${g.name}`).toContain(`g${i}`);
    }
  });
  // A soft rule not met is marked on the host of each of its members.
  if (c.result.placed) {
    const placement = c.result.placement;
    for (const v of c.result.softViolations) {
      for (const m of v.members) {
        const host = placement[m]?.host;
        if (host !== undefined) expect(l.softHosts, `soft "${v.grouping}" on ${host}`).toContain(host);
      }
    }
  }
  await shoot(shot);
  expect(problems).toEqual([]);
  return l;
}

describe("the map of a placed cluster, in Chromium", () => {
  it("10 hosts: hosts in natural order, a grouping highlighted from the legend, empty hosts opened", async () => {
    const c = small();
    const l = await checkPlaced(c, "placed-10-hosts");
    expect(l.hosts).toEqual(["h3", "h10", "h9", "h6", "h7"].filter((h) => l.hosts.includes(h)));
    expect(l.softHosts.length).toBeGreaterThan(0);
    await shoot("placed-10-hosts-full", true);

    // Ticking "web-apart" in the legend outlines its members and fades the others.
    await page.click("label:has(#hl0)");
    const styles = await page.evaluate(() =>
      [...document.querySelectorAll(".zones .m")].map((e) => ({
        name: e.querySelector("b")?.textContent,
        opacity: getComputedStyle(e).opacity,
        shadow: getComputedStyle(e).boxShadow,
      })),
    );
    for (const s of styles) {
      const member = ["web-1", "web-2", "web-3"].includes(s.name as string);
      expect(s.opacity, s.name as string).toBe(member ? "1" : "0.3");
      if (member) expect(s.shadow).not.toBe("none");
    }
    await shoot("placed-10-hosts-highlight");
    await page.click("label:has(#hl0)");

    // A collapsed count opens to the hosts it stands for.
    const summary = page.locator(".zones details.empty > summary").first();
    const tile = page.locator(".zones details.empty .tiles > b").first();
    expect(await tile.isVisible()).toBe(false);
    await summary.click();
    expect(await tile.isVisible()).toBe(true);
    expect(problems).toEqual([]);
  });

  it("300 hosts", async () => {
    const c = medium();
    expect(c.topology.hosts).toHaveLength(300);
    await checkPlaced(c, "placed-300-hosts");
  });

  it("3,000 hosts: every member findable, the hosts without members collapsed into counts", async () => {
    const c = large();
    expect(c.topology.hosts).toHaveLength(3000);
    const l = await checkPlaced(c, "placed-3000-hosts");
    const tiles = await page.locator(".zones details.empty .tiles > b").count();
    expect(tiles + l.hosts.length).toBe(3000);
    expect(await page.locator(".zones details.empty[open]").count()).toBe(0);
  });
});

describe("the map of an unplaceable cluster, in Chromium", () => {
  it("puts each cause on the zones it blocks", async () => {
    const c = zonesApart();
    await open("unplaceable-zones", c.html);
    expect(await page.locator(".causes li").count()).toBe(1);
    const zones = await page.locator(".zone > h2").allInnerTexts();
    expect(zones).toHaveLength(2);
    for (const z of zones) expect(z).toContain('cause 1: ≤ 1 of "apart"');
    await shoot("unplaceable-zones");
    expect(problems).toEqual([]);
  });

  it("3,000 hosts: the hosts without room hatched, counted on each zone", async () => {
    const c = tooBig();
    await open("unplaceable-3000-hosts", c.html);
    const zones = await page.locator(".zone > h2").allInnerTexts();
    expect(zones).toHaveLength(5);
    for (const z of zones) expect(z).toMatch(/cause 2: 600 of 600 hosts without room/);
    await page.locator(".zones details.empty > summary").first().click();
    const hatched = page.locator(".zones details.empty[open] .tiles > b.nf").first();
    expect(await hatched.isVisible()).toBe(true);
    expect(await hatched.getAttribute("title")).toContain("no room for x1.huge");
    await shoot("unplaceable-3000-hosts");
    expect(problems).toEqual([]);
  });
});

describe("show --html, in Chromium", () => {
  it("draws a built cluster with each member's status where the cloud has it", async () => {
    const dir = mkdtempSync(path.join(work, "show-"));
    const spec = path.join(ROOT, "test/fixtures/specs/three-tier.yaml");
    expect((await cli(["apply", spec], dir)).code).toBe(0);
    const file = path.join(dir, "shop.html");
    const r = await cli(["show", "shop", "--html", file], dir);
    expect(r.code, r.stderr).toBe(0);
    await open("show-three-tier", readFileSync(file, "utf8"));
    const l = await layout();
    expect(l.chips).toHaveLength(11);
    for (const m of l.chips) expect(m.w * m.h, m.name).toBeGreaterThan(0);
    expect(l.overflowing).toEqual([]);
    const statuses = await page.locator(".zones .m .st").allInnerTexts();
    expect(statuses.sort()).toEqual([...Array(8).fill("ACTIVE"), ...Array(3).fill("in-use")]);
    await shoot("show-three-tier");
    expect(problems).toEqual([]);
  });
});
