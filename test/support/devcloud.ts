// Connects the real-cloud suites (test/openstack/integration, test/e2e/openstack.test.ts) to the dev cloud (or the
// cloud OS_CLOUD names), and fails loudly when it can't.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type Dispatcher, Pool } from "undici";
import { resolveOpenStackConfig } from "../../provider/backends/openstack/config";
import { HttpClient, type HttpOptions } from "../../provider/backends/openstack/http";
import { OpenStackBackend } from "../../provider/backends/openstack/openstack-backend";
import { Session } from "../../provider/backends/openstack/session";

export const DEVCLOUD_DIR =
  process.env.VCLUSTER_DEVCLOUD_DIR ??
  path.join(process.env.XDG_STATE_HOME ?? path.join(os.homedir(), ".local", "state"), "openstack-vcluster", "devcloud");

/** Images, flavors and the rest up.sh creates (for each of its two users: keypairs are a user's). */
export const DEVCLOUD = {
  image: "11111111-2222-3333-4444-555555555555",
  otherImage: "11111111-2222-3333-4444-666666666666",
  flavor: "m1.tiny",
  biggerFlavor: "m1.small",
  hugeFlavor: "m1.huge",
  zone: "az1",
  keyNames: ["devcloud-key-1", "devcloud-key-2"] as [string, string],
  /** In each project, besides "default". */
  securityGroup: "devcloud-sg",
  volumeTypes: ["hdd", "ssd"] as [string, string],
};

/**
 * The ids of up.sh's two shared networks (its resources.json): servers that name none boot on `devnet`
 * (clouds.yaml's `vcluster_networks`); `devnet2` is there to attach.
 */
export function devcloudNetworks(): { devnet: string; devnet2: string } {
  const file = path.join(DEVCLOUD_DIR, "resources.json");
  if (!fs.existsSync(file)) throw new Error(`${NOT_UP} (no ${file}: made by an up.sh older than its networks)`);
  const { networks } = JSON.parse(fs.readFileSync(file, "utf8")) as { networks?: Record<string, string> };
  if (!networks?.devnet || !networks.devnet2) throw new Error(`${file} names no networks devnet and devnet2`);
  return { devnet: networks.devnet, devnet2: networks.devnet2 };
}

export const NOT_UP = "the OpenStack dev cloud is not up: run test/openstack/devcloud/up.sh first";

/**
 * The dev cloud's clouds.yaml, or a loud failure (never a skip) when up.sh hasn't made it ready:
 * its `ready` marker and a Keystone that answers.
 */
export async function requireDevcloud(): Promise<string> {
  const clouds = path.join(DEVCLOUD_DIR, "clouds.yaml");
  if (!fs.existsSync(clouds) || !fs.existsSync(path.join(DEVCLOUD_DIR, "ready"))) {
    throw new Error(`${NOT_UP} (no ${path.join(DEVCLOUD_DIR, "ready")})`);
  }
  const authUrl = /auth_url:\s*(\S+)/.exec(fs.readFileSync(clouds, "utf8"))?.[1];
  try {
    const res = await fetch(authUrl ?? "http://127.0.0.1:5000/v3", { signal: AbortSignal.timeout(5000) });
    if (res.status >= 500) throw new Error(`Keystone answered ${res.status}`);
  } catch (err) {
    throw new Error(`${NOT_UP} (Keystone at ${authUrl} doesn't answer: ${(err as Error).message})`);
  }
  return clouds;
}

/** The dev cloud's password for a clouds.yaml entry (to prove it never reaches state). */
export function devcloudPassword(who: "admin" | "member"): string {
  const text = fs.readFileSync(path.join(DEVCLOUD_DIR, "clouds.yaml"), "utf8");
  const entry = text.split(/\n {2}devcloud-/).find((part) => part.startsWith(who));
  const password = entry && /password:\s*(\S+)/.exec(entry)?.[1];
  if (!password) throw new Error(`no password for devcloud-${who} in clouds.yaml`);
  return password;
}

/** A raw authenticated session as "admin" or "member", for calls the backend doesn't make (quota sets). */
export function devcloudSession(who: "admin" | "member"): Session {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OS_CLIENT_CONFIG_FILE: path.join(DEVCLOUD_DIR, "clouds.yaml"),
    OS_CLOUD: `devcloud-${who}`,
  };
  return new Session(resolveOpenStackConfig({}, env, process.cwd()), new HttpClient());
}

/** "admin" -> pinned mode, "member" -> delegated mode. */
export async function connectDevcloud(who: "admin" | "member", http?: HttpOptions): Promise<OpenStackBackend> {
  const clouds = path.join(DEVCLOUD_DIR, "clouds.yaml");
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (!process.env.OS_CLOUD) {
    if (!fs.existsSync(clouds)) {
      throw new Error(`${NOT_UP} (${clouds} does not exist; or set OS_CLOUD to use another cloud)`);
    }
    env.OS_CLIENT_CONFIG_FILE = clouds;
    env.OS_CLOUD = `devcloud-${who}`;
  }
  const cfg = resolveOpenStackConfig({}, env, process.cwd());
  try {
    return await OpenStackBackend.connect(cfg, { pollIntervalMs: 500, ...(http ? { http } : {}) });
  } catch (err) {
    throw new Error(
      `cannot reach the OpenStack cloud "${env.OS_CLOUD}": ${(err as Error).message}\n` + `hint: ${NOT_UP}`,
    );
  }
}

/**
 * A dev-cloud backend whose every request is recorded on its way out (`METHOD /path`), so a test can
 * tell what the cloud was really sent. `close` closes the backend and its connection pools.
 */
export async function countingDevcloud(
  who: "admin" | "member",
): Promise<{ backend: OpenStackBackend; sent: string[]; close: () => Promise<void> }> {
  const sent: string[] = [];
  const pools: Pool[] = [];
  const counting = (origin: string): Dispatcher => {
    const pool = new Pool(origin, { connections: 8 });
    pools.push(pool);
    return pool.compose((dispatch) => (opts, handler) => {
      sent.push(`${opts.method} ${opts.path}`);
      return dispatch(opts, handler);
    });
  };
  const backend = await connectDevcloud(who, { dispatcherFor: counting });
  return {
    backend,
    sent,
    close: async () => {
      await backend.close();
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}
