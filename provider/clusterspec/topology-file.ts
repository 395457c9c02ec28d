// The topology file (DESIGN.md format): validation with zod, loading JSON or YAML, and the built-in default.
// The only I/O in placement lives here.

import { readFileSync } from "node:fs";
import { extname } from "node:path";
import YAML from "yaml";
import { z } from "zod";
import type { IssueCode, SpecIssue } from "../model/issues";
import { sortIssues } from "../model/issues";
import type { Topology } from "../model/topology";
import { type PathSegment, valueAt } from "./paths";

export class TopologyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TopologyFileError";
  }
}

const count = z.number().int().nonnegative();
const resources = { vcpus: count, ramMb: count, diskGb: count };
const name = z.string().min(1);

const schema = z.strictObject({
  flavors: z.record(name, z.strictObject({ ...resources, id: name.optional() })),
  hosts: z.array(
    z.strictObject({
      name,
      zone: name,
      rack: name,
      ...resources,
      used: z.strictObject(resources).optional(),
    }),
  ),
  storageBackends: z
    .array(
      z.strictObject({
        name,
        host: name.optional(),
        zone: name.optional(),
        capacityGb: count,
        usedGb: count.optional(),
        volumeTypes: z.array(name).optional(),
      }),
    )
    .default([]),
});

function pathString(path: readonly PropertyKey[]): string {
  let out = "";
  for (const k of path) {
    if (typeof k === "number") out += `[${k}]`;
    else out += out === "" ? String(k) : `.${String(k)}`;
  }
  return out;
}

function zodIssues(input: unknown, error: z.ZodError): SpecIssue[] {
  const out: SpecIssue[] = [];
  for (const i of error.issues) {
    const path = pathString(i.path);
    if (i.code === "unrecognized_keys") {
      for (const key of i.keys) {
        out.push({
          code: "unknown_field",
          path: path ? `${path}.${key}` : key,
          message: `unknown field "${key}"`,
          hint: "remove it; see the topology file format in the docs",
        });
      }
      continue;
    }
    let code: IssueCode = "invalid_value";
    if (i.code === "invalid_type")
      code = valueAt(input, i.path as PathSegment[]) === undefined ? "missing_field" : "invalid_type";
    else if (i.code === "too_small") code = "too_small";
    else if (i.code === "too_big") code = "too_big";
    out.push({
      code,
      path,
      message: code === "missing_field" ? "is required" : i.message,
    });
  }
  return out;
}

/** Validates a topology: shape, then unique names, backends that point at real hosts, usage within capacity. */
export function validateTopology(input: unknown): { topology?: Topology; issues: SpecIssue[] } {
  const parsed = schema.safeParse(input);
  if (!parsed.success) return { issues: sortIssues(zodIssues(input, parsed.error)) };
  const t = parsed.data as Topology;
  const issues: SpecIssue[] = [];
  const hostNames = new Map<string, number>();
  t.hosts.forEach((h, i) => {
    const first = hostNames.get(h.name);
    if (first !== undefined)
      issues.push({
        code: "invalid_value",
        path: `hosts[${i}].name`,
        message: `host name "${h.name}" is used twice (also hosts[${first}])`,
        hint: "give every host a unique name",
      });
    else hostNames.set(h.name, i);
    for (const d of ["vcpus", "ramMb", "diskGb"] as const) {
      if (h.used && h.used[d] > h[d])
        issues.push({
          code: "too_big",
          path: `hosts[${i}].used.${d}`,
          message: `host "${h.name}" uses ${h.used[d]} ${d} but has only ${h[d]}`,
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
        message: `backend name "${b.name}" is used twice (also storageBackends[${first}])`,
        hint: "give every backend a unique name",
      });
    else backendNames.set(b.name, i);
    if ((b.host === undefined) === (b.zone === undefined))
      issues.push({
        code: b.host === undefined ? "missing_field" : "invalid_value",
        path: `storageBackends[${i}]`,
        message: `backend "${b.name}" must set exactly one of "host" (host-local) or "zone" (zonal)`,
        hint: b.host === undefined ? 'add "zone" or "host"' : 'remove "host" or "zone"',
      });
    else if (b.host !== undefined && !hostNames.has(b.host))
      issues.push({
        code: "invalid_value",
        path: `storageBackends[${i}].host`,
        message: `backend "${b.name}" names host "${b.host}", which is not in hosts`,
        hint: 'name an existing host, or make it zonal with "zone"',
      });
    if ((b.usedGb ?? 0) > b.capacityGb)
      issues.push({
        code: "too_big",
        path: `storageBackends[${i}].usedGb`,
        message: `backend "${b.name}" uses ${b.usedGb} GB but has only ${b.capacityGb} GB`,
        hint: `set usedGb to at most ${b.capacityGb}`,
      });
  });
  if (issues.length > 0) return { issues: sortIssues(issues) };
  return { topology: t, issues: [] };
}

/** Reads JSON or YAML (by extension) and validates; a missing or unreadable file throws TopologyFileError. */
export function loadTopologyFile(path: string): { topology?: Topology; issues: SpecIssue[] } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "not found"
        : code === "EISDIR"
          ? "is a directory"
          : code === "EACCES"
            ? "permission denied"
            : "unreadable";
    throw new TopologyFileError(`topology file "${path}": ${why}`);
  }
  const ext = extname(path).toLowerCase();
  let data: unknown;
  try {
    data = ext === ".yaml" || ext === ".yml" ? YAML.parse(text) : JSON.parse(text);
  } catch (e) {
    const yaml = ext === ".yaml" || ext === ".yml";
    const first = String((e as Error).message ?? e).split("\n")[0];
    return {
      issues: [
        { code: yaml ? "invalid_yaml" : "invalid_json", path: "", message: `topology file "${path}": ${first}` },
      ],
    };
  }
  return validateTopology(data);
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
