import type { Context } from "hono";
import { z } from "zod";

/** Thrown by the parsers below; `onError` turns it into a 400 naming the field. */
export class InputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** The JSON error shape every stand-in answers with. */
export function errorBody(error: string, message: string, field?: string): Record<string, string> {
  return field === undefined ? { error, message } : { error, message, field };
}

function firstIssue(error: z.ZodError, root: string): InputError {
  const issue = error.issues[0];
  if (issue === undefined) return new InputError(root, `${root}: invalid`);
  const keys = issue.code === "unrecognized_keys" ? issue.keys : [];
  const path = [...issue.path, ...keys.slice(0, 1)].map(String).join(".");
  const field = path === "" ? root : path;
  return new InputError(field, `${field}: ${issue.message}`);
}

/** Validates a value or throws an InputError naming the first bad field (`root` when it is the value itself). */
export function validate<S extends z.ZodType>(schema: S, value: unknown, root = "body"): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw firstIssue(result.error, root);
  return result.data;
}

/** Reads a JSON body (an empty body counts as `{}`) and validates it. */
export async function parseBody<S extends z.ZodType>(request: Request, schema: S): Promise<z.infer<S>> {
  const text = await request.text();
  let value: unknown;
  try {
    value = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    throw new InputError("body", "body: not valid JSON");
  }
  return validate(schema, value);
}

/** Validates the query string of a URL (first value of each parameter). */
export function parseQuery<S extends z.ZodType>(url: string, schema: S): z.infer<S> {
  return validate(schema, Object.fromEntries(new URL(url).searchParams), "query");
}

/** Hono `onError` handler: InputError → 400, anything else → 500, both as JSON. */
export function jsonOnError(err: Error, c: Context): Response {
  if (err instanceof InputError) {
    return c.json(errorBody("invalid_request", err.message, err.field), 400);
  }
  return c.json(errorBody("internal_error", err.message), 500);
}
