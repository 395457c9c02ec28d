// The simulated cloud's built-in inventory is the placement engine's default topology (one place:
// provider/clusterspec/topology-file.ts): 3 zones x 2 racks x 4 hosts, a shared (zonal) backend per
// zone and a local backend per host. Only the images are the simulated cloud's own.
import { defaultTopology } from "../../clusterspec/topology-file";

export const DEFAULT_IMAGES: readonly string[] = ["debian-12", "ubuntu-24.04", "cirros"];

/** A fresh copy every call: callers may mutate what they get. */
export const defaultSimulatedTopology = defaultTopology;
