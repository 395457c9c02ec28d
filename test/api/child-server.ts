// A server in a process of its own, for the crash test (restart.test.ts bundles and spawns it):
// `node child-server.cjs <db> <sim dir>` prints {"url": …} on one line once it listens, and
// runs until it is killed.
import { startServer } from "../../provider/api/server";

const [db, simDir] = process.argv.slice(2) as [string, string];
startServer({
  noauth: true,
  port: 0,
  db,
  config: { backend: "simulated", simulatedDir: simDir },
  log: (level, message) => process.stderr.write(`${level}: ${message}\n`),
}).then(
  (server) => process.stdout.write(`${JSON.stringify({ url: server.url })}\n`),
  (error: unknown) => {
    process.stderr.write(`child server: ${String(error)}\n`);
    process.exit(1);
  },
);
