// Small text helpers every layer's messages use: one place each.

/** Code-point order (not locale order): the same on every machine, so output is deterministic. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** "1 host", "3 hosts", "2 racks"; `many` for irregular plurals. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * Characters that must never reach a terminal or a log raw: C0 and C1 controls and DEL
 * (ESC sequences, NUL, line breaks), bidi controls (U+202E and its kin reorder what follows)
 * and the Unicode line and paragraph separators.
 */
const UNSAFE = /[\p{Cc}\p{Bidi_Control}\u2028\u2029]/gu;

function uEscape(c: string): string {
  return `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`;
}

/**
 * A user's own name (member, grouping, zone, cluster, key) as a message shows it: JSON-quoted,
 * with controls and bidi characters as \u escapes, so no input can restyle, reorder or split
 * the line it appears in. `quote('a\u001b[31m')` is `"a\u001b[31m"` (a backslash, not an ESC).
 */
export function quote(name: string): string {
  // The engine also explains unvalidated input (a flavorRef that is undefined): never throw here.
  return JSON.stringify(typeof name === "string" ? name : String(name)).replace(UNSAFE, uEscape);
}

/**
 * Text that may carry a user's characters, made safe to print: controls and bidi characters
 * become \u escapes (the escapes quote() uses; text from quote() passes unchanged).
 * `lines: true` keeps line feeds, for messages that are several lines on purpose.
 */
export function escapeControls(text: string, opts: { lines?: boolean } = {}): string {
  return text.replace(UNSAFE, (c) => (opts.lines && c === "\n" ? c : uEscape(c)));
}

/**
 * JSON text (from JSON.stringify) with what JSON leaves raw inside strings (DEL, C1, bidi,
 * U+2028/2029) escaped: the same data, safe to print. JSON.stringify escapes C0 in strings
 * itself, so the C0 characters left are layout (newlines, spaces) and stay.
 */
export function escapeJsonText(json: string): string {
  return json.replace(UNSAFE, (c) => ((c.codePointAt(0) as number) < 0x20 ? c : uEscape(c)));
}

/** `cluster "name": `, the head of every message about one cluster; "" when there is no name. */
export function clusterHead(name: string | undefined): string {
  return name ? `cluster ${quote(name)}: ` : "";
}

/** What a scrubbed credential is replaced with. */
export const REDACTED = "***";

/**
 * A secret this long is removed wherever it appears. A shorter one is removed only where it stands as a
 * whole value (a quoted string, `key=value`): "ab" or "x1" occur inside ordinary words, ids and numbers,
 * and removing every occurrence would turn messages into noise (and, by what it removed, hint at the
 * secret) while a secret that short is only ever echoed back as a value.
 */
export const SCRUB_ANYWHERE_MIN = 4;

/** `scheme://user:password@host/…` → `scheme://host/…`, in a URL or anywhere in a message. */
export function stripUrlCredentials(text: string): string {
  // The userinfo runs to the last "@" before the host's end: a password may hold an unencoded "@".
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#"'<>]*@/gi, "$1");
}

/**
 * Removes every secret from a message in each form a message can carry it: raw, JSON-escaped (once or
 * twice; `\"`, `\/`, `\u00e9` as Python writes it), percent- or form-encoded, HTML-escaped, and
 * base64-encoded inside a longer value; plus what is a credential by its form alone, registered or not:
 * the userinfo of a URL, the value of an authorization or token header, and a Basic authorization.
 */
export function scrubSecrets(message: string, secrets: Iterable<string>): string {
  let out = stripUrlCredentials(message)
    .replace(AUTH_HEADER, (_m, name: string, sep: string, scheme: string | undefined) => {
      return `${name}${sep}${scheme ?? ""}${REDACTED}`;
    })
    .replace(BASIC_AUTH, (m, space: string, b64: string) => (isBasicCredentials(b64) ? `Basic${space}${REDACTED}` : m));
  // Longest first: a secret that contains another goes whole.
  const list = [...new Set(secrets)].filter((s) => s !== "").sort((a, b) => b.length - a.length);
  for (const secret of list) {
    const p = patternsFor(secret);
    if (secret.length >= SCRUB_ANYWHERE_MIN) {
      for (const form of p.anywhere) out = out.split(form).join(REDACTED);
    }
    out = out.replace(p.quoted, `$1${REDACTED}$1`).replace(p.keyed, `$1${REDACTED}`);
  }
  return out;
}

