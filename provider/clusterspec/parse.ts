// Text and files into validated specs: read (a regular file, bounded, UTF-8), parse (JSON or
// YAML, repeated keys caught), then validate. Nothing a file holds, and no kind of file, can make
// this hang, grow memory without bound, or throw anything but a one-line SpecFileError.
import { isUtf8 } from "node:buffer";
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from "node:fs";
import { extname } from "node:path";
import type { SpecIssue } from "../model/issues";
import { sortIssues } from "../model/issues";
import { quote } from "../model/text";
import { parseJson } from "./json";
import { type ValidateOptions, type ValidationResult, validateSpec } from "./validate";
import { parseYaml } from "./yaml";

const MiB = 1024 * 1024;

/**
 * The largest file read, by format. A spec with the most members allowed (100,000) is about
 * 20 MB of indented JSON or 13 MB of YAML; YAML is held to less because the `yaml` package
 * (for anything beyond plain YAML) needs about a hundred times the text's size in memory.
 */
export const FILE_LIMITS = { json: 32 * MiB, yaml: 16 * MiB } as const;

/** A spec file that can't be read at all: missing, not a regular file, too large. The message is one line. */
export class SpecFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpecFileError";
  }
}

/** Why a file can't be read: `problem` completes "spec file "x": …"; one line each. */
export class FileProblem extends Error {
  constructor(
    readonly problem: string,
    readonly hint?: string,
  ) {
    super(problem);
    this.name = "FileProblem";
  }

  /** `<what> file "<path>": <problem> (hint: <hint>)` */
  describe(what: string, path: string): string {
    return `${what} file ${quote(path)}: ${this.problem}${this.hint ? ` (hint: ${this.hint})` : ""}`;
  }
}

/** 1536 → "1.5 KiB"; exact bytes below 1 KiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

function kindOf(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a named pipe";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

function errnoProblem(error: unknown): FileProblem {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ENOENT") return new FileProblem("not found");
  if (code === "ENOTDIR") return new FileProblem("not found (a part of the path is not a directory)");
  if (code === "EACCES" || code === "EPERM") return new FileProblem("permission denied");
  if (code === "ELOOP") return new FileProblem("too many levels of symbolic links");
  if (code === "ENAMETOOLONG") return new FileProblem("the path is too long");
  if (code === "EISDIR") return notRegular("a directory");
  return new FileProblem(`unreadable (${typeof code === "string" ? code : "unknown error"})`);
}

function notRegular(kind: string): FileProblem {
  return new FileProblem(
    kind === "not a regular file" ? kind : `it is ${kind}, not a regular file`,
    kind === "a directory" ? "give the path of a file in it" : "save the content to a regular file and give its path",
  );
}

function tooLarge(size: number | undefined, limit: number, limitNote: string): FileProblem {
  // Just over the limit would round to the limit: then the exact count says it.
  const rounded = size === undefined ? "" : formatBytes(size);
  const shown = rounded.replace(".0 ", " ") === formatBytes(limit) ? `${size?.toLocaleString("en-US")} bytes` : rounded;
  const what = size === undefined ? "it is larger than" : `it is ${shown}, over`;
  return new FileProblem(`${what} the limit of ${formatBytes(limit)}${limitNote}`, "split it into smaller files");
}

/**
 * Reads a regular file of at most `limit` bytes. Anything else (a directory, a named pipe, a
 * device such as /dev/zero, a socket) is refused before it is opened for reading; a file that
 * claims a small size but keeps going (/proc) is cut off at the limit. Throws FileProblem.
 */
