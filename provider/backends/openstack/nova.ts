// Nova, pure: microversion negotiation, request bodies and response mapping. No I/O here (nova-client.ts).
import type {
  NetworkAddresses,
  RebuildOptions,
  ServerCreate,
  ServerGroupCreate,
  ServerGroupInfo,
  ServerGroupPolicy,
  ServerInfo,
} from "../backend";

export interface Microversion {
  major: number;
  minor: number;
}

/** The newest compute microversion this client speaks and the oldest it accepts. */
export const NOVA_MAX: Microversion = { major: 2, minor: 96 };
export const NOVA_MIN: Microversion = { major: 2, minor: 60 };

export function parseMicroversion(s: string | undefined): Microversion | undefined {
  const m = /^(\d+)\.(\d+)$/.exec((s ?? "").trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

export function cmpMicroversion(a: Microversion, b: Microversion): number {
  return a.major - b.major || a.minor - b.minor;
}

export function formatMicroversion(v: Microversion): string {
  return `${v.major}.${v.minor}`;
}

export function at(v: Microversion, minor: number): boolean {
  return v.major > 2 || (v.major === 2 && v.minor >= minor);
}

/**
 * From `GET /` of the compute endpoint ({"version": {"version", "min_version"}}, or {"versions": [...]} at the
 * unversioned root): the newest version both sides speak, or an error saying why none.
 */
export function negotiateMicroversion(
  body: unknown,
  max: Microversion = NOVA_MAX,
  min: Microversion = NOVA_MIN,
): Microversion | { error: string } {
  const root = body as { version?: VersionDoc; versions?: VersionDoc[] } | undefined;
  const doc = root?.version ?? root?.versions?.find((v) => v.id === "v2.1");
  const serverMax = parseMicroversion(doc?.version);
  const serverMin = parseMicroversion(doc?.min_version) ?? { major: 2, minor: 1 };
  if (!serverMax) {
    return { error: "the compute endpoint does not announce microversions (v2.1 API required)" };
  }
  const chosen = cmpMicroversion(serverMax, max) < 0 ? serverMax : max;
  if (cmpMicroversion(chosen, min) < 0 || cmpMicroversion(chosen, serverMin) < 0) {
    return {
      error:
        `the cloud's compute API supports ${formatMicroversion(serverMin)}–${formatMicroversion(serverMax)}, ` +
        `this client needs ${formatMicroversion(min)}–${formatMicroversion(max)} (Nova Rocky or newer)`,
    };
  }
  return chosen;
}

interface VersionDoc {
  id?: string;
  version?: string;
  min_version?: string;
}

export function microversionHeaders(v: Microversion): Record<string, string> {
  const s = formatMicroversion(v);
  return { "openstack-api-version": `compute ${s}`, "x-openstack-nova-api-version": s };
}

// Nova server groups carry no metadata, so the product's tags ride in the group's name:
// "<name> [key=value key=value]" with %, space, =, [ and ] escaped.
function esc(s: string): string {
  return s.replace(/[% =[\]]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export function serverGroupName(name: string, metadata: Record<string, string>): string {
  const pairs = Object.keys(metadata)
    .sort()
    .map((k) => `${esc(k)}=${esc(metadata[k] ?? "")}`);
  return pairs.length === 0 ? name : `${name} [${pairs.join(" ")}]`;
}

export function parseServerGroupName(full: string): { name: string; metadata: Record<string, string> } {
  const m = /^(.*) \[([^[\]]*)\]$/.exec(full);
  if (!m) return { name: full, metadata: {} };
  const metadata: Record<string, string> = {};
  for (const pair of (m[2] ?? "").split(" ")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) return { name: full, metadata: {} };
    metadata[decodeURIComponent(pair.slice(0, eq))] = decodeURIComponent(pair.slice(eq + 1));
  }
  return { name: m[1] ?? "", metadata };
}

export function serverGroupBody(req: ServerGroupCreate, v: Microversion): unknown {
  const name = serverGroupName(req.name, req.metadata);
  if (at(v, 64)) {
    const rules =
      req.policy === "anti-affinity" && req.maxServerPerHost !== undefined
        ? { rules: { max_server_per_host: req.maxServerPerHost } }
        : {};
    return { server_group: { name, policy: req.policy, ...rules } };
  }
  // Below 2.64 there is no max_server_per_host: refuse rather than silently create a stricter group.
  if (req.maxServerPerHost !== undefined && req.maxServerPerHost !== 1) {
    throw new Error(
      `max_server_per_host ${req.maxServerPerHost} needs compute API 2.64; this cloud offers ${formatMicroversion(v)}`,
    );
  }
  return { server_group: { name, policies: [req.policy] } };
}

interface RawServerGroup {
  id: string;
  name?: string;
  policy?: string;
  policies?: string[];
  rules?: { max_server_per_host?: number | string };
  members?: string[];
}

export function parseServerGroup(raw: RawServerGroup): ServerGroupInfo {
  const policy = (raw.policy ?? raw.policies?.[0] ?? "anti-affinity") as ServerGroupPolicy;
  const { name, metadata } = parseServerGroupName(raw.name ?? "");
  const max = raw.rules?.max_server_per_host;
  return {
    id: raw.id,
    name,
    policy,
    ...(max !== undefined ? { maxServerPerHost: Number(max) } : {}),
    members: raw.members ?? [],
    metadata,
  };
}

export interface ServerBodyContext {
  microversion: Microversion;
  /** Flavor id for the request's flavorRef (names resolved by the client). */
  flavorId: string;
  imageId: string;
  /** Used when the request names no networks. */
  defaultNetworks: "auto" | "none" | string[];
}

export function serverCreateBody(req: ServerCreate, ctx: ServerBodyContext): unknown {
  const v = ctx.microversion;
  const nets = req.networks && req.networks.length > 0 ? req.networks : ctx.defaultNetworks;
  const server: Record<string, unknown> = {
    name: req.name,
    imageRef: ctx.imageId,
    flavorRef: ctx.flavorId,
    networks: typeof nets === "string" ? nets : nets.map((uuid) => ({ uuid })),
    metadata: req.metadata,
  };
  if (req.host !== undefined) {
    // 2.74 `host` still runs the scheduler filters (server groups stay enforced); the older "zone:host" skips them.
    if (at(v, 74)) {
      server.host = req.host;
      if (req.zone !== undefined) server.availability_zone = req.zone;
    } else {
      server.availability_zone = `${req.zone ?? ""}:${req.host}`;
    }
  } else if (req.zone !== undefined) {
    server.availability_zone = req.zone;
  }
  if (req.keyName !== undefined) server.key_name = req.keyName;
  if (req.securityGroups !== undefined) server.security_groups = req.securityGroups.map((name) => ({ name }));
  if (req.userData !== undefined) server.user_data = Buffer.from(req.userData, "utf8").toString("base64");
  const hints: Record<string, unknown> = {};
  if (req.serverGroupId !== undefined) hints.group = req.serverGroupId;
  if (req.sameHost && req.sameHost.length > 0) hints.same_host = req.sameHost;
  if (req.differentHost && req.differentHost.length > 0) hints.different_host = req.differentHost;
  return Object.keys(hints).length > 0 ? { server, "os:scheduler_hints": hints } : { server };
}

export interface RawServer {
  id: string;
  name?: string;
  status?: string;
  fault?: { message?: string; code?: number };
  flavor?: { id?: string; original_name?: string };
  image?: { id?: string } | string;
  "OS-EXT-AZ:availability_zone"?: string;
  "OS-EXT-SRV-ATTR:host"?: string | null;
  hostId?: string;
  metadata?: Record<string, string>;
  "os-extended-volumes:volumes_attached"?: Array<{ id: string }>;
  key_name?: string | null;
  /** Absent when no port of the server has a security group (Nova lists them from Neutron's ports). */
  security_groups?: Array<{ name?: string }>;
  /** By network name: every address of the server's ports there, fixed and floating (OS-EXT-IPS:type). */
  addresses?: Record<string, Array<{ addr?: string; version?: number; "OS-EXT-IPS:type"?: string }>>;
}

/**
 * Nova's `addresses` as fixed and floating IPs per network, networks in Nova's order (that of the
 * server's ports). An entry without a type is fixed (Nova before the extension, or a cell that can't
 * say); malformed entries are dropped. {} while the server has no network yet (BUILD) or none at all.
 */
export function parseAddresses(raw: RawServer["addresses"]): Record<string, NetworkAddresses> {
  const out: Record<string, NetworkAddresses> = {};
  if (raw === null || typeof raw !== "object") return out;
  for (const [network, entries] of Object.entries(raw)) {
    if (!Array.isArray(entries)) continue;
    const net: NetworkAddresses = { fixed: [], floating: [] };
    for (const e of entries) {
      if (typeof e?.addr !== "string" || e.addr === "") continue;
      const list = e["OS-EXT-IPS:type"] === "floating" ? net.floating : net.fixed;
      if (!list.includes(e.addr)) list.push(e.addr);
    }
    Object.defineProperty(out, network, { value: net, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** `GET /servers/{id}/os-interface`: the ids of the server's ports, in Nova's order. */
export function parseInterfaces(body: unknown): string[] {
  return parseInterfaceAttachments(body).map((i) => i.port);
}

/** `GET /servers/{id}/os-interface`: each port with its network's id (undefined where Nova doesn't say). */
/** A server's port as os-interface lists it: its id, network and fixed addresses. */
export interface InterfaceAttachment {
  port: string;
  network?: string;
  fixedIps: string[];
}

export function parseInterfaceAttachments(body: unknown): InterfaceAttachment[] {
  const list = (
    body as { interfaceAttachments?: Array<{ port_id?: unknown; net_id?: unknown; fixed_ips?: unknown }> } | undefined
  )?.interfaceAttachments;
  if (!Array.isArray(list)) return [];
  return list
    .filter((i) => typeof i?.port_id === "string" && i.port_id !== "")
    .map((i) => ({
      port: i.port_id as string,
      ...(typeof i.net_id === "string" ? { network: i.net_id } : {}),
      fixedIps: (Array.isArray(i.fixed_ips) ? (i.fixed_ips as { ip_address?: unknown }[]) : [])
        .map((f) => f?.ip_address)
        .filter((a): a is string => typeof a === "string"),
    }));
}

export function parseServer(raw: RawServer): ServerInfo {
  const image = typeof raw.image === "object" ? (raw.image.id ?? "") : "";
  const zone = raw["OS-EXT-AZ:availability_zone"];
  const host = raw["OS-EXT-SRV-ATTR:host"];
  return {
    id: raw.id,
    name: raw.name ?? "",
    status: raw.status ?? "UNKNOWN",
    ...(raw.fault?.message ? { fault: raw.fault.message } : {}),
    // From 2.47 Nova shows the flavor's name, not its id.
    flavorRef: raw.flavor?.original_name ?? raw.flavor?.id ?? "",
    imageRef: image,
    ...(zone ? { zone } : {}),
    ...(host ? { host } : {}),
    ...(raw.hostId ? { hostId: raw.hostId } : {}),
    metadata: raw.metadata ?? {},
    volumes: (raw["os-extended-volumes:volumes_attached"] ?? []).map((v) => v.id),
    ...("key_name" in raw ? { keyName: raw.key_name ?? null } : {}),
    ...(raw.addresses !== undefined ? { addresses: parseAddresses(raw.addresses) } : {}),
    // One entry per port: each group once.
    securityGroups: [
      ...new Set((raw.security_groups ?? []).map((g) => g.name).filter((n): n is string => typeof n === "string")),
    ].sort(),
  };
}

/**
 * `POST /servers/{id}/action` `{"rebuild": …}` with the image's id; `key_name` needs compute 2.54
 * and `user_data` 2.57 (null removes either). The user data goes base64-encoded, as on create.
 */
export function rebuildBody(imageId: string, options: RebuildOptions, v: Microversion): unknown {
  const rebuild: Record<string, unknown> = { imageRef: imageId };
  if (options.keyName !== undefined) {
    if (!at(v, 54))
      throw new Error(
        `changing a server's key_name needs compute API 2.54; this cloud offers ${formatMicroversion(v)}`,
      );
    rebuild.key_name = options.keyName;
  }
  if (options.userData !== undefined) {
    if (!at(v, 57))
      throw new Error(
        `changing a server's user_data needs compute API 2.57; this cloud offers ${formatMicroversion(v)}`,
      );
    rebuild.user_data = options.userData === null ? null : Buffer.from(options.userData, "utf8").toString("base64");
  }
  return { rebuild };
}

export function matchesTags(metadata: Record<string, string>, tags: Record<string, string>): boolean {
  return Object.entries(tags).every(([k, v]) => metadata[k] === v);
}

/** Next page from a `*_links` array, if any. */
export function nextLink(links: unknown): string | undefined {
  if (!Array.isArray(links)) return undefined;
  const next = links.find((l) => (l as { rel?: string }).rel === "next") as { href?: string } | undefined;
  return next?.href;
}
