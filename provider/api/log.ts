// The service's log: notices (starting, warnings) and events (one per request, one per step of an
// operation's life), each a line. As text for a person at a terminal, or as one JSON object per line
// for a log collector: `time`, `level`, `event`, `msg`, and the event's fields (request id, route
// template, status, …).
//
// Nothing secret is ever handed to the log: no message or field is built from a token, a password
// or a request's headers or body; a request is logged by its route template (`/v2/:tenant_id/…`),
// never its raw URL (a query string can carry anything); a PostgreSQL URL only without its password.
export type LogLevel = "info" | "warn";

/** What a structured event carries besides its message. */
export interface LogFields {
  /** request, operation.started, operation.taken_over, operation.finished, operation.failed, operation.lease_lost, … */
  event: string;
  [field: string]: string | number | boolean | undefined;
}

/** Where the service's notices and events go. `fields`: a structured event (absent: a plain notice). */
export type ApiLog = (level: LogLevel, message: string, fields?: LogFields) => void;

export type LogFormat = "text" | "json";

export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** One line per notice or event: the message as it is, or a JSON object. */
export function logLines(write: (line: string) => void, format: LogFormat): ApiLog {
  if (format === "text") return (_level, message) => write(message);
  return (level, message, fields) => {
    const record: Record<string, unknown> = { time: new Date().toISOString(), level, event: "notice" };
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) record[k] = v;
    record.msg = message;
    write(JSON.stringify(record));
  };
}
