// The backend conformance suite against a real Keystone/Nova/Cinder/Neutron: as admin (pinned) and as a member
// (delegated), every test run (none says it can't).
import { describeBackendConformance } from "../../backends/conformance";
import { connectDevcloud, DEVCLOUD, devcloudNetworks } from "../../support/devcloud";

for (const who of ["admin", "member"] as const) {
  describeBackendConformance(`openstack devcloud as ${who}`, async () => {
    const networks = devcloudNetworks();
    const backend = await connectDevcloud(who);
    return {
      backend,
      imageRef: DEVCLOUD.image,
      otherImageRef: DEVCLOUD.otherImage,
      flavorRef: DEVCLOUD.flavor,
      biggerFlavorRef: DEVCLOUD.biggerFlavor,
      hugeFlavorRef: DEVCLOUD.hugeFlavor,
      zone: DEVCLOUD.zone,
      // Each user's own keypairs; the group in each project; servers boot on devnet (clouds.yaml).
      keyNames: DEVCLOUD.keyNames,
      securityGroup: DEVCLOUD.securityGroup,
      volumeTypes: DEVCLOUD.volumeTypes,
      networks: [networks.devnet, networks.devnet2],
      pollMs: 500,
      timeoutMs: 60_000,
      cleanup: () => backend.close(),
    };
  });
}
