// The topology file (DESIGN.md format): validation with zod, loading JSON or YAML, and the built-in default.
// The only I/O in placement lives here. Files are read and parsed as specs are (parse.ts): a
// bounded read of a regular file, UTF-8 only, repeated keys caught, issues with paths, line and
// column where known, and "did you mean" for misspelled fields.

import { z } from "zod";
import type { SpecIssue } from "../model/issues";
import { sortIssues } from "../model/issues";
import { quote } from "../model/text";
import type { Topology } from "../model/topology";
import { parseJson } from "./json";
import { FileProblem, formatOf, readTextFile } from "./parse";
import { joinPath, type PathSegment } from "./paths";
import { nameSchema, refSchema } from "./schema";
import { parseYaml } from "./yaml";
import { convertZodIssues } from "./zod-issues";

export class TopologyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TopologyFileError";
  }
}

const count = z.number().int().nonnegative();
const resources = { vcpus: count, ramMb: count, diskGb: count };
const name = nameSchema;

const flavorSchema = z.strictObject({ ...resources, id: refSchema.optional() });
const usedSchema = z.strictObject(resources);
const hostSchema = z.strictObject({
  name,
  zone: name,
  rack: name,
  ...resources,
  used: usedSchema.optional(),
});
const backendSchema = z.strictObject({
  name,
  host: name.optional(),
  zone: name.optional(),
  capacityGb: count,
  usedGb: count.optional(),
  volumeTypes: z.array(name).optional(),
});

const schema = z.strictObject({
  flavors: z.record(name, flavorSchema),
  hosts: z.array(hostSchema),
  storageBackends: z.array(backendSchema).default([]),
});

/** The file's shape, for its JSON Schema (json-schema.ts). */
export { schema as topologyFileSchema };

/** The fields allowed at a spot, for "did you mean" on unknown ones. */
function allowedKeys(rel: readonly PathSegment[]): readonly string[] | undefined {
  const shape = (o: { shape: object }) => Object.keys(o.shape);
  const [top, , third] = rel;
  if (rel.length === 0) return shape(schema);
  if (rel.length === 2 && top === "flavors") return shape(flavorSchema);
  if (rel.length === 2 && top === "hosts") return shape(hostSchema);
  if (rel.length === 3 && top === "hosts" && third === "used") return shape(usedSchema);
  if (rel.length === 2 && top === "storageBackends") return shape(backendSchema);
  return undefined;
}

function zodIssues(input: unknown, error: z.ZodError): SpecIssue[] {
  return convertZodIssues(error.issues, {
    root: input,
    base: "",
    noun: "the topology",
    allowedKeys,
    tolerateUnknowns: false,
    prefix: "",
  });
}

/**
 * "__proto__" can't name a flavor: flavors are keyed by name, and such a key would be dropped
 * from the object without a word (zod leaves it out so it can't become a prototype). Hosts and
 * backends, whose names key placement's own maps, are held to the same rule.
 */
function reservedNames(input: unknown): SpecIssue[] {
  const out: SpecIssue[] = [];
  const obj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
  if (!obj(input)) return out;
  const reserved = (path: string, what: string): SpecIssue => ({
    code: "invalid_value",
    path,
    message: `${what} name "__proto__" is reserved: objects keyed by name can't hold it`,
    hint: "choose another name",
  });
  if (obj(input.flavors) && Object.hasOwn(input.flavors, "__proto__"))
    out.push(reserved(joinPath("flavors", "__proto__"), "flavor"));
  for (const [list, what] of [
    ["hosts", "host"],
    ["storageBackends", "backend"],
  ] as const) {
    const items = input[list];
    if (!Array.isArray(items)) continue;
    items.forEach((item, i) => {
      if (obj(item) && item.name === "__proto__") out.push(reserved(`${list}[${i}].name`, what));
    });
  }
  return out;
}

