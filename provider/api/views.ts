// What the API answers with: the shapes as zod schemas (the OpenAPI document is generated from
// them, and the types below are inferred from them, so the two can't drift) and the pure
// functions that render records into them. Nova's conventions: snake_case keys, ISO 8601 times
// without fractions, `links`.
import { z } from "zod";
import type { ClusterPlan } from "../lifecycle";
import type { ClusterState, MemberState } from "../model/state";
import { cmp } from "../model/text";
import type { ClusterRecord, Fault, OperationRecord } from "./records";

export const linkSchema = z.object({ rel: z.string(), href: z.string() });

export const memberViewSchema = z.object({
  name: z.string(),
  type: z.enum(["server", "volume"]),
  /** The cloud's id; null while the member doesn't exist. */
  id: z.string().nullable(),
  status: z.string().describe("Nova/Cinder status (ACTIVE, BUILD, ERROR, available, in-use, …) or MISSING"),
  zone: z.string().nullable(),
  rack: z.string().nullable(),
  host: z.string().nullable().describe("the real host, where the cloud shows it (admin view)"),
  backend: z.string().nullable().describe("volumes: the storage backend (pool), where visible"),
  host_id: z.string().optional().describe("Nova's per-project host id (tenant view)"),
  server_group: z.string().optional(),
  attached_to: z.string().optional().describe("volumes: the server member it is attached to"),
  addresses: z
    .record(z.string(), z.object({ fixed: z.array(z.string()), floating: z.array(z.string()) }))
    .optional()
    .describe("servers: fixed and floating IPs by network name, where the cloud shows them"),
  access_ipv4: z.string().optional().describe("servers: the first floating IPv4 address, else the first fixed one"),
  ports: z.array(z.string()).optional().describe("servers: the ids of its network ports (Neutron)"),
  device: z.string().optional().describe("volumes: the device its server sees it as (/dev/vdb), while attached"),
  fault: z.string().optional(),
});

const softViolationSchema = z.object({ grouping: z.string(), members: z.array(z.string()), weight: z.number() });
const brokenRuleSchema = z.object({
  grouping: z.string().optional(),
  members: z.array(z.string()),
  message: z.string(),
});

export const explanationSchema = z.object({
  summary: z.string(),
  causes: z.array(
    z.object({
      code: z.string(),
      groupings: z.array(z.string()),
      members: z.array(z.string()),
      message: z.string(),
      hint: z.string(),
    }),
  ),
  members: z
    .record(z.string(), z.record(z.string(), z.number()))
    .describe('per member, how many hosts or backends each reason ruled out ("lack RAM": 3)'),
});

export const faultViewSchema = z.object({
  code: z.string().describe("invalid, unplaceable, create_failed, rollback_failed, update_failed, timeout, backend"),
  message: z.string(),
  causes: z.array(z.string()),
  hints: z.array(z.string()),
  explanation: explanationSchema.optional(),
});

export const operationViewSchema = z.object({
  id: z.string(),
  action: z.enum(["create", "update", "delete"]),
  status: z.enum(["running", "succeeded", "failed"]),
  progress: z.string().optional(),
  request_id: z.string(),
  started: z.string(),
  finished: z.string().optional(),
});

export const clusterViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  tenant_id: z.string(),
  status: z.enum(["BUILD", "ACTIVE", "ERROR", "DELETING"]),
  created: z.string(),
  updated: z.string(),
  backend_kind: z.string().optional(),
  mode: z.enum(["pinned", "delegated"]).optional(),
  members: z.array(memberViewSchema),
  soft_violations: z.array(softViolationSchema),
  broken_rules: z.array(brokenRuleSchema),
  missing: z.array(z.string()),
  operation: operationViewSchema.optional(),
  fault: faultViewSchema.optional().describe("why the last operation failed (status ERROR)"),
  links: z.array(linkSchema),
});

export const clusterSummarySchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(["BUILD", "ACTIVE", "ERROR", "DELETING"]),
  tenant_id: z.string().optional().describe("with all_tenants=1: the cluster's project"),
  links: z.array(linkSchema),
});

export const clusterListSchema = z.object({
  vclusters: z.array(clusterSummarySchema),
  vclusters_links: z.array(linkSchema).optional().describe('a "next" link when the page is full'),
});

const placedSchema = z.object({
  type: z.enum(["server", "volume"]),
  zone: z.string(),
  rack: z.string().optional(),
  host: z.string().optional(),
  backend: z.string().optional(),
});

export const dryRunViewSchema = z.object({
  dry_run: z.object({
    name: z.string(),
    placeable: z.boolean(),
    mode: z.enum(["pinned", "delegated"]),
    placement: z.record(z.string(), placedSchema).optional(),
    soft_violations: z.array(softViolationSchema).optional(),
    cost: z.number().optional(),
    explanation: explanationSchema.optional(),
    warnings: z.array(z.string()),
    blocking: z.array(z.string()).describe("what would make the create fail although a placement exists"),
  }),
});

export const versionSchema = z.object({
  id: z.string(),
  status: z.string(),
  updated: z.string(),
  links: z.array(linkSchema),
  "media-types": z.array(z.object({ base: z.string(), type: z.string() })),
});

