// The blueprint's use case 2: redundant data servers, never on the same host, each with
// its own volume beside it.
import { VCluster } from "pulumi-openstack-vcluster";

const cluster = new VCluster("uc2", {
  instances: [
    { name: "db-server-1", type: "server", spec: { imageRef: "debian-12", flavorRef: "m1.large" } },
    { name: "db-server-2", type: "server", spec: { imageRef: "debian-12", flavorRef: "m1.large" } },
    { name: "db-vol-1", type: "volume", spec: { size: 100, attachTo: "db-server-1" } },
    { name: "db-vol-2", type: "volume", spec: { size: 100, attachTo: "db-server-2" } },
  ],
  groupings: [
    { name: "data-1", membersRef: ["db-server-1", "db-vol-1"], spec: { rule: "affinity" } },
    { name: "data-2", membersRef: ["db-server-2", "db-vol-2"], spec: { rule: "affinity" } },
    { name: "apart", membersRef: ["db-server-1", "db-server-2"], spec: { rule: "anti-affinity" } },
  ],
});

export const members = cluster.members;
