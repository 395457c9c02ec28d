// The per-member diff between the spec and what exists: what to delete, create, resize,
// rebuild, extend, detach, attach, and which Nova server groups to make or drop. Pure, in two
// halves around the placement engine: `survey` (which objects stay, so the engine keeps them
// where they are) and `changes` (once the engine has placed the rest and named forced moves).
import { type ServerGroupInfo, type ServerInfo, TAG_MEMBER, type VolumeInfo } from "../backends/backend";
import type { ClusterSpec, Member, VolumeMember } from "../model/cluster";
import type { ClusterState } from "../model/state";
import { cmp, quote } from "../model/text";
import type { RefIdentity } from "./identity";
import { type EditField, History, type MetadataEdit, serverEdits, volumeEdits } from "./inputs";
import type { DesiredGroup, RuleMapping } from "./rules";
import { isBroken, type Live } from "./survey";

export { describeSteps, type Step, type StepKind } from "./steps";

/** A member whose live object stays (possibly resized, rebuilt, extended). */
export interface Kept {
  server: Map<string, ServerInfo>;
  volume: Map<string, VolumeInfo>;
}

export interface Doomed {
  member?: string;
  grouping?: string;
  id: string;
  reason: string;
  /** A replacement for an edit the cloud can't make in place: that edit's field. */
  field?: EditField;
}

export interface Baseline {
  kept: Kept;
  /** Live objects to delete: gone from the spec, strays, broken, wrong type, unusable leftovers. */
  deleteServers: Doomed[];
  deleteVolumes: Doomed[];
  /** Spec members to create, with why ("new", "missing", a replacement reason). */
  create: Map<string, string>;
  /** Changes the backend can't make in place: apply refuses them (code "invalid"). */
  problems: string[];
}

/** Which live objects stay, which go, which members must be made. Runs before placement. */
export const STRAY = "duplicate or untagged leftover";

/** "replaces one that is in ERROR", "replaces the old one (the member is now a volume)". */
function replacing(reason: string): string {
  return reason.startsWith("it ") ? `replaces one that ${reason.slice(3)}` : `replaces the old one (${reason})`;
}

export function baseline(
  spec: ClusterSpec,
  state: ClusterState | undefined,
  live: Live,
  history: History = new History(undefined, state),
): Baseline {
  const head = `cluster "${spec.name}": `;
  const inSpec = new Map(spec.members.map((m) => [m.name, m]));
  const kept: Kept = { server: new Map(), volume: new Map() };
  const deleteServers: Doomed[] = live.strayServers.map((s) => ({
    ...memberTag(s),
    id: s.id,
    reason: STRAY,
  }));
  const deleteVolumes: Doomed[] = live.strayVolumes.map((v) => ({
    ...memberTag(v),
    id: v.id,
    reason: STRAY,
  }));
  const create = new Map<string, string>();
  const problems: string[] = [];

  for (const [name, s] of live.servers) {
    const m = inSpec.get(name);
    if (!m) deleteServers.push({ member: name, id: s.id, reason: "no longer in the spec" });
    else if (m.type !== "server") deleteServers.push({ member: name, id: s.id, reason: "the member is now a volume" });
    else if (isBroken(s.status))
      deleteServers.push({ member: name, id: s.id, reason: `it is in ERROR${s.fault ? ` (${s.fault})` : ""}` });
    else {
      // Networks change in place where Nova can (os-interface); else the server is made again on the new ones.
      const nets = history.networksChange(m);
      const edit = nets && networkEdit(nets.from, m.networks, history.pending(m.name, "networks"));
      if (nets && edit && "replace" in edit) {
        deleteServers.push({
          member: name,
          id: s.id,
          reason: `its networks change from ${networkList(nets.from)} to ${networkList(m.networks)}: ${edit.replace}`,
          field: "networks",
        });
        continue;
      }
      problems.push(...serverEdits(head, m, s, history).problems);
      kept.server.set(name, s);
    }
  }
  for (const [name, v] of live.volumes) {
    const m = inSpec.get(name);
    const known = state?.members[name]?.type === "volume";
    if (!m) deleteVolumes.push({ member: name, id: v.id, reason: "no longer in the spec" });
    else if (m.type !== "volume") deleteVolumes.push({ member: name, id: v.id, reason: "the member is now a server" });
    else if (isBroken(v.status))
      deleteVolumes.push({ member: name, id: v.id, reason: `it is in error${v.fault ? ` (${v.fault})` : ""}` });
    else {
      const unfit = volumeProblem(head, m, v);
      // A leftover from a crashed run that doesn't fit is replaced; a member the user has is never destroyed silently.
      if (unfit && known) {
        problems.push(unfit);
        kept.volume.set(name, v);
      } else if (unfit)
        deleteVolumes.push({ member: name, id: v.id, reason: "a leftover that doesn't match the spec" });
      else kept.volume.set(name, v);
    }
  }
  for (const m of sortedMembers(spec)) {
    if (kept.server.has(m.name) || kept.volume.has(m.name)) continue;
    const was = state?.members[m.name];
    // The member's own old object says why best; a stray copy only if that is all there is.
    const doomedAll = [...deleteServers, ...deleteVolumes].filter((d) => d.member === m.name);
    const doomed = doomedAll.find((d) => d.reason !== STRAY) ?? doomedAll[0];
    create.set(m.name, doomed ? replacing(doomed.reason) : was ? "missing" : "new");
  }
  deleteServers.sort(byMemberThenId);
  deleteVolumes.sort(byMemberThenId);
  return { kept, deleteServers, deleteVolumes, create, problems: problems.sort() };
}

