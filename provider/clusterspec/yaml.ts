// YAML specs: plain YAML (what large specs are) through js-yaml in one light pass (plain-yaml.ts);
// the rest through the `yaml` package, in steps that each have a bound, so that no text can
// exhaust memory or the stack: count the tokens (the lexer holds almost nothing), build the
// syntax tree (iterative), measure its depth without recursion, and only then compose and convert
// (both recursive in the package). Repeated keys are found by walking the document ourselves
// (rather than the package's uniqueKeys error) so the issue can name the key's path and every
// line it occurs on, exactly like the JSON parser does.
import {
  Composer,
  type CST,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  type Node,
  Parser,
} from "yaml";
import type { SpecIssue } from "../model/issues";
import { escapeControls } from "../model/text";
import { duplicateKeyIssue, type Position } from "./json";
import { joinPath } from "./paths";
import { readPlainYaml } from "./plain-yaml";

/** Aliases expanding beyond this many nodes are refused (a "billion laughs" document must not hang us). */
const MAX_ALIAS_COUNT = 1000;

/**
 * Collections nested deeper than this are refused. The package composes and converts recursively
 * and runs out of stack near 1,000 levels; a spec needs five.
 */
export const YAML_MAX_DEPTH = 256;

/**
 * Tokens (keys, values, indicators; not spaces) beyond this are refused before any tree is built:
 * the package needs a few hundred bytes per token, so this bounds memory near 1 GB. Plain YAML
 * never comes this far (js-yaml reads it in memory near the text's size): a spec with the
 * most members allowed (100,000) has about 3 million tokens.
 */
export const YAML_MAX_TOKENS = 3_000_000;

export interface YamlOptions {
  /** What the text is, for messages: "a spec" (default), "a topology". */
  noun?: string;
}

type Parsed = { value?: unknown; issues: SpecIssue[] };

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return "";
}

function findDuplicateKeys(doc: Document, lines: LineCounter): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const stack: { node: unknown; path: string }[] = [{ node: doc.contents, path: "" }];
  while (stack.length > 0) {
    const { node, path } = stack.pop() as { node: unknown; path: string };
    if (isAlias(node)) continue;
    if (isMap(node)) {
      const keyLines = new Map<string, Position[]>();
      for (const pair of node.items) {
        const key = keyText(pair.key);
        const offset = (pair.key as Node | null)?.range?.[0] ?? 0;
        const { line, col } = lines.linePos(offset);
        const seen = keyLines.get(key);
        if (seen) seen.push({ line, column: col });
        else keyLines.set(key, [{ line, column: col }]);
        stack.push({ node: pair.value, path: joinPath(path, key) });
      }
      for (const [key, ls] of keyLines) if (ls.length > 1) issues.push(duplicateKeyIssue(path, key, ls));
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        stack.push({ node: item, path: joinPath(path, i) });
      });
    }
  }
  return issues;
}

/**
 * Keys that are lists, mappings or aliases (`? [a, b]: x`, `*ref: x`): no spec or topology has
 * them, and converting them would stringify whole subtrees (slow, and warned about on stderr).
 */
function findComplexKeys(doc: Document, lines: LineCounter): SpecIssue[] {
  const stack: { node: unknown; path: string }[] = [{ node: doc.contents, path: "" }];
  while (stack.length > 0) {
    const { node, path } = stack.pop() as { node: unknown; path: string };
    if (isMap(node)) {
      for (const pair of node.items) {
        if (pair.key !== null && !isScalar(pair.key)) {
          const offset = (pair.key as Node).range?.[0] ?? 0;
          const { line, col } = lines.linePos(offset);
          const what = isAlias(pair.key) ? "an alias" : isSeq(pair.key) ? "a list" : "a mapping";
          return [
            {
              code: "invalid_yaml",
              path,
              message: `line ${line}, column ${col}: a key is ${what}; keys must be plain text`,
              hint: "write the key as text, e.g. `name: value`",
            },
          ];
        }
        stack.push({ node: pair.value, path: joinPath(path, keyText(pair.key)) });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        stack.push({ node: item, path: joinPath(path, i) });
      });
    }
  }
  return [];
}

/** Counts the tokens that become nodes or structure; false when there are more than the limit. */
function withinTokenLimit(text: string): boolean {
  let n = 0;
  for (const token of new Lexer().lex(text)) {
    const c = token.charCodeAt(0);
    // Spaces, line breaks and commas cost nothing once parsed.
    if (c === 32 || c === 10 || c === 13 || c === 9 || c === 44) continue;
    if (++n > YAML_MAX_TOKENS) return false;
  }
  return true;
}

