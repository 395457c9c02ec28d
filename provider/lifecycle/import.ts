// Adopting a cluster whose members already exist (Pulumi's `import` option on a VCluster, the
// command's record of a cluster built elsewhere): find its members — by the product's tags, and by
// ids the caller names for members that carry none — verify them against the spec, and build the
// cluster's state from what is there. Nothing on the cloud is created, changed or deleted: what
// differs from the spec is reported, and recorded so that the next apply makes it so (members
// missing are created, edits marked pending, members the spec doesn't name deleted), and that
// apply's preview shows it member by member first.
import { type ServerInfo, TAG_CLUSTER, TAG_MEMBER, type VolumeInfo } from "../backends/backend";
import type { ClusterSpec, Member } from "../model/cluster";
import { record, sortRecord } from "../model/records";
import { type ClusterState, type MemberState, MISSING, STATE_VERSION } from "../model/state";
import { cmp, plural, quote } from "../model/text";
import type { Ctx, Run } from "./context";
import { clusterPrefix, describeError, LifecycleError } from "./errors";
import { type EditField, looksLikeId } from "./inputs";
import { discover, prepare } from "./prepare";
import { refresh } from "./refresh";
import { partialState, unfinishedEdits } from "./state-builders";
import { describeSteps, memberLines } from "./steps";

export interface ImportResult {
  /** The cluster's state as found, differences marked for the next apply. */
  state: ClusterState;
  /** Per member found: its id and how it was found. */
  found: { member: string; type: Member["type"]; id: string; by: "tags" | "id" }[];
  /** Members of the spec not found: the next apply creates them. */
  missing: string[];
  /** What differs from the spec, one line per member (the next apply's changes), and objects it deletes. */
  differences: string[];
  /** What can't be verified (user data, security groups given by id), one line each. */
  unverified: string[];
}

/**
 * Finds and verifies; throws LifecycleError("invalid") for ids that can't be what they are said to be
 * (unknown, another type, another cluster's or member's), and when nothing of the cluster exists.
 */
export async function importCluster(
  ctx: Ctx,
  spec: ClusterSpec,
  ids: Readonly<Record<string, string>>,
): Promise<ImportResult> {
  const head = clusterPrefix(spec.name);
  const members = new Map(spec.members.map((m) => [m.name, m]));
  const named = await checkNamedIds(ctx, spec, members, ids);
  const discovery = await discover(ctx, spec.name);

  // Seeded with the named ids, the survey finds those and every object tagged with the cluster.
  const seed: ClusterState = {
    stateVersion: STATE_VERSION,
    clusterName: spec.name,
    backendKind: ctx.backend.kind,
    backendId: ctx.options.backendId ?? ctx.backend.description,
    mode: discovery.mode,
    members: sortRecord(
      Object.fromEntries(
        [...named].map(([member, obj]) => [
          member,
          { name: member, type: (members.get(member) as Member).type, id: obj.id, status: obj.status },
        ]),
      ),
    ),
    serverGroups: {},
    placement: {},
    softViolations: [],
    brokenRules: [],
    missing: [],
  };
  let found: ClusterState;
  try {
    found = await partialState(ctx, spec.name, discovery.mode, discovery.topology, seed);
  } catch (e) {
    if (e instanceof LifecycleError) throw e;
    throw new LifecycleError("backend", `${head}import failed: ${describeError(e)}`, { cause: e });
  }
  const present = Object.keys(found.members).filter((n) => members.has(n));
  if (present.length === 0) {
    throw new LifecycleError(
      "invalid",
      `${head}nothing to import: no server or volume on the ${ctx.backend.description} is tagged as a member of it (hint: check the cluster's name; name members that carry no tags by id, as "${spec.name}:<member>=<id>,…"; or remove the import to create the cluster)`,
    );
  }

  // Members the spec has but the cloud doesn't: recorded missing (the next apply creates them).
  const withMissing: Record<string, MemberState> = record();
  for (const [name, m] of Object.entries(found.members)) withMissing[name] = m;
  const missing = spec.members.filter((m) => !found.members[m.name]).map((m) => m.name);
  for (const name of missing) {
    withMissing[name] = { name, type: (members.get(name) as Member).type, id: "", status: MISSING };
  }
  // Re-read as a refresh does: rules evaluated on where members really are, ports, MISSING listed.
  const state = await refresh(ctx, { ...found, members: sortRecord(withMissing) }, spec);

  // What the next apply would do is what differs.
  const p = await prepare(ctx, spec, state, {});
  const differences: string[] = [];
  const unverified: string[] = [];
  if (p.changes) {
    const placement = p.result.placed ? p.result.placement : undefined;
    for (const line of memberLines(spec.name, describeSteps(spec, p.changes, placement))) {
      // Members to create are said once (missing); members the spec lacks, below.
      if (members.has(line.member) && !missing.includes(line.member)) differences.push(line.text);
    }
    // Marked pending, so the next preview sees them although the inputs it compares are the same.
    const planned = unfinishedEdits({ p, completed: new Set(), made: new Set() } as unknown as Run);
    for (const [name, u] of planned) {
      const m = state.members[name];
      if (m) m.pending = [...new Set([...(m.pending ?? []), ...u.fields])].sort(cmp);
    }
  }
  for (const name of Object.keys(state.members).sort(cmp)) {
    if (!members.has(name)) {
      differences.push(
        `${head}${state.members[name]?.type ?? "member"} ${quote(name)} (${state.members[name]?.id}) is tagged as a member but the spec has none of that name: the next pulumi up deletes it (hint: add it to the spec to keep it)`,
      );
    }
  }
  // What the cloud shows but the plan doesn't compare without a previous spec.
  for (const m of spec.members) {
    if (m.type !== "server") continue;
    const s = p.live.servers.get(m.name);
    if (!s) continue;
    const edits: EditField[] = [];
    const groups = m.securityGroups !== undefined ? [...new Set(m.securityGroups)].sort(cmp) : undefined;
    if (groups !== undefined && s.securityGroups !== undefined) {
      if (groups.some(looksLikeId))
        unverified.push(
          `${head}server ${quote(m.name)}: security groups given by id can't be told from what Nova shows (names)`,
        );
      else if (groups.join("\u0000") !== [...s.securityGroups].sort(cmp).join("\u0000")) {
        differences.push(
          `${head}server ${quote(m.name)}: security groups ${listOf(s.securityGroups)}, the spec says ${listOf(groups)}`,
        );
        edits.push("security_groups");
      }
    }
    const nets = networksDiffer(m.networks, s);
    if (nets) {
      differences.push(
        `${head}server ${quote(m.name)}: on networks ${listOf(nets.live)}, the spec says ${listOf(nets.want)}: the next pulumi up replaces it (its disks are lost)`,
      );
      edits.push("networks");
    }
    if (m.userData !== undefined) {
      unverified.push(
        `${head}server ${quote(m.name)}: its user data can't be read back from Nova; taken to be the spec's`,
      );
    }
    const ms = state.members[m.name];
    if (ms && edits.length > 0) ms.pending = [...new Set([...(ms.pending ?? []), ...edits])].sort(cmp);
  }

  return {
    state,
    found: present.sort(cmp).map((member) => ({
      member,
      type: (members.get(member) as Member).type,
      id: state.members[member]?.id ?? "",
      by: named.has(member) ? "id" : "tags",
    })),
    missing: missing.sort(cmp),
    differences,
    unverified: unverified.sort(cmp),
  };
}