/** A change of a volume the cloud can't make (a type change is a retype: see inputs.ts). */
function volumeProblem(head: string, m: VolumeMember, v: VolumeInfo): string | undefined {
  if (v.sizeGb > m.sizeGb) {
    return `${head}volume "${m.name}" can't shrink from ${v.sizeGb} GB to ${m.sizeGb} GB; hint: keep the size, or rename the member to replace it with a new volume (its data is lost)`;
  }
  return undefined;
}

/**
 * A kept server's networks from the previous spec's (`from`) to `to`, in place: detach the dropped ones,
 * attach the new ones (Nova lists an attached port last, so they must come after the kept ones). Where
 * that can't give `to`, why: the server is replaced. An edit a failed update left pending attaches every
 * network again (a network already there is left as it is); the action then checks nothing else is left.
 */
export function networkEdit(
  from: readonly string[] | undefined,
  to: readonly string[] | undefined,
  pending: boolean,
): { attach: string[]; detach: string[] } | { replace: string } {
  // Nova boots a server that names no network on the cloud's default ("auto", or the config's): not known by id here.
  if (!from || from.length === 0 || !to || to.length === 0) {
    return { replace: "only networks the spec names change in place" };
  }
  if (new Set(from).size !== from.length || new Set(to).size !== to.length) {
    return { replace: "a network named twice can't be detached alone" };
  }
  const detach = from.filter((n) => !to.includes(n));
  const attach = to.filter((n) => !from.includes(n));
  const order = [...from.filter((n) => to.includes(n)), ...attach];
  if (order.some((n, i) => n !== to[i])) {
    return { replace: "their order changes, and Nova puts an attached network last" };
  }
  return { attach: pending ? [...to] : attach, detach };
}

function networkList(nets: readonly string[] | undefined): string {
  return nets === undefined ? "the cloud's default" : nets.length === 0 ? "none" : `[${nets.map(quote).join(", ")}]`;
}

export interface ChangeSet extends Baseline {
  /** Kept members a hard rule forces elsewhere: deleted, then created at their new place. */
  moves: Map<string, string>;
  detaches: { volume: string; server: string; volumeId: string; serverId: string }[];
  createGroups: DesiredGroup[];
  /** grouping -> id of the live group that stays. */
  keepGroups: Map<string, string>;
  deleteGroups: Doomed[];
  resizes: { member: string; id: string; from: string; to: string }[];
  /**
   * Rebuilds of kept servers: to another image (`from` -> `to`), or the same one (`from` === `to`)
   * for a new key or user data. The root disk is wiped either way.
   */
  rebuilds: Rebuild[];
  extends: { member: string; id: string; from: number; to: number }[];
  /** Volume type changes (Cinder retype). */
  retypes: { member: string; id: string; from: string | undefined; to: string }[];
  securityGroups: { member: string; id: string; add: string[]; remove: string[] }[];
  /** Networks of kept servers changed in place (Nova os-interface): detached, then attached. */
  networks: NetworkChange[];
  metadata: ({ member: string; type: "server" | "volume"; id: string } & MetadataEdit)[];
  /** Volume member -> server member, attached after everything is made. */
  attaches: { volume: string; server: string }[];
}

