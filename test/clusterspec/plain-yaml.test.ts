// The fast path for YAML (provider/clusterspec/plain-yaml.ts: js-yaml behind guards) against the
// `yaml` package, the reference: whatever it reads must be exactly what the package reads, and
// whatever the package refuses or warns about (or reads as several documents, or with a repeated
// key) it must hand back. Texts come from the package's own writer in every style, then cut and
// edited at random; then one case for each guard.
import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { parseSpecText } from "../../provider/clusterspec";
import { readPlainYaml } from "../../provider/clusterspec/plain-yaml";

/** What the package reads: the value, or undefined when it errs, warns, repeats a key or finds several documents. */
function reference(text: string): { value: unknown } | undefined {
  const docs = YAML.parseAllDocuments(text, { uniqueKeys: true, prettyErrors: false, logLevel: "silent" });
  if (!Array.isArray(docs) || docs.length !== 1) return undefined;
  const doc = docs[0] as YAML.Document.Parsed;
  if (doc.errors.length > 0 || doc.warnings.length > 0) return undefined;
  return { value: doc.toJS({ maxAliasCount: 1000 }) };
}

/** The fast path either steps aside or agrees with the package exactly; true when it read the text. */
function agrees(text: string): boolean {
  const fast = readPlainYaml(text);
  if (fast === undefined) return false;
  const ref = reference(text);
  expect(ref, `the package refuses what the fast path read:\n${text}`).toBeDefined();
  expect(
    isDeepStrictEqual(fast, ref?.value),
    `different values for:\n${text}\nfast: ${JSON.stringify(fast)}\npackage: ${JSON.stringify(ref?.value)}`,
  ).toBe(true);
  return true;
}

// Keys and text that sit on the edges: indicators, numbers and keywords, spaces, quotes, non-ASCII.
const TRICKY = [
  "a",
  "name",
  "__proto__",
  "toString",
  "constructor",
  "a b",
  "a  b",
  " a",
  "a ",
  "1",
  "01",
  "-1",
  "+1",
  "1.5",
  ".5",
  "1e3",
  "0x1f",
  "0o17",
  ".inf",
  "-.inf",
  ".nan",
  "~",
  "null",
  "Null",
  "NULL",
  "true",
  "True",
  "FALSE",
  "yes",
  "no",
  "on",
  "1-web",
  "9a",
  "a:b",
  "a: b",
  "a:",
  ":a",
  "-a",
  "- a",
  "--- a",
  "...",
  "a #b",
  "a#b",
  "#a",
  "&a",
  "*a",
  "!a",
  "|",
  ">",
  "%a",
  "@a",
  "`a",
  "?a",
  "? a",
  "[a]",
  "{a}",
  "a,b",
  "a]",
  "a}",
  "it's",
  'say "hi"',
  "back\\slash",
  "<<",
  "é",
  "名前",
  "a\u00a0",
  "\u00a0a",
  "😀",
  "",
  "x".repeat(1100),
];

const scalar = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...TRICKY) },
  { weight: 2, arbitrary: fc.string({ maxLength: 8 }) },
  { weight: 1, arbitrary: fc.integer({ min: -1_000_000, max: 10_000_000 }) },
  { weight: 1, arbitrary: fc.double({ noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(true, false, null) },
);
const key = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...TRICKY) }, fc.string({ maxLength: 6 }));
const value = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 3, arbitrary: scalar },
    { weight: 1, arbitrary: fc.array(tie("node"), { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.dictionary(key, tie("node"), { maxKeys: 4 }) },
  ),
})).node;
/** What the fast path reads is a mapping or a list (a spec is a mapping; a bare scalar goes to the package). */
const documentValue = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(key, value, { minKeys: 1, maxKeys: 5 }) },
  { weight: 1, arbitrary: fc.array(value, { minLength: 1, maxLength: 5 }) },
);

