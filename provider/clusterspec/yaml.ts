// YAML specs through the `yaml` package. Repeated keys are found by walking the document
// ourselves (rather than the package's uniqueKeys error) so the issue can name the key's
// path and every line it occurs on, exactly like the JSON parser does.
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { SpecIssue } from "../model/issues";
import { duplicateKeyIssue, type Position } from "./json";
import { joinPath } from "./paths";

/** Aliases expanding beyond this many nodes are refused (a "billion laughs" document must not hang us). */
const MAX_ALIAS_COUNT = 1000;

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  if (key === null || key === undefined) return "";
  return String(key);
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

/** Parses YAML text. Never throws: syntax errors and repeated keys come back as issues. */
export function parseYaml(text: string): { value?: unknown; issues: SpecIssue[] } {
  const lines = new LineCounter();
  let doc: Document;
  try {
    doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false, lineCounter: lines });
  } catch (error) {
    return { issues: [{ code: "invalid_yaml", path: "", message: `not readable as YAML: ${firstLine(error)}` }] };
  }
  if (doc.errors.length > 0) {
    return {
      issues: doc.errors.slice(0, 1).map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return {
          code: "invalid_yaml" as const,
          path: "",
          message: `line ${line}, column ${col}: ${firstLine(e)}`,
          hint: "check the indentation and that every `key: value` has a space after the colon",
        };
      }),
    };
  }
  const issues = findDuplicateKeys(doc, lines);
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }), issues };
  } catch (error) {
    return {
      issues: [...issues, { code: "invalid_yaml", path: "", message: `not readable as YAML: ${firstLine(error)}` }],
    };
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
}
