// Cinder v3, pure: request bodies and response mapping. No I/O here (cinder-client.ts).
import type { VolumeCreate, VolumeInfo } from "../backend";

export function volumeCreateBody(req: VolumeCreate): unknown {
  const volume: Record<string, unknown> = { name: req.name, size: req.sizeGb, metadata: req.metadata };
  if (req.volumeType !== undefined) volume.volume_type = req.volumeType;
  if (req.zone !== undefined) volume.availability_zone = req.zone;
  const hints: Record<string, unknown> = {};
  if (req.localToServer !== undefined) hints.local_to_instance = req.localToServer;
  if (req.sameBackendAs && req.sameBackendAs.length > 0) hints.same_host = req.sameBackendAs;
  if (req.differentBackendFrom && req.differentBackendFrom.length > 0) hints.different_host = req.differentBackendFrom;
  return Object.keys(hints).length > 0 ? { volume, "OS-SCH-HNT:scheduler_hints": hints } : { volume };
}

export interface RawVolume {
  id: string;
  name?: string | null;
  status?: string;
  size?: number;
  volume_type?: string | null;
  availability_zone?: string | null;
  "os-vol-host-attr:host"?: string | null;
  attachments?: Array<{ server_id?: string; device?: string | null }>;
  metadata?: Record<string, string>;
}

/** Cinder's new attach flow passes through "reserved" before "attaching": to the controller both are attaching. */
function volumeStatus(status: string | undefined): string {
  return status === "reserved" ? "attaching" : (status ?? "unknown");
}

export function parseVolume(raw: RawVolume): VolumeInfo {
  return {
    id: raw.id,
    name: raw.name ?? "",
    status: volumeStatus(raw.status),
    ...(raw.status === "error" ? { fault: "Cinder put the volume in status error (see cinder-volume's log)" } : {}),
    sizeGb: raw.size ?? 0,
    ...(raw.volume_type ? { volumeType: raw.volume_type } : {}),
    ...(raw.availability_zone ? { zone: raw.availability_zone } : {}),
    ...(raw["os-vol-host-attr:host"] ? { backend: raw["os-vol-host-attr:host"] } : {}),
    attachedTo: (raw.attachments ?? []).map((a) => a.server_id ?? "").filter((s) => s !== ""),
    metadata: raw.metadata ?? {},
    // The device Nova asked the hypervisor for (/dev/vdb); a guest may still name the disk otherwise.
    ...deviceOf(raw),
  };
}

function deviceOf(raw: RawVolume): { device?: string } {
  const device = (raw.attachments ?? []).find((a) => a.server_id && typeof a.device === "string" && a.device !== "")
    ?.device as string | undefined;
  return device !== undefined ? { device } : {};
}

export function extendBody(sizeGb: number): unknown {
  return { "os-extend": { new_size: sizeGb } };
}

/** Cinder retype; on-demand: the data migrates when the volume's backend can't hold the new type. */
export function retypeBody(volumeType: string): unknown {
  return { "os-retype": { new_type: volumeType, migration_policy: "on-demand" } };
}
