// Text and files into validated specs: parse (JSON or YAML, repeated keys caught), then validate.
import { readFileSync, statSync } from "node:fs";
import { extname } from "node:path";
import type { SpecIssue } from "../model/issues";
import { sortIssues } from "../model/issues";
import { parseJson } from "./json";
import { type ValidateOptions, type ValidationResult, validateSpec } from "./validate";
import { parseYaml } from "./yaml";

/** A spec file that can't be read at all: missing, a directory, no permission. The message is one line. */
export class SpecFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpecFileError";
  }
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

function readText(path: string): string {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    throw new SpecFileError(`cannot read spec file "${path}": ${reason(error)}`);
  }
  if (isDirectory) throw new SpecFileError(`"${path}" is a directory, not a spec file`);
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new SpecFileError(`cannot read spec file "${path}": ${reason(error)}`);
  }
}

function reason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "it is a directory";
  return typeof code === "string" ? code : "unreadable";
}

/** Parses by extension (.json, .yaml/.yml); anything else is tried as JSON, then as YAML. */
function parseByExtension(path: string, text: string): { value?: unknown; issues: SpecIssue[] } {
  const ext = extname(path).toLowerCase();
  if (ext === ".json") return parseSpecText(text, "json");
  if (ext === ".yaml" || ext === ".yml") return parseSpecText(text, "yaml");
  const asJson = parseSpecText(text, "json");
  if (asJson.value !== undefined) return asJson;
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
 * validates. Throws SpecFileError (one-line message, no stack) if the file is missing,
 * unreadable or a directory; everything wrong inside the file comes back as issues.
 */
export function loadSpecFile(path: string, opts: ValidateOptions = {}): ValidationResult {
  return validateParsed(parseByExtension(path, readText(path)), opts);
}
