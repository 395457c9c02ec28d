// The edits of a kept member's inputs besides flavor, image and size, pure: key_name, user_data,
// security_groups, metadata and networks of a server; volume_type and metadata of a volume. Each is
// applied in place where the cloud allows it, else the member is replaced, else apply refuses at
// preview; none is ever dropped:
//
// | field           | compared with                     | applied by                                        |
// |-----------------|-----------------------------------|---------------------------------------------------|
// | key_name        | the cloud (Nova shows it)         | rebuild (Nova 2.54): the root disk is wiped        |
// | user_data       | the previous spec (Nova hides it) | rebuild (Nova 2.57): the root disk is wiped        |
// | security_groups | the previous spec                 | addSecurityGroup / removeSecurityGroup, in place   |
// | metadata        | the cloud, keys of the previous   | set / delete keys, in place                        |
// | networks        | the previous spec                 | attach/detach in place (Nova os-interface), else   |
// |                 |                                   | the server is replaced: see changes.ts networkEdit |
// | volume_type     | the cloud (or the applied type)   | Cinder retype (migrating on demand), in place      |
//
// Security groups compare with the previous spec, not the cloud: Nova shows them by name while a spec
// may give ids, and a server without ports shows none at all. Metadata sets every key whose value on
// the cloud differs and deletes only the keys the previous spec had and this one drops: keys others set
// (Cinder's own, an operator's) stay. A field absent from both specs is not managed (a server keeps the
// key or groups the cloud gave it).
//
// "The previous spec" is what the caller kept of the last apply (PreviousInputs): Pulumi's previous
// inputs, or the command's record, which holds a keyed digest of user_data, never the data. An edit a
// failed update did not finish is marked pending in the state (MemberState.pending) and made next time.
import type { ServerInfo, VolumeInfo } from "../backends/backend";
import { TAG_CLUSTER, TAG_GROUPING, TAG_MEMBER } from "../backends/backend";
import type { ClusterSpec, Member, ServerMember, VolumeMember } from "../model/cluster";
import type { ClusterState } from "../model/state";
import { cmp, quote } from "../model/text";

/** An edit's field, as Nova and Cinder name it (and as messages and MemberState.pending show it). */
export type EditField =
  | "flavor"
  | "image"
  | "key_name"
  | "user_data"
  | "networks"
  | "security_groups"
  | "metadata"
  | "size"
  | "volume_type";

/** The spec the last apply was asked for, as its caller kept it. */
export interface PreviousInputs {
  spec: ClusterSpec;
  /**
   * Whether a member's recorded user data (`recorded`, undefined: none) is `userData`; undefined
   * when that can't be told. Default: compared as written. The command records a keyed digest, not
   * the data, and passes its own comparison (undefined for a digest made with another key).
   */
  sameUserData?: (member: string, recorded: string | undefined, userData: string | undefined) => boolean | undefined;
}

export interface MetadataEdit {
  set: Record<string, string>;
  remove: string[];
  /** What the cloud shows now, for messages. */
  before: Record<string, string>;
}

/** The product's own tags: never the spec's to set or delete. */
const OWN_TAGS = new Set<string>([TAG_CLUSTER, TAG_MEMBER, TAG_GROUPING]);

/** What was asked for before and what is pending: one place the diff asks. */
export class History {
  private readonly before: Map<string, Member>;
  constructor(
    private readonly previous: PreviousInputs | undefined,
    private readonly state: ClusterState | undefined,
  ) {
    this.before = new Map((previous?.spec.members ?? []).map((m) => [m.name, m]));
  }

  /** Whether the caller kept the previous spec at all. */
  get known(): boolean {
    return this.previous !== undefined;
  }

  /** The member as the previous spec had it (undefined: not in it, or no previous spec). */
  member(name: string): Member | undefined {
    return this.before.get(name);
  }

  /**
   * Metadata keys the member had from the previous spec, and those a failed update was to delete
   * (MemberState.staleMetadataKeys): the keys a spec that drops them deletes.
   */
  metadataKeysBefore(name: string): string[] {
    const keys = new Set(Object.keys(this.member(name)?.metadata ?? {}));
    for (const k of this.state?.members[name]?.staleMetadataKeys ?? []) keys.add(k);
    return [...keys].sort(cmp);
  }

  /** The volume type the state says was applied (Cinder may show it by another name). */
  appliedVolumeType(name: string): string | undefined {
    return this.state?.members[name]?.volumeType;
  }

  pending(name: string, field: EditField): boolean {
    return this.state?.members[name]?.pending?.includes(field) ?? false;
  }

  /** true: the user data changed since the last apply; false: it didn't; undefined: can't tell. */
  userDataChanged(m: ServerMember): boolean | undefined {
    if (this.pending(m.name, "user_data")) return true;
    const was = this.member(m.name);
    if (!this.previous || was?.type !== "server") return undefined;
    const same = this.previous.sameUserData ?? ((_m, a, b) => a === b);
    const r = same(m.name, was.userData, m.userData);
    return r === undefined ? undefined : !r;
  }

