// The status line `apply` and `destroy` draw on a terminal: one line, redrawn in place, saying what
// the run does (members done/total), what it waits on, and for how long; log lines print above it,
// and it is gone when the command ends. Drawn on stderr, as cargo, docker and npm do: stdout keeps
// only the result (the member table), so `apply … > out.txt` stays clean while the user still sees
// progress. Anywhere else (not a terminal, --json, TERM=dumb, NO_COLOR) nothing changes: the plain
// log lines, as the Pulumi engine shows them too.
//
// Hand-written (carriage return and erase-line): the one library that fits, log-update, is ESM-only
// and redraws whole frames for many lines; a single line needs neither.
import type { ProgressEvent } from "../lifecycle";
import { formatElapsed } from "../lifecycle/wait";
import type { Io, Terminal } from "./io";

/** Back to the line's start and erase it. */
const CLEAR = "\r\x1b[2K";
/** The elapsed time moves even while nothing else does. */
const TICK_MS = 1000;
/** A run of many members sends events by the thousand: at most this often a redraw. */
const MIN_REDRAW_MS = 100;
/** Nothing drawn before: a command that ends sooner (a refusal, a cluster with nothing to do) never flashes a line. */
const FIRST_DRAW_MS = 300;

/** Whether a status line is wanted: a terminal on stderr that can take it, and output for a person. */
export function wantsStatusLine(terminal: Terminal | undefined, env: NodeJS.ProcessEnv, asJson: boolean): boolean {
  if (asJson || terminal?.isTTY !== true) return false;
  if (env.TERM === "dumb") return false;
  // no-color.org: set and not empty. A redrawn line is styling as much as colour is.
  return env.NO_COLOR === undefined || env.NO_COLOR === "";
}

const PHASE_WORDS: Record<ProgressEvent["phase"], string> = {
  preparing: "reading the cloud",
  detaching: "detaching volumes",
  deleting: "deleting",
  updating: "updating",
  creating: "creating",
  attaching: "attaching volumes",
  verifying: "verifying",
};

/**
 * The line for `event` after `elapsedMs`, at most `width` characters: `apply: creating 4/7 members,
 * 12 s; waiting on server "db-1", volume "db-1-data" and 2 more`. The names are what gets cut.
 * ASCII only: its length is its width on any terminal.
 */
export function statusText(title: string, event: ProgressEvent | undefined, elapsedMs: number, width: number): string {
  const phase = event ? PHASE_WORDS[event.phase] : PHASE_WORDS.preparing;
  const counted = event && event.total > 0 ? ` ${event.done}/${event.total} members` : "";
  const head = `${title}: ${phase}${counted}, ${formatElapsed(elapsedMs)}`;
  if (head.length > width) return cut(head, width);
  const names = event?.waitingOn ?? [];
  const all = Math.max(event?.waiting ?? 0, names.length);
  if (all === 0) return head;
  let line = `${head}; waiting on`;
  for (let i = 0; i < names.length; i++) {
    const name = `${i === 0 ? " " : ", "}${names[i]}`;
    const rest = all - i - 1;
    const more = rest > 0 ? ` and ${rest} more` : "";
    if ((line + name + more).length > width) return fewer(head, line, i, all, width);
    line += name;
  }
  return names.length < all ? fewer(head, line, names.length, all, width) : line;
}

/** `line` (the first `named` names) and how many more; none named: how many in all. */
function fewer(head: string, line: string, named: number, all: number, width: number): string {
  const left = named === 0 ? `${line} ${all}` : `${line} and ${all - named} more`;
  return left.length <= width ? left : head;
}

function cut(text: string, width: number): string {
  if (width <= 0) return "";
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 3))}...`.slice(0, width);
}

/** One status line on `terminal`; everything else written to it goes through `above`. */
export class StatusLine {
  private event: ProgressEvent | undefined;
  private shown = "";
  private readonly started = Date.now();
  private nextDraw = this.started + FIRST_DRAW_MS;
  private pending: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly terminal: Terminal,
    private readonly title: string,
  ) {}

  /** Starts the clock; the line first shows at the first event or tick after FIRST_DRAW_MS. */
  start(): void {
    this.ticker = setInterval(() => this.draw(), TICK_MS);
    this.ticker.unref();
  }

  update(event: ProgressEvent): void {
    this.event = event;
    if (this.stopped) return;
    const wait = this.nextDraw - Date.now();
    if (wait <= 0) this.draw();
    else if (this.pending === undefined) {
      this.pending = setTimeout(() => this.draw(), wait);
      this.pending.unref();
    }
  }

  /** Writes something (a log line, the result) with the line out of its way, then puts it back. */
  above(write: () => void): void {
    const had = this.shown !== "";
    this.clear();
    write();
    if (had) this.draw();
  }

  /** Clears the line for good. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.ticker);
    clearTimeout(this.pending);
    this.clear();
  }

  private draw(): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    const now = Date.now();
    this.nextDraw = now + MIN_REDRAW_MS;
    // One column short of the width: a line that fills it wraps on some terminals, and \r then
    // returns to the second row only. A pseudo-terminal nobody sized says 0 columns.
    const width = Math.max(0, (this.terminal.columns || 80) - 1);
    const text = statusText(this.title, this.event, now - this.started, width);
    if (text === this.shown) return;
    this.terminal.write(`${CLEAR}${text}`);
    this.shown = text;
  }

  private clear(): void {
    if (this.shown === "") return;
    this.terminal.write(CLEAR);
    this.shown = "";
  }
}

/**
 * Runs a command with a status line when `io.terminal` wants one (wantsStatusLine): the command gets
 * an Io whose output goes above the line and whose `progress` draws on it. Otherwise the Io as it
 * is: plain lines, as without a terminal.
 */
export async function withStatusLine<T>(
  io: Io,
  title: string,
  asJson: boolean,
  command: (io: Io) => Promise<T>,
): Promise<T> {
  const { terminal, ...rest } = io;
  if (terminal === undefined || !wantsStatusLine(terminal, io.env, asJson)) return command(io);
  const line = new StatusLine(terminal, title);
  line.start();
  try {
    return await command({
      ...rest,
      out: (text) => line.above(() => io.out(text)),
      err: (text) => line.above(() => io.err(text)),
      progress: (event) => line.update(event),
    });
  } finally {
    line.stop();
  }
}
