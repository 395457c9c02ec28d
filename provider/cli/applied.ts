// What the command keeps of the spec it last applied to a cluster, beside the cluster's state (key
// APPLIED_KEY of the state file): the spec as it was, except that each server's user_data is replaced
// by a keyed digest, HMAC-SHA-256 with a random key of the state directory (`user-data.key`, mode
// 0600, never in a state file). Nova doesn't show user data back to a tenant, so a change of it can
// only be seen against this record; the record never holds the data, and without the key a digest
// can't be checked against guesses. A digest made with another key (the key file lost or replaced)
// can't be compared: the change can't be told, and apply says so instead of rebuilding on a guess.
import { createHash, createHmac, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { PreviousInputs } from "../lifecycle";
import type { ClusterSpec } from "../model/cluster";

/** Key of the state file holding the applied spec (not part of ClusterState). */
export const APPLIED_KEY = "appliedSpec";

export const KEY_FILE = "user-data.key";

const PREFIX = "hmac-sha256:";

/** The state directory's digest key: read, or made (once) when `create`. */
export function digestKey(stateDir: string, create: boolean): Buffer | undefined {
  const file = path.join(stateDir, KEY_FILE);
  try {
    const key = Buffer.from(readFileSync(file, "utf8").trim(), "hex");
    if (key.length >= 16) return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (!create) return undefined;
  mkdirSync(stateDir, { recursive: true });
  try {
    writeFileSync(file, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    // Another run made it first: use that one.
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  return Buffer.from(readFileSync(file, "utf8").trim(), "hex");
}

function keyId(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 8);
}

/** `hmac-sha256:<key id>:<hex>` of one member's user data (the cluster and member names are bound in). */
export function userDataDigest(key: Buffer, cluster: string, member: string, userData: string): string {
  const mac = createHmac("sha256", key).update(`${cluster}\u0000${member}\u0000${userData}`, "utf8").digest("hex");
  return `${PREFIX}${keyId(key)}:${mac}`;
}

/** The spec as the state file records it: every user_data a digest. */
export function appliedRecord(spec: ClusterSpec, key: Buffer | undefined): ClusterSpec {
  return {
    ...spec,
    members: spec.members.map((m) => {
      if (m.type !== "server" || m.userData === undefined) return m;
      if (!key) throw new Error("a digest key is needed to record user_data");
      return { ...m, userData: userDataDigest(key, spec.name, m.name, m.userData) };
    }),
  };
}

/** Whether a spec has user data to record (and so needs the key). */
export function hasUserData(spec: ClusterSpec): boolean {
  return spec.members.some((m) => m.type === "server" && m.userData !== undefined);
}

/** The previous inputs for the controller, from a state file's record; undefined when it has none. */
export function previousFromRecord(
  record: unknown,
  key: Buffer | undefined,
  clusterName: string,
): PreviousInputs | undefined {
  if (!isSpec(record)) return undefined;
  return {
    spec: record,
    sameUserData: (member, recorded, userData) => {
      if (recorded === undefined || userData === undefined) return recorded === userData;
      if (!recorded.startsWith(PREFIX)) return recorded === userData;
      if (!key || recorded.slice(PREFIX.length, PREFIX.length + 8) !== keyId(key)) return undefined;
      return recorded === userDataDigest(key, clusterName, member, userData);
    },
  };
}

function isSpec(v: unknown): v is ClusterSpec {
  const s = v as Partial<ClusterSpec> | null;
  return (
    s !== null &&
    typeof s === "object" &&
    typeof s.name === "string" &&
    Array.isArray(s.members) &&
    Array.isArray(s.groupings)
  );
}
