// The package users install: `new VCluster(name, args)` declares a whole OpenStack cluster.
//
// The provider object below is what the SDK serializes into the resource's state
// (`__provider`). Each hook only `require`s the real implementation by its package path,
// inside the method body, and delegates: the serialized text stays a few hundred bytes,
// nothing with state (zod, undici, the backend) is captured, no credential can be, and state
// written by this release keeps working with the code installed after an upgrade
// (pulumi/pulumi#18976). Keep it that way: no module-level values in these methods.
import * as pulumi from "@pulumi/pulumi";
import type { MemberPlacement, SoftViolation } from "../provider/model/placement";
import type { BrokenRule, ClusterState, MemberState } from "../provider/model/state";

type Hooks = typeof import("../provider/pulumi/hooks");

const provider: pulumi.dynamic.ResourceProvider = {
  async configure(req) {
    return (require("pulumi-openstack-vcluster/provider/dynamic/hooks") as Hooks).configure(this, req);
  },
  async check(olds, news) {
    return (require("pulumi-openstack-vcluster/provider/dynamic/hooks") as Hooks).check(this, olds, news);
  },
  async diff(id, olds, news) {
    return (require("pulumi-openstack-vcluster/provider/dynamic/hooks") as Hooks).diff(this, id, olds, news);
  },
  async create(inputs) {
    return (require("pulumi-openstack-vcluster/provider/dynamic/hooks") as Hooks).create(this, inputs);
  },
  async update(id, olds, news) {
    return (require("pulumi-openstack-vcluster/provider/dynamic/hooks") as Hooks).update(this, id, olds, news);
  },
  async read(id, props) {
    return (require("pulumi-openstack-vcluster/provider/dynamic/hooks") as Hooks).read(this, id, props ?? {});
  },
  async delete(id, props) {
    return (require("pulumi-openstack-vcluster/provider/dynamic/hooks") as Hooks).delete(this, id, props);
  },
};

/** A Nova server's spec. Names are camelCase, as in @pulumi/openstack's compute.Instance. */
export interface ServerSpecArgs {
  /** Image name or id (Glance). */
  imageRef: pulumi.Input<string>;
  /** Flavor name or id. */
  flavorRef: pulumi.Input<string>;
  /** Availability zone to pin the server to. Default: the engine chooses (rules and capacity). */
  zone?: pulumi.Input<string>;
  /** Network ids or names, one port each. Default: the cloud's `vcluster_networks` (Nova `auto`). */
  networks?: pulumi.Input<pulumi.Input<string>[]>;
  /** Nova keypair. Changing it rebuilds the server (root disk wiped). */
  keyName?: pulumi.Input<string>;
  /** Security group names (or ids). Default: Nova's `default`. Changed in place. */
  securityGroups?: pulumi.Input<pulumi.Input<string>[]>;
  /** cloud-init user data; always stored as a secret. Changing it rebuilds the server (root disk wiped). */
  userData?: pulumi.Input<string>;
  /** Nova metadata, changed in place. Keys `vcluster:*` are the product's own. */
  metadata?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** @deprecated Nova's spelling of `keyName`: still accepted, with a warning at preview. */
  key_name?: pulumi.Input<string>;
  /** @deprecated Nova's spelling of `securityGroups`: still accepted, with a warning at preview. */
  security_groups?: pulumi.Input<pulumi.Input<string>[]>;
  /** @deprecated Nova's spelling of `userData`: still accepted (and kept secret), with a warning at preview. */
  user_data?: pulumi.Input<string>;
}

/** A Cinder volume's spec. */
export interface VolumeSpecArgs {
  /** GB, an integer >= 1. Growing it extends the volume in place; shrinking is refused. */
  size: pulumi.Input<number>;
  /** Cinder volume type. Default: the cloud's default type. Changed in place (retype). */
  volumeType?: pulumi.Input<string>;
  /** Availability zone to pin the volume to. */
  zone?: pulumi.Input<string>;
  /** The server (by member name) this volume is attached to; implies hard affinity at zone scope. */
  attachTo?: pulumi.Input<string>;
  /** Cinder metadata, changed in place. */
  metadata?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** @deprecated Cinder's spelling of `volumeType`: still accepted, with a warning at preview. */
  volume_type?: pulumi.Input<string>;
}

