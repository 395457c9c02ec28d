// `sim show` / `sim reset`: look into the embedded simulated cloud kept beside the program.
import * as path from "node:path";
import { DEFAULT_SIM_DIR } from "../backends/select";
import { renderCloudTree, SimulatedCloud } from "../backends/simulated";
import { EXIT, type Io, json } from "./io";

async function openSim(io: Io, dir: string | undefined): Promise<SimulatedCloud | number> {
  try {
    return await SimulatedCloud.open({ dir: path.resolve(io.cwd, dir ?? DEFAULT_SIM_DIR), env: io.env });
  } catch (error) {
    io.err(`openstack-vcluster: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.usage;
  }
}

export async function simShowCommand(io: Io, opts: { simDir?: string; json: boolean }): Promise<number> {
  const cloud = await openSim(io, opts.simDir);
  if (typeof cloud === "number") return cloud;
  try {
    const snapshot = await cloud.snapshot();
    io.out(opts.json ? json(snapshot) : renderCloudTree(snapshot));
    return EXIT.ok;
  } finally {
    await cloud.close();
  }
}

export async function simResetCommand(io: Io, opts: { simDir?: string }): Promise<number> {
  const cloud = await openSim(io, opts.simDir);
  if (typeof cloud === "number") return cloud;
  try {
    await cloud.reset();
    io.out(
      `simulated cloud in ${path.relative(io.cwd, path.resolve(io.cwd, opts.simDir ?? DEFAULT_SIM_DIR)) || "."} reset: no servers, volumes or server groups, no faults; topology kept.`,
    );
    return EXIT.ok;
  } finally {
    await cloud.close();
  }
}
