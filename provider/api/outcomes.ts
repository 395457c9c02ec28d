// How the API speaks of the lifecycle's work: the cluster's id is its name on the cloud (see
// operations.ts), shown with the user's name in messages; a failure as the Fault the API answers;
// a placement race lost to another change, which is placed again; each cluster's placement seed.
import { LifecycleError } from "../lifecycle";
import type { ClusterSpec } from "../model/cluster";
import { quote } from "../model/text";
import type { Fault } from "./records";
import { renameExplanation } from "./views";

/** Replaces the cloud-side name (the id, quoted) with the user's name in a lifecycle message. */
export function renamer(id: string, name: string): (text: string) => string {
  const from = `"${id}"`;
  const to = quote(name);
  return (text) => text.split(from).join(to);
}

/** The spec as the controller gets it: named by the cluster's id. */
export function cloudSpec(spec: ClusterSpec, id: string): ClusterSpec {
  return { ...spec, name: id };
}

const HINT = /(?:\(hint: (.*)\)|;? hint: (.*))$/;

/**
 * Attempts of one create or update when the cloud refused a spot the plan chose. Clusters asked for
 * together all place against the inventory as they read it and all prefer its emptiest hosts: with a
 * hundred at once, three attempts left a few percent in ERROR (`npm run bench -- api`).
 */
export const MAX_ATTEMPTS = 8;

/**
 * How long to wait before attempt `attempt + 1`: random up to 200 ms × 2^(attempt−1), at most 5 s
 * ("full jitter"), so the losers of one race don't all place again at the same moment.
 */
export function raceBackoffMs(attempt: number): number {
  return Math.floor(Math.random() * Math.min(5_000, 200 * 2 ** (attempt - 1)));
}
const RACE = /No valid (?:host|backend) was found/;

/** A failure to place again: the cloud refused a spot the plan chose (someone else took it), and nothing was left half-made. */
export function lostRace(error: unknown): boolean {
  return (
    error instanceof LifecycleError &&
    (error.code === "create_failed" || error.code === "update_failed") &&
    RACE.test(error.message)
  );
}

/** The placement seed of a cluster: from its id, so its placement is deterministic and differs from its neighbours'. */
export function seedOf(id: string): number {
  return Number.parseInt(id.replace(/-/g, "").slice(0, 8), 16) >>> 0;
}

/** A lifecycle failure as the API shows it: code, message, causes one per entry, hints apart. */
export function faultOf(error: unknown, rename: (text: string) => string): Fault {
  if (error instanceof LifecycleError) {
    const message = rename(error.message);
    if (error.explanation) {
      const explanation = renameExplanation(error.explanation, rename);
      return {
        code: error.code,
        message,
        causes: explanation.causes.map((c) => c.message),
        hints: explanation.causes.map((c) => c.hint),
        explanation,
      };
    }
    const lines = message.split("\n");
    const causes = lines.length > 1 ? lines.slice(1).map((l) => l.trim()) : [message];
    const hints: string[] = [];
    for (const c of causes) {
      const m = HINT.exec(c);
      const hint = m?.[1] ?? m?.[2];
      if (hint) hints.push(hint);
    }
    return { code: error.code, message, causes, hints };
  }
  const text = rename(error instanceof Error ? error.message : String(error));
  return { code: "backend", message: text, causes: [text], hints: [] };
}
