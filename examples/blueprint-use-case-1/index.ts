// The blueprint's use case 1: one volume attached to one server, kept on the same host.
import { VCluster } from "pulumi-openstack-vcluster";

const cluster = new VCluster("uc1", {
  instances: [
    { name: "server-1", type: "server", spec: { imageRef: "debian-12", flavorRef: "m1.small" } },
    { name: "volume-1", type: "volume", spec: { size: 10, attachTo: "server-1" } },
  ],
  groupings: [{ name: "group-1", membersRef: ["server-1", "volume-1"], spec: { rule: "affinity" } }],
});

export const members = cluster.members;
export const placement = cluster.placement;
