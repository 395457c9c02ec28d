// Pulumi's `customTimeouts` resource option, as the VCluster provider honours it. The engine sends
// each operation's timeout in the gRPC request (CreateRequest.timeout, …), but the SDK's
// dynamic-provider server (@pulumi/pulumi/cmd/dynamic-provider) drops it: a dynamic provider's
// hooks get the properties only. So `VCluster` copies the option into its inputs as
// `customTimeouts` (only when set: an older state, or a program without the option, shows no
// change), and the hooks read it here: `create` and `update` from the new inputs, `delete` from the
// recorded ones (as the engine itself uses the recorded option for a delete). Pure.
import { quote } from "../model/text";

export type TimeoutOperation = "create" | "update" | "delete";
const OPERATIONS: readonly TimeoutOperation[] = ["create", "update", "delete"];

/** A time limit of one operation: how long, and its name for messages (`customTimeouts.create`). */
export interface OperationTimeout {
  ms: number;
  name: string;
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Go's time.ParseDuration, which the engine applies to the option ("30m", "1h30m", "90s", "1.5h"):
 * milliseconds, or undefined when the text is not a duration (a bare number other than 0 included).
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === "0") return 0;
  if (s === "" || !/^(\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))*$/.test(s))
    return undefined;
  let ms = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return Math.round(ms);
}

/** The timeout of one operation from the resource's inputs; undefined when none is set (or it is 0: no limit). */
export function operationTimeout(customTimeouts: unknown, op: TimeoutOperation): OperationTimeout | undefined {
  if (customTimeouts === null || typeof customTimeouts !== "object") return undefined;
  const v = (customTimeouts as Record<string, unknown>)[op];
  if (typeof v !== "string" || v === "") return undefined;
  const ms = parseDuration(v);
  return ms !== undefined && ms > 0 ? { ms, name: `customTimeouts.${op} (${v.trim()})` } : undefined;
}

/** What is wrong with the `customTimeouts` input, one line each (check reports them). */
export function timeoutProblems(customTimeouts: unknown): string[] {
  if (customTimeouts === undefined || customTimeouts === null) return [];
  if (typeof customTimeouts !== "object" || Array.isArray(customTimeouts)) {
    return ['customTimeouts: must be an object such as {create: "30m", update: "20m", delete: "10m"}'];
  }
  const problems: string[] = [];
  for (const [key, v] of Object.entries(customTimeouts)) {
    if (!OPERATIONS.includes(key as TimeoutOperation)) {
      problems.push(`customTimeouts.${key}: not an operation this resource has (hint: create, update or delete)`);
    } else if (v !== undefined && v !== "" && (typeof v !== "string" || parseDuration(v) === undefined)) {
      problems.push(
        `customTimeouts.${key}: ${typeof v === "string" ? quote(v) : String(v)} is not a duration (hint: write it as Go does: "30m", "1h30m", "90s")`,
      );
    }
  }
  return problems;
}

/** Whether two `customTimeouts` inputs set the same limits (absent and {} are the same). */
export function sameTimeouts(a: unknown, b: unknown): boolean {
  const norm = (v: unknown) =>
    OPERATIONS.map((op) => {
      const x = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[op] : undefined;
      return typeof x === "string" && x !== "" ? x.trim() : "";
    }).join("\u0000");
  return norm(a) === norm(b);
}
