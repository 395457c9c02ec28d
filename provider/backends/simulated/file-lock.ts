// A lock between processes on one path: a small JSON file naming its holder (pid, host, since
// when, doing what), created atomically (written to a temp file, then hard-linked into place, which
// fails if the lock exists), removed on release. Because the holder is named:
// - a run that waits can say whom it waits for;
// - a lock left by a process that died (killed, crashed) is taken over at once when the holder
//   ran on this machine and its pid is gone, or, from another machine sharing the disk, once the
//   holder stopped refreshing the file's mtime (every staleMs / 3) for staleMs;
// - a takeover is exact: breakers take a short "breaking" mutex and delete the lock only if it
//   still names the dead holder (a live one can't replace an existing file, so nothing slips in
//   between the check and the delete).
// Within one process, callers queue on the path first, so only one of them polls the file.
// Not re-entrant: taking a lock the same process already holds waits forever.
import { createHash, randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface LockHolder {
  pid: number;
  host: string;
  /** When it took the lock (ms since the epoch). */
  since: number;
  /** What it is doing, for whoever waits ("apply", "destroy", "pulumi up", "cloud call"). */
  purpose: string;
  token: string;
}

export interface FileLockOptions {
  purpose?: string;
  /** Called once, when this caller starts waiting for a live holder. */
  onWait?: (holder: LockHolder) => void;
  /** Called when the lock of a holder that is gone was taken over. */
  onTakeover?: (holder: LockHolder) => void;
  /** Give up after this long (LockTimeoutError). Default: wait as long as the holder lives. */
  timeoutMs?: number;
  /** A holder whose mtime is older than this is gone unless it provably lives on this machine. Default 30 s. */
  staleMs?: number;
}

export class LockTimeoutError extends Error {
  readonly holder: LockHolder;
  constructor(file: string, holder: LockHolder) {
    super(`${file} is still held by pid ${holder.pid} (${holder.purpose}) since ${formatSince(holder.since)}`);
    this.name = "LockTimeoutError";
    this.holder = holder;
  }
}

export type Release = () => Promise<void>;

const HOST = os.hostname();
/** Temp files carry a hash of the host, so only this machine's dead processes' files are swept. */
const HOST_TAG = createHash("sha256").update(HOST).digest("hex").slice(0, 8);
const TEMP_SUFFIX = ".tmp";
const BREAKER_STALE_MS = 5_000;
const MAX_POLL_MS = 100;

/**
 * Tokens of the locks this process holds now, and per path the tail of its queue. Kept on
 * globalThis so two copies of this module in one process (source and dist) still agree.
 */
type Shared = { held: Set<string>; queues: Map<string, Promise<void>>; swept?: Set<string> };
const SHARED_KEY = Symbol.for("openstack-vcluster.file-lock");
const registry = globalThis as unknown as Record<symbol, Shared | undefined>;
const shared: Shared = registry[SHARED_KEY] ?? { held: new Set<string>(), queues: new Map<string, Promise<void>>() };
registry[SHARED_KEY] = shared;
const held = shared.held;
const queues = shared.queues;
/** Lock files whose dead processes' temp files this process has swept. */
shared.swept ??= new Set<string>();
const swept = shared.swept;

export function formatSince(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
}

/** Whether a process with this pid exists on this machine. */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the lock at `file` (its directory is created); resolves to the function that releases it. */
export async function acquireFileLock(file: string, options: FileLockOptions = {}): Promise<Release> {
  const previous = queues.get(file) ?? Promise.resolve();
  let leaveQueue = (): void => {};
  const turn = new Promise<void>((resolve) => {
    leaveQueue = resolve;
  });
  const tail = previous.then(() => turn);
  queues.set(file, tail);
  const done = (): void => {
    leaveQueue();
    if (queues.get(file) === tail) queues.delete(file);
  };
  await previous;
  let token: string;
  try {
    token = await acquireOnDisk(file, options);
  } catch (e) {
    done();
    throw e;
  }
  held.add(token);
  const staleMs = options.staleMs ?? 30_000;
  const heartbeat = setInterval(
    () => {
      const now = new Date();
      fs.utimes(file, now, now).catch(() => {
        // Gone: taken over after a stall. Nothing to refresh.
      });
    },
    Math.max(10, Math.floor(staleMs / 3)),
  );
  heartbeat.unref();
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    clearInterval(heartbeat);
    try {
      // Ours unless a stall let another process take it over: then it is theirs to release.
      const text = await fs.readFile(file, "utf8").catch(() => "");
      if (text.includes(`"token":"${token}"`)) await fs.rm(file, { force: true });
    } finally {
      held.delete(token);
      done();
    }
  };
}

