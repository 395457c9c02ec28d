// The status line of `apply` and `destroy` on a terminal: the text (what fits the width), the
// drawing (in place, log lines above it, gone at the end) on a fake terminal, when it is drawn at
// all, and the built command under a real pseudo-terminal (util-linux `script`): the line shows
// while members are created, and what stays on the screen is exactly the plain output.
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { StatusLine, statusText, wantsStatusLine, withStatusLine } from "../../provider/cli/progress-display";
import type { ProgressEvent } from "../../provider/lifecycle";
import { shellWord } from "../../provider/model/text";
import { ensureBuilt, REPO } from "../support/build";
import { BIN, baseEnv, spawned } from "../support/cli";
import { FakeTerminal, screenOf } from "./terminal-screen";

const event = (over: Partial<ProgressEvent> = {}): ProgressEvent => ({
  phase: "creating",
  done: 4,
  total: 7,
  waitingOn: [],
  waiting: over.waitingOn?.length ?? 0,
  ...over,
});
const FIVE = ['server "db-1"', 'server "db-2"', 'volume "db-1-data"', 'server "app-1"', 'server "app-2"'];

describe("the status text", () => {
  it("says the phase, members done of all, and the time so far", () => {
    expect(statusText("apply", undefined, 0, 100)).toBe("apply: reading the cloud, 0 s");
    expect(statusText("apply", event(), 12_400, 100)).toBe("apply: creating 4/7 members, 12 s");
    expect(statusText("destroy", event({ phase: "verifying", total: 0, done: 0 }), 65_000, 100)).toBe(
      "destroy: verifying, 1 min 5 s",
    );
  });

  it("names what it waits on, as many as fit, and counts the rest", () => {
    const e = event({ waitingOn: FIVE });
    expect(statusText("apply", e, 3000, 200)).toBe(
      'apply: creating 4/7 members, 3 s; waiting on server "db-1", server "db-2", volume "db-1-data", server "app-1", server "app-2"',
    );
    expect(statusText("apply", e, 3000, 80)).toBe(
      'apply: creating 4/7 members, 3 s; waiting on server "db-1" and 4 more',
    );
    // Not even one name fits: how many.
    expect(statusText("apply", e, 3000, 50)).toBe("apply: creating 4/7 members, 3 s; waiting on 5");
    // Not even the head: cut.
    expect(statusText("apply", e, 3000, 20)).toBe("apply: creating 4...");
    // The lifecycle names the longest waits only; the count is of all of them.
    expect(statusText("apply", event({ waitingOn: FIVE.slice(0, 2), waiting: 40 }), 3000, 200)).toBe(
      'apply: creating 4/7 members, 3 s; waiting on server "db-1", server "db-2" and 38 more',
    );
  });

  it("never exceeds the width, whatever it is", () => {
    for (const e of [event({ waitingOn: FIVE }), event({ waitingOn: FIVE, waiting: 3000 })]) {
      for (let width = 0; width <= 140; width++) {
        expect(statusText("apply", e, 3000, width).length).toBeLessThanOrEqual(width);
      }
    }
  });
});

describe("when a status line is drawn", () => {
  const tty = new FakeTerminal();
  it.each([
    ["a terminal", tty, {}, false, true],
    ["not a terminal", { isTTY: false, write: () => true }, {}, false, false],
    ["no stream", undefined, {}, false, false],
    ["--json", tty, {}, true, false],
    ["TERM=dumb", tty, { TERM: "dumb" }, false, false],
    ["NO_COLOR=1", tty, { NO_COLOR: "1" }, false, false],
    ["NO_COLOR empty (unset, by no-color.org)", tty, { NO_COLOR: "" }, false, true],
  ] as const)("%s", (_what, terminal, env, json, wanted) => {
    expect(wantsStatusLine(terminal, env, json)).toBe(wanted);
  });
});

