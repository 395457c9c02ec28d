// JSON Schemas of the files the command reads, for editors (completion, hover, red squiggles):
// generated from the zod schemas that validate them (schema.ts, topology-file.ts), so they can't
// drift. Shipped as sdk/schema/*.schema.json and printed by `openstack-vcluster schema`; a test
// regenerates them. They say what a schema can: shapes, enums, bounds. Cross-references (membersRef,
// attachTo), contradictions, control characters and the like are validate's, with its messages.
import { z } from "zod";
import {
  blueprintVolumeInstanceSchema,
  bodySchema,
  groupingSchema,
  LIMITS,
  nameSchema,
  refSchema,
  SNAKE_CASE_NAMES,
  serverInstanceSchema,
  volumeInstanceSchema,
} from "./schema";
import { topologyFileSchema } from "./topology-file";

/** Nova's and the blueprint's snake_case spellings, beside the camelCase field each means. */
function withSnakeCase<T extends Record<string, z.ZodType>>(shape: T, names: Record<string, string>) {
  const aliases: Record<string, z.ZodType> = {};
  for (const [snake, camel] of Object.entries(names)) {
    const field = shape[camel] as z.ZodType;
    aliases[snake] = field.clone().describe(`Nova's spelling of "${camel}" (accepted in files; not both)`);
  }
  return { ...shape, ...aliases };
}

function body(blueprint: boolean) {
  const server = serverInstanceSchema.extend({
    spec: z.strictObject(withSnakeCase(serverInstanceSchema.shape.spec.shape, SNAKE_CASE_NAMES.server)),
  });
  const volumeSpec = (blueprint ? blueprintVolumeInstanceSchema : volumeInstanceSchema).shape.spec.shape;
  const volume = volumeInstanceSchema.extend({
    spec: z.strictObject({
      ...withSnakeCase(volumeSpec, SNAKE_CASE_NAMES.volume),
      // The blueprint writes sizes as it likes: a string of digits too.
      size: blueprint
        ? z.union([volumeSpec.size, z.string().regex(/^[0-9]{1,15}$/)]).describe("size in GB, 1 to 1,000,000")
        : volumeInstanceSchema.shape.spec.shape.size.describe("size in GB, 1 to 1,000,000"),
    }),
  });
  return z.strictObject({
    name: nameSchema.describe("the cluster's name: its members are tagged with it"),
    instances: z
      .array(z.discriminatedUnion("type", [server, volume]))
      .min(1)
      .max(LIMITS.members)
      .describe("the members: servers and volumes"),
    groupings: z
      .array(groupingSchema)
      .max(LIMITS.groupings)
      .optional()
      .describe("rules that keep members together (affinity, proximity) or apart (anti-affinity)"),
    placementStrategy: bodySchema.shape.placementStrategy.describe(
      "spread (default): across many hosts; pack: on as few hosts as the rules allow",
    ),
  });
}

const specFileSchema = z.union([
  body(false).describe("the args form: the fields of a VCluster resource, with name"),
  z.strictObject({ vcluster: body(true) }).describe("the blueprint form, as the REST API takes it"),
]);

/** The refinements of names and cloud references (also of their described copies, which share them). */
const BOUNDED: ReadonlySet<unknown> = new Set([...checksOf(nameSchema), ...checksOf(refSchema)]);

function checksOf(schema: unknown): unknown[] {
  return (schema as { _zod: { def: { checks?: unknown[] } } })._zod.def.checks ?? [];
}

/** What a string's refinements check, said where JSON Schema can say it. */
function override(ctx: { zodSchema: unknown; jsonSchema: Record<string, unknown> }): void {
  if (checksOf(ctx.zodSchema).some((c) => BOUNDED.has(c))) {
    ctx.jsonSchema.minLength = 1;
    ctx.jsonSchema.maxLength = LIMITS.nameLength;
  }
}

function generate(schema: z.ZodType, title: string, description: string): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io: "input", unrepresentable: "any", override }) as Record<string, unknown>;
  const { $schema, ...rest } = out;
  return { $schema, title, description, ...rest };
}

export const JSON_SCHEMAS = {
  spec: () =>
    generate(
      specFileSchema,
      "openstack-vcluster cluster spec",
      "A cluster spec file for `openstack-vcluster` (JSON or YAML): the args form {name, instances, groupings, placementStrategy} or the blueprint form {vcluster: {...}}. `openstack-vcluster validate` checks what a schema can't (references between members, contradictions).",
    ),
  topology: () =>
    generate(
      topologyFileSchema,
      "openstack-vcluster topology",
      "A topology file for `openstack-vcluster plan --topology` and the simulated cloud: flavors, hosts, storage backends.",
    ),
} as const;

export type SchemaName = keyof typeof JSON_SCHEMAS;

/** The schema as the shipped file holds it: two-space JSON, a final newline. */
export function jsonSchemaText(name: SchemaName): string {
  return `${JSON.stringify(JSON_SCHEMAS[name](), null, 2)}\n`;
}
