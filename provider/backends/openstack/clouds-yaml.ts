// Reading clouds.yaml and secure.yaml as openstacksdk does: the same search path, the first file that
// names the cloud wins, secure.yaml's entry merged over it. A YAML error names the file, line and
// column and never quotes the text: these files hold credentials.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type ErrorCode, parseDocument, type YAMLError } from "yaml";
import { OpenStackConfigError } from "./config-error";

export function cloudsYamlSearchPath(env: NodeJS.ProcessEnv, cwd: string, file = "clouds.yaml"): string[] {
  const home = env.HOME ?? os.homedir();
  const xdg = env.XDG_CONFIG_HOME ?? path.join(home, ".config");
  const explicit = file === "clouds.yaml" ? env.OS_CLIENT_CONFIG_FILE : env.OS_CLIENT_SECURE_FILE;
  return [
    ...(explicit ? [path.resolve(cwd, explicit)] : []),
    path.join(cwd, file),
    path.join(xdg, "openstack", file),
    path.join("/etc/openstack", file),
  ];
}

export type Raw = Record<string, unknown>;

/**
 * What each YAML error means, in words that quote nothing of the file: the YAML library's own messages
 * come with a code frame (the lines around the error, a password among them) and some quote the text
 * (an alias's name), and these files hold credentials.
 */
const YAML_ERRORS: Record<ErrorCode, string> = {
  ALIAS_PROPS: "an alias with an anchor or a tag",
  BAD_ALIAS: "a malformed alias",
  BAD_COLLECTION_TYPE: "a collection of the wrong kind for its tag",
  BAD_DIRECTIVE: "a malformed % directive",
  BAD_DQ_ESCAPE: "a bad backslash escape in a double-quoted string",
  BAD_INDENT: "a bad indentation",
  BAD_PROP_ORDER: "an anchor and a tag in the wrong order",
  BAD_SCALAR_START: "a value that starts with a reserved character, quote it",
  BLOCK_AS_IMPLICIT_KEY: "a mapping nested where it cannot be, check the indentation",
  BLOCK_IN_FLOW: "a block value inside [ ] or { }",
  DUPLICATE_KEY: "a key given twice",
  IMPOSSIBLE: "a structure the YAML parser cannot read",
  KEY_OVER_1024_CHARS: "a key longer than 1024 characters",
  MISSING_CHAR: "a missing closing quote or bracket, or a missing ':' after a key",
  MULTILINE_IMPLICIT_KEY: "a key that runs over two lines, a missing ':' or quote",
  MULTIPLE_ANCHORS: "a value with two anchors",
  MULTIPLE_DOCS: "more than one document",
  MULTIPLE_TAGS: "a value with two tags",
  NON_STRING_KEY: "a key that is not a string",
  RESOURCE_EXHAUSTION: "too many aliases",
  TAB_AS_INDENT: "a tab used for indentation",
  TAG_RESOLVE_FAILED: "a tag that cannot be resolved",
  UNEXPECTED_TOKEN: "an unexpected character",
};

const NOT_SHOWN = "\nhint: the file's text is not shown, as it may hold credentials; open it at that place";

/** `file:line:column: not valid YAML: <kind> (<code>)`, never the file's text. */
function yamlProblem(file: string, text: string, err: YAMLError): string {
  const offset = Math.min(Math.max(err.pos[0], 0), text.length);
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - (before.lastIndexOf("\n") + 1) + 1;
  const kind = YAML_ERRORS[err.code] ?? err.code.toLowerCase().replace(/_/g, " ");
  return `${file}:${line}:${column}: not valid YAML: ${kind} (${err.code})${NOT_SHOWN}`;
}

function readYaml(file: string): Raw | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  // parseDocument, not parse: parse prints each warning (an unknown tag) with its code frame on stderr.
  const doc = parseDocument(text, { prettyErrors: false });
  const first = doc.errors[0];
  if (first) throw new OpenStackConfigError(yamlProblem(file, text, first));
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    // toJS throws (without a position) for an alias it cannot resolve; its message names the alias.
    const message = err instanceof Error ? err.message : "";
    const kind = /unresolved alias/i.test(message)
      ? "an alias *name whose anchor &name is not set before it"
      : /alias/i.test(message)
        ? "too many aliases"
        : "a value that cannot be read as data";
    throw new OpenStackConfigError(`${file}: not valid YAML: ${kind}${NOT_SHOWN}`);
  }
  return value && typeof value === "object" ? (value as Raw) : {};
}

function deepMerge(a: Raw, b: Raw): Raw {
  const out: Raw = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === "object" && !Array.isArray(v) && cur && typeof cur === "object" && !Array.isArray(cur)
        ? deepMerge(cur as Raw, v as Raw)
        : v;
  }
  return out;
}

/** The entry of cloud `name` from the first clouds.yaml that has it, with its secure.yaml entry merged in. */
export function findCloudEntry(name: string, env: NodeJS.ProcessEnv, cwd: string): Raw {
  const searched = cloudsYamlSearchPath(env, cwd);
  let entry: Raw | undefined;
  const available: string[] = [];
  for (const file of searched) {
    const doc = readYaml(file);
    const clouds = (doc?.clouds ?? {}) as Raw;
    available.push(...Object.keys(clouds));
    const found = clouds[name];
    if (found && typeof found === "object") {
      entry = found as Raw;
      break;
    }
  }
  if (!entry) {
    const avail = available.length > 0 ? ` (clouds found: ${[...new Set(available)].sort().join(", ")})` : "";
    throw new OpenStackConfigError(
      `cloud "${name}" is not in any clouds.yaml${avail}; looked in: ${searched.join(", ")}\n` +
        "hint: add it to one of those files, or fix the name in OS_CLOUD / openstack-vcluster:cloud",
    );
  }
  for (const file of cloudsYamlSearchPath(env, cwd, "secure.yaml")) {
    const secure = (readYaml(file)?.clouds as Raw | undefined)?.[name];
    if (secure && typeof secure === "object") {
      entry = deepMerge(entry, secure as Raw);
      break;
    }
  }
  return entry;
}