export type MemberView = z.infer<typeof memberViewSchema>;
export type ClusterView = z.infer<typeof clusterViewSchema>;
export type ClusterSummary = z.infer<typeof clusterSummarySchema>;
export type DryRunView = z.infer<typeof dryRunViewSchema>;
export type VersionView = z.infer<typeof versionSchema>;

/** Nova's time format: seconds, Z. */
export function apiTime(iso: string): string {
  return iso.replace(/\.\d+Z$/, "Z");
}

export const VERSION_UPDATED = "2025-01-01T00:00:00Z";

export function versionView(base: string): VersionView {
  return {
    id: "v2",
    status: "CURRENT",
    updated: VERSION_UPDATED,
    links: [
      { rel: "self", href: `${base}/v2/` },
      { rel: "describedby", href: `${base}/openapi.json` },
    ],
    "media-types": [{ base: "application/json", type: "application/vnd.openstack.vcluster+json;version=2" }],
  };
}

function memberView(m: MemberState): MemberView {
  return {
    name: m.name,
    type: m.type,
    id: m.id === "" ? null : m.id,
    status: m.status,
    zone: m.zone ?? null,
    rack: m.rack ?? null,
    host: m.host ?? null,
    backend: m.backend ?? null,
    ...(m.hostId !== undefined ? { host_id: m.hostId } : {}),
    ...(m.serverGroup !== undefined ? { server_group: m.serverGroup } : {}),
    ...(m.attachedTo !== undefined ? { attached_to: m.attachedTo } : {}),
    ...(m.addresses !== undefined ? { addresses: m.addresses } : {}),
    ...(m.accessIpV4 !== undefined ? { access_ipv4: m.accessIpV4 } : {}),
    ...(m.ports !== undefined ? { ports: m.ports } : {}),
    ...(m.device !== undefined ? { device: m.device } : {}),
    ...(m.fault !== undefined ? { fault: m.fault } : {}),
  };
}

function operationView(op: OperationRecord): z.infer<typeof operationViewSchema> {
  return {
    id: op.id,
    action: op.action,
    status: op.status,
    ...(op.progress !== undefined ? { progress: op.progress } : {}),
    request_id: op.requestId,
    started: apiTime(op.createdAt),
    ...(op.finishedAt !== undefined ? { finished: apiTime(op.finishedAt) } : {}),
  };
}

function faultView(fault: Fault): z.infer<typeof faultViewSchema> {
  return {
    code: fault.code,
    message: fault.message,
    causes: fault.causes,
    hints: fault.hints,
    ...(fault.explanation ? { explanation: fault.explanation } : {}),
  };
}

/** Nova also sends a version-less "bookmark" link; this service has no version-less routes, so it sends only "self". */
export function clusterLinks(base: string, tenantId: string, id: string): z.infer<typeof linkSchema>[] {
  return [{ rel: "self", href: `${base}/v2/${encodeURIComponent(tenantId)}/vclusters/${id}` }];
}

/** `linkTenant`: the project of the URL its links use (an admin's own, for another project's cluster, as Nova links). */
export function clusterView(c: ClusterRecord, base: string, linkTenant = c.tenantId): ClusterView {
  const state: ClusterState | undefined = c.state;
  const members = state ? Object.values(state.members).sort((a, b) => cmp(a.name, b.name)) : [];
  return {
    id: c.id,
    name: c.name,
    tenant_id: c.tenantId,
    status: c.status,
    created: apiTime(c.createdAt),
    updated: apiTime(c.updatedAt),
    ...(state ? { backend_kind: state.backendKind, mode: state.mode } : {}),
    members: members.map(memberView),
    soft_violations: state?.softViolations ?? [],
    broken_rules: state?.brokenRules ?? [],
    missing: state?.missing ?? [],
    ...(c.operation ? { operation: operationView(c.operation) } : {}),
    ...(c.status === "ERROR" && c.fault ? { fault: faultView(c.fault) } : {}),
    links: clusterLinks(base, linkTenant, c.id),
  };
}

export function clusterSummary(c: ClusterRecord, base: string, withTenant = false): ClusterSummary {
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    ...(withTenant ? { tenant_id: c.tenantId } : {}),
    links: clusterLinks(base, c.tenantId, c.id),
  };
}

export function dryRunView(name: string, plan: ClusterPlan, rename: (text: string) => string): DryRunView {
  const result = plan.placement;
  const common = { name, mode: plan.mode, warnings: plan.warnings.map(rename), blocking: plan.blocking.map(rename) };
  if (!result.placed) {
    return { dry_run: { ...common, placeable: false, explanation: renameExplanation(result.explanation, rename) } };
  }
  return {
    dry_run: {
      ...common,
      placeable: true,
      placement: result.placement,
      soft_violations: result.softViolations,
      cost: result.cost,
    },
  };
}

export function renameExplanation<T extends { summary: string; causes: { message: string; hint: string }[] }>(
  explanation: T,
  rename: (text: string) => string,
): T {
  return {
    ...explanation,
    summary: rename(explanation.summary),
    causes: explanation.causes.map((c) => ({ ...c, message: rename(c.message), hint: rename(c.hint) })),
  };
}
