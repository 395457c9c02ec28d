// What a program reads of a member to reach it: a server's addresses (fixed and floating IPs per
// network), the address to reach it at, its ports; a volume's device. The state builders copy them
// from what the cloud shows (memberState); ports, which Nova's server document doesn't carry, are
// read once per server when the state is built (Backend.serverPorts), never while waiting.
import type { NetworkAddresses, ServerInfo, VolumeInfo } from "../backends/backend";
import type { MemberState } from "../model/state";
import type { Ctx } from "./context";

const isIpv4 = (ip: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(ip);

/** The first floating IPv4 address on any network, else the first fixed one, networks in the cloud's order. */
export function accessIpV4(addresses: Record<string, NetworkAddresses>): string | undefined {
  const nets = Object.values(addresses);
  for (const kind of ["floating", "fixed"] as const) {
    for (const net of nets) {
      const ip = net[kind].find(isIpv4);
      if (ip !== undefined) return ip;
    }
  }
  return undefined;
}

/** The reachability fields of a member's state, from the object the cloud shows. */
export function reachOf(obj: ServerInfo | VolumeInfo): Partial<MemberState> {
  if (!("flavorRef" in obj)) return obj.device !== undefined ? { device: obj.device } : {};
  const out: Partial<MemberState> = {};
  if (obj.addresses !== undefined) {
    out.addresses = Object.fromEntries(
      Object.entries(obj.addresses).map(([net, a]) => [net, { fixed: [...a.fixed], floating: [...a.floating] }]),
    );
    const ip = accessIpV4(obj.addresses);
    if (ip !== undefined) out.accessIpV4 = ip;
  }
  if (obj.ports !== undefined) out.ports = [...obj.ports];
  return out;
}

/**
 * Fills in the ports of servers whose backend doesn't show them with the server (OpenStack: Nova
 * `os-interface`, one call per server). A server whose ports can't be read keeps none: its other
 * outputs are worth more than failing the whole apply or refresh over them.
 */
export async function withPorts(ctx: Ctx, servers: Map<string, ServerInfo>): Promise<void> {
  if (!ctx.backend.serverPorts) return;
  await Promise.all(
    [...servers].map(async ([name, s]) => {
      if (s.ports !== undefined || s.status === "ERROR") return;
      const ports = await ctx.ops.serverPorts(s.id).catch(() => undefined);
      if (ports !== undefined) servers.set(name, { ...s, ports });
    }),
  );
}
