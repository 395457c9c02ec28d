// Errors as the engine shows them. The SDK's dynamic-provider server prints
// `${err}: ${err.stack}` to stderr (which the engine shows) and sends `err.message` over
// gRPC; so the message is the user's text, and `toString`/`stack` are arranged to print
// "openstack-vcluster: <message>" once, with no stack trace.
import type { Props } from "./props";

export class UserFacingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "openstack-vcluster";
    // The stack would show our file paths to the user; the message is the whole story.
    this.stack = message;
  }

  override toString(): string {
    return this.name;
  }
}

/**
 * A create/update that left objects behind. The SDK turns an error carrying `id` and
 * `properties` into an ErrorResourceInitFailed: the engine records the partial state and the
 * next `pulumi up` calls `update` with it, which resumes or cleans up.
 */
export class InitializationError extends UserFacingError {
  readonly id: string;
  readonly properties: Props;
  readonly reasons: string[];

  constructor(message: string, id: string, properties: Props) {
    super(message);
    this.id = id;
    this.properties = properties;
    this.reasons = [message];
  }
}

/** Makes any thrown value safe to show: our own messages pass through; others lose their stack. */
export function toUserFacing(err: unknown, clusterName: string | undefined): UserFacingError {
  if (err instanceof UserFacingError) return err;
  const text = err instanceof Error ? err.message : String(err);
  const head = clusterName && !text.startsWith(`cluster "${clusterName}"`) ? `cluster "${clusterName}": ` : "";
  return new UserFacingError(`${head}${text}`);
}