  /** The networks before, when they changed (or a change of them is pending); else undefined. */
  networksChange(m: ServerMember): { from: string[] | undefined } | undefined {
    const was = this.member(m.name);
    if (this.pending(m.name, "networks")) return { from: was?.type === "server" ? was.networks : undefined };
    if (was?.type !== "server") return undefined;
    return sameList(was.networks, m.networks) ? undefined : { from: was.networks };
  }
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** A security group given by id: Nova shows groups by name, so its presence can't be read back. */
export function looksLikeId(ref: string): boolean {
  return /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(ref);
}

/** Nova's groups when none are asked for. */
const DEFAULT_GROUPS = ["default"];

function groupsOf(m: Member | undefined): string[] | undefined {
  return m?.type === "server" && m.securityGroups !== undefined ? [...new Set(m.securityGroups)].sort(cmp) : undefined;
}

export interface ServerEdits {
  keyName?: { from: string | null; to: string | null };
  /** The user data changed ("removed": the spec has none now). Never the data itself. */
  userData?: "changed" | "removed";
  securityGroups?: { add: string[]; remove: string[] };
  metadata?: MetadataEdit;
}

export interface VolumeEdits {
  volumeType?: { from: string | undefined; to: string };
  metadata?: MetadataEdit;
}

/** A kept server's in-place edits; `problems` are edits the cloud can't make (apply refuses them). */
export function serverEdits(
  clusterHeadText: string,
  m: ServerMember,
  s: ServerInfo,
  history: History,
): { edits: ServerEdits; problems: string[] } {
  const edits: ServerEdits = {};
  const problems: string[] = [];
  const was = history.member(m.name);

  // key_name: Nova shows it; managed once a spec names one.
  const wasKey = was?.type === "server" ? was.keyName : undefined;
  if (
    s.keyName !== undefined &&
    (m.keyName !== undefined || wasKey !== undefined || history.pending(m.name, "key_name"))
  ) {
    const to = m.keyName ?? null;
    if (s.keyName !== to) edits.keyName = { from: s.keyName, to };
  }

  const userData = history.userDataChanged(m);
  if (userData) edits.userData = m.userData === undefined ? "removed" : "changed";

  // security_groups: against the previous spec (see the top of this file).
  const before = groupsOf(was);
  const now = groupsOf(m);
  const pendingGroups = history.pending(m.name, "security_groups");
  if (history.known && (before !== undefined || now !== undefined || pendingGroups)) {
    const live = s.securityGroups;
    const to = now ?? DEFAULT_GROUPS;
    const from = before ?? (was ? DEFAULT_GROUPS : (live ?? DEFAULT_GROUPS));
    // An edit a failed update left pending is made whole again: what the cloud shows decides the rest.
    let add = pendingGroups ? to : to.filter((g) => !from.includes(g));
    let remove = (pendingGroups ? (live ?? from) : from).filter((g) => !to.includes(g));
    // What the cloud already shows as asked needs nothing (a group given by id can't be read back).
    if (live !== undefined) {
      add = add.filter((g) => looksLikeId(g) || !live.includes(g));
      remove = remove.filter((g) => looksLikeId(g) || live.includes(g));
    }
    if (live !== undefined && live.length === 0) {
      // No port takes groups: going back to the default is moot, anything else can't be done.
      if (add.length > 0 && !sameList(to, DEFAULT_GROUPS)) {
        problems.push(
          `${clusterHeadText}server ${quote(m.name)} can't change its securityGroups to ${listQuoted(to)}: it has no network port that takes security groups (no network, or port security off); hint: give it networks, or keep its securityGroups as they were`,
        );
      }
    } else if (add.length > 0 || remove.length > 0) {
      edits.securityGroups = { add, remove };
    }
  }

  const metadata = metadataEdit(m.metadata, history.metadataKeysBefore(m.name), s.metadata);
  if (metadata) edits.metadata = metadata;
  return { edits, problems };
}

/** A kept volume's in-place edits. `appliedType`: the type the state says was applied (Cinder may show another name). */
export function volumeEdits(
  m: VolumeMember,
  v: VolumeInfo,
  appliedType: string | undefined,
  history: History,
): VolumeEdits {
  const edits: VolumeEdits = {};
  const current = appliedType ?? v.volumeType;
  if (m.volumeType !== undefined && (m.volumeType !== current || history.pending(m.name, "volume_type"))) {
    if (m.volumeType !== v.volumeType) edits.volumeType = { from: current, to: m.volumeType };
  }
  const metadata = metadataEdit(m.metadata, history.metadataKeysBefore(m.name), v.metadata);
  if (metadata) edits.metadata = metadata;
  return edits;
}

function metadataEdit(
  want: Record<string, string> | undefined,
  before: readonly string[],
  live: Record<string, string>,
): MetadataEdit | undefined {
  const set: Record<string, string> = {};
  for (const k of Object.keys(want ?? {}).sort(cmp)) {
    if (OWN_TAGS.has(k)) continue;
    const v = want?.[k] as string;
    if (live[k] !== v) set[k] = v;
  }
  const remove = [...before]
    .filter((k) => !OWN_TAGS.has(k) && !Object.hasOwn(want ?? {}, k) && Object.hasOwn(live, k))
    .sort(cmp);
  if (Object.keys(set).length === 0 && remove.length === 0) return undefined;
  const shownBefore: Record<string, string> = {};
  for (const k of [...Object.keys(set), ...remove]) if (Object.hasOwn(live, k)) shownBefore[k] = live[k] as string;
  return { set, remove, before: shownBefore };
}

/** A volume_type the spec dropped: the volume keeps its type (Cinder has no "back to the default"). */
export function droppedVolumeType(m: VolumeMember, history: History): string | undefined {
  const was = history.member(m.name);
  return m.volumeType === undefined && was?.type === "volume" ? was.volumeType : undefined;
}

export function listQuoted(xs: readonly string[]): string {
  return xs.length === 0 ? "none" : xs.map(quote).join(", ");
}
