// The REST API (the Nova blueprint's `v2/{tenant_id}/vclusters`), as a library the command's
// `serve` calls: startServer() listens and returns its URL and close().

export { type Authenticator, type AuthRequest, keystoneAuth, noAuth, type Principal } from "./auth";
export { type BackendOpener, DEFAULT_TRUST_LIFETIME_MS } from "./delegation";
export { ApiError, type ApiIssue, FAULT_NAMES } from "./errors";
export { MAX_BODY_BYTES, openApiDocument } from "./openapi";
export { DEFAULT_PORT, type RunningServer, type ServerOptions, startServer } from "./server";
export { DEFAULT_TOKEN_CACHE_ENTRIES, DEFAULT_TOKEN_TTL_MS, TokenCache } from "./token-cache";
