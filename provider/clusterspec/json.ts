// A small JSON parser that, unlike JSON.parse, notices repeated keys (the blueprint's own
// examples repeat "instance", and JSON.parse would silently keep only the last) and says
// where a syntax error is, by line and column, with a hint for the usual slips.
import type { SpecIssue } from "../model/issues";
import { escapeControls, quote } from "../model/text";
import { joinPath } from "./paths";

/** Deeper nesting is refused (a spec needs five levels): no input can exhaust the stack. */
export const MAX_DEPTH = 512;
const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const ESCAPES = new Map([
  ['"', '"'],
  ["\\", "\\"],
  ["/", "/"],
  ["b", "\b"],
  ["f", "\f"],
  ["n", "\n"],
  ["r", "\r"],
  ["t", "\t"],
]);

export interface JsonParseResult {
  /** Absent when the text is not JSON. With duplicate keys it is present (the last value wins, as in JSON.parse). */
  value?: unknown;
  issues: SpecIssue[];
}

class JsonSyntaxError extends Error {
  constructor(
    readonly offset: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Finds line and column (both 1-based) of offsets, by binary search over line starts. */
export class LineIndex {
  private readonly starts: number[] = [0];
  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }
  at(offset: number): Position {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (this.starts[lo] as number) + 1 };
  }
}

export interface Position {
  line: number;
  column: number;
}

/** "lines 4 and 12" / "lines 4, 12 and 20"; with line:column when a line repeats. */
export function listPositions(positions: readonly Position[]): string {
  const distinct = new Set(positions.map((p) => p.line)).size === positions.length;
  const items = positions.map((p) => (distinct ? String(p.line) : `${p.line}:${p.column}`));
  const list = items.length === 1 ? items[0] : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
  return `${distinct ? (items.length === 1 ? "line" : "lines") : "at"} ${list}`;
}

