// YAML and file encodings: deep nesting is a message (not a stack overflow), one document per
// spec, keys that are plain text, and files that are UTF-8 (a byte order mark of UTF-16 or
// UTF-32, zero bytes or invalid UTF-8 are said plainly, with where, instead of read as garbage).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadSpecFile, parseSpecText, type SpecIssue } from "../../provider/clusterspec";
import { decodeText, invalidUtf8Offset } from "../../provider/clusterspec/parse";
import { YAML_MAX_DEPTH } from "../../provider/clusterspec/yaml";

const dir = mkdtempSync(join(tmpdir(), "yaml-encoding-"));
const write = (name: string, content: string | Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

const VALID_YAML = "name: c\ninstances:\n  - {name: a, type: server, spec: {imageRef: i, flavorRef: f}}\n";
const VALID_JSON = JSON.stringify({
  name: "c",
  instances: [{ name: "a", type: "server", spec: { imageRef: "i", flavorRef: "f" } }],
});

function only(issues: SpecIssue[]): SpecIssue {
  expect(issues).toHaveLength(1);
  return issues[0] as SpecIssue;
}

describe("deep YAML is refused with a message, never a stack overflow", () => {
  it.each([
    ["flow lists", (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`],
    ["flow mappings", (n: number) => `${"{a: ".repeat(n)}1${"}".repeat(n)}`],
    ["compact block lists", (n: number) => `${"- ".repeat(n)}x`],
    ["explicit keys", (n: number) => `${"? ".repeat(n)}x`],
    [
      "indented mappings",
      (n: number) => `${Array.from({ length: n }, (_, i) => `${" ".repeat(i)}k${i}:`).join("\n")} 1`,
    ],
  ])("%s, 100,000 levels (or as deep as the size allows)", (_what, make) => {
    const text = make(_what === "indented mappings" ? 2_000 : 100_000);
    const issue = only(parseSpecText(text, "yaml").issues);
    expect(issue.code).toBe("invalid_yaml");
    expect(issue.message).toMatch(
      new RegExp(`^line \\d+, column \\d+: lists and mappings nested more than ${YAML_MAX_DEPTH} levels deep$`),
    );
    expect(issue.hint).toBe("a spec is a few levels deep; look for indentation or brackets that run away");
    expect(JSON.stringify(issue)).not.toMatch(/call stack/i);
  });

  it(`${YAML_MAX_DEPTH} levels are still read`, () => {
    const n = YAML_MAX_DEPTH;
    expect(parseSpecText(`${"[".repeat(n)}${"]".repeat(n)}`, "yaml").issues).toEqual([]);
  });

  it("the JSON depth limit says what would work too", () => {
    const issue = only(parseSpecText(`${"[".repeat(1000)}${"]".repeat(1000)}`, "json").issues);
    expect(issue.message).toBe("line 1, column 514: values nested more than 512 levels deep");
    expect(issue.hint).toBe("a cluster spec is a few levels deep; look for brackets that are opened and never closed");
  });
});

describe("a spec is one YAML document", () => {
  it("several documents: one clear message with where each starts", () => {
    const text = `${VALID_YAML}---\n${VALID_YAML}---\nname: d\n`;
    expect(parseSpecText(text, "yaml")).toEqual({
      issues: [
        {
          code: "invalid_yaml",
          path: "",
          message: "a spec is one YAML document; found 3 (starting on lines 1, 4, 8)",
          hint: "remove the `---` lines that separate them, or put each in its own file",
        },
      ],
    });
  });

  it("a leading `---`, a trailing `---` or `...` around one document is fine", () => {
    for (const text of [
      `---\n${VALID_YAML}`,
      `${VALID_YAML}---\n`,
      `${VALID_YAML}...\n`,
      `%YAML 1.2\n---\n${VALID_YAML}`,
    ]) {
      expect(parseSpecText(text, "yaml").issues).toEqual([]);
    }
  });

  it("keys that are lists, mappings or aliases are refused (they would be stringified silently)", () => {
    for (const [text, what] of [
      ["? [a, b]\n: 1\n", "a list"],
      ["{? {a: 1}: 1}\n", "a mapping"],
      ["a: &x k\n*x : 2\n", "an alias"],
    ] as const) {
      const issue = only(parseSpecText(text, "yaml").issues);
      expect(issue.message).toMatch(new RegExp(`^line \\d+, column \\d+: a key is ${what}; keys must be plain text$`));
    }
  });
});

describe("files must be UTF-8 text", () => {
  it("a UTF-8 byte order mark is fine, in JSON and YAML", () => {
    expect(loadSpecFile(write("bom.json", `\ufeff${VALID_JSON}`)).issues).toEqual([]);
    expect(loadSpecFile(write("bom.yaml", `\ufeff${VALID_YAML}`)).issues).toEqual([]);
  });

  it.each([
    [
      "UTF-16 little-endian",
      "utf16le",
      [0xff, 0xfe],
      "the file is UTF-16 text (little-endian, with a byte order mark); it must be UTF-8",
    ],
    [
      "UTF-16 big-endian",
      "utf16be",
      [0xfe, 0xff],
      "the file is UTF-16 text (big-endian, with a byte order mark); it must be UTF-8",
    ],
    [
      "UTF-32 little-endian",
      "utf32le",
      [0xff, 0xfe, 0, 0],
      "the file is UTF-32 text (little-endian, with a byte order mark); it must be UTF-8",
    ],
    [
      "UTF-32 big-endian",
      "utf32be",
      [0, 0, 0xfe, 0xff],
      "the file is UTF-32 text (big-endian, with a byte order mark); it must be UTF-8",
    ],
    [
      "UTF-16 without a byte order mark",
      "utf16le",
      [],
      "the file is UTF-16 text (little-endian, without a byte order mark); it must be UTF-8",
    ],
  ])("%s is named, with a hint to save as UTF-8", (_what, encoding, bom, message) => {
    const path = write(
      `wide-${encoding}-${bom.length}.json`,
      Buffer.concat([Buffer.from(bom), encode(VALID_JSON, encoding)]),
    );
    expect(loadSpecFile(path)).toEqual({
      issues: [
        {
          code: "invalid_json",
          path: "",
          message,
          hint: "save the file as UTF-8",
        },
      ],
      hasUnknowns: false,
    });
  });

  it("invalid UTF-8 is reported with its byte offset and line", () => {
    const bytes = Buffer.concat([Buffer.from("name: c\nx: caf"), Buffer.from([0xe9]), Buffer.from("\n")]);
    const result = loadSpecFile(write("latin1.yaml", bytes));
    expect(result.issues).toEqual([
      {
        code: "invalid_yaml",
        path: "",
        message: "the file is not valid UTF-8: byte 0xe9 at offset 14 (line 2) does not begin or continue a character",
        hint: "save the file as UTF-8",
      },
    ]);
  });

  it("a NUL byte means binary data", () => {
    const result = loadSpecFile(write("binary.json", Buffer.from([0x7b, 0x0a, 0x00, 0x7d])));
    expect(result.issues[0]?.message).toBe(
      "the file holds a NUL byte at offset 2 (line 2): it is binary data, not text",
    );
  });

  it("the UTF-8 check refuses what the standard refuses: overlong forms, surrogates, beyond U+10FFFF, cut sequences", () => {
    for (const bad of [
      [0xc0, 0x80],
      [0xe0, 0x80, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xf5],
      [0xe2, 0x82],
      [0x80],
    ]) {
      expect(invalidUtf8Offset(Uint8Array.from([0x61, ...bad]))).toBe(1);
    }
    for (const good of ["é", "€", "😀", "\u{10ffff}", "\ud7ff", "\ue000"]) {
      expect(invalidUtf8Offset(Buffer.from(`a${good}`))).toBe(-1);
    }
  });

  it("decodeText agrees with a fatal TextDecoder on valid and invalid UTF-8", () => {
    const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
    for (let i = 0; i < 2000; i++) {
      const bytes = Uint8Array.from({ length: 1 + (i % 7) }, (_, k) => ((i * 2654435761 + k * 40503) >>> 13) & 0xff);
      let expected: string | undefined;
      try {
        expected = decoder.decode(bytes);
      } catch {
        expected = undefined;
      }
      const got = decodeText(bytes);
      if (bytes.includes(0)) continue;
      if (bytes[0] === 0xff || bytes[0] === 0xfe) continue;
      expect("text" in got ? got.text : undefined).toBe(expected);
    }
  });
});

function encode(text: string, encoding: string): Buffer {
  const le16 = Buffer.from(text, "utf16le");
  if (encoding === "utf16le") return le16;
  if (encoding === "utf16be") return Buffer.from(le16).swap16();
  const le32 = Buffer.alloc(text.length * 4);
  for (let i = 0; i < text.length; i++) le32.writeUInt32LE(text.charCodeAt(i), i * 4);
  return encoding === "utf32le" ? le32 : Buffer.from(le32).swap32();
}