/** Validates a topology: shape, then unique names, backends that point at real hosts, usage within capacity. */
export function validateTopology(input: unknown): { topology?: Topology; issues: SpecIssue[] } {
  const parsed = schema.safeParse(input);
  const reserved = reservedNames(input);
  if (!parsed.success) return { issues: sortIssues([...reserved, ...zodIssues(input, parsed.error)]) };
  const t = parsed.data as Topology;
  const issues: SpecIssue[] = [...reserved];
  const hostNames = new Map<string, number>();
  t.hosts.forEach((h, i) => {
    const first = hostNames.get(h.name);
    if (first !== undefined)
      issues.push({
        code: "invalid_value",
        path: `hosts[${i}].name`,
        message: `host name ${quote(h.name)} is used twice (also hosts[${first}])`,
        hint: "give every host a unique name",
      });
    else hostNames.set(h.name, i);
    for (const d of ["vcpus", "ramMb", "diskGb"] as const) {
      if (h.used && h.used[d] > h[d])
        issues.push({
          code: "too_big",
          path: `hosts[${i}].used.${d}`,
          message: `host ${quote(h.name)} uses ${h.used[d]} ${d} but has only ${h[d]}`,
          hint: `set used.${d} to at most ${h[d]}`,
        });
    }
  });
  const backendNames = new Map<string, number>();
  t.storageBackends.forEach((b, i) => {
    const first = backendNames.get(b.name);
    if (first !== undefined)
      issues.push({
        code: "invalid_value",
        path: `storageBackends[${i}].name`,
        message: `backend name ${quote(b.name)} is used twice (also storageBackends[${first}])`,
        hint: "give every backend a unique name",
      });
    else backendNames.set(b.name, i);
    if ((b.host === undefined) === (b.zone === undefined))
      issues.push({
        code: b.host === undefined ? "missing_field" : "invalid_value",
        path: `storageBackends[${i}]`,
        message: `backend ${quote(b.name)} must set exactly one of "host" (host-local) or "zone" (zonal)`,
        hint: b.host === undefined ? 'add "zone" or "host"' : 'remove "host" or "zone"',
      });
    else if (b.host !== undefined && !hostNames.has(b.host))
      issues.push({
        code: "invalid_value",
        path: `storageBackends[${i}].host`,
        message: `backend ${quote(b.name)} names host ${quote(b.host)}, which is not in hosts`,
        hint: 'name an existing host, or make it zonal with "zone"',
      });
    if ((b.usedGb ?? 0) > b.capacityGb)
      issues.push({
        code: "too_big",
        path: `storageBackends[${i}].usedGb`,
        message: `backend ${quote(b.name)} uses ${b.usedGb} GB but has only ${b.capacityGb} GB`,
        hint: `set usedGb to at most ${b.capacityGb}`,
      });
  });
  if (issues.length > 0) return { issues: sortIssues(issues) };
  return { topology: t, issues: [] };
}

/**
 * Reads JSON or YAML (by extension: .yaml/.yml is YAML, anything else JSON) and validates. A file
 * that can't be read (missing, not a regular file, over the size limit) throws TopologyFileError
 * with a one-line message naming it; everything wrong inside it comes back as issues.
 */
export function loadTopologyFile(path: string): { topology?: Topology; issues: SpecIssue[] } {
  const yaml = formatOf(path) === "yaml";
  let read: ReturnType<typeof readTextFile>;
  try {
    read = readTextFile(path, yaml ? "yaml" : "json");
  } catch (error) {
    if (error instanceof FileProblem) throw new TopologyFileError(error.describe("topology", path));
    throw error;
  }
  const code = yaml ? "invalid_yaml" : "invalid_json";
  const inFile = (i: SpecIssue): SpecIssue => ({ ...i, message: `topology file ${quote(path)}: ${i.message}` });
  if ("problem" in read) return { issues: [inFile({ code, path: "", ...read.problem })] };
  if (read.text.trim() === "") {
    return {
      issues: [
        inFile({
          code,
          path: "",
          message: "the file is empty",
          hint: "describe the hosts, flavors and storage backends",
        }),
      ],
    };
  }
  const parsed = yaml ? parseYaml(read.text, { noun: "a topology" }) : parseJson(read.text);
  // Syntax problems name the file (they are about the text); shape problems name a path in it.
  const parseIssues = parsed.issues.map((i) => (i.code === "duplicate_key" ? i : inFile(i)));
  if (parsed.value === undefined) return { issues: sortIssues(parseIssues) };
  const result = validateTopology(parsed.value);
  if (parseIssues.length === 0) return result;
  return { issues: sortIssues([...parseIssues, ...result.issues]) };
}

const DEFAULT_FLAVORS: Topology["flavors"] = {
  "m1.tiny": { vcpus: 1, ramMb: 512, diskGb: 1 },
  "m1.small": { vcpus: 1, ramMb: 2048, diskGb: 20 },
  "m1.medium": { vcpus: 2, ramMb: 4096, diskGb: 40 },
  "m1.large": { vcpus: 4, ramMb: 8192, diskGb: 80 },
  "m1.xlarge": { vcpus: 8, ramMb: 16384, diskGb: 160 },
};

/** 3 zones x 2 racks x 4 hosts (32 vCPU, 128 GiB, 2000 GB), "ceph-azN" per zone (100 TB), "lvm@<host>" per host (2 TB). */
export function defaultTopology(): Topology {
  const hosts: Topology["hosts"] = [];
  const storageBackends: Topology["storageBackends"] = [];
  for (let z = 1; z <= 3; z++) {
    for (let r = 1; r <= 2; r++) {
      for (let h = 1; h <= 4; h++) {
        const hostName = `az${z}-r${r}-h${h}`;
        hosts.push({ name: hostName, zone: `az${z}`, rack: `r${r}`, vcpus: 32, ramMb: 131072, diskGb: 2000 });
        storageBackends.push({ name: `lvm@${hostName}`, host: hostName, capacityGb: 2000 });
      }
    }
    storageBackends.push({ name: `ceph-az${z}`, zone: `az${z}`, capacityGb: 100000 });
  }
  storageBackends.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { flavors: structuredClone(DEFAULT_FLAVORS), hosts, storageBackends };
}