/** The named ids, each checked: it exists, is of the member's type, and belongs to no other cluster or member. */
async function checkNamedIds(
  ctx: Ctx,
  spec: ClusterSpec,
  members: Map<string, Member>,
  ids: Readonly<Record<string, string>>,
): Promise<Map<string, ServerInfo | VolumeInfo>> {
  const head = clusterPrefix(spec.name);
  const problems: string[] = [];
  const out = new Map<string, ServerInfo | VolumeInfo>();
  const byId = new Map<string, string>();
  for (const [member, id] of Object.entries(ids).sort((a, b) => cmp(a[0], b[0]))) {
    const m = members.get(member);
    if (!m) {
      problems.push(`${head}the import names member ${quote(member)}, which the spec doesn't have`);
      continue;
    }
    const twice = byId.get(id);
    if (twice !== undefined) {
      problems.push(`${head}the import names ${quote(id)} for both ${quote(twice)} and ${quote(member)}`);
      continue;
    }
    byId.set(id, member);
    const [server, volume] = await Promise.all([
      m.type === "server" ? ctx.ops.getServer(id) : undefined,
      m.type === "volume" ? ctx.ops.getVolume(id) : undefined,
    ]);
    const obj = server ?? volume;
    if (!obj) {
      const other = m.type === "server" ? await ctx.ops.getVolume(id) : await ctx.ops.getServer(id);
      problems.push(
        other
          ? `${head}${quote(id)}, named for ${m.type} ${quote(member)}, is a ${m.type === "server" ? "volume" : "server"}`
          : `${head}no ${m.type} ${quote(id)} (named for ${quote(member)}) on the ${ctx.backend.description}`,
      );
      continue;
    }
    const cluster = obj.metadata[TAG_CLUSTER];
    const tagged = obj.metadata[TAG_MEMBER];
    if (cluster !== undefined && cluster !== spec.name) {
      problems.push(`${head}${m.type} ${quote(id)} (named for ${quote(member)}) belongs to cluster ${quote(cluster)}`);
    } else if (cluster !== undefined && tagged !== undefined && tagged !== member) {
      problems.push(`${head}${m.type} ${quote(id)} (named for ${quote(member)}) is tagged as member ${quote(tagged)}`);
    } else {
      out.set(member, obj);
    }
  }
  if (problems.length > 0) {
    throw new LifecycleError(
      "invalid",
      problems.length === 1
        ? (problems[0] as string)
        : `${head}the import can't be made:\n${problems.map((p) => `  ${p}`).join("\n")}`,
    );
  }
  return out;
}

/** Networks by name, when the spec names them by name and the cloud shows others; undefined when they agree or can't be told. */
function networksDiffer(
  want: readonly string[] | undefined,
  s: ServerInfo,
): { want: string[]; live: string[] } | undefined {
  if (want === undefined || s.addresses === undefined || want.some(looksLikeId)) return undefined;
  const live = Object.keys(s.addresses);
  const a = [...new Set(want)].sort(cmp);
  const b = [...new Set(live)].sort(cmp);
  return a.join("\u0000") === b.join("\u0000") ? undefined : { want: a, live: b };
}

function listOf(xs: readonly string[]): string {
  return xs.length === 0 ? "none" : xs.map(quote).join(", ");
}

/** One line for the log: what an import found. */
export function importSummary(clusterName: string, r: ImportResult): string {
  const byTags = r.found.filter((f) => f.by === "tags").length;
  const byId = r.found.length - byTags;
  const how = [byTags > 0 ? `${byTags} by tags` : "", byId > 0 ? `${byId} by id` : ""].filter(Boolean).join(", ");
  const missing =
    r.missing.length > 0
      ? `; ${plural(r.missing.length, "member")} not found (${listOf(r.missing)}): the next pulumi up creates them`
      : "";
  return `${clusterPrefix(clusterName)}imports ${plural(r.found.length, "member")} (${how}); nothing on the cloud is changed${missing}`;
}
