// What a program feeds elsewhere: each server's address (an Ansible inventory, DNS records, a load
// balancer's pool) and each volume's device (what to format and mount). With
// `pulumi config set import <cluster name>` it adopts a cluster that already exists instead.
import * as pulumi from "@pulumi/pulumi";
import { type InstanceArgs, VCluster } from "pulumi-openstack-vcluster";

const config = new pulumi.Config();
const web = ["web-1", "web-2"];
const instances: InstanceArgs[] = [
  ...web.map(
    (name): InstanceArgs => ({ name, type: "server", spec: { imageRef: "debian-12", flavorRef: "m1.small" } }),
  ),
  {
    name: "db-1",
    type: "server",
    spec: { imageRef: "debian-12", flavorRef: "m1.medium", networks: ["front", "storage"] },
  },
  { name: "db-1-data", type: "volume", spec: { size: 50, volumeType: "ssd", attachTo: "db-1" } },
];
const cluster = new VCluster(
  "inventory",
  { instances, groupings: [{ name: "web-apart", membersRef: web, spec: { rule: "anti-affinity" } }] },
  { import: config.get("import"), customTimeouts: { create: "20m", delete: "10m" } },
);

export const clusterName = cluster.clusterName;
/** Ansible's YAML inventory: every server under `all`, reached at its address. */
export const inventory = cluster.members.apply((members) => ({
  all: {
    hosts: Object.fromEntries(
      Object.entries(members)
        .filter(([, m]) => m.type === "server")
        .map(([name, m]) => [name, { ansible_host: m.accessIpV4 }]),
    ),
  },
}));
export const dbStorageAddress = cluster.members.apply((m) => m["db-1"]?.addresses?.storage?.fixed[0]);
export const dataDevice = cluster.members.apply((m) => m["db-1-data"]?.device);
