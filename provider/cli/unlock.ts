// `unlock <cluster-name>`: removes a cluster's lock on an OpenStack cloud (a Nova keypair, see
// ../backends/openstack/cluster-marker.ts) that a run left behind when it was killed or lost its
// machine: while it is there, apply, destroy and `pulumi up` from other machines are refused, naming
// this command. It says whose lock it removed. A lock of a run alive on this machine, or a keypair
// of that name that openstack-vcluster did not make, is removed only with --force.
import { describeCloudHolder, unlockCloud } from "../backends/cluster-lock";
import { type BackendSelection, chooseBackendKind, selectBackend } from "../backends/select";
import { clusterHead } from "../model/text";
import { fail } from "./failure";
import { EXIT, type Io } from "./io";

export interface UnlockFlags {
  backend?: string;
  /** A clouds.yaml entry, as stack config `openstack-vcluster:cloud` names one. */
  cloud?: string;
  force?: boolean;
}

const SELECT = { defaultToSimulated: true };

function failureText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function unlockCommand(io: Io, clusterName: string, flags: UnlockFlags): Promise<number> {
  const head = clusterHead(clusterName);
  const config: Record<string, string> = {};
  if (flags.backend) config.backend = flags.backend;
  if (flags.cloud) config.cloud = flags.cloud;
  const noCloudLock = `${head}the simulated cloud keeps no lock that outlives a run (the next run takes over the lock of one that ended): nothing to unlock there; hint: to remove a cluster's lock on an OpenStack cloud, select that cloud with --cloud <clouds.yaml entry>, OS_CLOUD, or OS_AUTH_URL and the other OS_* variables`;
  try {
    if (chooseBackendKind(config, io.env, SELECT) === "simulated")
      return fail(io, { kind: "usage", message: noCloudLock });
  } catch (error) {
    return fail(io, { kind: "cloud", message: `openstack-vcluster: ${failureText(error)}` });
  }
  let selection: BackendSelection;
  try {
    selection = await selectBackend(config, io.env, io.cwd, SELECT);
  } catch (error) {
    return fail(io, { kind: "cloud", message: `openstack-vcluster: ${failureText(error)}` });
  }
  if (selection.notice) io.err(selection.notice);
  const cloud = selection.backend.description;
  try {
    const locks = selection.backend.cloudLocks;
    if (!locks) return fail(io, { kind: "usage", message: noCloudLock });
    const outcome = await unlockCloud(locks, clusterName, flags.force === true);
    switch (outcome.kind) {
      case "none":
        io.out(`${head}no run holds its lock on ${cloud} (${outcome.where}): nothing to remove.`);
        return EXIT.ok;
      case "removed":
        io.out(
          `${head}removed its lock on ${cloud} (${outcome.where}), held ${describeCloudHolder(outcome.holder, outcome.where)}; the next run goes ahead.`,
        );
        return EXIT.ok;
      case "refused":
        return fail(io, {
          kind: "locked",
          message:
            outcome.reason === "alive"
              ? `${head}not unlocked: its lock on ${cloud} is held by a run that is alive on this machine, ${describeCloudHolder(outcome.holder, outcome.where)}; hint: let it end or stop it (its lock goes with it), or pass --force to remove the lock anyway`
              : `${head}not unlocked: its lock on ${cloud} is there ${describeCloudHolder(outcome.holder, outcome.where)}; hint: check whose it is, or pass --force to delete it anyway`,
        });
    }
  } catch (error) {
    const text = failureText(error);
    return fail(io, { kind: "cloud", message: text.startsWith("cluster ") ? text : `${head}${text}` });
  } finally {
    await selection.backend.close();
  }
}