export interface ServerInstanceArgs {
  name: pulumi.Input<string>;
  type: pulumi.Input<"server">;
  spec: pulumi.Input<ServerSpecArgs>;
}

export interface VolumeInstanceArgs {
  name: pulumi.Input<string>;
  /** "block-storage" is the blueprint's word for the same thing. */
  type: pulumi.Input<"volume" | "block-storage">;
  spec: pulumi.Input<VolumeSpecArgs>;
}

export type InstanceArgs = ServerInstanceArgs | VolumeInstanceArgs;

export type { Enforcement, Rule, Scope } from "../provider/model/cluster";

import type { Enforcement, Rule, Scope } from "../provider/model/cluster";

export interface GroupingSpecArgs {
  rule: pulumi.Input<Rule>;
  /** Default `host` (proximity: `zone`, its hard bound). */
  scope?: pulumi.Input<Scope>;
  /** Default `hard`. */
  enforcement?: pulumi.Input<Enforcement>;
  /** 1–100, the cost of one soft violation. Default 50. */
  weight?: pulumi.Input<number>;
  /** anti-affinity only: at most this many members per domain. Default 1. */
  maxPerDomain?: pulumi.Input<number>;
}

export interface GroupingArgs {
  name: pulumi.Input<string>;
  membersRef: pulumi.Input<pulumi.Input<string>[]>;
  spec: pulumi.Input<GroupingSpecArgs>;
}

export interface VClusterArgs {
  /**
   * Names every object this cluster creates (and the tags a retry adopts by). Default
   * `<project>-<stack>-<resource name>`, so two stacks never collide on one cloud.
   */
  clusterName?: pulumi.Input<string>;
  instances: pulumi.Input<pulumi.Input<InstanceArgs>[]>;
  groupings?: pulumi.Input<pulumi.Input<GroupingArgs>[]>;
  /** `spread` (the default) or `pack`: as few hosts as the rules and the soft costs allow. */
  placementStrategy?: pulumi.Input<"spread" | "pack">;
}

// Output shapes are the lifecycle's own state types (type-only imports: nothing of the provider
// is loaded or serialized by importing the SDK).
/** One member as built. Fields the cloud doesn't show (a tenant sees no host) are absent. */
export type MemberOutput = MemberState;
/** Where the engine placed a member. */
export type MemberPlacementOutput = MemberPlacement;
export type SoftViolationOutput = SoftViolation;
export type BrokenRuleOutput = BrokenRule;

export class VCluster extends pulumi.dynamic.Resource {
  declare public readonly clusterName: pulumi.Output<ClusterState["clusterName"]>;
  declare public readonly members: pulumi.Output<ClusterState["members"]>;
  /** Where the engine placed each member, by member name. */
  declare public readonly placement: pulumi.Output<ClusterState["placement"]>;
  declare public readonly softViolations: pulumi.Output<ClusterState["softViolations"]>;
  /** Hard rules found broken by the last apply or refresh (should be empty). */
  declare public readonly brokenRules: pulumi.Output<ClusterState["brokenRules"]>;
  /** Members a refresh found gone; the next `pulumi up` recreates them. */
  declare public readonly missing: pulumi.Output<ClusterState["missing"]>;
  declare public readonly backendKind: pulumi.Output<ClusterState["backendKind"]>;
  /** pinned: the provider chose every host; delegated: Nova did, under server groups. */
  declare public readonly mode: pulumi.Output<ClusterState["mode"]>;

