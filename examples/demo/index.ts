// A small cluster on the simulated cloud: three app servers on three different hosts, and two
// database servers, each with its own attached data volume, in two different racks.
import * as pulumi from "@pulumi/pulumi";
import { type InstanceArgs, VCluster } from "pulumi-openstack-vcluster";

const config = new pulumi.Config();
const appCount = config.getNumber("appCount") ?? 3;
const appFlavor = config.get("appFlavor") ?? "m1.small";

const apps: InstanceArgs[] = Array.from({ length: appCount }, (_, i) => ({
  name: `app-${i + 1}`,
  type: "server",
  spec: { imageRef: "debian-12", flavorRef: appFlavor },
}));
const dbs: InstanceArgs[] = [1, 2].flatMap((i): InstanceArgs[] => [
  { name: `db-${i}`, type: "server", spec: { imageRef: "debian-12", flavorRef: "m1.large" } },
  { name: `db-${i}-data`, type: "volume", spec: { size: 50, attachTo: `db-${i}` } },
]);

const cluster = new VCluster("demo", {
  instances: [...apps, ...dbs],
  groupings: [
    {
      name: "app-spread",
      membersRef: apps.map((a) => a.name as string),
      spec: { rule: "anti-affinity", scope: "host" },
    },
    { name: "db-spread", membersRef: ["db-1", "db-2"], spec: { rule: "anti-affinity", scope: "rack" } },
  ],
});

export const clusterName = cluster.clusterName;
export const placement = cluster.placement;
export const members = cluster.members;
