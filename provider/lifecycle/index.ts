// The lifecycle core shared by the Pulumi provider and the command.

export * from "../model/state";
export type { Step, StepKind } from "./changes";
export { ClusterController, type ClusterPlan, type ControllerOptions } from "./controller";
export { LifecycleError, type LifecycleErrorCode } from "./errors";
export { type ImportResult, importSummary } from "./import";
export type { EditField, PreviousInputs } from "./inputs";
export type { ProgressEvent, ProgressPhase } from "./progress";
export { placementFailure, type ReferenceProblem, referenceLine } from "./references";
export type { MemberLine } from "./steps";