async function acquireOnDisk(file: string, options: FileLockOptions): Promise<string> {
  const token = randomBytes(8).toString("hex");
  const record: LockHolder = {
    pid: process.pid,
    host: HOST,
    since: Date.now(),
    purpose: options.purpose ?? "a change",
    token,
  };
  const tmp = `${file}.${HOST_TAG}.${process.pid}.${randomBytes(4).toString("hex")}${TEMP_SUFFIX}`;
  try {
    await fs.writeFile(tmp, JSON.stringify(record));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(tmp, JSON.stringify(record));
  }
  const start = Date.now();
  const staleMs = options.staleMs ?? 30_000;
  let waitingFor: string | undefined;
  let delay = 1;
  try {
    for (;;) {
      if (Date.now() - record.since > 1000) {
        // Others read "since" as when the lock was taken, not when this caller began to wait.
        record.since = Date.now();
        await fs.writeFile(tmp, JSON.stringify(record));
      }
      try {
        await fs.link(tmp, file);
        // A process killed while waiting (or between calls) held no lock, so no takeover swept its
        // temp file: the first lock this process takes here sweeps every dead process's.
        if (!swept.has(file)) {
          swept.add(file);
          await sweepTemps(file);
        }
        return token;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const seen = await readHolder(file);
      if (!seen) continue; // released meanwhile: try again at once
      const holder = seen.holder ?? unknownHolder(seen.mtimeMs);
      if (isGone(holder, seen.mtimeMs, staleMs)) {
        if (await breakLock(file, seen)) {
          await sweepTemps(file);
          options.onTakeover?.(holder);
          continue;
        }
      } else if (waitingFor !== holder.token) {
        // Once per holder: a queue of waiters hears again only when the lock changes hands.
        if (waitingFor === undefined) options.onWait?.(holder);
        waitingFor = holder.token;
      }
      if (options.timeoutMs !== undefined && Date.now() - start >= options.timeoutMs) {
        throw new LockTimeoutError(file, holder);
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, MAX_POLL_MS);
    }
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

function unknownHolder(mtimeMs: number): LockHolder {
  return { pid: 0, host: "", since: mtimeMs, purpose: "unknown", token: `mtime:${mtimeMs}` };
}

function isGone(holder: LockHolder, mtimeMs: number, staleMs: number): boolean {
  const quiet = Date.now() - mtimeMs > staleMs;
  if (holder.host !== HOST || holder.pid <= 0) return quiet;
  // A pid of our own that we don't hold is a dead process's (containers reuse pids).
  if (holder.pid === process.pid) return !held.has(holder.token);
  // A live pid that stopped refreshing its lock is another process that got the pid.
  return !pidAlive(holder.pid) || quiet;
}

interface Seen {
  holder?: LockHolder;
  mtimeMs: number;
}

async function readHolder(file: string): Promise<Seen | undefined> {
  let text: string;
  let mtimeMs: number;
  try {
    [text, mtimeMs] = await Promise.all([fs.readFile(file, "utf8"), fs.stat(file).then((s) => s.mtimeMs)]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.pid === "number" && typeof h.host === "string" && typeof h.token === "string") {
      return {
        holder: {
          pid: h.pid,
          host: h.host,
          since: typeof h.since === "number" ? h.since : mtimeMs,
          purpose: typeof h.purpose === "string" ? h.purpose : "unknown",
          token: h.token,
        },
        mtimeMs,
      };
    }
  } catch {
    // Not ours or damaged: judged by its age alone.
  }
  return { mtimeMs };
}

/** Deletes the lock if it still is the one `seen`; false if another breaker is at it or it changed. */
async function breakLock(file: string, seen: Seen): Promise<boolean> {
  const breaker = `${file}.breaking`;
  try {
    await fs.mkdir(breaker);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    // A breaker that died in its few milliseconds of work: clear it for the next round.
    const st = await fs.stat(breaker).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > BREAKER_STALE_MS) await fs.rmdir(breaker).catch(() => {});
    return false;
  }
  try {
    const now = await readHolder(file);
    if (!now) return true;
    const same = seen.holder
      ? now.holder?.token === seen.holder.token
      : now.holder === undefined && now.mtimeMs === seen.mtimeMs;
    if (!same) return false;
    await fs.rm(file, { force: true });
    return true;
  } finally {
    await fs.rmdir(breaker).catch(() => {});
  }
}

/** Removes temp files next to `file` left by processes of this machine that are gone. */
async function sweepTemps(file: string): Promise<void> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  const pattern = new RegExp(`^${escapeRegExp(base)}\\.${HOST_TAG}\\.(\\d+)\\.[0-9a-f]+\\${TEMP_SUFFIX}$`);
  await Promise.all(
    names.map(async (name) => {
      const m = pattern.exec(name);
      if (m && !pidAlive(Number(m[1]))) await fs.rm(path.join(dir, name), { force: true });
    }),
  );
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether `name` is one of the files a lock called `lockName` leaves in its directory. */
export function isLockFile(name: string, lockName: string): boolean {
  return (
    name === lockName ||
    name === `${lockName}.breaking` ||
    (name.startsWith(`${lockName}.`) && name.endsWith(TEMP_SUFFIX))
  );
}
