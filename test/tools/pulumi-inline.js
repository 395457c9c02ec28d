// `node pulumi-inline.js <path/to/pulumi> <pulumi args...>`, run in a Pulumi program's directory: the real
// `pulumi` command, with the program run by the language runtime that @pulumi/pulumi serves itself, as the
// Automation API runs inline programs. For machines without the official `pulumi-language-nodejs` (it
// can't be built from the Go module proxy, and the CLI's download site is out of reach): the engine,
// the state file, the diff display and the serialized dynamic provider are all the real ones; only the
// process that runs index.ts differs.
//
// The program's entry point, TypeScript handling and stack outputs follow what the official host does:
// package.json `main` (else index.ts / index.js), ts-node with the project's tsconfig.json (transpile-only
// when PULUMI_NODEJS_TRANSPILE_ONLY=true), and the module's exports (or what an exported function
// returns) become the stack outputs. Exits with pulumi's exit code.

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

/** Commands that run the program (or may): the Automation API gives these `--client`. */
const PROGRAM_COMMANDS = new Set(["preview", "up", "update", "refresh", "destroy"]);

function fail(message) {
  process.stderr.write(`pulumi-inline: ${message}\n`);
  process.exit(2);
}

/** The program's entry file, as the official Node.js host finds it. */
function entryPoint(dir) {
  const pkgFile = path.join(dir, "package.json");
  const pkg = fs.existsSync(pkgFile) ? JSON.parse(fs.readFileSync(pkgFile, "utf8")) : {};
  for (const candidate of [pkg.main, "index.ts", "index.js"]) {
    if (typeof candidate === "string" && fs.existsSync(path.join(dir, candidate))) return path.join(dir, candidate);
  }
  return fail(`no entry point in ${dir} (package.json "main", index.ts or index.js)`);
}

/** ts-node over the project's own TypeScript, registered as the official host registers it. */
function registerTypeScript(dir, pulumiDir) {
  const tsutils = require(path.join(pulumiDir, "tsutils"));
  const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
  const tsconfig = path.join(dir, "tsconfig.json");
  // The host's defaults, then the project's own compiler options over them.
  const defaults = { target: "ES2020", module: "commonjs", moduleResolution: "node", sourceMap: "true" };
  require(require.resolve(tsnodeRequire, { paths: [pulumiDir] })).register({
    compiler: typescriptRequire,
    transpileOnly: process.env.PULUMI_NODEJS_TRANSPILE_ONLY === "true",
    project: tsconfig,
    skipProject: !fs.existsSync(tsconfig),
    compilerOptions: { ...defaults, ...tsutils.loadTypeScriptCompilerOptions(tsconfig) },
  });
}

async function main([cli, ...args]) {
  if (!cli || !fs.existsSync(cli)) fail(`usage: node pulumi-inline.js <path/to/pulumi> <args...> (got "${cli ?? ""}")`);
  const dir = process.cwd();
  const runsProgram = PROGRAM_COMMANDS.has(args[0] ?? "");
  const extra = [];
  let server;
  let languageServer;
  if (runsProgram) {
    // The program's own @pulumi/pulumi: the runtime's settings are per module instance, so the server that
    // runs the program and the program itself must share one.
    let pulumiDir;
    try {
      pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [dir] }));
    } catch {
      fail(`no @pulumi/pulumi installed for the program in ${dir}; run npm install there`);
    }
    const grpc = require(require.resolve("@grpc/grpc-js", { paths: [pulumiDir] }));
    const { LanguageServer } = require(path.join(pulumiDir, "automation", "server"));
    const langrpc = require(path.join(pulumiDir, "proto", "language_grpc_pb"));
    const { grpcChannelOptions } = require(path.join(pulumiDir, "runtime"));
    const entry = entryPoint(dir);
    if (entry.endsWith(".ts")) registerTypeScript(dir, pulumiDir);
    languageServer = new LanguageServer(async () => {
      // One CLI command may run the program more than once (`up` previews, then updates); the official
      // host starts a fresh process each time, so forget the program's own modules (not its packages).
      for (const key of Object.keys(require.cache)) {
        if (key.startsWith(dir + path.sep) && !key.includes(`${path.sep}node_modules${path.sep}`))
          delete require.cache[key];
      }
      const exported = require(entry);
      return exported instanceof Function ? exported() : exported;
    });
    server = new grpc.Server(grpcChannelOptions);
    server.addService(langrpc.LanguageRuntimeService, languageServer);
    const port = await new Promise((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    extra.push(`--client=127.0.0.1:${port}`, "--exec-kind", "auto.inline");
  }
  const child = spawn(cli, [...args, ...extra], { stdio: "inherit" });
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
  child.on("error", (e) => fail(`cannot run ${cli}: ${e.message}`));
  child.on("close", (code, signal) => {
    server?.forceShutdown();
    process.exit(code ?? (signal ? 1 : 0));
  });
}

main(process.argv.slice(2)).catch((e) => fail(e instanceof Error ? e.message : String(e)));
