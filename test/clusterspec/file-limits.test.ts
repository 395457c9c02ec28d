// What the command reads: regular files only, refused before they are opened when they are
// anything else (a named pipe would block forever, /dev/zero would fill memory), a size limit
// checked before reading and again while reading, and YAML that the `yaml` package reads (all
// but plain YAML, which a light reader takes) held to a token count so that a huge one is
// refused at once instead of running out of memory minutes later.
import { execFileSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadSpecFile, SpecFileError } from "../../provider/clusterspec";
import { FILE_LIMITS, formatBytes, readBoundedFile } from "../../provider/clusterspec/parse";
import { loadTopologyFile, TopologyFileError } from "../../provider/clusterspec/topology-file";
import { YAML_MAX_TOKENS } from "../../provider/clusterspec/yaml";

const dir = mkdtempSync(join(tmpdir(), "file-limits-"));

/** A file of `size` bytes that takes no disk space and no time to write (a hole). */
function sparse(name: string, size: number): string {
  const path = join(dir, name);
  const fd = openSync(path, "w");
  ftruncateSync(fd, size);
  closeSync(fd);
  return path;
}

function fifo(name: string): string {
  const path = join(dir, name);
  execFileSync("mkfifo", [path]);
  return path;
}

function thrown(load: () => unknown): Error {
  try {
    load();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected the load to throw");
}

describe("only regular files are read, and kinds are refused before opening", () => {
  it.each([
    ["a named pipe (no writer: opening it would block forever)", () => fifo("spec.json"), "a named pipe"],
    ["/dev/zero (reading it would never end)", () => "/dev/zero", "a character device"],
    ["/dev/null", () => "/dev/null", "a character device"],
    [
      "a symbolic link to /dev/zero",
      () => {
        const link = join(dir, "zero.yaml");
        symlinkSync("/dev/zero", link);
        return link;
      },
      "a character device",
    ],
    [
      "a directory",
      () => {
        const d = join(dir, "a-dir.json");
        mkdirSync(d);
        return d;
      },
      "a directory",
    ],
  ])("spec: %s", (_what, make, kind) => {
    const path = make();
    const error = thrown(() => loadSpecFile(path));
    expect(error).toBeInstanceOf(SpecFileError);
    expect(error.message).toMatch(new RegExp(`^spec file "${path}": it is ${kind}, not a regular file \\(hint: `));
    expect(error.message).not.toContain("\n");
  });

  it("topology: a named pipe and /dev/zero are refused the same way", () => {
    const pipe = fifo("topology.json");
    for (const path of [pipe, "/dev/zero"]) {
      const error = thrown(() => loadTopologyFile(path));
      expect(error).toBeInstanceOf(TopologyFileError);
      expect(error.message).toMatch(new RegExp(`^topology file "${path}": it is a (named pipe|character device), `));
      expect(error.message).not.toContain("\n");
    }
  });
});

describe("a size limit, with the file, its size and the limit in one line", () => {
  it("a JSON spec over the limit is refused before a byte is read", () => {
    const path = sparse("huge.json", Math.round(16.8 * 1024 ** 3));
    const error = thrown(() => loadSpecFile(path));
    expect(error).toBeInstanceOf(SpecFileError);
    expect(error.message).toBe(
      `spec file "${path}": it is 16.8 GiB, over the limit of 32 MiB (hint: split it into smaller files)`,
    );
  });

  it("YAML has a lower limit, and the message says JSON may be larger", () => {
    const path = sparse("big.yaml", 50 * 1024 * 1024);
    expect(thrown(() => loadSpecFile(path)).message).toBe(
      `spec file "${path}": it is 50 MiB, over the limit of 16 MiB for YAML (JSON may be up to 32 MiB) (hint: split it into smaller files)`,
    );
  });

  it("a topology file over the limit is refused too", () => {
    const path = sparse("huge-topology.json", FILE_LIMITS.json + 1);
    const error = thrown(() => loadTopologyFile(path));
    expect(error).toBeInstanceOf(TopologyFileError);
    expect(error.message).toMatch(
      /^topology file ".*": it is 33,554,433 bytes, over the limit of 32 MiB \(hint: split it into smaller files\)$/,
    );
  });

  it("a file exactly at the limit is read", () => {
    const path = join(dir, "at-limit.json");
    writeFileSync(path, "x".repeat(64));
    expect(readBoundedFile(path, 64).length).toBe(64);
    expect(() => readBoundedFile(path, 63)).toThrow(/it is 64 bytes, over the limit of 63 bytes/);
  });

  it.skipIf(!existsSync("/proc/self/maps"))(
    "a file that says it is empty but keeps going (/proc) is cut off at the limit while reading",
    () => {
      expect(() => readBoundedFile("/proc/self/maps", 16)).toThrow(/it is larger than the limit of 16 bytes/);
    },
  );

  it("formats sizes", () => {
    expect([100, 1536, 32 * 1024 * 1024, 16.8 * 1024 ** 3].map(formatBytes)).toEqual([
      "100 bytes",
      "1.5 KiB",
      "32 MiB",
      "16.8 GiB",
    ]);
  });
});

describe("YAML the package reads is held to a token count before any tree is built", () => {
  it("a YAML spec with more tokens than any spec needs is refused quickly, with a clear message", () => {
    const path = join(dir, "many.yaml");
    // The tag takes it past the plain reader to the package.
    writeFileSync(path, `!!seq [${"1,".repeat(YAML_MAX_TOKENS + 1)}1]`);
    const started = Date.now();
    const result = loadSpecFile(path);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(result.spec).toBeUndefined();
    expect(result.issues).toEqual([
      {
        code: "invalid_yaml",
        path: "",
        message: "the YAML has more than 3,000,000 keys, values and indicators, more than a spec can need",
        hint: "split it, or write it as JSON, which is read with far less memory",
      },
    ]);
  });

  it("plain YAML as long is read by the light reader, which needs no such count", () => {
    const path = join(dir, "many-plain.yaml");
    writeFileSync(path, `[${"1,".repeat(YAML_MAX_TOKENS + 1)}1]`);
    expect(loadSpecFile(path).issues.map((i) => i.message)).toEqual(["the spec must be an object, got an array"]);
  });
});
