// Errors as the engine shows them. The SDK's dynamic-provider server prints
// `${err}: ${err.stack}` to stderr (which the engine shows) and sends `err.message` over
// gRPC; so the message is the user's text, and `toString`/`stack` are arranged to print
// "openstack-vcluster: <message>" once, with no stack trace.
import { clusterHead, escapeControls, quote } from "../model/text";
import type { Props } from "./props";

export class UserFacingError extends Error {
  /** Controls and bidi characters that reach the message raw (a name echoed by a backend) are escaped; line breaks stay. */
  constructor(message: string) {
    super(escapeControls(message, { lines: true }));
    this.name = "openstack-vcluster";
    // The stack would show our file paths to the user; the message is the whole story.
    this.stack = this.message;
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
    this.reasons = [this.message];
  }
}

/**
 * Makes any thrown value safe to show: our own messages pass through; others lose their stack
 * and start with the cluster's name (once: a message that already names it keeps its own).
 */
export function toUserFacing(err: unknown, clusterName: string | undefined): UserFacingError {
  if (err instanceof UserFacingError) return err;
  const text = err instanceof Error ? err.message : String(err);
  // Lifecycle messages name the cluster as `cluster "name"` (unescaped); either spelling counts.
  const named =
    clusterName !== undefined &&
    clusterName !== "" &&
    (text.startsWith(`cluster ${quote(clusterName)}`) || text.startsWith(`cluster "${clusterName}"`));
  return new UserFacingError(named ? text : `${clusterHead(clusterName)}${text}`);
}