const styles = fc.record({
  indent: fc.constantFrom(2, 3, 4),
  indentSeq: fc.boolean(),
  collectionStyle: fc.constantFrom("any", "block", "flow") as fc.Arbitrary<"any" | "block" | "flow">,
  defaultStringType: fc.constantFrom("PLAIN", "QUOTE_SINGLE", "QUOTE_DOUBLE") as fc.Arbitrary<
    "PLAIN" | "QUOTE_SINGLE" | "QUOTE_DOUBLE"
  >,
  defaultKeyType: fc.constantFrom(null, "PLAIN", "QUOTE_DOUBLE") as fc.Arbitrary<null | "PLAIN" | "QUOTE_DOUBLE">,
  lineWidth: fc.constantFrom(0, 20, 80),
  crlf: fc.boolean(),
});

type Style = typeof styles extends fc.Arbitrary<infer T> ? T : never;

function write(v: unknown, s: Style): string {
  const text = YAML.stringify(v, {
    indent: s.indent,
    indentSeq: s.indentSeq,
    collectionStyle: s.collectionStyle,
    defaultStringType: s.defaultStringType,
    defaultKeyType: s.defaultKeyType,
    lineWidth: s.lineWidth,
  });
  return s.crlf ? text.replace(/\n/g, "\r\n") : text;
}

