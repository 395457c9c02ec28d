// What an apply would do, as the user reads it: the ordered steps of a change set (describeSteps), and
// one line per member that changes (memberLines), the steps that destroy data marked. `pulumi preview`
// shows the lines under the resource, the command's `plan` and `apply --dry-run` print them. Pure; no
// line ever holds user data (a changed userData reads "userData changed") or a credential.
import type { ClusterSpec, MemberType } from "../model/cluster";
import type { Placement } from "../model/placement";
import { cmp, quote } from "../model/text";
import { type ChangeSet, type Doomed, type Rebuild, STRAY } from "./changes";
import { clusterPrefix } from "./errors";
import type { MetadataEdit } from "./inputs";

export type StepKind =
  | "create-server-group"
  | "create-server"
  | "create-volume"
  | "attach"
  | "detach"
  | "resize"
  | "rebuild"
  | "extend"
  | "retype"
  | "networks"
  | "security-groups"
  | "metadata"
  | "delete-server"
  | "delete-volume"
  | "delete-server-group"
  | "recreate";

export interface Step {
  kind: StepKind;
  member?: string;
  /** Whether the member is a server or a volume (steps on a member only). */
  type?: MemberType;
  grouping?: string;
  detail: string;
  /** What the step does to its member, for the member's line ("resize "m1.small" → "m1.large""). */
  change?: string;
  /** Set when the step destroys what is on the member: what is lost ("root disk is wiped"). */
  destructive?: string;
}

const WIPED = "root disk is wiped";
const LOST_SERVER = "the old server is deleted: its disks are lost";
const LOST_VOLUME = "the old volume is deleted: its data is lost";

/** What apply would do, in the order it does it. */
export function describeSteps(spec: ClusterSpec, c: ChangeSet, placement: Placement | undefined): Step[] {
  const steps: Step[] = [];
  const members = new Map(spec.members.map((m) => [m.name, m]));
  const on = (member: string, type: MemberType) => ({ member, type });
  for (const d of c.detaches) {
    steps.push({
      kind: "detach",
      ...on(d.volume, "volume"),
      detail: `detach volume "${d.volume}" from server "${d.server}"`,
      change: `detach from server ${quote(d.server)}`,
    });
  }
  const replaced = new Set(c.create.keys());
  // A member's own object deleted is a line of that member; a stray copy (its member stays) is the cluster's.
  const ownDelete = (d: Doomed, lost: string) =>
    d.member !== undefined && d.reason !== STRAY ? { change: `delete (${lost}): ${d.reason}`, destructive: lost } : {};
  for (const d of c.deleteServers) {
    if (d.member !== undefined && replaced.has(d.member)) continue;
    steps.push({
      kind: "delete-server",
      ...(d.member !== undefined ? on(d.member, "server") : {}),
      detail: `delete server ${label(d)}: ${d.reason}`,
      ...ownDelete(d, "its disks are lost"),
    });
  }
  for (const d of c.deleteVolumes) {
    if (d.member !== undefined && replaced.has(d.member)) continue;
    steps.push({
      kind: "delete-volume",
      ...(d.member !== undefined ? on(d.member, "volume") : {}),
      detail: `delete volume ${label(d)}: ${d.reason}`,
      ...ownDelete(d, "its data is lost"),
    });
  }
  for (const g of c.createGroups) {
    const max = g.maxServerPerHost !== undefined ? ` (at most ${g.maxServerPerHost} per host)` : "";
    steps.push({
      kind: "create-server-group",
      grouping: g.grouping,
      detail: `create server group "${spec.name}-${g.grouping}" with policy ${g.policy}${max} for ${g.servers.map((s) => `"${s}"`).join(", ")}`,
    });
  }
  for (const r of c.resizes) {
    steps.push({
      kind: "resize",
      ...on(r.member, "server"),
      detail: `resize server "${r.member}" from "${r.from}" to "${r.to}"`,
      change: `resize ${quote(r.from)} → ${quote(r.to)}`,
    });
  }
  for (const r of c.rebuilds) {
    const what = rebuildChanges(r);
    steps.push({
      kind: "rebuild",
      ...on(r.member, "server"),
      detail: r.image
        ? `rebuild server "${r.member}" from "${r.from}" to "${r.to}"${r.keyName || r.userData ? ` (${what.slice(1).join(", ")})` : ""}`
        : `rebuild server "${r.member}" with its image ${quote(r.from)} again: ${what.join(", ")}`,
      change: `rebuild (${WIPED}): ${what.join(", ")}`,
      destructive: WIPED,
    });
  }
  for (const n of c.networks) {
    // In the order they are made (edit-actions.ts changeNetworks).
    const what = [...n.detach.map((x) => `detach ${quote(x)}`), ...n.attach.map((x) => `attach ${quote(x)}`)].join(
      ", ",
    );
    steps.push({
      kind: "networks",
      ...on(n.member, "server"),
      detail: `change the networks of server "${n.member}" in place: ${what}`,
      change: `networks: ${what}`,
    });
  }
  for (const g of c.securityGroups) {
    const what = [...g.add.map((x) => `add ${quote(x)}`), ...g.remove.map((x) => `remove ${quote(x)}`)].join(", ");
    steps.push({
      kind: "security-groups",
      ...on(g.member, "server"),
      detail: `change the security groups of server "${g.member}": ${what}`,
      change: `securityGroups: ${what}`,
    });
  }
  for (const e of c.extends) {
    steps.push({
      kind: "extend",
      ...on(e.member, "volume"),
      detail: `extend volume "${e.member}" from ${e.from} GB to ${e.to} GB`,
      change: `extend ${e.from} GB → ${e.to} GB`,
    });
  }
  for (const r of c.retypes) {
    const from = r.from === undefined ? "its current type" : quote(r.from);
    steps.push({
      kind: "retype",
      ...on(r.member, "volume"),
      detail: `retype volume "${r.member}" from ${from} to ${quote(r.to)} (its data moves if its backend can't hold the new type)`,
      change: `retype ${from} → ${quote(r.to)}`,
    });
  }
  for (const md of c.metadata) {
    const what = metadataChanges(md);
    steps.push({
      kind: "metadata",
      ...on(md.member, md.type),
      detail: `change the metadata of ${md.type} "${md.member}": ${what}`,
      change: `metadata: ${what}`,
    });
  }
  for (const [name, why] of [...c.create].sort((a, b) => cmp(a[0], b[0]))) {
    const m = members.get(name);
    if (!m) continue;
    const where = placement?.[name] ? ` ${describePlace(placement[name])}` : "";
    if (why !== "new") {
      // The old object goes first: healthy, what it held is lost; broken or gone, nothing is.
      const mine = (d: Doomed) => d.member === name && !isBrokenReason(d.reason);
      const oldVolume = c.deleteVolumes.some(mine);
      const old = oldVolume || c.deleteServers.some(mine);
      steps.push({
        kind: "recreate",
        ...on(name, m.type),
        detail: `recreate ${m.type} "${name}"${where}: ${why}`,
        change: old
          ? `replace (${oldVolume ? LOST_VOLUME : LOST_SERVER})${where}: ${why}`
          : `create again${where}: ${why}`,
        ...(old ? { destructive: oldVolume ? LOST_VOLUME : LOST_SERVER } : {}),
      });
    } else if (m.type === "server") {
      steps.push({
        kind: "create-server",
        ...on(name, "server"),
        detail: `create server "${name}" (${m.flavorRef})${where}`,
        change: `create (${quote(m.flavorRef)})${where}`,
      });
    } else {
      steps.push({
        kind: "create-volume",
        ...on(name, "volume"),
        detail: `create volume "${name}" (${m.sizeGb} GB)${where}`,
        change: `create (${m.sizeGb} GB)${where}`,
      });
    }
  }
  for (const a of c.attaches) {
    steps.push({
      kind: "attach",
      ...on(a.volume, "volume"),
      detail: `attach volume "${a.volume}" to server "${a.server}"`,
      change: `attach to server ${quote(a.server)}`,
    });
  }
  for (const g of c.deleteGroups) {
    steps.push({
      kind: "delete-server-group",
      ...(g.grouping !== undefined ? { grouping: g.grouping } : {}),
      detail: `delete server group ${g.grouping !== undefined ? `of grouping "${g.grouping}"` : g.id}: ${g.reason}`,
    });
  }
  return steps;
}

