// The in-place edits of kept members, each one backend action and the check that it took: rebuild
// (a new image, key or user data), networks, security groups, metadata, retype. Every one reads the member back
// and fails, naming what the cloud shows, when the edit didn't take: verified, never assumed.
import type { RebuildOptions, ServerInfo, VolumeInfo } from "../backends/backend";
import type { ServerMember } from "../model/cluster";
import { quote } from "../model/text";
import { waitServer, waitVolume } from "./actions";
import type { ChangeSet, NetworkChange, Rebuild } from "./changes";
import { type Ctx, completed, type Run } from "./context";
import { clusterPrefix } from "./errors";
import { looksLikeId } from "./inputs";
import { SERVER_ACTIVE, until, type WaitMachine } from "./wait";

/**
 * Rebuild a kept server: with another image, or its own again for a new key_name or user_data (Nova
 * 2.54/2.57). The wait ends on ACTIVE showing the target image (compared by identity, or any image
 * other than the one it had) and the new key.
 */
export async function rebuild(ctx: Ctx, run: Run, r: Rebuild): Promise<void> {
  const head = clusterPrefix(run.p.spec.name);
  const what = `server "${r.member}"`;
  const { sameImage } = run.p.identity;
  const from = run.servers.get(r.member)?.imageRef;
  const member = run.p.spec.members.find((m): m is ServerMember => m.type === "server" && m.name === r.member);
  const options: RebuildOptions = {
    ...(r.keyName ? { keyName: r.keyName.to } : {}),
    ...(r.userData ? { userData: member?.userData ?? null } : {}),
  };
  if (!r.keyName && !r.userData && from !== undefined && sameImage(from, r.to)) {
    ctx.log("info", `${head}${what} already runs image "${r.to}" (shown as "${from}"); nothing to rebuild`);
    return;
  }
  await ctx.ops.rebuildServer(r.id, r.to, options);
  const imageOk = (s: ServerInfo) =>
    !r.image || sameImage(s.imageRef, r.to) || (from !== undefined && !sameImage(s.imageRef, from));
  const keyOk = (s: ServerInfo) => !r.keyName || s.keyName === undefined || s.keyName === r.keyName.to;
  const goal = [
    "ACTIVE",
    ...(r.image ? [`with image "${r.to}"`] : []),
    ...(r.keyName ? [`keyName ${r.keyName.to === null ? "none" : quote(r.keyName.to)}`] : []),
  ].join(" ");
  const machine = until(
    SERVER_ACTIVE,
    (s) => imageOk(s) && keyOk(s),
    goal,
    (s) =>
      `image "${s.imageRef}"${s.keyName !== undefined ? `, keyName ${s.keyName === null ? "none" : quote(s.keyName)}` : ""}`,
    (s) => r.image && from !== undefined && sameImage(s.imageRef, from),
  );
  const s = await waitServer(ctx, r.id, what, machine, ctx.timeouts.serverMs, run.abort.signal, run.p.spec.name);
  run.servers.set(r.member, s as ServerInfo);
  if (r.image) completed(run, r.member, "image");
  if (r.keyName) completed(run, r.member, "key_name");
  if (r.userData) completed(run, r.member, "user_data");
  const did = [
    ...(r.image ? [`image "${r.to}"`] : []),
    ...(r.keyName ? [`keyName ${r.keyName.to === null ? "none" : quote(r.keyName.to)}`] : []),
    ...(r.userData ? [r.userData === "removed" ? "no userData" : "the new userData"] : []),
  ];
  ctx.log("info", `${head}rebuilt ${what} with ${did.join(", ")}`);
}

/**
 * Changes a kept server's networks in place: detaches the dropped ones, then attaches the new ones (a
 * port each, listed last), then counts its ports. Detaches first: an attach is what fails (no such
 * network, no address left), and the retry of a pending edit attaches again but can't tell which
 * network it was to detach (the spec then looks unchanged: Pulumi records a failed update's inputs).
 */
export async function changeNetworks(ctx: Ctx, run: Run, n: NetworkChange): Promise<void> {
  const what = `server "${n.member}"`;
  for (const network of n.detach) await ctx.ops.detachNetwork(n.id, network);
  for (const network of n.attach) await ctx.ops.attachNetwork(n.id, network);
  const member = run.p.spec.members.find((m): m is ServerMember => m.type === "server" && m.name === n.member);
  const groups = [...new Set(member?.securityGroups ?? ["default"])];
  if (n.attach.length > 0 && groups.some((g) => g !== "default")) {
    // A new port has the project's default group only, and Nova adds a group to every port or fails on
    // one that has it: each named group comes off, then goes on every port.
    for (const g of groups.filter((x) => x !== "default")) {
      await ctx.ops.removeSecurityGroup(n.id, g);
      await ctx.ops.addSecurityGroup(n.id, g);
    }
    if (!groups.includes("default")) await ctx.ops.removeSecurityGroup(n.id, "default");
  }
  const s = await ctx.ops.getServer(n.id);
  if (!s) throw new Error(`${what} disappeared while its networks changed`);
  const ports = s.ports ?? (await ctx.ops.serverPorts(n.id));
  // One port per network named: more is a network not detached (or one added by hand), fewer one not attached.
  if (ports !== undefined && ports.length !== n.to.length) {
    const shown = Object.keys(s.addresses ?? {});
    throw new Error(
      `${what}: the networks did not change as asked: it has ${ports.length} port(s)${shown.length > 0 ? ` (on ${shown.map(quote).join(", ")})` : ""}, the spec names ${n.to.length} network(s) (${n.to.map(quote).join(", ")}); hint: detach the others by hand (openstack server remove network), or name them in networks`,
    );
  }
  run.servers.set(n.member, ports !== undefined ? { ...s, ports } : s);
  completed(run, n.member, "networks");
  ctx.log(
    "info",
    `${clusterPrefix(run.p.spec.name)}${what}: networks ${[...n.attach.map((x) => `+${quote(x)}`), ...n.detach.map((x) => `-${quote(x)}`)].join(" ")}`,
  );
}