/** A header (or header-like field) that carries a credential, echoed: `Authorization: Basic …`, `X-Auth-Token=…`. */
const AUTH_HEADER =
  /\b((?:proxy-)?authorization|x-auth-token|x-subject-token|x-service-token)(["']?\s*[:=]\s*["']?)((?:basic|bearer|digest|negotiate|token)\s+)?[^\s"',;]+/gi;

/** `Basic <base64>` anywhere; redacted when it decodes to `user:password`, so "Basic authentication" stays. */
const BASIC_AUTH = /\bBasic(\s+)([A-Za-z0-9+/_-]{4,}={0,2})/g;

function isBasicCredentials(b64: string): boolean {
  const bytes = Buffer.from(b64.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  const text = bytes.toString("utf8");
  // Printable text (no replacement character from invalid UTF-8) with the user:password colon.
  const printable = [...text].every((c) => {
    const n = c.codePointAt(0) ?? 0;
    return n >= 0x20 && n !== 0x7f && n !== 0xfffd;
  });
  return printable && text.includes(":");
}

interface SecretPatterns {
  /** Literal forms (encodings, base64 fragments) removed wherever they appear, longest first. */
  anywhere: string[];
  /** The secret, in any form, as a whole quoted string: `"…"`, `\"…\"` (escaped JSON), `'…'` (Python). */
  quoted: RegExp;
  /** The secret, in any form, as the whole value of `key=value` (a query, a form, a log line). */
  keyed: RegExp;
}

// Built once per secret: a client scrubs every string of an error body. Bounded, and only secrets the
// process holds anyway are kept.
const PATTERNS = new Map<string, SecretPatterns>();

function patternsFor(secret: string): SecretPatterns {
  let p = PATTERNS.get(secret);
  if (p) return p;
  const forms = encodings(secret);
  // Literal alternatives only (no nested quantifiers): matching stays linear whatever the secret holds.
  const any = forms.map(escapeRegExp).join("|");
  p = {
    anywhere: [...new Set([...forms, ...base64Fragments(secret)])].sort((a, b) => b.length - a.length),
    quoted: new RegExp(String.raw`(\\"|"|')(?:${any})\1`, "g"),
    keyed: new RegExp(String.raw`(?<=^|[\s?&;,({\[])([\w.\-\[\]]+=)(?:${any})(?=$|[\s&;,)}\]"'])`, "g"),
  };
  if (PATTERNS.size >= 64) PATTERNS.clear();
  PATTERNS.set(secret, p);
  return p;
}

/** Every form the encoders that reach our messages give a string, longest first. */
function encodings(secret: string): string[] {
  const json = jsonForms(secret);
  const forms = new Set<string>([secret, ...json, ...json.map((j) => JSON.stringify(j).slice(1, -1))]);
  for (const f of [...percentForms(secret), ...htmlForms(secret)]) forms.add(f);
  return [...forms].sort((a, b) => b.length - a.length);
}

/**
 * Inside a JSON string, as the encoders that reach us write it: JavaScript, Python (ASCII only), with
 * `\/` (PHP), Go (`<>&` as \u escapes) and .NET (`"'<>&+` too, upper-case hex).
 */
function jsonForms(s: string): string[] {
  // \u escapes per UTF-16 unit: a character beyond U+FFFF becomes its surrogate pair, as JSON writes it.
  const units = (c: string, upper: boolean) =>
    [...Array(c.length).keys()]
      .map((i) => {
        const h = c.charCodeAt(i).toString(16).padStart(4, "0");
        return `\\u${upper ? h.toUpperCase() : h}`;
      })
      .join("");
  const write = (o: { ascii?: boolean; upper?: boolean; slash?: boolean; extra?: string }) =>
    [...s]
      .map((c) => {
        if (o.extra?.includes(c) || (o.ascii && (c.codePointAt(0) ?? 0) > 0x7f)) return units(c, o.upper ?? false);
        if (o.slash && c === "/") return "\\/";
        return JSON.stringify(c).slice(1, -1);
      })
      .join("");
  return [
    write({}),
    write({ ascii: true }),
    write({ ascii: true, upper: true }),
    write({ slash: true }),
    write({ ascii: true, slash: true }),
    write({ extra: "<>&\u2028\u2029" }),
    write({ ascii: true, upper: true, extra: `"'<>&+\`` }),
  ];
}

/** Percent-encoded UTF-8: encodeURIComponent's and RFC 3986's safe sets, hex in both cases, "+" or %20 for a space. */
function percentForms(s: string): string[] {
  const bytes = [...Buffer.from(s, "utf8")];
  const out: string[] = [];
  for (const safe of [/[A-Za-z0-9\-_.!~*'()]/, /[A-Za-z0-9\-_.~]/, /[A-Za-z0-9\-_.~/]/]) {
    for (const upper of [true, false]) {
      const enc = bytes
        .map((b) => {
          const c = String.fromCharCode(b);
          if (b < 0x80 && safe.test(c)) return c;
          const h = b.toString(16).padStart(2, "0");
          return `%${upper ? h.toUpperCase() : h}`;
        })
        .join("");
      out.push(enc, enc.replace(/%20/g, "+"));
    }
  }
  return out;
}

/** HTML-escaped, as Python's html.escape and as Jinja write it. */
function htmlForms(s: string): string[] {
  const base = s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return [
    base,
    base.replace(/"/g, "&quot;").replace(/'/g, "&#x27;"),
    base.replace(/"/g, "&#34;").replace(/'/g, "&#39;"),
  ];
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/**
 * The parts of base64(… + secret + …) that depend on the secret's bytes alone, for each of the three
 * offsets the secret can start at (standard and URL-safe alphabets): whatever surrounds the secret, these
 * appear in its encoding. Fragments under 4 characters are left out: they match too much else.
 */
function base64Fragments(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  const out = new Set<string>();
  for (let offset = 0; offset < 3; offset++) {
    const padded = Buffer.concat([Buffer.alloc(offset), bytes, Buffer.alloc(3)]);
    const b64 = padded.toString("base64");
    const startBit = offset * 8;
    const endBit = startBit + bytes.length * 8;
    const first = Math.ceil(startBit / 6);
    const last = Math.floor(endBit / 6); // exclusive: characters whose 6 bits lie within the secret
    const fragment = b64.slice(first, last);
    if (fragment.length >= 4) {
      out.add(fragment);
      out.add(fragment.replace(/\+/g, "-").replace(/\//g, "_"));
    }
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/** "a, b, c" or "a, b, c and 4 more": at most `max` items shown, each through `show`. */
export function listItems(items: readonly string[], max: number, show: (item: string) => string = (x) => x): string {
  const shown = items.slice(0, max).map(show).join(", ");
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

/** The user's names, quoted, as listItems lists them. */
export function listNames(names: readonly string[], max = 5): string {
  return listItems(names, max, quote);
}

/**
 * The user's names, quoted, as a sentence lists them: `"a"`, `"a" and "b"`, `"a", "b" and "c"`;
 * past `max`, `"a", "b" and 3 more`. For messages that read as prose (the spec's contradictions).
 */
export function joinNames(names: readonly string[], max = 8, conjunction: "and" | "or" = "and"): string {
  const quoted = names.slice(0, max).map(quote);
  if (names.length > max) return `${quoted.join(", ")} ${conjunction} ${names.length - max} more`;
  if (quoted.length <= 1) return quoted.join("");
  return `${quoted.slice(0, -1).join(", ")} ${conjunction} ${quoted[quoted.length - 1]}`;
}

/** A word of a command line the user can paste: quoted for the shell when it needs to be. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
