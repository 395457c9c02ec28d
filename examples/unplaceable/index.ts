// Unplaceable on purpose: seven quorum servers that must each sit on their own rack, on a
// cloud with six racks (the simulated default: 3 zones x 2 racks). `pulumi preview` fails
// with the explanation before anything is created.
import { VCluster } from "pulumi-openstack-vcluster";

const quorum = Array.from({ length: 7 }, (_, i) => `quorum-${i + 1}`);

new VCluster("quorum", {
  instances: quorum.map((name) => ({
    name,
    type: "server" as const,
    spec: { imageRef: "debian-12", flavorRef: "m1.small" },
  })),
  groupings: [{ name: "one-per-rack", membersRef: quorum, spec: { rule: "anti-affinity", scope: "rack" } }],
});
