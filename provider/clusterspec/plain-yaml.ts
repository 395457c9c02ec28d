// The fast path for YAML specs: js-yaml reads a 100,000-member spec in under a second and near
// the text's size in memory, where the `yaml` package builds a full syntax tree with positions
// (10 s and 1 GB). The package stays the reference and the source of every message: this returns
// what its toJS() would, or undefined to hand it the text. So js-yaml only gets "plain" YAML:
// no anchors or aliases (the package bounds their expansion; js-yaml would return a graph that a
// billion-laughs text makes explode downstream), no tags or directives, no complex or over-long
// keys, no odd characters, no number spellings the two schemas read differently, one document;
// whatever js-yaml refuses (repeated keys, deep nesting, syntax errors) goes to the package too.
// test/clusterspec/plain-yaml.test.ts holds it to the package.
import { CORE_SCHEMA, type LoadOptions, load, Type, types } from "js-yaml";
import { isWellFormedText } from "./schema";

// js-yaml exports its types for custom schemas; @types/js-yaml 4.0 does not declare them.
declare module "js-yaml" {
  export const types: { int: Type };
}

/** Tabs, lone carriage returns, controls, NEL, byte order marks, line separators, non-characters. */
const UNUSUAL = /[^\P{Cc}\n\r]|[\u2028\u2029\ufeff\ufffe\uffff]|\r(?!\n)/u;

/** What the package must read, found on the text (a match inside a string only costs speed). */
const FOR_THE_PACKAGE = new RegExp(
  [
    /(?:^|[\s[{,:-])[!&*]/, // a tag, anchor or alias where a node may start
    /^%/, // a directive
    /(?:^|[\s[{,])\?(?!\S)/, // an explicit key
    /[\]}] *:/, // a list or mapping as a key
    // js-yaml is lenient where the package is not: a comment with no space before it, a
    // document marker with anything but a comment after it (`---e` is text to the package,
    // `--- a: 1` an error).
    /["'\]}[{,:]#/,
    /^(?:---|\.\.\.)(?![ \r]*(?:#|$))/,
    // An empty list item (js-yaml moves the next, less indented, item into its list).
    /(?:^|[ ])-[ \r]*(?:#[^\n]*)?$/,
  ]
    .map((r) => r.source)
    .join("|"),
  "m",
);

/** The package refuses a `:` more than 1024 characters after the start of its implicit key. */
const LATE_COLON = /^[^\n]{1024}[^\n:]*:/m; // not `[^\n]{1024,}:`: its backtracking overflows on a long line

/** Deeper nesting is left to the package, which refuses it with a message; a spec needs five levels. */
const MAX_DEPTH = 64;

/** Plain scalars that either js-yaml (any version 4) or the package may read as a number. */
const NUMBER_LIKE =
  /^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?)$/;
/** The spellings both read as the same number (`.inf`, `.nan` and their kin are read alike already). */
const SAME_NUMBER =
  /^(?:0o[0-7]+|0x[0-9a-fA-F]+|[-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)$/;

/** Thrown to stop js-yaml: the text goes to the package. */
const REFUSED = new Error("the yaml package reads this text");

/** Not a number to either, or the same number (js-yaml reads `-0` as 0, and too large a number as text). */
function readAlike(s: string): boolean {
  return !NUMBER_LIKE.test(s) || (SAME_NUMBER.test(s) && s !== "-0" && Number.isFinite(Number(s)));
}

/** CORE_SCHEMA with int (tried right after null and bool, before float) behind the number check. */
const SCHEMA = CORE_SCHEMA.extend({
  implicit: [
    new Type("tag:yaml.org,2002:int", {
      kind: "scalar",
      resolve: (s: string) => {
        if (!readAlike(s)) throw REFUSED;
        return types.int.resolve(s);
      },
      construct: (s: string) => types.int.construct(s),
    }),
  ],
});

/** js-yaml makes a null key (`~: x`) "null", the package makes it "": refuse any "null" key (a quoted one is rare). */
function refuseNullKey(value: unknown): void {
  if (typeof value === "object" && value !== null && Object.hasOwn(value, "null")) throw REFUSED;
}

const isBlank = (c: string | undefined) => c === " " || c === "\n" || c === "\r";

/** Where the node that js-yaml opened at `at` starts: past white space and comments. */
function nodeStart(text: string, at: number): number {
  let i = at;
  for (;;) {
    if (isBlank(text[i])) i++;
    else if (text[i] === "#")
      i = text.indexOf("\n", i) >>> 0; // to the end of the line or text
    else return i;
  }
}

/** Checks on each node as js-yaml closes it, for what the text checks cannot see. */
function nodeChecks(): LoadOptions["listener"] {
  const opened: number[] = [];
  return (event, { input: text, kind, position, result }) => {
    if (event === "open") return void opened.push(position);
    const start = nodeStart(text, opened.pop() as number);
    const first = text[start];
    // (A block mapping starts where its first key does, which may be quoted.)
    const flow = kind === "scalar" ? first === '"' || first === "'" : first === "[" || first === "{";
    // js-yaml does not check how the later lines of a quoted scalar or a flow list or mapping are
    // indented (nor what follows its end there); the package does.
    if (flow && text.lastIndexOf("\n", position - 1) > start) throw REFUSED;
    if (kind === "mapping") refuseNullKey(result);
    // The pairs in `[a: b]` never close as mappings: check a list's items too.
    if (kind === "sequence") for (const item of result as unknown[]) refuseNullKey(item);
    // A flow list or mapping as a key with no value (`{[a], b: c}`, which the text checks miss)
    // js-yaml makes text: it must be a value, an item, or the document. (A node that starts where
    // its parent does is the block js-yaml first tried to read it as.)
    if (!flow || kind === "scalar" || opened.length === 0) return;
    const parent = nodeStart(text, opened[opened.length - 1] as number);
    let i = start - 1;
    while (isBlank(text[i])) i--;
    const valueOrItem =
      text[i] === ":" || text[i] === "[" || text[i] === "-" || (text[i] === "," && text[parent] === "[");
    if (parent !== start && !valueOrItem) throw REFUSED;
  };
}

type Options = LoadOptions & { maxDepth: number }; // maxDepth: js-yaml 4.3, not in @types/js-yaml 4.0

/** The value of a YAML text as the package's toJS() gives it, when the text is plain (see above); undefined otherwise. */
export function readPlainYaml(text: string): unknown {
  if (UNUSUAL.test(text) || !isWellFormedText(text) || FOR_THE_PACKAGE.test(text) || LATE_COLON.test(text))
    return undefined;
  try {
    const options: Options = { schema: SCHEMA, maxDepth: MAX_DEPTH, listener: nodeChecks() };
    const value = load(text, options);
    // A spec is a mapping: nothing, only comments, or a bare scalar (where the two differ at the
    // edges, `--- ` say) are for the package to explain.
    return typeof value === "object" && value !== null ? value : undefined;
  } catch {
    return undefined; // REFUSED, or js-yaml's own refusal: repeated keys, documents, syntax, depth
  }
}
