// Cinder v3 and the bits of Glance and Placement the backend needs: I/O only.
import { BackendError, type VolumeCreate, type VolumeInfo } from "../backend";
import { extendBody, parseVolume, type RawVolume, retypeBody, volumeCreateBody } from "./cinder";
import type { ProviderInventory, RawLimits, RawPool } from "./discovery";
import { matchesTags, nextLink } from "./nova";
import type { Session } from "./session";

export class CinderClient {
  constructor(private readonly session: Session) {}

  async createVolume(req: VolumeCreate): Promise<VolumeInfo> {
    const res = await this.session.request("volume", { method: "POST", path: "/volumes", body: volumeCreateBody(req) });
    return parseVolume((res.json as { volume: RawVolume }).volume);
  }

  async getVolume(id: string): Promise<VolumeInfo | undefined> {
    const res = await this.session.request("volume", {
      method: "GET",
      path: `/volumes/${encodeURIComponent(id)}`,
      okStatuses: [404],
    });
    if (res.status === 404) return undefined;
    const raw = (res.json as { volume: RawVolume }).volume;
    if (raw.status === "deleted") return undefined;
    return parseVolume(raw);
  }

  async findVolumes(tags: Record<string, string>, filtered = false): Promise<VolumeInfo[]> {
    const out: VolumeInfo[] = [];
    // Cinder's `metadata` filter lists only the tagged volumes; the tags are checked here either way.
    let next: string | undefined = filtered
      ? `/volumes/detail?limit=1000&metadata=${encodeURIComponent(JSON.stringify(tags))}`
      : "/volumes/detail?limit=1000";
    while (next) {
      const res = await this.session.request("volume", { method: "GET", path: next });
      const body = (res.json ?? {}) as { volumes?: RawVolume[]; volumes_links?: unknown };
      for (const v of body.volumes ?? []) {
        const info = parseVolume(v);
        if (matchesTags(info.metadata, tags)) out.push(info);
      }
      next = nextLink(body.volumes_links);
    }
    return out;
  }

  async extendVolume(id: string, sizeGb: number): Promise<void> {
    await this.session.request("volume", {
      method: "POST",
      path: `/volumes/${encodeURIComponent(id)}/action`,
      body: extendBody(sizeGb),
    });
  }

  async retypeVolume(id: string, volumeType: string): Promise<void> {
    await this.session.request("volume", {
      method: "POST",
      path: `/volumes/${encodeURIComponent(id)}/action`,
      body: retypeBody(volumeType),
    });
  }

  /** Sets metadata keys (merged into what the volume has), then deletes `remove` keys (404: already gone). */
  async updateMetadata(id: string, set: Record<string, string>, remove: string[]): Promise<void> {
    const base = `/volumes/${encodeURIComponent(id)}/metadata`;
    if (Object.keys(set).length > 0) {
      await this.session.request("volume", { method: "POST", path: base, body: { metadata: set } });
    }
    for (const key of remove) {
      await this.session.request("volume", {
        method: "DELETE",
        path: `${base}/${encodeURIComponent(key)}`,
        okStatuses: [404],
      });
    }
  }

  async deleteVolume(id: string): Promise<void> {
    await this.session.request("volume", {
      method: "DELETE",
      path: `/volumes/${encodeURIComponent(id)}`,
      okStatuses: [404],
    });
  }

  /** undefined when the caller may not see pools (not an admin). */
  async pools(): Promise<RawPool[] | undefined> {
    const res = await this.session.request("volume", {
      method: "GET",
      path: "/scheduler-stats/get_pools?detail=true",
      okStatuses: [403],
    });
    if (res.status === 403) return undefined;
    return (res.json as { pools?: RawPool[] }).pools ?? [];
  }

  /** cinder-volume service host ("host@backend") -> zone. */
  async volumeServiceZones(): Promise<Record<string, string>> {
    const res = await this.session.request("volume", {
      method: "GET",
      path: "/os-services?binary=cinder-volume",
      okStatuses: [403],
    });
    const out: Record<string, string> = {};
    if (res.status === 403) return out;
    for (const s of (res.json as { services?: Array<{ host?: string; zone?: string }> }).services ?? []) {
      if (s.host && s.zone) out[s.host] = s.zone;
    }
    return out;
  }

  async limits(): Promise<RawLimits> {
    const res = await this.session.request("volume", { method: "GET", path: "/limits" });
    return (res.json as { limits?: RawLimits }).limits ?? {};
  }
}

/** Nova and Glance take an image id as is; anything else is looked up by name. */
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export class GlanceClient {
  constructor(private readonly session: Session) {}

  /** Why this image reference (an id or a name) can't be booted, or undefined when it can. */
  async problem(ref: string): Promise<string | undefined> {
    if (UUID.test(ref)) {
      try {
        await this.session.request("image", { method: "GET", path: `/v2/images/${encodeURIComponent(ref)}` });
        return undefined;
      } catch (e) {
        if (e instanceof BackendError && e.code === "not_found") return "does not exist (no image has that id)";
        throw e;
      }
    }
    const res = await this.session.request("image", {
      method: "GET",
      path: `/v2/images?name=${encodeURIComponent(ref)}`,
    });
    const n = ((res.json as { images?: unknown[] }).images ?? []).length;
    if (n === 1) return undefined;
    return n === 0 ? "does not exist (use an image id or an existing image name)" : `names ${n} images: use its id`;
  }

  /** The id of the image with this name; bad_request when none or several. */
  async imageId(name: string): Promise<string> {
    const res = await this.session.request("image", {
      method: "GET",
      path: `/v2/images?name=${encodeURIComponent(name)}`,
    });
    const images = (res.json as { images?: Array<{ id: string }> }).images ?? [];
    if (images.length === 1 && images[0]) return images[0].id;
    throw new BackendError(
      "bad_request",
      images.length === 0
        ? `glance: image "${name}" does not exist; hint: use an image id or an existing image name`
        : `glance: ${images.length} images are named "${name}"; hint: use the image id`,
    );
  }
}

export class PlacementClient {
  constructor(private readonly session: Session) {}

  async inventories(): Promise<ProviderInventory[]> {
    const headers = { "openstack-api-version": "placement 1.10" };
    const res = await this.session.request("placement", { method: "GET", path: "/resource_providers", headers });
    const rps = (res.json as { resource_providers?: Array<{ uuid: string; name: string }> }).resource_providers ?? [];
    return Promise.all(
      rps.map(async (rp) => {
        const [inv, use] = await Promise.all([
          this.session.request("placement", {
            method: "GET",
            path: `/resource_providers/${rp.uuid}/inventories`,
            headers,
          }),
          this.session.request("placement", { method: "GET", path: `/resource_providers/${rp.uuid}/usages`, headers }),
        ]);
        return {
          name: rp.name,
          inventories: (inv.json as { inventories?: ProviderInventory["inventories"] }).inventories ?? {},
          usages: (use.json as { usages?: Record<string, number> }).usages ?? {},
        };
      }),
    );
  }
}