/** The deepest nesting of collections in the syntax tree, and where it is; iterative. */
function deepest(tokens: readonly CST.Token[]): { depth: number; offset: number } {
  let best = { depth: 0, offset: 0 };
  const stack: { token: CST.Token | null | undefined; depth: number }[] = tokens.map((token) => ({ token, depth: 0 }));
  while (stack.length > 0) {
    const { token, depth } = stack.pop() as { token: CST.Token | null | undefined; depth: number };
    if (!token) continue;
    if (depth > best.depth) best = { depth, offset: token.offset };
    switch (token.type) {
      case "document":
        stack.push({ token: token.value, depth });
        break;
      case "block-map":
      case "block-seq":
      case "flow-collection":
        for (const item of token.items as CST.CollectionItem[]) {
          stack.push({ token: item.key, depth: depth + 1 }, { token: item.value, depth: depth + 1 });
        }
        break;
      default:
        break;
    }
  }
  return best;
}

/** A document with nothing in it (after a `---` at the end, say); a plain null counts as nothing. */
function isEmpty(node: unknown): boolean {
  return node === null || (isScalar(node) && node.value === null);
}

function issueAt(lines: LineCounter, offset: number, message: string, hint?: string): SpecIssue {
  const { line, col } = lines.linePos(offset);
  return {
    code: "invalid_yaml",
    path: "",
    message: `line ${line}, column ${col}: ${message}`,
    ...(hint ? { hint } : {}),
  };
}

/** Parses YAML text. Never throws: syntax errors and repeated keys come back as issues. */
export function parseYaml(text: string, opts: YamlOptions = {}): Parsed {
  const noun = opts.noun ?? "a spec";
  // Plain YAML (what large specs are) through js-yaml; the package reads, and explains, the rest.
  const plain = readPlainYaml(text);
  if (plain !== undefined) return { value: plain, issues: [] };
  if (!withinTokenLimit(text)) {
    return {
      issues: [
        {
          code: "invalid_yaml",
          path: "",
          message: `the YAML has more than ${YAML_MAX_TOKENS.toLocaleString("en-US")} keys, values and indicators, more than ${noun} can need`,
          hint: "split it, or write it as JSON, which is read with far less memory",
        },
      ],
    };
  }
  const lines = new LineCounter();
  let docs: Document.Parsed[];
  try {
    const tokens = Array.from(new Parser(lines.addNewLine).parse(text));
    const { depth, offset } = deepest(tokens);
    if (depth > YAML_MAX_DEPTH) {
      return {
        issues: [
          issueAt(
            lines,
            offset,
            `lists and mappings nested more than ${YAML_MAX_DEPTH} levels deep`,
            `${noun} is a few levels deep; look for indentation or brackets that run away`,
          ),
        ],
      };
    }
    const composer = new Composer({ uniqueKeys: false, prettyErrors: false, logLevel: "error" });
    docs = Array.from(composer.compose(tokens, true, text.length));
  } catch (error) {
    return { issues: [{ code: "invalid_yaml", path: "", message: `not readable as YAML: ${firstLine(error)}` }] };
  }
  // A stream of only comments or `---` is one empty document; empty ones after real content are ignored.
  const real = docs.filter((d) => d.errors.length > 0 || !isEmpty(d.contents));
  if (real.length > 1) {
    const starts = real.map((d) => lines.linePos(d.range[0]).line);
    return {
      issues: [
        {
          code: "invalid_yaml",
          path: "",
          message: `${noun} is one YAML document; found ${real.length} (starting on lines ${starts.slice(0, 5).join(", ")}${starts.length > 5 ? ", …" : ""})`,
          hint: "remove the `---` lines that separate them, or put each in its own file",
        },
      ],
    };
  }
  const doc = real[0] ?? docs[0];
  if (!doc) return { value: null, issues: [] };
  if (doc.errors.length > 0) {
    const e = doc.errors[0] as (typeof doc.errors)[number];
    return {
      issues: [
        issueAt(
          lines,
          e.pos[0],
          firstLine(e),
          "check the indentation and that every `key: value` has a space after the colon",
        ),
      ],
    };
  }
  const complex = findComplexKeys(doc, lines);
  if (complex.length > 0) return { issues: complex };
  const issues = findDuplicateKeys(doc, lines);
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }), issues };
  } catch (error) {
    const deep = error instanceof RangeError;
    return {
      issues: [
        ...issues,
        {
          code: "invalid_yaml",
          path: "",
          message: deep
            ? `aliases expand to lists and mappings nested too deeply to read`
            : `not readable as YAML: ${firstLine(error)}`,
          hint: "write the values out instead of using aliases (*name)",
        },
      ],
    };
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/call stack/i.test(message)) return "nested too deeply to read";
  const line = (message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
  // The package quotes the source in some messages: controls and broken surrogates are shown as escapes.
  return escapeControls(line).replace(/\p{Surrogate}/gu, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}
