// The simulated cloud's networking, as much of Neutron as a server's outputs show: one port per
// network a server asks for (the project's network "private" when it asks for none, as Nova's
// `auto` gives), each with a fixed IPv4 address, and a device name per attached volume. Addresses
// are deterministic: a per-cloud counter numbers them in the order servers are made, inside a /16
// per network (its second octet from the network's name). No floating IPs: nothing here asks for one.
import { createHash, randomUUID } from "node:crypto";
import type { NetworkAddresses } from "../backend";
import type { CloudState, ServerRecord, VolumeRecord } from "./store";

/** The network a server that names none is put on (Nova `networks: "auto"`). */
export const DEFAULT_NETWORK = "private";

/** Host numbers per third octet: .2 to .251 (.0, .1, and the top of each /24 stay free). */
const PER_OCTET = 250;

const octets = new Map<string, number>();

/** The second octet of a network's addresses: 10.<octet>.0.0/16, from its name. */
function subnetOctet(network: string): number {
  let octet = octets.get(network);
  if (octet === undefined) {
    octet = 1 + ((createHash("sha256").update(network, "utf8").digest()[0] as number) % 250);
    octets.set(network, octet);
  }
  return octet;
}

/** Ports and fixed addresses for a new server, one per network, numbered by the cloud's counter. */
export function allocatePorts(
  state: CloudState,
  networks: readonly string[] | undefined,
): { addresses: Record<string, NetworkAddresses>; ports: string[] } {
  const addresses: Record<string, NetworkAddresses> = {};
  const ports: string[] = [];
  for (const network of networks ?? [DEFAULT_NETWORK]) {
    const n = state.nextAddress ?? 0;
    state.nextAddress = n + 1;
    const ip = `10.${subnetOctet(network)}.${Math.floor(n / PER_OCTET) % 256}.${(n % PER_OCTET) + 2}`;
    const entry = addresses[network] ?? { fixed: [], floating: [] };
    entry.fixed.push(ip);
    addresses[network] = entry;
    ports.push(randomUUID());
  }
  return { addresses, ports };
}

/** A server's addresses as getServer shows them: a copy; {} for a server that has none (or predates them). */
export function addressesOf(s: ServerRecord): Record<string, NetworkAddresses> {
  // A plain copy, field by field: the record may be the database's tracked view of it.
  return Object.fromEntries(
    Object.entries(s.addresses ?? {}).map(([net, a]) => [net, { fixed: [...a.fixed], floating: [...a.floating] }]),
  );
}

/** The device a volume attached to `serverId` now gets: the first of /dev/vdb, /dev/vdc, … its server has free. */
export function nextDevice(volumes: readonly VolumeRecord[], serverId: string): string {
  const taken = new Set(volumes.filter((v) => v.attachedTo.includes(serverId)).map((v) => v.device));
  for (let i = 1; ; i++) {
    const device = `/dev/vd${letters(i)}`;
    if (!taken.has(device)) return device;
  }
}

/** 0 → a, 25 → z, 26 → aa, as Linux names disks. */
function letters(i: number): string {
  let s = "";
  for (let n = i; n >= 0; n = Math.floor(n / 26) - 1) s = String.fromCharCode(97 + (n % 26)) + s;
  return s;
}
