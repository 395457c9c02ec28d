// Small pure helpers of the simulated cloud: tag filters, listing order, resources of a flavor.

export function hasTags(metadata: Record<string, string>, tags: Record<string, string>): boolean {
  return Object.entries(tags).every(([k, v]) => metadata[k] === v);
}

/** localeCompare's order (the default locale's), without building a collator per comparison. */
const collator = new Intl.Collator();

export function byNameThenId(a: { name: string; id: string }, b: { name: string; id: string }): number {
  return collator.compare(a.name, b.name) || collator.compare(a.id, b.id);
}

export function pickResources(f: { vcpus: number; ramMb: number; diskGb: number }) {
  return { vcpus: f.vcpus, ramMb: f.ramMb, diskGb: f.diskGb };
}
