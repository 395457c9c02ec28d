// The shapes of both input forms, as zod schemas. Shape only: cross-references (names,
// membersRef, attachTo) are checked in validate.ts, defaults are applied in normalize.ts.
// Each element (instance, grouping) is parsed on its own so one bad element never hides
// problems in the others, and cross-checks can still use every element that parsed.
import { z } from "zod";
import { ENFORCEMENTS, RULES, SCOPES } from "../model/cluster";

/** Limits that keep validation and placement fast on any input. */
export const LIMITS = {
  members: 100_000,
  groupings: 10_000,
  membersRefPerGrouping: 100_000,
  nameLength: 255,
  sizeGb: 1_000_000,
  weight: 100,
  maxPerDomain: 10_000,
  listEntries: 1_000,
  metadataEntries: 1_000,
  userDataLength: 65_535,
} as const;

/** Control characters (C0, DEL, C1) and the Unicode line/paragraph separators. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

/** A user-chosen name: non-empty, at most 255 characters, no control characters, no surrounding whitespace. */
export const nameSchema = z
  .string()
  .min(1)
  .max(LIMITS.nameLength)
  .refine((s) => !hasControl(s), { message: "must not contain control characters (line breaks, tabs, …)" })
  .refine((s) => s.trim() === s, { message: "must not start or end with whitespace" });

/** A reference to something in the cloud (image, flavor, zone, network): a non-empty string. */
const refSchema = z.string().min(1).max(LIMITS.nameLength);
const metadataSchema = z
  .record(refSchema, z.string().max(LIMITS.nameLength))
  .refine((m) => Object.keys(m).length <= LIMITS.metadataEntries, {
    message: `must have at most ${LIMITS.metadataEntries} entries`,
  });
const refListSchema = z.array(refSchema).max(LIMITS.listEntries);

export const serverSpecShape = {
  imageRef: refSchema,
  flavorRef: refSchema,
  zone: refSchema.optional(),
  networks: refListSchema.optional(),
  key_name: refSchema.optional(),
  security_groups: refListSchema.optional(),
  user_data: z.string().max(LIMITS.userDataLength).optional(),
  metadata: metadataSchema.optional(),
};

const sizeSchema = z.number().int().min(1).max(LIMITS.sizeGb);
/** The blueprint wrote sizes as it liked; a string of digits ("10") is accepted there. */
const blueprintSizeSchema = z.preprocess(
  (v) => (typeof v === "string" && /^[0-9]{1,15}$/.test(v) ? Number(v) : v),
  sizeSchema,
);

function volumeSpecShape(blueprint: boolean) {
  return {
    size: blueprint ? blueprintSizeSchema : sizeSchema,
    /** "" means the cloud's default type, as the blueprint's examples write it. */
    volume_type: z.string().max(LIMITS.nameLength).optional(),
    zone: refSchema.optional(),
    attachTo: nameSchema.optional(),
    metadata: metadataSchema.optional(),
  };
}

export const INSTANCE_TYPES = ["server", "volume", "block-storage"] as const;

export const serverInstanceSchema = z.strictObject({
  name: nameSchema,
  type: z.literal("server"),
  spec: z.strictObject(serverSpecShape),
});

export const volumeInstanceSchema = z.strictObject({
  name: nameSchema,
  type: z.enum(["volume", "block-storage"]),
  spec: z.strictObject(volumeSpecShape(false)),
});

export const blueprintVolumeInstanceSchema = z.strictObject({
  name: nameSchema,
  type: z.enum(["volume", "block-storage"]),
  spec: z.strictObject(volumeSpecShape(true)),
});

/** For an instance whose type is wrong or missing: check what can be checked without knowing the type. */
export const instanceHeadSchema = z.strictObject({
  name: nameSchema,
  type: z.enum(INSTANCE_TYPES),
  spec: z.unknown(),
});

export const groupingSpecShape = {
  rule: z.enum(RULES),
  scope: z.enum(SCOPES).optional(),
  enforcement: z.enum(ENFORCEMENTS).optional(),
  weight: z.number().int().min(1).max(LIMITS.weight).optional(),
  maxPerDomain: z.number().int().min(1).max(LIMITS.maxPerDomain).optional(),
};

export const groupingSchema = z.strictObject({
  name: nameSchema,
  membersRef: z.array(nameSchema).max(LIMITS.membersRefPerGrouping),
  spec: z.strictObject(groupingSpecShape),
});

/** The body of either form: top level in args form, `vcluster` in blueprint form. Elements are checked one by one. */
export const bodySchema = z.strictObject({
  name: nameSchema.optional(),
  instances: z.array(z.unknown()).min(1).max(LIMITS.members),
  groupings: z.array(z.unknown()).max(LIMITS.groupings).optional(),
});

export const blueprintRootSchema = z.strictObject({ vcluster: z.unknown() });

export type ServerInstanceInput = z.output<typeof serverInstanceSchema>;
export type VolumeInstanceInput = z.output<typeof volumeInstanceSchema>;
export type InstanceInput = ServerInstanceInput | VolumeInstanceInput;
export type GroupingInput = z.output<typeof groupingSchema>;

/** Allowed keys per spot, for "did you mean" on unknown fields. Keyed by the path relative to the element. */
export const ALLOWED_KEYS = {
  body: Object.keys(bodySchema.shape),
  blueprintRoot: ["vcluster"],
  instance: ["name", "type", "spec"],
  serverSpec: Object.keys(serverSpecShape),
  volumeSpec: Object.keys(volumeSpecShape(false)),
  grouping: Object.keys(groupingSchema.shape),
  groupingSpec: Object.keys(groupingSpecShape),
} as const;