/** Adds and removes a kept server's security groups, then reads them back. */
export async function changeSecurityGroups(ctx: Ctx, run: Run, g: ChangeSet["securityGroups"][number]): Promise<void> {
  const what = `server "${g.member}"`;
  // Add first: a port never goes without a group in between.
  for (const name of g.add) await ctx.ops.addSecurityGroup(g.id, name);
  for (const name of g.remove) await ctx.ops.removeSecurityGroup(g.id, name);
  const s = await ctx.ops.getServer(g.id);
  if (!s) throw new Error(`${what} disappeared while its security groups changed`);
  const shown = s.securityGroups;
  if (shown !== undefined) {
    const missing = g.add.filter((x) => !looksLikeId(x) && !shown.includes(x));
    const left = g.remove.filter((x) => !looksLikeId(x) && shown.includes(x));
    if (missing.length > 0 || left.length > 0) {
      throw new Error(
        `${what}: the security groups did not change as asked: it shows ${shown.length > 0 ? shown.map(quote).join(", ") : "none"}${missing.length > 0 ? `, without ${missing.map(quote).join(", ")}` : ""}${left.length > 0 ? `, still with ${left.map(quote).join(", ")}` : ""}`,
      );
    }
  }
  run.servers.set(g.member, s);
  completed(run, g.member, "security_groups");
  ctx.log(
    "info",
    `${clusterPrefix(run.p.spec.name)}${what}: security groups ${[...g.add.map((x) => `+${quote(x)}`), ...g.remove.map((x) => `-${quote(x)}`)].join(" ")}`,
  );
}

/** Sets and deletes metadata keys of a kept server or volume, then reads them back. */
export async function changeMetadata(ctx: Ctx, run: Run, md: ChangeSet["metadata"][number]): Promise<void> {
  const what = `${md.type} "${md.member}"`;
  let now: ServerInfo | VolumeInfo | undefined;
  if (md.type === "server") {
    await ctx.ops.updateServerMetadata(md.id, md.set, md.remove);
    now = await ctx.ops.getServer(md.id);
  } else {
    await ctx.ops.updateVolumeMetadata(md.id, md.set, md.remove);
    now = await ctx.ops.getVolume(md.id);
  }
  if (!now) throw new Error(`${what} disappeared while its metadata changed`);
  const wrong = [
    ...Object.entries(md.set)
      .filter(([k, v]) => now.metadata[k] !== v)
      .map(([k]) => `${quote(k)} is not set`),
    ...md.remove.filter((k) => Object.hasOwn(now.metadata, k)).map((k) => `${quote(k)} is still there`),
  ];
  if (wrong.length > 0) throw new Error(`${what}: the metadata did not change as asked: ${wrong.join(", ")}`);
  if (md.type === "server") run.servers.set(md.member, now as ServerInfo);
  else run.volumes.set(md.member, now as VolumeInfo);
  completed(run, md.member, "metadata");
  ctx.log("info", `${clusterPrefix(run.p.spec.name)}${what}: metadata changed`);
}

/** Cinder retype of a kept volume; waits until it rests again with the new type. */
export async function retype(ctx: Ctx, run: Run, r: ChangeSet["retypes"][number]): Promise<void> {
  const what = `volume "${r.member}"`;
  const before = run.volumes.get(r.member)?.volumeType;
  await ctx.ops.retypeVolume(r.id, r.to);
  const machine: WaitMachine<VolumeInfo> = {
    goal: `available or in-use with type "${r.to}"`,
    pending: ["retyping", "extending", "attaching", "detaching"],
    target: ["available", "in-use"],
    failure: ["error", "error_extending"],
    // Cinder may show the type by another name than the spec's: any type but the old one is the new one.
    done: (v) =>
      v.volumeType === r.to || (before !== undefined && v.volumeType !== undefined && v.volumeType !== before),
    show: (v) => `type ${v.volumeType === undefined ? "(none)" : quote(v.volumeType)}`,
    // Cinder gives a retype it can't make up (no backend takes the type) by going back as it was.
    reverted: (v) => before !== undefined && v.volumeType === before,
  };
  const v = await waitVolume(ctx, r.id, what, machine, ctx.timeouts.volumeMs, run.abort.signal, false, run.p.spec.name);
  run.volumes.set(r.member, v as VolumeInfo);
  completed(run, r.member, "volume_type");
  ctx.log("info", `${clusterPrefix(run.p.spec.name)}retyped ${what} to "${r.to}"`);
}
