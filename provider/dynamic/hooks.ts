// The serialized provider in every user's Pulumi state calls
// `require("pulumi-openstack-vcluster/provider/dynamic/hooks")`: that path is a contract with state
// files already written, so it stays here and forwards to where the hooks live.
export * from "../pulumi/hooks";
