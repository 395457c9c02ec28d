// What a simulated cloud's directory holds, read straight from its database (no call counted, the
// clock not settled): for tests that look at the cloud behind the command's back.
import * as path from "node:path";
import { CloudDatabase } from "../../provider/backends/simulated/database";
import type { CloudState } from "../../provider/backends/simulated/store";

export function simState(dir: string): CloudState {
  return CloudDatabase.read(dir);
}

/** The simulated cloud of a project directory run with the command's defaults. */
export function projectSimState(projectDir: string): CloudState {
  return simState(path.join(projectDir, ".openstack-vcluster/sim"));
}
