/**
 * The Worker's log lines: one JSON object per line, `{"level", "msg", ...fields}`, which
 * Workers Logs indexes field by field. Errors among the fields are described (name and
 * message, truncated), never dumped: an upstream's answer or a secret never reaches a log
 * through an error object.
 *
 * @example
 * logLine("warn", "sync failed", { tenantId, code: "cynet_timeout", error: err });
 */

/** How loud a line is; "alert" is the one an operator's log alerting keys on (a delivery that needs an admin). */
export type LogLevel = "info" | "warn" | "error" | "alert";

/** Longest description of a thrown value kept in a log line. */
const MAX_ERROR_DESCRIPTION = 500;

/** A short, secret-free description of a thrown value for logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, MAX_ERROR_DESCRIPTION);
  return String(err).slice(0, MAX_ERROR_DESCRIPTION);
}

/** Writes one log line; the `error` field, and any field holding an Error, is replaced by its description. */
export function logLine(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  const line: Record<string, unknown> = { level, msg };
  for (const [key, value] of Object.entries(fields)) line[key] = key === "error" || value instanceof Error ? describeError(value) : value;
  const text = JSON.stringify(line);
  if (level === "info") console.log(text);
  else if (level === "warn") console.warn(text);
  else console.error(text);
}