describe("drawing on a terminal", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("shows nothing at first, then one line redrawn in place; log lines go above it; stop clears it", () => {
    vi.useFakeTimers();
    const term = new FakeTerminal(60);
    const line = new StatusLine(term, "apply");
    line.start();
    line.update(event({ done: 0, waitingOn: ['server "db-1"'] }));
    // A quick command never flashes a line.
    expect(term.output).toBe("");
    vi.advanceTimersByTime(300);
    expect(term.screen).toEqual(['apply: creating 0/7 members, 0 s; waiting on server "db-1"']);
    line.above(() => term.write('cluster "demo": created 2/7 members\n'));
    line.update(event({ done: 2, waitingOn: [] }));
    vi.advanceTimersByTime(100);
    expect(term.screen).toEqual(['cluster "demo": created 2/7 members', "apply: creating 2/7 members, 0 s"]);
    // The clock moves on its own.
    vi.advanceTimersByTime(1600);
    expect(term.screen.at(-1)).toBe("apply: creating 2/7 members, 2 s");
    line.stop();
    expect(term.screen).toEqual(['cluster "demo": created 2/7 members']);
    expect(term.output.endsWith("\r\x1b[2K")).toBe(true);
    // Nothing after the end.
    const written = term.writes.length;
    line.update(event({ done: 7 }));
    vi.advanceTimersByTime(5000);
    expect(term.writes.length).toBe(written);
  });

  it("redraws at most every 100 ms however many events come, and fits the terminal's width", () => {
    vi.useFakeTimers();
    const term = new FakeTerminal(40);
    const line = new StatusLine(term, "apply");
    line.start();
    vi.advanceTimersByTime(300);
    for (let i = 0; i < 1000; i++) {
      line.update(event({ done: i % 7, waitingOn: FIVE.slice(0, (i % 5) + 1) }));
      if (i % 100 === 0) vi.advanceTimersByTime(10);
    }
    vi.advanceTimersByTime(100);
    const draws = term.writes.filter((w) => w.length > "\r\x1b[2K".length);
    expect(draws.length).toBeLessThanOrEqual(3);
    for (const d of draws) expect(d.length - "\r\x1b[2K".length).toBeLessThanOrEqual(39);
    line.stop();
  });

  it("withStatusLine hands the command an Io that writes above the line and draws its progress", async () => {
    vi.useFakeTimers();
    const term = new FakeTerminal(80);
    const plain = {
      out: (t: string) => term.write(`${t}\n`),
      err: (t: string) => term.write(`${t}\n`),
      cwd: "/",
      env: {},
      terminal: term,
    };
    const code = await withStatusLine(plain, "apply", false, async (io) => {
      expect(io.terminal).toBeUndefined();
      io.err("a log line");
      io.progress?.(event({ done: 1 }));
      vi.advanceTimersByTime(400);
      expect(term.screen).toEqual(["a log line", "apply: creating 1/7 members, 0 s"]);
      io.out("the result");
      return 0;
    });
    expect(code).toBe(0);
    expect(term.screen).toEqual(["a log line", "the result"]);
    // Not a terminal: the Io as it is, no progress listener.
    await withStatusLine({ ...plain, terminal: { isTTY: false, write: () => true } }, "apply", false, async (io) => {
      expect(io.progress).toBeUndefined();
      expect(io.out).toBe(plain.out);
    });
  });
});

// ---- the built command under a pseudo-terminal ----

const SPEC = path.join(REPO, "examples/demo/cluster.yaml");
/** Builds (and deletes) take 800 ms longer: long enough for the line to show, whatever the machine. */
const SLOW = {
  OPENSTACK_VCLUSTER_SIM_FAULTS: JSON.stringify([
    { kind: "slow", op: "createServer", ms: 800, times: 5 },
    { kind: "slow", op: "deleteServer", ms: 800, times: 5 },
  ]),
};
let work: string;

