// A three-tier application: each tier spread over zones (hard), and its servers kept
// on different racks where capacity allows (soft: a violation costs weight, never fails).
import { type GroupingArgs, type InstanceArgs, VCluster } from "pulumi-openstack-vcluster";

const tiers = {
  lb: { count: 2, flavor: "m1.small" },
  app: { count: 3, flavor: "m1.medium" },
  db: { count: 2, flavor: "m1.large" },
};
const instances: InstanceArgs[] = [];
const groupings: GroupingArgs[] = [];
for (const [tier, { count, flavor }] of Object.entries(tiers)) {
  const names = Array.from({ length: count }, (_, i) => `${tier}-${i + 1}`);
  for (const name of names)
    instances.push({ name, type: "server", spec: { imageRef: "debian-12", flavorRef: flavor } });
  groupings.push({ name: `${tier}-zones`, membersRef: names, spec: { rule: "anti-affinity", scope: "zone" } });
  groupings.push({
    name: `${tier}-racks`,
    membersRef: names,
    spec: { rule: "anti-affinity", scope: "rack", enforcement: "soft", weight: 20 },
  });
}
instances.push({ name: "db-data", type: "volume", spec: { size: 200, volumeType: "ssd", attachTo: "db-1" } });

const cluster = new VCluster("shop", { instances, groupings });

export const members = cluster.members;
export const softViolations = cluster.softViolations;
