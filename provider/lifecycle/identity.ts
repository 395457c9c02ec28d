// Whether what the cloud reports for a server is what the spec names. A spec names flavors and images
// by name or by id; the cloud reports them its own way (Nova: a flavor's name, an image's id; the
// simulated cloud: whatever it was asked for). Adoption and the diff compare resolved identities,
// never the strings: flavors through discovery (each flavor with its id), images through the backend
// when it can resolve them (OpenStack: Glance), else as written.
import type { Backend } from "../backends/backend";
import type { ClusterSpec } from "../model/cluster";
import { cmp } from "../model/text";
import { findFlavor, type Topology } from "../model/topology";
import type { Live } from "./survey";

export interface RefIdentity {
  /** One flavor, however each side names it. */
  sameFlavor(a: string, b: string): boolean;
  /** One image, however each side names it. */
  sameImage(a: string, b: string): boolean;
}

/**
 * A backend whose servers report images in another form than a spec may name them (OpenStack: by
 * id, while the spec may name them). Optional: a backend without it is compared as written.
 */
export interface ImageResolver {
  /** The image id of each ref (name or id) that names exactly one image; refs it can't resolve are left out. */
  imageIds(refs: string[]): Promise<Record<string, string>>;
}

export function canResolveImages(backend: Backend): backend is Backend & ImageResolver {
  return typeof (backend as Partial<ImageResolver>).imageIds === "function";
}

/** Flavors: a ref's identity is the discovered flavor it means (by name or id), else the ref itself. */
export function flavorKey(flavors: Topology["flavors"], ref: string): string {
  const f = findFlavor(flavors, ref);
  if (!f) return `ref:${ref}`;
  for (const [name, x] of Object.entries(flavors)) if (x === f) return `flavor:${name}`;
  return `ref:${ref}`;
}

export function refIdentity(flavors: Topology["flavors"], imageIds: Record<string, string> = {}): RefIdentity {
  const imageKey = (ref: string) => imageIds[ref] ?? ref;
  return {
    sameFlavor: (a, b) => a === b || flavorKey(flavors, a) === flavorKey(flavors, b),
    sameImage: (a, b) => a === b || imageKey(a) === imageKey(b),
  };
}

/**
 * The identity the diff of this spec against what exists needs: every image ref of a kept server
 * that differs in writing from its member's is resolved once, both sides (one Glance lookup each).
 */
export async function resolveIdentity(
  backend: Backend,
  spec: ClusterSpec,
  flavors: Topology["flavors"],
  live: Live,
): Promise<RefIdentity> {
  const refs = new Set<string>();
  for (const m of spec.members) {
    if (m.type !== "server") continue;
    const s = live.servers.get(m.name);
    if (s && s.imageRef !== m.imageRef) {
      refs.add(s.imageRef);
      refs.add(m.imageRef);
    }
  }
  if (refs.size === 0 || !canResolveImages(backend)) return refIdentity(flavors);
  return refIdentity(flavors, await backend.imageIds([...refs].sort(cmp)));
}
