// A cluster's lock on an OpenStack cloud (Backend.cloudLocks, taken by ../cluster-lock.ts): a Nova
// keypair named `vcluster-lock-<hash of project and cluster name>`. Nova keeps keypair names unique
// per user, so of two runs that create it at once exactly one gets it (the other a 409), and every
// machine using these credentials sees it. Its public key is a fixed ed25519 key nobody has the
// private key of, so booting a server with it opens nothing; its comment names the holder (host,
// pid, what it does, since when) for the run that is refused and for `openstack-vcluster unlock`.
//
// Why a keypair: of what every project member may create through Nova and Cinder, only a keypair is
// refused a second time under one name (server groups, servers and volumes allow duplicate names, so
// two creates at once would both succeed). Swift could do it per project (`If-None-Match: *`), but
// many clouds run no Swift.
//
// Limitation: keypairs belong to a user, not to a project. Two runs with the same user's
// credentials (two CI jobs, two laptops with one clouds.yaml entry or one application credential's
// user) are serialized; runs of two different users of one project are not, and neither sees the
// other's marker.
import { createHash } from "node:crypto";
import type { CloudLocks, ClusterLockHolder } from "../backend";
import type { NovaClient } from "./nova-client";

export const MARKER_PREFIX = "vcluster-lock-";

/**
 * The marker's public key: an ed25519 point chosen in the open, the SHA-256 of
 * "openstack-vcluster cluster lock 0" (the first such hash that is a point of the curve), so nobody
 * knows a private key for it.
 */
export const MARKER_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFkmcMX7haPX4GmSpSymMCwyaPspIUeYsgjAYzsX7+qu";

/** What the comment starts with: a marker without it was not written by this product. */
const TAG = "openstack-vcluster-lock:v1";

/**
 * The keypair's name for a cluster of a project. The project is in it because a user's keypairs are
 * shared by all of the user's projects, where one cluster name may name two clusters.
 */
export function markerName(projectId: string, clusterName: string): string {
  // JSON keeps a lone surrogate apart from U+FFFD, which UTF-8 would not.
  const hash = createHash("sha256")
    .update(JSON.stringify([projectId, clusterName]))
    .digest("hex");
  return `${MARKER_PREFIX}${hash.slice(0, 20)}`;
}

/** Percent-encoding for the comment's values: no space, `;` or `=` survives raw. */
function enc(text: string): string {
  const wellFormed = text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
  return encodeURIComponent(wellFormed);
}

function dec(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** The keypair's public key: the fixed key and, as its comment, the holder. */
export function formatMarker(clusterName: string, holder: ClusterLockHolder): string {
  const fields = [
    `cluster=${enc(clusterName)}`,
    `host=${enc(holder.host)}`,
    `pid=${holder.pid}`,
    `since=${new Date(holder.since).toISOString()}`,
    `purpose=${enc(holder.purpose)}`,
    `token=${enc(holder.token)}`,
  ];
  return `${MARKER_PUBLIC_KEY} ${TAG};${fields.join(";")}`;
}

/**
 * The holder a marker names. A keypair of this name that this product did not write (or a damaged
 * one) is a holder unknown: pid 0, host "", since when the keypair was made.
 */
export function parseMarker(publicKey: string, createdAt?: string): ClusterLockHolder & { cluster?: string } {
  const made = createdAt
    ? Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(createdAt) ? createdAt : `${createdAt}Z`)
    : Number.NaN;
  const unknown = {
    host: "",
    pid: 0,
    since: Number.isNaN(made) ? 0 : made,
    purpose: "unknown",
    token: `unknown:${publicKey}`,
  };
  const comment = publicKey.trim().split(/\s+/)[2];
  if (!comment?.startsWith(`${TAG};`)) return unknown;
  const fields = new Map<string, string>();
  for (const part of comment.slice(TAG.length + 1).split(";")) {
    const eq = part.indexOf("=");
    const value = eq > 0 ? dec(part.slice(eq + 1)) : undefined;
    if (value !== undefined) fields.set(part.slice(0, eq), value);
  }
  const pid = Number(fields.get("pid"));
  const since = Date.parse(fields.get("since") ?? "");
  const host = fields.get("host");
  const token = fields.get("token");
  if (!Number.isSafeInteger(pid) || pid <= 0 || Number.isNaN(since) || !host || !token) return unknown;
  const cluster = fields.get("cluster");
  return {
    host,
    pid,
    since,
    purpose: fields.get("purpose") || "unknown",
    token,
    ...(cluster !== undefined ? { cluster } : {}),
  };
}

/** The cloud locks of an OpenStack backend: keypairs of the user, named per project and cluster. */
export class KeypairLocks implements CloudLocks {
  readonly selectArgs: readonly string[];

  constructor(
    private readonly nova: NovaClient,
    private readonly projectId: () => Promise<string | undefined>,
    cloudName: string | undefined,
  ) {
    // The command reads the cloud from the same clouds.yaml entry, or from the same OS_* variables.
    this.selectArgs = cloudName !== undefined ? ["--cloud", cloudName] : ["--backend", "openstack"];
  }

  private async name(clusterName: string): Promise<string> {
    return markerName((await this.projectId()) ?? "unscoped", clusterName);
  }

  async describe(clusterName: string): Promise<string> {
    return `Nova keypair "${await this.name(clusterName)}"`;
  }

  async create(clusterName: string, holder: ClusterLockHolder): Promise<boolean> {
    return this.nova.createKeypair(await this.name(clusterName), formatMarker(clusterName, holder));
  }

  async read(clusterName: string): Promise<ClusterLockHolder | undefined> {
    const k = await this.nova.getKeypair(await this.name(clusterName));
    if (!k) return undefined;
    const { cluster: _cluster, ...holder } = parseMarker(k.publicKey, k.createdAt);
    return holder;
  }

  async remove(clusterName: string): Promise<void> {
    await this.nova.deleteKeypair(await this.name(clusterName));
  }
}