export function readBoundedFile(path: string, limit: number, limitNote = ""): Buffer {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (error) {
    throw errnoProblem(error);
  }
  const kind = kindOf(st);
  if (kind) throw notRegular(kind);
  if (st.size > limit) throw tooLarge(st.size, limit, limitNote);
  let fd: number;
  try {
    // O_NONBLOCK: should the path be swapped for a named pipe after the check, opening must not wait for a writer.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    throw errnoProblem(error);
  }
  try {
    const opened = fstatSync(fd);
    const openedKind = kindOf(opened);
    if (openedKind) throw notRegular(openedKind);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      // The size stat gives is a guess (/proc files say 0): read what is there, never past the limit.
      const chunk = Buffer.allocUnsafe(Math.min(Math.max(opened.size - total + 1, 64 * 1024), limit + 1 - total, MiB));
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunk.length, null);
      } catch (error) {
        throw errnoProblem(error);
      }
      if (n === 0) break;
      total += n;
      if (total > limit) throw tooLarge(undefined, limit, limitNote);
      chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    }
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** The offset of the first byte that is not valid UTF-8 (overlong forms and surrogates included), or -1. */
export function invalidUtf8Offset(b: Uint8Array, from = 0): number {
  let i = from;
  const n = b.length;
  while (i < n) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined) return i;
      if (k === 1 ? d < lo || d > hi : d < 0x80 || d > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

function lineOf(b: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (b[i] === 10) line++;
  return line;
}

/** What a decoding problem is, to be reported as an issue about the whole file. */
export interface EncodingProblem {
  message: string;
  hint: string;
}

const SAVE_AS_UTF8 = "save the file as UTF-8";

/**
 * The text of a file: UTF-8, with or without its byte order mark. UTF-16 and UTF-32 (by their
 * byte order marks, or by the zero bytes of ASCII text in them), NUL bytes and invalid UTF-8
 * are problems, never read as garbage.
 */
export function decodeText(b: Uint8Array): { text: string } | { problem: EncodingProblem } {
  const bom = (...bytes: number[]) => bytes.every((x, i) => b[i] === x);
  const wide = (name: string, how: string): { problem: EncodingProblem } => ({
    problem: { message: `the file is ${name} text (${how}); it must be UTF-8`, hint: SAVE_AS_UTF8 },
  });
  if (bom(0xff, 0xfe, 0, 0)) return wide("UTF-32", "little-endian, with a byte order mark");
  if (bom(0, 0, 0xfe, 0xff)) return wide("UTF-32", "big-endian, with a byte order mark");
  if (bom(0xff, 0xfe)) return wide("UTF-16", "little-endian, with a byte order mark");
  if (bom(0xfe, 0xff)) return wide("UTF-16", "big-endian, with a byte order mark");
  const start = bom(0xef, 0xbb, 0xbf) ? 3 : 0;
  const nul = b.indexOf(0, start);
  if (nul >= 0) {
    // ASCII in UTF-16 or UTF-32 has a zero byte beside every character.
    const z = [0, 1, 2, 3].map((k) => b[start + k] === 0);
    if (b.length >= start + 4 && !z[0] && z[1] && z[2] && z[3])
      return wide("UTF-32", "little-endian, without a byte order mark");
    if (b.length >= start + 4 && z[0] && z[1] && z[2] && !z[3])
      return wide("UTF-32", "big-endian, without a byte order mark");
    if (b.length >= start + 2 && !z[0] && z[1]) return wide("UTF-16", "little-endian, without a byte order mark");
    if (b.length >= start + 2 && z[0] && !z[1]) return wide("UTF-16", "big-endian, without a byte order mark");
    return {
      problem: {
        message: `the file holds a NUL byte at offset ${nul} (line ${lineOf(b, nul)}): it is binary data, not text`,
        hint: "give the path of a JSON or YAML file",
      },
    };
  }
  // The native check first (a byte loop in JS costs 0.2 s on a 20 MB spec); ours finds the offset.
  const bad = isUtf8(b.subarray(start)) ? -1 : invalidUtf8Offset(b, start);
  if (bad >= 0) {
    return {
      problem: {
        message: `the file is not valid UTF-8: byte 0x${(b[bad] as number).toString(16).padStart(2, "0")} at offset ${bad} (line ${lineOf(b, bad)}) does not begin or continue a character`,
        hint: SAVE_AS_UTF8,
      },
    };
  }
  return { text: Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8", start) };
}

/** Parses text; JSON with duplicate-key detection, or YAML (also with duplicate-key detection). Never throws. */
export function parseSpecText(text: string, format: "json" | "yaml"): { value?: unknown; issues: SpecIssue[] } {
  if (text.trim() === "") {
    return {
      issues: [
        {
          code: format === "json" ? "invalid_json" : "invalid_yaml",
          path: "",
          message: "the file is empty",
          hint: "write a cluster spec",
        },
      ],
    };
  }
  return format === "json" ? parseJson(text) : parseYaml(text);
}

type Format = "json" | "yaml" | "either";

export function formatOf(path: string): Format {
  const ext = extname(path).toLowerCase();
  return ext === ".json" ? "json" : ext === ".yaml" || ext === ".yml" ? "yaml" : "either";
}

/** The limit for a file of this format, and the words that explain it. */
export function limitFor(format: Format): { limit: number; note: string } {
  return format === "yaml"
    ? { limit: FILE_LIMITS.yaml, note: ` for YAML (JSON may be up to ${formatBytes(FILE_LIMITS.json)})` }
    : { limit: FILE_LIMITS.json, note: "" };
}

/**
 * A file's text, or why it has none: FileProblem (thrown) when it can't be read, an encoding
 * problem (returned) when it can but isn't UTF-8 text.
 */
export function readTextFile(path: string, format: Format): { text: string } | { problem: EncodingProblem } {
  const { limit, note } = limitFor(format);
  return decodeText(readBoundedFile(path, limit, note));
}

/** Parses by extension (.json, .yaml/.yml); anything else is tried as JSON, then as YAML. */
function parseByExtension(path: string, text: string): { value?: unknown; issues: SpecIssue[] } {
  const format = formatOf(path);
  if (format !== "either") return parseSpecText(text, format);
  const asJson = parseSpecText(text, "json");
  if (asJson.value !== undefined) return asJson;
  // Larger than a YAML file may be: only JSON is tried.
  if (text.length > FILE_LIMITS.yaml) return asJson;
  const asYaml = parseSpecText(text, "yaml");
  // YAML accepts almost any text as a plain string; only trust it when it gave a structure.
  if (asYaml.value !== undefined && typeof asYaml.value === "object") return asYaml;
  return text.trimStart().startsWith("{") || text.trimStart().startsWith("[") ? asJson : asYaml;
}

/** The path of the object holding a repeated key: its content is ambiguous, so validation findings inside it are dropped. */
function parentOf(path: string): string {
  const m = /^(.*?)(?:\.[^.[\]]+|\[[^\]]*\])$/.exec(path);
  return m ? (m[1] as string) : "";
}

function isWithin(path: string, prefix: string): boolean {
  return prefix === "" || path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`);
}

/** Validates an already-parsed value together with the issues its parsing found. */
export function validateParsed(
  parsed: { value?: unknown; issues: SpecIssue[] },
  opts: ValidateOptions = {},
): ValidationResult {
  if (parsed.value === undefined) return { issues: sortIssues(parsed.issues), hasUnknowns: false };
  const result = validateSpec(parsed.value, opts);
  if (parsed.issues.length === 0) return result;
  const ambiguous = parsed.issues.filter((i) => i.code === "duplicate_key").map((i) => parentOf(i.path));
  const kept = result.issues.filter((i) => !ambiguous.some((p) => isWithin(i.path, p) && p !== ""));
  return { issues: sortIssues([...parsed.issues, ...kept]), hasUnknowns: result.hasUnknowns };
}

/**
 * Reads a file (format by extension: .json, .yaml/.yml; else try JSON then YAML), parses and
 * validates. Throws SpecFileError (one-line message naming the file, no stack) if the file is
 * missing, unreadable, not a regular file or over the size limit; everything wrong inside the
 * file (its encoding included) comes back as issues.
 */
export function loadSpecFile(path: string, opts: ValidateOptions = {}): ValidationResult {
  const format = formatOf(path);
  let read: ReturnType<typeof readTextFile>;
  try {
    read = readTextFile(path, format);
  } catch (error) {
    if (error instanceof FileProblem) throw new SpecFileError(error.describe("spec", path));
    throw error;
  }
  if ("problem" in read) {
    const code = format === "yaml" ? "invalid_yaml" : "invalid_json";
    return { issues: [{ code, path: "", ...read.problem }], hasUnknowns: false };
  }
  return validateParsed(parseByExtension(path, read.text), opts);
}
