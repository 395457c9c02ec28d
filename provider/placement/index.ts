// Placement: put every member of a cluster on a host or backend so that hard rules and capacities
// hold and soft rules cost least, or explain why that is impossible.

export * from "../model/placement";
export * from "../model/topology";
export { lowerBoundCauses } from "./bounds";
export {
  DEFAULT_NODE_LIMIT,
  evaluatePlacement,
  formatExplanation,
  type HardViolation,
  type PlaceOptions,
  type PlacePhase,
  place,
} from "./engine";
export { renderPlacementTree } from "./render";
