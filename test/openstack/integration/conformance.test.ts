// The backend conformance suite against a real Keystone/Nova/Cinder: as admin (pinned) and as a member (delegated).
import { describeBackendConformance } from "../../backends/conformance";
import { connectDevcloud, DEVCLOUD } from "../../support/devcloud";

for (const who of ["admin", "member"] as const) {
  describeBackendConformance(`openstack devcloud as ${who}`, async () => {
    const backend = await connectDevcloud(who);
    return {
      backend,
      imageRef: DEVCLOUD.image,
      otherImageRef: DEVCLOUD.otherImage,
      flavorRef: DEVCLOUD.flavor,
      biggerFlavorRef: DEVCLOUD.biggerFlavor,
      hugeFlavorRef: DEVCLOUD.hugeFlavor,
      zone: DEVCLOUD.zone,
      pollMs: 500,
      timeoutMs: 60_000,
      cleanup: () => backend.close(),
    };
  });
}