export interface NetworkChange {
  member: string;
  id: string;
  from: string[];
  to: string[];
  attach: string[];
  detach: string[];
}

export interface Rebuild {
  member: string;
  id: string;
  from: string;
  to: string;
  /** The image changes (else the same one is used again). */
  image: boolean;
  keyName?: { from: string | null; to: string | null };
  userData?: "changed" | "removed";
}

/** Refs compared as written: for backends that report them as they were asked for. */
const AS_WRITTEN: RefIdentity = { sameFlavor: (a, b) => a === b, sameImage: (a, b) => a === b };

/**
 * The rest of the diff, once placement has named forced moves. `identity` says when the flavor and
 * image a server reports are the ones its member names (Nova reports an image by id, a flavor by
 * name, whatever the spec wrote): an adopted server is resized or rebuilt only when they differ.
 */
export function changes(
  spec: ClusterSpec,
  base: Baseline,
  live: Live,
  rules: RuleMapping,
  forcedMoves: { member: string; reason: string }[],
  identity: RefIdentity = AS_WRITTEN,
  history: History = new History(undefined, undefined),
): ChangeSet {
  const kept: Kept = { server: new Map(base.kept.server), volume: new Map(base.kept.volume) };
  const deleteServers = [...base.deleteServers];
  const deleteVolumes = [...base.deleteVolumes];
  const create = new Map(base.create);
  const moves = new Map<string, string>();
  for (const mv of [...forcedMoves].sort((a, b) => cmp(a.member, b.member))) {
    const s = kept.server.get(mv.member);
    const v = kept.volume.get(mv.member);
    const obj = s ?? v;
    if (!obj) continue;
    moves.set(mv.member, mv.reason);
    (s ? deleteServers : deleteVolumes).push({ member: mv.member, id: obj.id, reason: `forced move: ${mv.reason}` });
    kept.server.delete(mv.member);
    kept.volume.delete(mv.member);
    create.set(mv.member, `forced move: ${mv.reason}`);
  }

  const resizes: ChangeSet["resizes"] = [];
  const rebuilds: ChangeSet["rebuilds"] = [];
  const extendsList: ChangeSet["extends"] = [];
  const retypes: ChangeSet["retypes"] = [];
  const securityGroups: ChangeSet["securityGroups"] = [];
  const networks: NetworkChange[] = [];
  const metadata: ChangeSet["metadata"] = [];
  for (const m of sortedMembers(spec)) {
    if (m.type === "server") {
      const s = kept.server.get(m.name);
      if (!s) continue;
      if (!identity.sameFlavor(s.flavorRef, m.flavorRef)) {
        resizes.push({ member: m.name, id: s.id, from: s.flavorRef, to: m.flavorRef });
      }
      const { edits } = serverEdits("", m, s, history);
      const image = !identity.sameImage(s.imageRef, m.imageRef);
      if (image || edits.keyName || edits.userData) {
        rebuilds.push({
          member: m.name,
          id: s.id,
          from: s.imageRef,
          to: m.imageRef,
          image,
          ...(edits.keyName ? { keyName: edits.keyName } : {}),
          ...(edits.userData ? { userData: edits.userData } : {}),
        });
      }
      const nets = history.networksChange(m);
      const net = nets && networkEdit(nets.from, m.networks, history.pending(m.name, "networks"));
      if (net && "attach" in net && net.attach.length + net.detach.length > 0) {
        networks.push({ member: m.name, id: s.id, from: [...(nets?.from ?? [])], to: [...(m.networks ?? [])], ...net });
      }
      if (edits.securityGroups) securityGroups.push({ member: m.name, id: s.id, ...edits.securityGroups });
      if (edits.metadata) metadata.push({ member: m.name, type: "server", id: s.id, ...edits.metadata });
    } else {
      const v = kept.volume.get(m.name);
      if (!v) continue;
      if (v.sizeGb < m.sizeGb) extendsList.push({ member: m.name, id: v.id, from: v.sizeGb, to: m.sizeGb });
      const edits = volumeEdits(m, v, history.appliedVolumeType(m.name), history);
      if (edits.volumeType) retypes.push({ member: m.name, id: v.id, ...edits.volumeType });
      if (edits.metadata) metadata.push({ member: m.name, type: "volume", id: v.id, ...edits.metadata });
    }
  }

  // Attachments: undo the ones that no longer hold, make the ones that don't exist yet.
  const serverIdOf = new Map([...kept.server].map(([name, s]) => [s.id, name]));
  const specVolumes = new Map(
    spec.members.filter((m): m is VolumeMember => m.type === "volume").map((m) => [m.name, m]),
  );
  const detaches: ChangeSet["detaches"] = [];
  const attaches: ChangeSet["attaches"] = [];
  for (const [name, v] of [...kept.volume].sort((a, b) => cmp(a[0], b[0]))) {
    const want = specVolumes.get(name)?.attachTo;
    for (const serverId of [...v.attachedTo].sort(cmp)) {
      const server = serverIdOf.get(serverId);
      if (server !== undefined && server === want) continue;
      // Attached to a server on its way out (or not ours): undo it so the volume is free.
      const gone = [...live.servers].find(([, s]) => s.id === serverId)?.[0];
      detaches.push({ volume: name, server: server ?? gone ?? serverId, volumeId: v.id, serverId });
    }
  }
  for (const m of sortedMembers(spec)) {
    if (m.type !== "volume" || m.attachTo === undefined) continue;
    const v = kept.volume.get(m.name);
    const s = kept.server.get(m.attachTo);
    if (v && s && v.attachedTo.includes(s.id)) continue;
    attaches.push({ volume: m.name, server: m.attachTo });
  }

  // Server groups: keep a live one whose policy fits (the one holding most of the kept servers, so
  // members made now join the ones a crashed run made), create the rest, drop everything else.
  const createGroups: DesiredGroup[] = [];
  const keepGroups = new Map<string, string>();
  const deleteGroups: Doomed[] = live.strayGroups.map((g) => ({ id: g.id, reason: "untagged leftover" }));
  const desired = new Map(rules.groups.map((g) => [g.grouping, g]));
  const keptIds = new Set([...kept.server.values()].map((s) => s.id));
  const holding = (x: ServerGroupInfo) => x.members.filter((id) => keptIds.has(id)).length;
  for (const g of rules.groups) {
    const fits = (live.groups.get(g.grouping) ?? []).filter((x) => groupFits(x, g));
    const fit = fits.reduce<ServerGroupInfo | undefined>(
      (best, x) => (!best || holding(x) > holding(best) ? x : best),
      undefined,
    );
    if (fit) keepGroups.set(g.grouping, fit.id);
    else createGroups.push(g);
  }
  for (const [grouping, list] of [...live.groups].sort((a, b) => cmp(a[0], b[0]))) {
    for (const x of list) {
      if (keepGroups.get(grouping) === x.id) continue;
      deleteGroups.push({
        grouping,
        id: x.id,
        reason: desired.has(grouping) ? "its policy changed" : "no longer needed",
      });
    }
  }

  deleteServers.sort(byMemberThenId);
  deleteVolumes.sort(byMemberThenId);
  return {
    ...base,
    kept,
    deleteServers,
    deleteVolumes,
    create,
    moves,
    detaches,
    createGroups,
    keepGroups,
    deleteGroups,
    resizes,
    rebuilds,
    extends: extendsList,
    retypes,
    securityGroups,
    networks,
    metadata,
    attaches,
  };
}

function groupFits(live: ServerGroupInfo, want: DesiredGroup): boolean {
  return live.policy === want.policy && (live.maxServerPerHost ?? 1) === (want.maxServerPerHost ?? 1);
}

function memberTag(o: { metadata: Record<string, string> }): { member?: string } {
  const m = o.metadata[TAG_MEMBER];
  return m === undefined ? {} : { member: m };
}

function byMemberThenId(a: Doomed, b: Doomed): number {
  return cmp(a.member ?? "", b.member ?? "") || cmp(a.id, b.id);
}

function sortedMembers(spec: ClusterSpec): Member[] {
  return [...spec.members].sort((a, b) => cmp(a.name, b.name));
}
