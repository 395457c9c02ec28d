/** A configuration the OpenStack backend cannot use; its message names the setting and the fix. */
export class OpenStackConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OpenStackConfigError";
  }
}
