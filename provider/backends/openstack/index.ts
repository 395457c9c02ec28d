// The OpenStack backend's public surface.
export { type OpenStackAuth, type OpenStackConfig, OpenStackConfigError, resolveOpenStackConfig } from "./config";
export { HttpClient, type HttpOptions } from "./http";
export { type ConnectOptions, OpenStackBackend } from "./openstack-backend";