// Fixed seeds: a failure names its seed and counterexample, and every run checks the same cases.
describe("the fast path reads exactly what the yaml package reads, or steps aside", () => {
  it("on values written by the package in every style", () => {
    let read = 0;
    let runs = 0;
    fc.assert(
      fc.property(documentValue, styles, (v, s) => {
        runs++;
        if (agrees(write(v, s))) read++;
      }),
      { numRuns: 3000, seed: 141 },
    );
    // Most of what the package writes is plain: the fast path must take a good share of it.
    expect(read / runs).toBeGreaterThan(0.3);
  });

  it("on those texts cut and edited at random (indentation, indicators, quotes, comments)", () => {
    const edit = fc.record({
      at: fc.nat(),
      remove: fc.integer({ min: 0, max: 3 }),
      insert: fc.constantFrom(
        "",
        " ",
        "  ",
        "\n",
        "- ",
        ": ",
        ":",
        "#",
        " #",
        '"',
        "'",
        "[",
        "]",
        "{",
        "}",
        ",",
        "a",
        "&a ",
        "*a",
        "!",
        "|",
        "\\",
        "---\n",
        "\t",
        "\r",
        "\u00a0",
        "? ",
      ),
    });
    let read = 0;
    let runs = 0;
    fc.assert(
      fc.property(documentValue, styles, fc.array(edit, { minLength: 1, maxLength: 3 }), (v, s, edits) => {
        let text = write(v, s);
        for (const e of edits) {
          const at = text.length === 0 ? 0 : e.at % (text.length + 1);
          text = text.slice(0, at) + e.insert + text.slice(at + e.remove);
        }
        runs++;
        if (agrees(text)) read++;
      }),
      { numRuns: 5000, seed: 142 },
    );
    // Many edits keep the text plain and valid (or valid and read differently): those are the point.
    expect(read / runs).toBeGreaterThan(0.1);
  });

  it.each([
    ["block mappings and lists, indented or not", "a:\n  - 1\n  - x\nb:\n- y\n- {c: d}\ne: f\n"],
    ["lists in lists", "- - a\n  - b\n- - c\n"],
    ["empty values", "a:\nb: ~\nc: []\nd: {}\ne:\n  - null\n  - x\n"],
    ["comments everywhere", "# top\na: 1 # one\n  # indented\nb: # two\n  c: 'x' # three\n"],
    ["a leading ---", "--- # doc\na: 1\n"],
    ["a closing ...", "a: 1\n...\n"],
    ["quotes", "a: 'it''s'\nb: \"x: y # z\"\n'c d': \"\"\n"],
    ["escapes", 'a: "x\\ty\\u00e9\\x41\\N"\n'],
    ["block scalars", "a: |\n  text\n  more\nb: >-\n  folded\n  line\n"],
    ["a plain scalar over two lines", "a: one\n  two\n"],
    ["CRLF line ends", "a: 1\r\nb:\r\n  - x\r\n"],
    ["flow collections in flow collections", "a: [{b: 1}, {c: [2, [3]]}, [4]]\n"],
    ["a flow mapping as the document, after a comment", "# c\n{a: [1, {b: 2}], c: x}\n"],
    [
      "numbers both schemas spell alike",
      "a: [1e3, 0x1f, 0o17, -5, +5, +0, -00, 1.50, 1., .5, -0.0, 007, 12345678901234567890]\n",
    ],
    ["infinities, NaN, and signed NaN (text to both)", "a: [.inf, -.inf, +.INF, .nan, .NaN, -.nan]\n"],
    ["keywords and what only looks like them", "a: [null, Null, NULL, ~, true, True, FALSE, yes, no, on, nULL]\n"],
    // With the core schema neither reads `<<` as a merge: it is a key like any other.
    ["a `<<` key", "a: {x: 1}\n<<: {y: 2}\n"],
    ["a __proto__ key", "__proto__: {x: 1}\n"],
  ])("reads %s as the package does", (_what, text) => {
    expect(agrees(text)).toBe(true);
  });

  // Each guard, with what the package would do differently or must bound.
  it.each([
    // The package bounds alias expansion; js-yaml would return a shared graph.
    ["an anchor and an alias", "a: &x 1\nb: *x\n"],
    ["an anchor on a mapping", "a: &x\n  b: 1\n"],
    ["an anchor in a flow list", "a: [&x 1, *x]\n"],
    ["an alias with no anchor", "a: *x\n"],
    ["an alias as a key", "a: &x k\n*x : 2\n"],
    // Explicit tags: read differently, or refused, by the two.
    ["a tag", "a: !!str 1\n"],
    ["a tag that names the type the value already has", "a: !!int 1\n"],
    ["a local tag", "a: !custom x\n"],
    ["a verbatim tag", "a: !<tag:yaml.org,2002:str> 1\n"],
    ["a tag right after ---, which js-yaml reads as a tag", "---!!str a\n"],
    ["a directive (1.1 reads yes as true)", "%YAML 1.1\n---\na: yes\n"],
    // Keys the package refuses or makes differently.
    ["an explicit key", "? a\n: 1\n"],
    ["a list as a key", "[a, b]: c\n"],
    ["a mapping as a key", "{a: 1}: b\n"],
    ["a list as a key with no value, in a flow mapping", "{on: 1, [a]}\n"],
    ['a null key (js-yaml makes it "null", the package "")', "~: 1\n"],
    ["a null key spelled null", "null: 1\n"],
    ["a null key in a pair in a flow list", "[null: b]\n"],
    ["a key whose colon is more than 1024 characters on", `${"k".repeat(1100)}: 1\n`],
    ["a short key padded out to its colon", `k${" ".repeat(1100)}: 1\n`],
    ["a repeated key", "a: 1\na: 2\n"],
    ["a repeated key in a flow mapping", "a: {x: 1, x: 2}\n"],
    // Number spellings the two schemas read differently.
    ["binary", "a: 0b11\n"],
    ["a signed hex number", "a: -0x1f\n"],
    ["a signed octal number", "a: +0o17\n"],
    ["underscores", "a: 1_000\n"],
    ["a signed float with no leading digit", "a: +.5\n"],
    ["a signed float with no leading digit and an exponent", "a: -.5e3\n"],
    ["minus zero (js-yaml reads 0)", "a: -0\n"],
    ["a float too large (js-yaml reads text)", "a: 1e400\n"],
    ["an integer too large", `a: ${"9".repeat(400)}\n`],
    ["a hex number too large", `a: 0x${"f".repeat(300)}\n`],
    // js-yaml's leniencies: it does not check the indentation inside a quoted scalar or a flow
    // collection over several lines, nor a comment with no space before it, nor what follows
    // `---`, and it moves the item after an empty one into the empty one's list.
    ["a quoted scalar over two lines", 'a: "one\n  two"\n'],
    ["a quoted scalar whose second line is not indented", '- "one\ntwo"\n'],
    ["a flow collection over two lines", "a: [1,\n  2]\n"],
    ["a comment with no space before it", "a: 'x'#c\n"],
    ["a mapping on the --- line", "--- a: 1\n"],
    ["text right after ---", "---e\n"],
    ["an empty list item", "- - \n- b\n"],
    ["an empty list item, then one more indented (read alike, but refused with the rest)", "e:\n  -\n  - x\n"],
    // Documents.
    ["a second document", "a: 1\n---\nb: 2\n"],
    ["an empty second document", "a: 1\n---\n"],
    ["nothing but a comment", "# nothing\n"],
    ["nothing", ""],
    ["a bare scalar (no spec is one)", "--- \n"],
    // Characters YAML forbids or treats specially.
    ["a tab", "a:\t1\n"],
    ["a byte order mark", "\ufeffa: 1\n"],
    ["a carriage return alone", "a: 1\rb: 2\n"],
    ["a control character", "a: x\u0001y\n"],
    ["a next line (NEL)", "a: x\u0085y\n"],
    ["a line separator", "a: x\u2028y\n"],
    ["a non-character", "a: x\uffffy\n"],
    ["a lone surrogate", "a: x\ud800y\n"],
    // Depth: js-yaml stops at 64 levels, well before its stack would.
    ["lists nested 65 deep", `${"[".repeat(65)}${"]".repeat(65)}\n`],
    ["mappings nested 100,000 deep", `${"{a: ".repeat(100_000)}1${"}".repeat(100_000)}\n`],
    ["block lists nested 80 deep", `${Array.from({ length: 80 }, (_, i) => `${" ".repeat(2 * i)}-`).join("\n")} x\n`],
    ["bad indentation", "a:\n    b: 1\n  c: 2\n"],
  ])("steps aside for %s", (_what, text) => {
    expect(readPlainYaml(text)).toBeUndefined();
  });

  it("a billion-laughs text goes to the package, which refuses it", () => {
    const lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (let i = 1; i < 9; i++) {
      const [name, prev] = [String.fromCharCode(97 + i), String.fromCharCode(96 + i)];
      lines.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    const text = `${lines.join("\n")}\n`;
    expect(readPlainYaml(text)).toBeUndefined();
    const result = parseSpecText(text, "yaml");
    expect(result.value).toBeUndefined();
    expect(result.issues.map((i) => [i.code, i.message])).toEqual([["invalid_yaml", expect.stringMatching(/alias/i)]]);
  });
});

describe("specs take the fast path, and repeated keys still get the package's message", () => {
  it("the fixtures and the examples written as YAML", () => {
    for (const file of ["test/fixtures/specs/three-tier.yaml", "examples/demo/cluster.yaml"]) {
      const text = readFileSync(file, "utf8");
      expect(agrees(text), file).toBe(true);
    }
  });

  it("a large spec in block style, as tools write it", () => {
    const instances = Array.from({ length: 2000 }, (_, i) => ({
      name: `s-${i}`,
      type: "server",
      spec: { imageRef: "debian-12", flavorRef: "m1.small", metadata: { shard: String(i) } },
    }));
    const groupings = [{ name: "spread", membersRef: ["s-0", "s-1"], spec: { rule: "anti-affinity" } }];
    expect(agrees(YAML.stringify({ name: "big", instances, groupings }))).toBe(true);
  });

  it("the blueprint's repeated instance keys go to the package, which names every line", () => {
    const text = "vcluster:\n  name: c\n  instances:\n    instance: {name: a}\n    instance: {name: b}\n";
    expect(readPlainYaml(text)).toBeUndefined();
    expect(parseSpecText(text, "yaml").issues.map((i) => i.message)).toEqual([
      'key "instance" occurs 2 times in "vcluster.instances" (lines 4 and 5); only the last one would be kept',
    ]);
  });
});
