// `openstack-vcluster serve` in a process of its own, as the command runs it (SIGINT or SIGTERM stops
// it gracefully), for the replica tests (replicas.test.ts bundles and spawns it):
// `node replica-server.cjs '{"flags": {...}, "tuning": {...}}'` logs to stderr and exits with the
// command's exit code once stopped. `tuning` is what has no flag: lease and drain times.
import { type ServeFlags, serveCommand } from "../../provider/api/command";
import type { ServerOptions } from "../../provider/api/server";

const { flags, tuning } = JSON.parse(process.argv[2] ?? "{}") as {
  flags: ServeFlags;
  tuning?: Pick<ServerOptions, "leases" | "drainTimeoutMs">;
};
const line = (text: string) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`);
serveCommand({ out: line, err: line, cwd: process.cwd(), env: process.env }, flags, undefined, tuning).then(
  (code) => process.exit(code),
  (error: unknown) => {
    line(`replica server: ${String(error)}`);
    process.exit(70);
  },
);
