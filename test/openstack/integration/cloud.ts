// Connects the integration tests to the dev cloud (or the cloud OS_CLOUD names) and fails loudly when it can't.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { resolveOpenStackConfig } from "../../../provider/backends/openstack/config";
import { OpenStackBackend } from "../../../provider/backends/openstack/openstack-backend";

export const DEVCLOUD_DIR =
  process.env.VCLUSTER_DEVCLOUD_DIR ??
  path.join(process.env.XDG_STATE_HOME ?? path.join(os.homedir(), ".local", "state"), "openstack-vcluster", "devcloud");

/** Images and flavors up.sh creates. */
export const DEVCLOUD = {
  image: "11111111-2222-3333-4444-555555555555",
  otherImage: "11111111-2222-3333-4444-666666666666",
  flavor: "m1.tiny",
  biggerFlavor: "m1.small",
  hugeFlavor: "m1.huge",
  zone: "az1",
};

/** "admin" -> pinned mode, "member" -> delegated mode. */
export async function connectDevcloud(who: "admin" | "member"): Promise<OpenStackBackend> {
  const clouds = path.join(DEVCLOUD_DIR, "clouds.yaml");
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (!process.env.OS_CLOUD) {
    if (!fs.existsSync(clouds)) {
      throw new Error(
        `no dev cloud: ${clouds} does not exist. Start it with test/openstack/devcloud/up.sh (or set OS_CLOUD).`,
      );
    }
    env.OS_CLIENT_CONFIG_FILE = clouds;
    env.OS_CLOUD = `devcloud-${who}`;
  }
  const cfg = resolveOpenStackConfig({}, env, process.cwd());
  try {
    return await OpenStackBackend.connect(cfg, { pollIntervalMs: 500 });
  } catch (err) {
    throw new Error(
      `cannot reach the OpenStack cloud "${env.OS_CLOUD}": ${(err as Error).message}\n` +
        "hint: start it with test/openstack/devcloud/up.sh",
    );
  }
}
