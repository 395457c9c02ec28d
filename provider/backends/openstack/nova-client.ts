// Nova I/O: every compute call the backend makes, with the negotiated microversion on each request.
import {
  BackendError,
  type RebuildOptions,
  type ServerCreate,
  type ServerGroupCreate,
  type ServerGroupInfo,
  type ServerInfo,
} from "../backend";
import type { RawAggregate, RawFlavor, RawHypervisor, RawLimits, RawZone } from "./discovery";
import {
  type InterfaceAttachment,
  type Microversion,
  matchesTags,
  microversionHeaders,
  negotiateMicroversion,
  nextLink,
  parseInterfaceAttachments,
  parseInterfaces,
  parseServer,
  parseServerGroup,
  type RawServer,
  rebuildBody,
  serverCreateBody,
  serverGroupBody,
} from "./nova";
import type { ServiceRequest, Session } from "./session";

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export class NovaClient {
  private version: Promise<Microversion> | undefined;
  private flavorList: Promise<RawFlavor[]> | undefined;

  constructor(
    private readonly session: Session,
    private readonly defaultNetworks: "auto" | "none" | string[],
  ) {}

  microversion(): Promise<Microversion> {
    this.version ??= (async () => {
      const res = await this.session.request("compute", { method: "GET", path: "/" });
      const v = negotiateMicroversion(res.json);
      if ("error" in v) throw new BackendError("bad_request", `nova: ${v.error}`);
      return v;
    })().catch((err) => {
      this.version = undefined;
      throw err;
    });
    return this.version;
  }

  private async call(req: ServiceRequest) {
    const v = await this.microversion();
    return this.session.request("compute", { ...req, headers: { ...microversionHeaders(v), ...req.headers } });
  }

  /** Every item of a paginated list, following `<key>_links` next. */
  private async list<T>(path: string, key: string): Promise<T[]> {
    const out: T[] = [];
    let next: string | undefined = path;
    while (next) {
      const res = await this.call({ method: "GET", path: next });
      const body = (res.json ?? {}) as Record<string, unknown>;
      const items = body[key];
      if (Array.isArray(items)) out.push(...(items as T[]));
      next = nextLink(body[`${key}_links`]);
    }
    return out;
  }

  // Server groups

  async createServerGroup(req: ServerGroupCreate): Promise<ServerGroupInfo> {
    const v = await this.microversion();
    let body: unknown;
    try {
      body = serverGroupBody(req, v);
    } catch (err) {
      throw new BackendError("bad_request", `nova: ${(err as Error).message}`);
    }
    const res = await this.call({ method: "POST", path: "/os-server-groups", body });
    return parseServerGroup((res.json as { server_group: Parameters<typeof parseServerGroup>[0] }).server_group);
  }

  async getServerGroup(id: string): Promise<ServerGroupInfo | undefined> {
    const res = await this.call({ method: "GET", path: `/os-server-groups/${enc(id)}`, okStatuses: [404] });
    if (res.status === 404) return undefined;
    const group = parseServerGroup((res.json as { server_group: Parameters<typeof parseServerGroup>[0] }).server_group);
    // Nova drops a deleted server from its group a moment after the server reads 404: list only servers that exist.
    const exists = await Promise.all(group.members.map(async (m) => (await this.getServer(m)) !== undefined));
    return { ...group, members: group.members.filter((_, i) => exists[i]) };
  }

  async findServerGroups(tags: Record<string, string>): Promise<ServerGroupInfo[]> {
    const raw = await this.list<Parameters<typeof parseServerGroup>[0]>(
      "/os-server-groups?limit=1000",
      "server_groups",
    );
    return raw.map(parseServerGroup).filter((g) => matchesTags(g.metadata, tags));
  }

  async deleteServerGroup(id: string): Promise<void> {
    await this.call({ method: "DELETE", path: `/os-server-groups/${enc(id)}`, okStatuses: [404] });
  }

  // Servers

  async flavors(): Promise<RawFlavor[]> {
    this.flavorList ??= this.list<RawFlavor>("/flavors/detail?is_public=None", "flavors").catch((err) => {
      this.flavorList = undefined;
      throw err;
    });
    return this.flavorList;
  }

  /** A flavor id for a name or id; "bad_request" naming the flavors that exist when there is none. */
  async flavorId(ref: string): Promise<string> {
    const all = await this.flavors();
    const hit = all.find((f) => f.id === ref) ?? all.find((f) => f.name === ref);
    if (hit) return hit.id;
    const names = all.map((f) => f.name).sort();
    throw new BackendError(
      "bad_request",
      `nova: flavor "${ref}" does not exist; flavors: ${names.length > 0 ? names.join(", ") : "(none)"}`,
    );
  }

  /**
   * Whether a flavor as a server shows it (its name from 2.47, its id before) is the flavor with this
   * id. A name that several flavors share (a private one and a public one) matches any of them.
   */
  async isFlavor(shown: string, flavorId: string): Promise<boolean> {
    if (shown === flavorId) return true;
    const all = await this.flavors();
    return all.some((f) => f.id === flavorId && f.name === shown);
  }

  async createServer(req: ServerCreate, imageId: (ref: string) => Promise<string>): Promise<ServerInfo> {
    const [flavorId, image] = [
      await this.flavorId(req.flavorRef),
      UUID.test(req.imageRef) ? req.imageRef : await imageId(req.imageRef),
    ];
    const body = serverCreateBody(req, {
      microversion: await this.microversion(),
      flavorId,
      imageId: image,
      defaultNetworks: this.defaultNetworks,
    });
    const res = await this.call({ method: "POST", path: "/servers", body });
    const id = (res.json as { server?: { id?: string } }).server?.id;
    if (!id) throw new BackendError("internal", "nova: POST /servers answered without a server id");
    const got = await this.getServer(id);
    return (
      got ?? {
        id,
        name: req.name,
        status: "BUILD",
        flavorRef: req.flavorRef,
        imageRef: image,
        metadata: req.metadata,
        volumes: [],
      }
    );
  }

  async getServer(id: string): Promise<ServerInfo | undefined> {
    const res = await this.call({ method: "GET", path: `/servers/${enc(id)}`, okStatuses: [404] });
    if (res.status === 404) return undefined;
    const raw = (res.json as { server: RawServer }).server;
    // A soft-deleted server is gone for us.
    if (raw.status === "DELETED" || raw.status === "SOFT_DELETED") return undefined;
    return parseServer(raw);
  }

  /** Servers whose name matches `pattern` (Nova's `name` filter: a regular expression). */
  async listServersNamed(pattern: string): Promise<ServerInfo[]> {
    const raw = await this.list<RawServer>(`/servers/detail?limit=1000&name=${enc(pattern)}`, "servers");
    return raw.filter((s) => s.status !== "DELETED" && s.status !== "SOFT_DELETED").map(parseServer);
  }

  async findServers(tags: Record<string, string>): Promise<ServerInfo[]> {
    const raw = await this.list<RawServer>("/servers/detail?limit=1000", "servers");
    return raw
      .filter((s) => s.status !== "DELETED" && s.status !== "SOFT_DELETED")
      .map(parseServer)
      .filter((s) => matchesTags(s.metadata, tags));
  }

  /** The server's port ids (os-interface); undefined when Nova won't say (404: gone, 403: policy). */
  async interfaces(id: string): Promise<string[] | undefined> {
    const res = await this.call({ method: "GET", path: `/servers/${enc(id)}/os-interface`, okStatuses: [403, 404] });
    if (res.status === 403 || res.status === 404) return undefined;
    return parseInterfaces(res.json);
  }

  /** The server's ports with their networks (os-interface); undefined when the server is gone (404). */
  async interfaceAttachments(id: string): Promise<InterfaceAttachment[] | undefined> {
    const res = await this.call({ method: "GET", path: `/servers/${enc(id)}/os-interface`, okStatuses: [404] });
    if (res.status === 404) return undefined;
    return parseInterfaceAttachments(res.json);
  }

  /** A new port on the network, plugged when Nova answers (it waits for the compute host). */
  async attachInterface(id: string, network: string): Promise<void> {
    await this.call({
      method: "POST",
      path: `/servers/${enc(id)}/os-interface`,
      body: { interfaceAttachment: { net_id: network } },
    });
  }

  /** Starts unplugging a port (Nova answers 202 at once); 404: not attached. */
  async detachInterface(id: string, port: string): Promise<void> {
    await this.call({ method: "DELETE", path: `/servers/${enc(id)}/os-interface/${enc(port)}`, okStatuses: [404] });
  }

  async deleteServer(id: string): Promise<void> {
    await this.call({ method: "DELETE", path: `/servers/${enc(id)}`, okStatuses: [404] });
  }

  async action(id: string, body: unknown): Promise<void> {
    await this.call({ method: "POST", path: `/servers/${enc(id)}/action`, body });
  }

  /** Rebuild with an image id (and a new key or user data): the root disk is wiped. */
  async rebuild(id: string, imageId: string, options: RebuildOptions = {}): Promise<void> {
    let body: unknown;
    try {
      body = rebuildBody(imageId, options, await this.microversion());
    } catch (err) {
      throw new BackendError("bad_request", `nova: ${(err as Error).message}`);
    }
    await this.action(id, body);
  }

  /** Sets metadata keys (merged into what the server has), then deletes `remove` keys (404: already gone). */
  async updateMetadata(id: string, set: Record<string, string>, remove: string[]): Promise<void> {
    if (Object.keys(set).length > 0) {
      await this.call({ method: "POST", path: `/servers/${enc(id)}/metadata`, body: { metadata: set } });
    }
    for (const key of remove) {
      await this.call({ method: "DELETE", path: `/servers/${enc(id)}/metadata/${enc(key)}`, okStatuses: [404] });
    }
  }

  async addSecurityGroup(id: string, group: string): Promise<void> {
    await this.action(id, { addSecurityGroup: { name: group } });
  }

  async removeSecurityGroup(id: string, group: string): Promise<void> {
    await this.action(id, { removeSecurityGroup: { name: group } });
  }

  async attachVolume(serverId: string, volumeId: string): Promise<void> {
    await this.call({
      method: "POST",
      path: `/servers/${enc(serverId)}/os-volume_attachments`,
      body: { volumeAttachment: { volumeId } },
    });
  }

  async detachVolume(serverId: string, volumeId: string): Promise<void> {
    await this.call({
      method: "DELETE",
      path: `/servers/${enc(serverId)}/os-volume_attachments/${enc(volumeId)}`,
      okStatuses: [404],
    });
  }

  // Keypairs (the clusters' lock markers: cluster-marker.ts)

  /** Creates a keypair from a public key; false when the user has one of that name (409). */
  async createKeypair(name: string, publicKey: string): Promise<boolean> {
    const res = await this.call({
      method: "POST",
      path: "/os-keypairs",
      body: { keypair: { name, public_key: publicKey, type: "ssh" } },
      okStatuses: [409],
    });
    return res.status !== 409;
  }

  async getKeypair(name: string): Promise<{ publicKey: string; createdAt?: string } | undefined> {
    const res = await this.call({ method: "GET", path: `/os-keypairs/${enc(name)}`, okStatuses: [404] });
    if (res.status === 404) return undefined;
    const k = (res.json as { keypair?: { public_key?: unknown; created_at?: unknown } }).keypair ?? {};
    return {
      publicKey: typeof k.public_key === "string" ? k.public_key : "",
      ...(typeof k.created_at === "string" ? { createdAt: k.created_at } : {}),
    };
  }

  async deleteKeypair(name: string): Promise<void> {
    await this.call({ method: "DELETE", path: `/os-keypairs/${enc(name)}`, okStatuses: [404] });
  }

  // Discovery

  async zones(detail: boolean): Promise<RawZone[]> {
    const res = await this.call({
      method: "GET",
      path: detail ? "/os-availability-zone/detail" : "/os-availability-zone",
    });
    return (res.json as { availabilityZoneInfo?: RawZone[] }).availabilityZoneInfo ?? [];
  }

  /** undefined when the caller may not list hypervisors (not an admin). */
  async hypervisors(): Promise<RawHypervisor[] | undefined> {
    const res = await this.call({ method: "GET", path: "/os-hypervisors/detail", okStatuses: [403] });
    if (res.status === 403) return undefined;
    return (res.json as { hypervisors?: RawHypervisor[] }).hypervisors ?? [];
  }

  async aggregates(): Promise<RawAggregate[]> {
    const res = await this.call({ method: "GET", path: "/os-aggregates" });
    return (res.json as { aggregates?: RawAggregate[] }).aggregates ?? [];
  }

  async limits(): Promise<RawLimits> {
    const res = await this.call({ method: "GET", path: "/limits" });
    return (res.json as { limits?: RawLimits }).limits ?? {};
  }
}

function enc(id: string): string {
  return encodeURIComponent(id);
}
