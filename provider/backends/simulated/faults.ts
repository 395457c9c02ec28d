// Fault injection for the simulated cloud: the plan lives in the cloud's state file, so a fault
// injected by a test (`injectFault`, the `faults` option) is seen by every process that opens the
// same cloud, until it fires or `sim reset` clears it. Faults from OPENSTACK_VCLUSTER_SIM_FAULTS
// are the exception: they stay with the process that read the variable (see cloud.ts).
import { z } from "zod";
import type { Backend, BackendErrorCode } from "../backend";

/**
 * Every Backend method that talks to the cloud (cloudLocks and serverPorts are an OpenStack backend's,
 * not the simulated cloud's: its getServer shows the ports).
 */
export type BackendOp = Exclude<
  keyof Backend,
  "kind" | "description" | "pollIntervalMs" | "close" | "cloudLocks" | "serverPorts"
>;

export const BACKEND_OPS = [
  "discover",
  "imageProblems",
  "createServerGroup",
  "getServerGroup",
  "findServerGroups",
  "deleteServerGroup",
  "createServer",
  "getServer",
  "getServers",
  "findServers",
  "deleteServer",
  "resizeServer",
  "rebuildServer",
  "updateServerMetadata",
  "addSecurityGroup",
  "removeSecurityGroup",
  "attachNetwork",
  "detachNetwork",
  "createVolume",
  "getVolume",
  "getVolumes",
  "findVolumes",
  "extendVolume",
  "retypeVolume",
  "updateVolumeMetadata",
  "deleteVolume",
  "attachVolume",
  "detachVolume",
] as const satisfies readonly BackendOp[];

// Fails to compile if an op is added to Backend but not to the list above.
type MissingOps = Exclude<BackendOp, (typeof BACKEND_OPS)[number]>;
const _allOpsListed: MissingOps extends never ? true : never = true;
void _allOpsListed;

const ERROR_CODES = [
  "not_found",
  "conflict",
  "quota_exceeded",
  "bad_request",
  "unauthorized",
  "forbidden",
  "unavailable",
  "timeout",
  "internal",
] as const satisfies readonly BackendErrorCode[];

const op = z.enum(BACKEND_OPS);
const times = z.number().int().positive().optional();

export const faultSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("error"),
    op,
    nth: z.number().int().positive().optional(),
    code: z.enum(ERROR_CODES).optional(),
    message: z.string().optional(),
    times,
  }),
  z.strictObject({
    kind: z.literal("server-error"),
    member: z.string().optional(),
    name: z.string().optional(),
    fault: z.string().optional(),
    times,
  }),
  z.strictObject({
    kind: z.literal("volume-error"),
    member: z.string().optional(),
    name: z.string().optional(),
    times,
  }),
  z.strictObject({
    kind: z.literal("slow"),
    op: op.optional(),
    member: z.string().optional(),
    ms: z.number().nonnegative(),
    times,
  }),
  z.strictObject({ kind: z.literal("ignore-placement"), member: z.string().optional(), times }),
]);

/**
 * - error: the nth call of `op` counted from when the fault was added throws a BackendError
 *   (default code `unavailable`, like a 503); with `times` > 1 the following calls fail too.
 * - server-error / volume-error: the matching server (volume) goes ERROR (error) when its build ends.
 * - slow: the matching call takes `ms` longer; for calls that start a transition (build, resize,
 *   attach, delete, ...) the transition takes `ms` longer instead. Without `op`, any transition.
 * - ignore-placement: the scheduler ignores the host, group and hints of the matching server, and
 *   places it against them where it can (the parallel-creation race, a silently dropped hint), so a
 *   verification step has something to catch.
 * `member` matches the `vcluster:member` metadata tag, `name` the object's name; neither: any.
 * Each firing consumes one of `times` (default 1).
 */
export type Fault = z.infer<typeof faultSchema>;

/** A fault as stored in the plan. */
export type StoredFault = Fault & {
  id: number;
  /** error faults: the op's call count when the fault was added ("nth counting from now"). */
  baseCount?: number;
  /** Firings left. */
  left: number;
};

/** Parses faults from untrusted JSON (the environment variable, the command). */
export function parseFaults(json: string, source: string): Fault[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new Error(`${source}: not valid JSON (${(e as Error).message}); hint: give a JSON array of faults`);
  }
  return validateFaults(raw, source);
}

/** Checks faults from any caller; every problem on its own line, then one hint. */
export function validateFaults(raw: unknown, source: string): Fault[] {
  return check(z.array(faultSchema), raw, source);
}

export function validateFault(raw: unknown, source: string): Fault {
  return check(faultSchema, raw, source);
}

function check<T>(schema: z.ZodType<T>, raw: unknown, source: string): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${source}: ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(
      `${lines.sort().join("\n")}\nhint: e.g. [{"kind":"error","op":"createServer","nth":2,"code":"unavailable"}]`,
    );
  }
  return parsed.data;
}

/** Whether a fault's member/name filter matches an object. */
export function faultMatches(
  f: { member?: string; name?: string },
  obj: { name: string; metadata: Record<string, string> },
  memberTag: string,
): boolean {
  if (f.member !== undefined && obj.metadata[memberTag] !== f.member) return false;
  if (f.name !== undefined && obj.name !== f.name) return false;
  return true;
}
