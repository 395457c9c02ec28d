// The simulated cloud: the embedded default backend (see cloud.ts).

export type { LatencyModel } from "./clock";
export { type RecreateOutcome, SimulatedCloud, type SimulatedCloudOptions } from "./cloud";
export { DEFAULT_IMAGES, defaultSimulatedTopology } from "./default-topology";
export { BACKEND_OPS, type BackendOp, type Fault, faultSchema, parseFaults, validateFaults } from "./faults";
export { acquireFileLock, type FileLockOptions, type LockHolder, LockTimeoutError } from "./file-lock";
export { SIM_FAULTS_ENV } from "./process-faults";
export { renderCloudTree } from "./render";
export { NO_VALID_BACKEND, NO_VALID_HOST } from "./scheduler";
export {
  CLUSTER_LOCKS_DIR,
  type CloudSnapshot,
  CloudStateError,
  cloudStateExists,
  LEGACY_STATE_FILE,
  type Quota,
  STATE_FILE,
} from "./store";
