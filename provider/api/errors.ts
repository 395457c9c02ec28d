// Errors as Nova writes them: `{"<kind>": {"code": <status>, "message": "…"}}`, the kind named by
// the status (nova/api/openstack/wsgi.py `Fault`), plus `issues` when the request body has
// problems: the spec layer's own issues (stable code, path into the body, message, hint).
import type { SpecIssue } from "../model/issues";

/** Nova's fault names by HTTP status. */
export const FAULT_NAMES: Readonly<Record<number, string>> = {
  400: "badRequest",
  401: "unauthorized",
  403: "forbidden",
  404: "itemNotFound",
  405: "badMethod",
  409: "conflictingRequest",
  413: "overLimit",
  415: "badMediaType",
  429: "overLimit",
  500: "computeFault",
  501: "notImplemented",
  503: "serviceUnavailable",
};

/** One problem of a request body, as the API shows it. */
export interface ApiIssue {
  code: string;
  /** Dot path into the body, e.g. `vcluster.groupings[1].name`; "" for the body as a whole. */
  path: string;
  message: string;
  hint?: string;
  /** JSON syntax errors: where, 1-based. */
  line?: number;
  column?: number;
}

export interface FaultBody {
  code: number;
  message: string;
  issues?: ApiIssue[];
}

/** An error the API answers with as is: status, message, and the issues of the body if any. */
export class ApiError extends Error {
  readonly status: number;
  readonly issues?: ApiIssue[];
  /** Headers the answer carries (a 401's WWW-Authenticate). */
  readonly headers: Record<string, string> = {};
  constructor(status: number, message: string, issues?: ApiIssue[]) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    if (issues && issues.length > 0) this.issues = issues;
  }

  /** The body Nova would send. */
  body(): Record<string, FaultBody> {
    return faultBody(this.status, this.message, this.issues);
  }
}

export function faultBody(status: number, message: string, issues?: ApiIssue[]): Record<string, FaultBody> {
  const name = FAULT_NAMES[status] ?? (status >= 500 ? "computeFault" : "badRequest");
  return { [name]: { code: status, message, ...(issues && issues.length > 0 ? { issues } : {}) } };
}

export const badRequest = (message: string, issues?: ApiIssue[]) => new ApiError(400, message, issues);
export const notFound = (message: string) => new ApiError(404, message);
export const conflict = (message: string) => new ApiError(409, message);

const POSITION = /^line (\d+), column (\d+): /;

/** A spec issue as the API shows it: the cluster's name is in the top-level message, not repeated per issue. */
export function apiIssue(issue: SpecIssue): ApiIssue {
  const at = POSITION.exec(issue.message);
  return {
    code: issue.code,
    path: issue.path,
    message: issue.message,
    ...(issue.hint ? { hint: issue.hint } : {}),
    ...(at ? { line: Number(at[1]), column: Number(at[2]) } : {}),
  };
}
