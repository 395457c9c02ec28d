// Out-of-band access to a simulated cloud's state directory, for the demo and the e2e tests: what a
// person with the cloud's own console would see or do, behind Pulumi's back. Uses the built dist/.
//
//   node test/tools/sim.js <dir> show                print the cloud as a tree
//   node test/tools/sim.js <dir> where               only the zones, racks and hosts that hold something
//   node test/tools/sim.js <dir> json                print servers, volumes, groups as JSON
//   node test/tools/sim.js <dir> delete-server NAME  delete the server of member NAME (or named NAME), until gone

const path = require("node:path");

const REPO = path.resolve(__dirname, "..", "..");

async function main(argv) {
  const [dir, cmd, arg] = argv;
  if (!dir || !cmd) throw new Error("usage: sim.js <dir> show|json|delete-server <name>");
  const sim = require(path.join(REPO, "dist", "provider", "backends", "simulated"));
  const { TAG_MEMBER } = require(path.join(REPO, "dist", "provider", "backends", "backend"));
  // The cloud's own console: faults meant for a run under test (OPENSTACK_VCLUSTER_SIM_FAULTS in the
  // environment it inherited) are not the console's to hit.
  const cloud = await sim.SimulatedCloud.open({ dir: path.resolve(dir), env: {} });
  try {
    const snap = await cloud.snapshot();
    if (cmd === "show") {
      process.stdout.write(`${sim.renderCloudTree(snap).replace(/\n?$/, "\n")}`);
    } else if (cmd === "where") {
      process.stdout.write(where(snap, TAG_MEMBER));
    } else if (cmd === "json") {
      const pick = (xs) =>
        xs.map((x) => ({
          id: x.id,
          name: x.name,
          status: x.status,
          metadata: x.metadata,
          ...(x.keyName !== undefined ? { keyName: x.keyName } : {}),
        }));
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

/** zone > rack > host > members, skipping empty domains; volumes sit under their backend. */
function where(snap, tagMember) {
  const label = (o) => o.metadata[tagMember] ?? o.name;
  const byHost = new Map();
  const add = (key, line) => byHost.set(key, [...(byHost.get(key) ?? []), line]);
  const serverName = new Map(snap.servers.map((s) => [s.id, label(s)]));
  for (const s of snap.servers)
    add(s.host ?? `zone:${s.zone ?? "?"}`, `server ${label(s)} (${s.flavorRef}, ${s.status})`);
  const backends = new Map(snap.topology.storageBackends.map((b) => [b.name, b]));
  for (const v of snap.volumes) {
    const b = backends.get(v.backend ?? "");
    const on = v.attachedTo.map((id) => serverName.get(id) ?? id).join(", ");
    const line = `volume ${label(v)} (${v.sizeGb} GB on ${v.backend ?? "?"}${on ? `, attached to ${on}` : ""})`;
    add(b?.host ?? `zone:${b?.zone ?? v.zone ?? "?"}`, line);
  }
  const lines = [];
  const zones = [...new Set(snap.topology.hosts.map((h) => h.zone))].sort();
  for (const zone of zones) {
    const zoneLines = (byHost.get(`zone:${zone}`) ?? []).map((l) => `    ${l}`);
    const racks = [...new Set(snap.topology.hosts.filter((h) => h.zone === zone).map((h) => h.rack))].sort();
    for (const rack of racks) {
      const hosts = snap.topology.hosts.filter((h) => h.zone === zone && h.rack === rack && byHost.has(h.name));
      if (hosts.length === 0) continue;
      zoneLines.push(`  rack ${rack}`);
      for (const h of hosts.sort((a, b) => a.name.localeCompare(b.name))) {
        zoneLines.push(`    host ${h.name}`, ...(byHost.get(h.name) ?? []).sort().map((l) => `      ${l}`));
      }
    }
    if (zoneLines.length > 0) lines.push(`zone ${zone}`, ...zoneLines);
  }
  for (const g of snap.serverGroups) {
    lines.push(
      `server group ${g.metadata["vcluster:grouping"] ?? g.name} (${g.policy}): ${g.members.map((id) => serverName.get(id) ?? id).join(", ")}`,
    );
  }
  return lines.length > 0 ? `${lines.join("\n")}\n` : "(nothing)\n";
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`sim.js: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