function isBrokenReason(reason: string): boolean {
  return reason.startsWith("it is in ERROR") || reason.startsWith("it is in error");
}

/** `image "a" → "b"`, `keyName "a" → "b"`, `userData changed`: never the user data itself (the SDK's names). */
function rebuildChanges(r: Rebuild): string[] {
  const out: string[] = [];
  if (r.image) out.push(`image ${quote(r.from)} → ${quote(r.to)}`);
  if (r.keyName) out.push(`keyName ${keyText(r.keyName.from)} → ${keyText(r.keyName.to)}`);
  if (r.userData) out.push(r.userData === "removed" ? "userData removed" : "userData changed");
  return out;
}

function keyText(k: string | null): string {
  return k === null ? "none" : quote(k);
}

/** Longer metadata values are cut in messages (the whole value still goes to the cloud). */
const SHOWN_VALUE = 40;

function shortValue(v: string): string {
  return quote(v.length > SHOWN_VALUE ? `${v.slice(0, SHOWN_VALUE)}…` : v);
}

function metadataChanges(md: MetadataEdit): string {
  const set = Object.entries(md.set).map(([k, v]) =>
    Object.hasOwn(md.before, k)
      ? `${quote(k)} ${shortValue(md.before[k] as string)} → ${shortValue(v)}`
      : `set ${quote(k)} = ${shortValue(v)}`,
  );
  const remove = md.remove.map((k) => `delete ${quote(k)}`);
  return [...set, ...remove].join(", ");
}

function describePlace(p: Placement[string]): string {
  if (p.type === "server") return p.host.startsWith("zone:") ? `in zone "${p.zone}"` : `on host "${p.host}"`;
  return p.backend.startsWith("zone-storage:") ? `in zone "${p.zone}"` : `on backend "${p.backend}"`;
}

function label(d: Doomed): string {
  return d.member !== undefined ? `"${d.member}"` : d.id;
}

/** One member's line of a plan: a warning when any of its steps destroys data. */
export interface MemberLine {
  member: string;
  level: "info" | "warn";
  text: string;
}

/**
 * One line per member that changes, sorted by member: `cluster "shop": server "db-1": rebuild (root
 * disk is wiped): keyName "a" → "b"; metadata: set "role" = "db"`.
 */
export function memberLines(clusterName: string, steps: readonly Step[]): MemberLine[] {
  const byMember = new Map<string, Step[]>();
  for (const s of steps) {
    if (s.member === undefined || s.change === undefined) continue;
    byMember.set(s.member, [...(byMember.get(s.member) ?? []), s]);
  }
  const lines: MemberLine[] = [];
  for (const [member, list] of [...byMember].sort((a, b) => cmp(a[0], b[0]))) {
    const type = list.find((s) => s.type !== undefined)?.type ?? "member";
    const destructive = list.some((s) => s.destructive !== undefined);
    lines.push({
      member,
      level: destructive ? "warn" : "info",
      text: `${clusterPrefix(clusterName)}${type} ${quote(member)}: ${list.map((s) => s.change).join("; ")}`,
    });
  }
  return lines;
}
