// Names the product shows to users and stamps in their configuration: one place each.

/** Pulumi stack config namespace (`openstack-vcluster:cloud`, ...); bare keys are the command's flags. */
export const CONFIG_NAMESPACE = "openstack-vcluster";
export const CONFIG_PREFIX = `${CONFIG_NAMESPACE}:`;