beforeAll(async () => {
  await ensureBuilt();
  work = mkdtempSync(path.join(tmpdir(), "vcluster-progress-"));
}, 180_000);
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function project(): string {
  const dir = mkdtempSync(path.join(work, "p-"));
  copyFileSync(SPEC, path.join(dir, "cluster.yaml"));
  return dir;
}

/**
 * The command on a pseudo-terminal 100 columns wide (util-linux `script`): what the terminal got,
 * stdout and stderr together. No `script` here fails the test: it must not pass unseen.
 */
async function onTerminal(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const command = `stty cols 100 rows 40; ${[process.execPath, BIN, ...args].map(shellWord).join(" ")}`;
  const { stdout } = await promisify(execFile)("script", ["-q", "-e", "-c", command, "/dev/null"], {
    cwd,
    env: baseEnv({ TERM: "xterm", ...env }),
  });
  return stdout;
}

/** Ids and the temp dir vary from run to run. */
function normalized(lines: string[], dir: string): string[] {
  return lines.map((l) =>
    l
      .replaceAll(dir, "<dir>")
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<id>")
      .replace(/group [0-9a-f]{8}/g, "group <id>"),
  );
}

/** The status lines of `command` drawn (each after an erase-line; log lines follow one too). */
function drawn(raw: string, command: string): string[] {
  return raw
    .split("\x1b[2K")
    .slice(1)
    .map((drawing) => drawing.split(/[\r\n]/)[0] as string)
    .filter((l) => l.startsWith(`${command}: `));
}

describe("apply and destroy on a pseudo-terminal", { timeout: 60_000 }, () => {
  it("draw a status line while they work and leave exactly the plain output on the screen", async () => {
    const tty = project();
    const applied = await onTerminal(["apply", "cluster.yaml"], tty, SLOW);
    const lines = drawn(applied, "apply");
    expect(lines.some((l) => /^apply: creating \d\/7 members, \d+ s; waiting on server "/.test(l))).toBe(true);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(99);

    // The same apply with plain output (pipes): the screen above shows exactly it.
    const piped = project();
    const plain = await spawned(["apply", "cluster.yaml"], piped, SLOW);
    expect(plain.code).toBe(0);
    expect(plain.stderr + plain.stdout).not.toContain("\x1b");
    const expected = normalized(screenOf(plain.stderr + plain.stdout), piped);
    expect(normalized(screenOf(applied.replaceAll("\r\n", "\n")), tty)).toEqual(expected);
    expect(expected).toContain('cluster "demo": created 7/7 members');

    const destroyed = await onTerminal(["destroy", "cluster.yaml"], tty, SLOW);
    expect(
      drawn(destroyed, "destroy").some((l) => /^destroy: deleting \d\/7 members, \d+ s; waiting on /.test(l)),
    ).toBe(true);
    expect(screenOf(destroyed.replaceAll("\r\n", "\n")).slice(-2)).toEqual([
      'cluster "demo": destroyed',
      `cluster "demo" destroyed: nothing of it is left on simulated cloud in "${tty}/.openstack-vcluster/sim" (admin view).`,
    ]);
  });

  it.each([{ NO_COLOR: "1" }, { TERM: "dumb" }])("draw nothing with %o: plain lines, as today", async (env) => {
    const dir = project();
    const applied = await onTerminal(["apply", "cluster.yaml"], dir, { ...SLOW, ...env });
    expect(applied).not.toContain("\x1b");
    expect(applied).toContain('cluster "demo": created 7/7 members\r\n');
  });

  it("draw nothing with --json: the cluster's state as JSON after the log lines", async () => {
    const dir = project();
    const applied = (await onTerminal(["apply", "cluster.yaml", "--json"], dir, SLOW)).replaceAll("\r\n", "\n");
    expect(applied).not.toContain("\x1b");
    const state = JSON.parse(applied.slice(applied.indexOf("\n{\n"))) as { clusterName: string };
    expect(state.clusterName).toBe("demo");
  });
});
