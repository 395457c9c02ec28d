// The spec layer's public face: parse, validate, normalize, find contradictions.

export * from "../model/cluster";
export * from "../model/issues";
export { findContradictions } from "./contradictions";
export { IMPLIED_PREFIX, impliedAttachmentName } from "./normalize";
export { loadSpecFile, parseSpecText, SpecFileError, validateParsed } from "./parse";
export { LIMITS } from "./schema";
export { UNKNOWN } from "./unknown";
export { type ValidateOptions, type ValidationResult, validateSpec } from "./validate";
