/**
 * The contract's error shape, `{"error", "message", "field"?}`, and the one place that turns
 * anything thrown into it. Details meant for operators go to the log, never to the client.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import { logLine } from "../observability/log";
import { DatabaseConfigError } from "../storage/directory";

/** The JSON body of every error answer (host contract §2). */
export const ErrorBody = z
  .object({
    error: z.string().describe("Stable machine-readable code."),
    message: z.string().describe("A sentence an admin can act on."),
    field: z.string().optional().describe("The request field that was wrong, when one was."),
  })
  .meta({ id: "Error" });
export type ErrorBody = z.infer<typeof ErrorBody>;

/** An error whose status, code and message are meant for the caller as they are. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** The body sent to the client. */
  toBody(): ErrorBody {
    return this.field === undefined
      ? { error: this.code, message: this.message }
      : { error: this.code, message: this.message, field: this.field };
  }
}

/** Longest stack logged with an unexpected error: the frames that locate it, not a whole log line's budget. */
const MAX_LOGGED_STACK = 2000;

/** Hono error handler: ApiError as it is, anything else as a generic 500 with the detail logged. */
export function handleError(err: unknown, c: Context): Response {
  if (err instanceof ApiError) return c.json(err.toBody(), err.status);
  if (err instanceof DatabaseConfigError) {
    logLine("error", "D1 configuration error", { route: c.req.routePath, error: err });
    return c.json({ error: "not_configured", message: "The Cynet channel's database configuration is invalid. Ask the operator to check TENANT_DATABASES and the D1 bindings." }, 503);
  }
  logLine("error", "unhandled error", { route: c.req.routePath, error: err, stack: err instanceof Error ? err.stack?.slice(0, MAX_LOGGED_STACK) : undefined });
  return c.json({ error: "internal_error", message: "The Cynet channel hit an unexpected error. Try again; if it persists, contact support." }, 500);
}

/** Hono not-found handler in the contract's shape. */
export function handleNotFound(c: Context): Response {
  return c.json({ error: "not_found", message: `No route for ${c.req.method} ${new URL(c.req.url).pathname}.` }, 404);
}

/**
 * Turns a zod failure into a 400 naming the first wrong field (its dotted path). Where the
 * form the admin filled in has a label for that field, the message speaks of the label (the
 * `field` property still names the field, for the host to highlight it).
 */
export function validationError(error: z.ZodError, what: string, labels: Readonly<Record<string, string>> = {}): ApiError {
  const issue = error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.map(String).join(".") : undefined;
  const detail = (issue ? issue.message : "invalid").replace(/\.$/, "");
  const label = field === undefined ? undefined : labels[field];
  const message = label ? `${label}: ${detail}.` : field ? `"${field}" is invalid: ${detail}.` : `${what} is invalid: ${detail}.`;
  return new ApiError(400, "invalid_request", message, field);
}
