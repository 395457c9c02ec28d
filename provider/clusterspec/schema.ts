// The shapes of both input forms, as zod schemas. Shape only: cross-references (names,
// membersRef, attachTo) are checked in validate.ts, defaults are applied in normalize.ts.
// Each element (instance, grouping) is parsed on its own so one bad element never hides
// problems in the others, and cross-checks can still use every element that parsed.
import { z } from "zod";
import { ENFORCEMENTS, RULES, SCOPES, STRATEGIES } from "../model/cluster";

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

/**
 * Well-formed UTF-16: no lone surrogate (a "\ud800" escape, text cut inside an emoji). Such a
 * string can't be encoded as UTF-8: encodeURIComponent throws on it, and a cloud API would
 * get U+FFFD instead, so it is refused where the user wrote it.
 */
export function isWellFormedText(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** Where the first lone surrogate is, for the message: `\ud800 at character 3`. */
function loneSurrogate(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    const next = s.charCodeAt(i + 1);
    if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      i++;
      continue;
    }
    return `\\u${c.toString(16)} at character ${i + 1}`;
  }
  return "";
}

const NOT_WELL_FORMED = {
  hint: "use complete characters only; a lone surrogate comes from a \\uD800-\\uDFFF escape without its pair or from text cut inside an emoji",
};
const CONTROL = {
  message: "must not contain control characters (line breaks, tabs, …)",
  hint: "remove the line break, tab or other control character",
};

type Ctx = Pick<z.core.$RefinementCtx<string>, "addIssue">;

/** Refusals every string the user chooses shares, checked in order so that one string gets one issue. */
function textChecks(opts: { control: boolean; blank: boolean; trimmed: boolean }) {
  return (s: string, ctx: Ctx): void => {
    if (!isWellFormedText(s)) {
      ctx.addIssue({
        code: "custom",
        message: `is not well-formed Unicode: a lone surrogate ${loneSurrogate(s)}`,
        params: NOT_WELL_FORMED,
      });
    } else if (opts.control && hasControl(s)) {
      ctx.addIssue({ code: "custom", message: CONTROL.message, params: { hint: CONTROL.hint } });
    } else if (opts.blank && s.length > 0 && s.trim() === "") {
      ctx.addIssue({ code: "custom", message: "must not be blank", params: { blank: true } });
    } else if (opts.trimmed && s.trim() !== s) {
      ctx.addIssue({
        code: "custom",
        message: "must not start or end with whitespace",
        params: { hint: "remove the spaces around it" },
      });
    }
  };
}

/**
 * Length bounds that run only once the type is right. zod's own .min()/.max() run on any value
 * with a `length` and compare it, so `{"length": {"valueOf": 1, "toString": 1}}` where a string
 * or a list belongs would make them throw. Issues are zod's own (too_small, too_big), so messages
 * read the same. Strings are measured in code points, as zod measures them.
 */
function lengthBounds(origin: "string" | "array", min: number | undefined, max: number) {
  return (v: string | readonly unknown[], ctx: Pick<z.core.$RefinementCtx<unknown>, "addIssue">) => {
    if (min !== undefined && v.length < min) {
      ctx.addIssue({ code: "too_small", origin, minimum: min, inclusive: true, input: v });
    } else if (v.length > max && (typeof v !== "string" || [...v].length > max)) {
      ctx.addIssue({ code: "too_big", origin, maximum: max, inclusive: true, input: v });
    }
  };
}

/** A string of min..max characters, then the text checks. */
function text(min: number | undefined, max: number, checks: Parameters<typeof textChecks>[0]) {
  const bounds = lengthBounds("string", min, max);
  const refuse = textChecks(checks);
  return z.string().superRefine((s, ctx) => {
    bounds(s, ctx);
    refuse(s, ctx);
  });
}

/** A list of at most max (at least min) entries. */
function list<T extends z.ZodType>(item: T, max: number, min?: number) {
  const bounds = lengthBounds("array", min, max);
  return z.array(item).superRefine((a, ctx) => bounds(a, ctx));
}

/** A user-chosen name: non-empty, at most 255 characters, well-formed, no control characters, no surrounding whitespace. */
export const nameSchema = text(1, LIMITS.nameLength, { control: true, blank: false, trimmed: true });

/** Printable ASCII, 1 to 255 characters, no space at either end. */
const PLAIN_NAME = /^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$/;

/**
 * Names as almost every spec writes them, which nameSchema always accepts: a check without zod's
 * cost per call, for the places that test every name and reference of a large spec.
 */
export function isPlainName(s: string): boolean {
  return PLAIN_NAME.test(s);
}

/** A reference to something in the cloud (image, flavor, zone, network, key): non-blank, well-formed, no control characters. */
export const refSchema = text(1, LIMITS.nameLength, { control: true, blank: true, trimmed: false });

/** Free text that goes to the cloud as it is (metadata values, user data): well-formed, anything else allowed. */
const wellFormedSchema = (max: number) => text(undefined, max, { control: false, blank: false, trimmed: false });

const metadataSchema = z
  .record(refSchema, wellFormedSchema(LIMITS.nameLength))
  .refine((m) => Object.keys(m).length <= LIMITS.metadataEntries, {
    message: `must have at most ${LIMITS.metadataEntries} entries`,
  });
const refListSchema = list(refSchema, LIMITS.listEntries);

export const serverSpecShape = {
  imageRef: refSchema,
  flavorRef: refSchema,
  zone: refSchema.optional(),
  networks: refListSchema.optional(),
  keyName: refSchema.optional(),
  securityGroups: refListSchema.optional(),
  userData: wellFormedSchema(LIMITS.userDataLength).optional(),
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
    volumeType: text(undefined, LIMITS.nameLength, { control: true, blank: true, trimmed: false }).optional(),
    zone: refSchema.optional(),
    attachTo: nameSchema.optional(),
    metadata: metadataSchema.optional(),
  };
}

/**
 * Nova's and the blueprint's snake_case spellings of spec fields, by the field each means. The spec's
 * own names are camelCase (as @pulumi/openstack's); files of either form also take these, and so does a
 * Pulumi program, where they are deprecated (validate's `legacyNames: "warn"`). Both spellings of one
 * field at once is an error. The rename happens before the shape is checked (elements.ts).
 */
export const SNAKE_CASE_NAMES = {
  server: { key_name: "keyName", security_groups: "securityGroups", user_data: "userData" },
  volume: { volume_type: "volumeType" },
} as const satisfies Record<"server" | "volume", Record<string, string>>;

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
  membersRef: list(nameSchema, LIMITS.membersRefPerGrouping),
  spec: z.strictObject(groupingSpecShape),
});

/** The body of either form: top level in args form, `vcluster` in blueprint form. Elements are checked one by one. */
export const bodySchema = z.strictObject({
  name: nameSchema.optional(),
  instances: list(z.unknown(), LIMITS.members, 1),
  groupings: list(z.unknown(), LIMITS.groupings).optional(),
  /** spread (the default) or pack (fewest hosts), for the whole cluster. */
  placementStrategy: z.enum(STRATEGIES).optional(),
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