  /**
   * `opts.import`: adopt a cluster whose members already exist instead of creating one: its
   * clusterName (which must be the args' clusterName), optionally followed by the ids of members
   * that carry no tags, `"shop:db-1=<server id>,db-1-data=<volume id>"`. The members are verified
   * against the spec and nothing on the cloud is changed; what differs is shown at preview and
   * made by the next `pulumi up`. (The engine's own import can't reach a dynamic provider's `read`,
   * pulumi/pulumi#16175, so VCluster takes the option itself; `pulumi import` the command can't work.)
   * `opts.customTimeouts`: create, update and delete limits for the whole cluster (see the README).
   */
  constructor(name: string, args: VClusterArgs, opts?: pulumi.CustomResourceOptions) {
    const clusterName = args.clusterName ?? `${pulumi.getProject()}-${pulumi.getStack()}-${name}`;
    const { import: importId, ...engineOpts } = opts ?? {};
    super(
      provider,
      name,
      {
        clusterName,
        instances: secretUserData(args.instances) as VClusterArgs["instances"],
        groupings: args.groupings ?? [],
        // Only when set, so stacks that never set it show no change.
        ...(args.placementStrategy !== undefined ? { placementStrategy: args.placementStrategy } : {}),
        // The engine sends customTimeouts to a provider, but the SDK's dynamic-provider server drops them:
        // they ride in the inputs (only when set, so older stacks show no change).
        ...timeoutsInput(opts?.customTimeouts),
        // The provider imports; the engine must not try to (its read can't find a dynamic provider).
        ...(importId !== undefined && importId !== "" ? { importId } : {}),
        members: undefined,
        placement: undefined,
        softViolations: undefined,
        brokenRules: undefined,
        missing: undefined,
        backendKind: undefined,
        mode: undefined,
      },
      // The outputs echo the inputs: `instances` (with userData) is a secret output too.
      {
        ...engineOpts,
        additionalSecretOutputs: [...new Set([...(opts?.additionalSecretOutputs ?? []), "instances"])],
      },
      "openstack-vcluster",
      "VCluster",
    );
  }
}

/** The customTimeouts option as an input: the operations it sets, as written ("30m"). */
function timeoutsInput(t: pulumi.CustomTimeouts | undefined): { customTimeouts?: Record<string, string> } {
  const set: Record<string, string> = {};
  for (const op of ["create", "update", "delete"] as const) {
    const v = t?.[op];
    if (typeof v === "string" && v !== "") set[op] = v;
  }
  return Object.keys(set).length > 0 ? { customTimeouts: set } : {};
}

// userData (a cloud-init script: keys, passwords, join tokens) must never be plain text in the state,
// whether or not the program made it a secret: each server's userData (or user_data, its deprecated
// spelling) is wrapped in pulumi.secret where
// it stands, so the rest of the cluster stays readable in previews. Where a level of the inputs is an
// Output or a Promise, its value is rewritten once known. (Module-level functions: used by the
// constructor only, never by the serialized provider above.)

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    !pulumi.Output.isInstance(v) &&
    typeof (v as { then?: unknown }).then !== "function"
  );
}

/** An Output or a Promise: its structure is known only once it resolves. */
function isEventual(v: unknown): boolean {
  return (
    pulumi.Output.isInstance(v) ||
    (typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function")
  );
}

/**
 * `rewrite` applied to the value of an Output or a Promise; what it returns may hold Outputs (secrets,
 * and a Promise's Outputs still unknown at preview, which the SDK serializes as it would have).
 */
function whenKnown(v: unknown, rewrite: (known: unknown) => unknown): unknown {
  if (pulumi.Output.isInstance(v)) return (v as pulumi.Output<unknown>).apply((known) => rewrite(known));
  return Promise.resolve(v).then(rewrite);
}

function secretUserData(instances: unknown): unknown {
  if (isEventual(instances)) return whenKnown(instances, secretUserData);
  return Array.isArray(instances) ? instances.map(secretInstanceUserData) : instances;
}

function secretInstanceUserData(instance: unknown): unknown {
  if (isEventual(instance)) return whenKnown(instance, secretInstanceUserData);
  if (!isPlainObject(instance)) return instance;
  const spec = instance.spec;
  if (isEventual(spec)) return { ...instance, spec: whenKnown(spec, secretSpecUserData) };
  return { ...instance, spec: secretSpecUserData(spec) };
}

function secretSpecUserData(spec: unknown): unknown {
  if (!isPlainObject(spec)) return spec;
  const out = { ...spec };
  // Both spellings: userData, and user_data of programs written before the SDK's names were camelCase.
  for (const key of ["userData", "user_data"]) {
    if (out[key] !== undefined) out[key] = pulumi.secret(out[key] as pulumi.Input<string>);
  }
  return out;
}