/** The issue for a key that occurs more than once in one object, with a hint fitting the blueprint's habit. */
export function duplicateKeyIssue(parentPath: string, key: string, positions: readonly Position[]): SpecIssue {
  const where = parentPath ? `"${escapeControls(parentPath)}"` : "the top-level object";
  const parentKey = parentPath.split(/[.[]/).pop() ?? "";
  const listy = key === "instance" || key === "grouping" || parentKey === "instances" || parentKey === "groupings";
  return {
    code: "duplicate_key",
    path: joinPath(parentPath, key),
    message: `key ${quote(key)} occurs ${positions.length} times in ${where} (${listPositions(positions)}); only the last one would be kept`,
    hint: listy
      ? `write an array instead of repeating a key: "${escapeControls(parentKey) || "instances"}": [ {...}, {...} ]`
      : `keep only one ${quote(key)}`,
  };
}

function describeChar(text: string, offset: number): string {
  if (offset >= text.length) return "the end of the text";
  const ch = text[offset] as string;
  if (ch === "\n" || ch === "\r") return "the end of the line";
  return quote(ch);
}

/** A long run of digits is shown by its start: a message stays one short line. */
function truncateText(s: string, n = 40): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

class Parser {
  private pos = 0;
  readonly duplicates: SpecIssue[] = [];
  private readonly lines: LineIndex;

  constructor(private readonly text: string) {
    this.lines = new LineIndex(text);
    if (text.charCodeAt(0) === 0xfeff) this.pos = 1;
  }

  position(offset: number): Position {
    return this.lines.at(offset);
  }

  document(): unknown {
    this.ws();
    if (this.pos >= this.text.length) throw new JsonSyntaxError(this.pos, "the text is empty", "write a JSON object");
    const value = this.value("", 0);
    this.ws();
    if (this.pos < this.text.length) {
      throw new JsonSyntaxError(
        this.pos,
        `unexpected ${describeChar(this.text, this.pos)} after the end of the document`,
        "a JSON file holds exactly one value; check for an extra } or ]",
      );
    }
    return value;
  }

  private ws(): void {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) {
        this.pos++;
        continue;
      }
      if (c === 47 && (t[this.pos + 1] === "/" || t[this.pos + 1] === "*")) {
        throw new JsonSyntaxError(
          this.pos,
          "comments are not allowed in JSON",
          "remove the comment, or write the spec as YAML",
        );
      }
      return;
    }
  }

  private value(path: string, depth: number): unknown {
    if (depth > MAX_DEPTH)
      throw new JsonSyntaxError(
        this.pos,
        `values nested more than ${MAX_DEPTH} levels deep`,
        "a cluster spec is a few levels deep; look for brackets that are opened and never closed",
      );
    const c = this.text[this.pos];
    if (c === "{") return this.object(path, depth);
    if (c === "[") return this.array(path, depth);
    if (c === '"') return this.string();
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.number();
    for (const [word, v] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    if (c === "'")
      throw new JsonSyntaxError(this.pos, "strings must use double quotes", "write \"text\" instead of 'text'");
    if (c === "}" || c === "]" || c === ",") {
      throw new JsonSyntaxError(
        this.pos,
        `expected a value, found ${describeChar(this.text, this.pos)}`,
        "remove the extra comma",
      );
    }
    throw new JsonSyntaxError(
      this.pos,
      `expected a value, found ${describeChar(this.text, this.pos)}`,
      this.pos >= this.text.length
        ? "the text ends early: check for a missing } or ]"
        : "quote strings with double quotes",
    );
  }

  private object(path: string, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const keyLines = new Map<string, Position[]>();
    this.pos++;
    this.ws();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] !== '"') {
        const found = describeChar(this.text, this.pos);
        if (this.text[this.pos] === "}")
          throw new JsonSyntaxError(this.pos, "trailing comma before }", "remove the last comma");
        throw new JsonSyntaxError(
          this.pos,
          `expected a key in double quotes, found ${found}`,
          'write keys as "key": value',
        );
      }
      const keyOffset = this.pos;
      const key = this.string();
      const seen = keyLines.get(key);
      if (seen) seen.push(this.position(keyOffset));
      else keyLines.set(key, [this.position(keyOffset)]);
      this.ws();
      if (this.text[this.pos] !== ":") {
        throw new JsonSyntaxError(
          this.pos,
          `expected ":" after key ${quote(key)}, found ${describeChar(this.text, this.pos)}`,
        );
      }
      this.pos++;
      this.ws();
      const v = this.value(joinPath(path, key), depth + 1);
      // defineProperty, not assignment: a key "__proto__" must stay data, never a prototype.
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      this.ws();
      const c = this.text[this.pos];
      if (c === ",") {
        this.pos++;
        continue;
      }
      if (c === "}") {
        this.pos++;
        break;
      }
      throw new JsonSyntaxError(
        this.pos,
        `expected "," or "}" after the value of ${quote(key)}, found ${describeChar(this.text, this.pos)}`,
        this.pos >= this.text.length ? "the text ends early: check for a missing }" : "separate entries with commas",
      );
    }
    for (const [key, lines] of keyLines) {
      if (lines.length > 1) this.duplicates.push(duplicateKeyIssue(path, key, lines));
    }
    return out;
  }

  private array(path: string, depth: number): unknown[] {
    const out: unknown[] = [];
    this.pos++;
    this.ws();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] === "]")
        throw new JsonSyntaxError(this.pos, "trailing comma before ]", "remove the last comma");
      out.push(this.value(joinPath(path, out.length), depth + 1));
      this.ws();
      const c = this.text[this.pos];
      if (c === ",") {
        this.pos++;
        continue;
      }
      if (c === "]") {
        this.pos++;
        return out;
      }
      throw new JsonSyntaxError(
        this.pos,
        `expected "," or "]" after an array entry, found ${describeChar(this.text, this.pos)}`,
        this.pos >= this.text.length ? "the text ends early: check for a missing ]" : "separate entries with commas",
      );
    }
  }

  private string(): string {
    const t = this.text;
    const start = this.pos;
    this.pos++;
    let out = "";
    let chunk = this.pos;
    for (;;) {
      if (this.pos >= t.length) throw new JsonSyntaxError(start, "a string is never closed", 'end it with "');
      const c = t.charCodeAt(this.pos);
      if (c === 34) {
        out += t.slice(chunk, this.pos);
        this.pos++;
        return out;
      }
      if (c < 32) {
        throw new JsonSyntaxError(
          this.pos,
          "a line break or control character inside a string",
          "write it escaped, e.g. \\n",
        );
      }
      if (c === 92) {
        out += t.slice(chunk, this.pos);
        const e = t[this.pos + 1];
        const simple = e === undefined ? undefined : ESCAPES.get(e);
        if (simple !== undefined) {
          out += simple;
          this.pos += 2;
        } else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(t.slice(this.pos + 2, this.pos + 6))) {
          out += String.fromCharCode(Number.parseInt(t.slice(this.pos + 2, this.pos + 6), 16));
          this.pos += 6;
        } else {
          throw new JsonSyntaxError(this.pos, `invalid escape ${quote(t.slice(this.pos, this.pos + 2))} in a string`);
        }
        chunk = this.pos;
        continue;
      }
      this.pos++;
    }
  }

  private number(): number {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (!m) throw new JsonSyntaxError(this.pos, `invalid number starting with ${describeChar(this.text, this.pos)}`);
    const next = this.text[this.pos + m[0].length];
    if (next !== undefined && /[\w.]/.test(next)) {
      throw new JsonSyntaxError(
        this.pos,
        `invalid number ${quote(truncateText(this.text.slice(this.pos, this.pos + m[0].length + 1)))}`,
      );
    }
    this.pos += m[0].length;
    return Number(m[0]);
  }
}

/** Parses JSON text. Never throws: syntax errors and repeated keys come back as issues. */
export function parseJson(text: string): JsonParseResult {
  const parser = new Parser(text);
  try {
    const value = parser.document();
    return { value, issues: parser.duplicates };
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    const { line, column } = new LineIndex(text).at(error.offset);
    return {
      issues: [
        {
          code: "invalid_json",
          path: "",
          message: `line ${line}, column ${column}: ${error.message}`,
          ...(error.hint ? { hint: error.hint } : {}),
        },
      ],
    };
  }
}
