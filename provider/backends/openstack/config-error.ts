import * as fs from "node:fs";

/** A configuration the OpenStack backend cannot use; its message names the setting and the fix. */
export class OpenStackConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OpenStackConfigError";
  }
}

/** The CA bundle a config names (cacert / OS_CACERT), read; undefined when it names none. */
export function readCaBundle(cfg: { cacert?: string }): string | undefined {
  if (!cfg.cacert) return undefined;
  try {
    return fs.readFileSync(cfg.cacert, "utf8");
  } catch {
    throw new OpenStackConfigError(`CA bundle "${cfg.cacert}" (cacert / OS_CACERT) cannot be read`);
  }
}
