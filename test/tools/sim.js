// Out-of-band access to a simulated cloud's state directory, for the demo and the e2e tests: what a
// person with the cloud's own console would see or do, behind Pulumi's back. Uses the built dist/.
//
//   node test/tools/sim.js <dir> show                print the cloud as a tree
//   node test/tools/sim.js <dir> json                print servers, volumes, groups as JSON
//   node test/tools/sim.js <dir> delete-server NAME  delete the server of member NAME (or named NAME), until gone

const path = require("node:path");

const REPO = path.resolve(__dirname, "..", "..");

async function main(argv) {
  const [dir, cmd, arg] = argv;
  if (!dir || !cmd) throw new Error("usage: sim.js <dir> show|json|delete-server <name>");
  const sim = require(path.join(REPO, "dist", "provider", "backends", "simulated"));
  const { TAG_MEMBER } = require(path.join(REPO, "dist", "provider", "backends", "backend"));
  const cloud = await sim.SimulatedCloud.open({ dir: path.resolve(dir) });
  try {
    const snap = await cloud.snapshot();
    if (cmd === "show") {
      process.stdout.write(`${sim.renderCloudTree(snap).replace(/\n?$/, "\n")}`);
    } else if (cmd === "json") {
      const pick = (xs) => xs.map((x) => ({ id: x.id, name: x.name, status: x.status, metadata: x.metadata }));
      const out = { servers: pick(snap.servers), volumes: pick(snap.volumes), serverGroups: pick(snap.serverGroups) };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else if (cmd === "delete-server") {
      const server =
        snap.servers.find((s) => s.metadata[TAG_MEMBER] === arg) ?? snap.servers.find((s) => s.name === arg);
      if (!server) throw new Error(`no server named "${arg}" in ${dir}`);
      // An attached volume would keep the server from going: detach first, as an operator would.
      for (const v of snap.volumes.filter((v) => v.attachedTo.includes(server.id))) {
        await cloud.detachVolume(server.id, v.id);
      }
      await cloud.deleteServer(server.id);
      for (let i = 0; i < 500 && (await cloud.getServer(server.id)) !== undefined; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      if ((await cloud.getServer(server.id)) !== undefined) throw new Error(`server "${arg}" did not go away`);
      process.stdout.write(`deleted server "${arg}" (${server.id})\n`);
    } else {
      throw new Error(`unknown command "${cmd}"`);
    }
  } finally {
    await cloud.close();
  }
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`sim.js: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
