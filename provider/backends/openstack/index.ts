// The OpenStack backend's public surface.
export { type OpenStackAuth, type OpenStackConfig, resolveOpenStackConfig } from "./config";
export { OpenStackConfigError } from "./config-error";
export { HttpClient, type HttpOptions } from "./http";
export { type ConnectOptions, OpenStackBackend } from "./openstack-backend";
