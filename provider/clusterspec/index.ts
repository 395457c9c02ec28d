// The spec layer's public face: parse, validate, normalize, find contradictions.
export { findContradictions } from "./contradictions";
export * from "./issues";
export * from "./model";
export { IMPLIED_PREFIX, impliedAttachmentName } from "./normalize";
export { loadSpecFile, parseSpecText, SpecFileError, validateParsed } from "./parse";
export { LIMITS } from "./schema";
export { UNKNOWN } from "./unknown";
export { type ValidateOptions, type ValidationResult, validateSpec } from "./validate";
