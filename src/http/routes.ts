/**
 * A route is declared once, with the zod schemas of its body, query and answers. `tenantRoute`
 * reads the request by that declaration, and ./openapi.ts turns the same declarations into
 * GET /v1/openapi.json, so what is checked and what is documented cannot drift.
 */
import type { Context } from "hono";
import { z } from "zod";
import type { AppContext, Route, RouteSpec } from "./context";
import { ApiError, ErrorBody, validationError } from "./errors";

/** Tenant ids as the host issues them: no path tricks, no encodings, bounded. */
export const TenantId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "1 to 64 letters, digits, '-' or '_', starting with a letter or digit");

/** Reads the tenant id from the path, 400 when it is not one. */
export function tenantIdOf(c: Context): string {
  const decoded = c.req.param("tenantId");
  // The router hands over the id percent-decoded; it must also be spelled that way in the path,
  // so one tenant has one spelling (/v1/tenants/%61cme is not "acme").
  const raw = new URL(c.req.url).pathname.split("/")[3];
  const parsed = TenantId.safeParse(decoded);
  if (!parsed.success || raw !== decoded) throw new ApiError(400, "invalid_tenant_id", "The tenant id in the path is not valid.", "tenantId");
  return parsed.data;
}

/** Whether a route with this body schema takes an empty body: it does when `{}` is a whole request. */
export function bodyIsOptional(schema: z.ZodType): boolean {
  return schema.safeParse({}).success;
}

/**
 * Parses the verified raw body as JSON against `schema`: an empty body as `{}` when the schema
 * allows it, else 415, 400 invalid_json, or 400 naming the field.
 */
export function parseBody<T extends z.ZodType>(c: Context, raw: string, schema: T, what = "The request body", labels?: Readonly<Record<string, string>>): z.infer<T> {
  if (raw === "" && bodyIsOptional(schema)) return schema.parse({});
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError(415, "unsupported_media_type", "Send the request body as application/json.");
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ApiError(400, "invalid_json", `${what} is not valid JSON.`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw validationError(parsed.error, what, labels);
  return parsed.data;
}

/** Parses the declared query parameters (the first value of each; others are ignored): 400 naming the parameter. */
export function parseQuery<T extends z.ZodObject>(c: Context, schema: T): z.output<T> {
  const given = Object.fromEntries(Object.keys(schema.shape).map((name) => [name, c.req.query(name)]));
  const parsed = schema.safeParse(given);
  if (!parsed.success) throw validationError(parsed.error, "The query");
  return parsed.data;
}

/** Parses the declared request headers (names in lower case; a header is read case-insensitively): 400 naming the header. */
export function parseHeaders<T extends z.ZodObject>(c: Context, schema: T): z.output<T> {
  const given = Object.fromEntries(Object.keys(schema.shape).map((name) => [name, c.req.header(name)]));
  const parsed = schema.safeParse(given);
  if (!parsed.success) throw validationError(parsed.error, "The request headers");
  return parsed.data;
}

/**
 * A tenant route's request, read by its own declaration. The tenant id is checked before the
 * handler runs; body, query and headers are parsed when the handler asks, so checks it makes
 * first (a 409 for a channel that is not enabled before a 400 for the form) keep their order.
 */
export interface DeclaredRequest<Body = undefined, Query = undefined, Headers = undefined> {
  tenantId: string;
  body(): Body extends z.ZodType ? z.output<Body> : undefined;
  query(): Query extends z.ZodObject ? z.output<Query> : undefined;
  headers(): Headers extends z.ZodObject ? z.output<Headers> : undefined;
}

type BodyOf<S> = S extends { body: infer B extends z.ZodType } ? B : undefined;
type QueryOf<S> = S extends { query: infer Q extends z.ZodObject } ? Q : undefined;
type HeadersOf<S> = S extends { headers: infer H extends z.ZodObject } ? H : undefined;

/** Declares a route under /v1/tenants/:tenantId/ whose handler gets the request read by `spec`. */
export function tenantRoute<const S extends RouteSpec>(
  spec: S,
  handler: (c: AppContext, request: DeclaredRequest<BodyOf<S>, QueryOf<S>, HeadersOf<S>>) => Promise<Response> | Response,
): Route {
  if (!spec.path.split("/").includes(":tenantId")) throw new Error(`tenantRoute ${spec.path}: the path has no :tenantId segment.`);
  return {
    spec,
    handler: (c) => {
      const request = {
        tenantId: tenantIdOf(c),
        body: () => (spec.body ? parseBody(c, c.get("rawBody"), spec.body, spec.bodyName, spec.fieldLabels) : undefined),
        query: () => (spec.query ? parseQuery(c, spec.query) : undefined),
        headers: () => (spec.headers ? parseHeaders(c, spec.headers) : undefined),
      };
      // TypeScript does not narrow `spec.body` to `BodyOf<S>` inside a generic; the two are the
      // same schema by construction, so the parsed values have the declared types.
      return handler(c, request as DeclaredRequest<BodyOf<S>, QueryOf<S>, HeadersOf<S>>);
    },
  };
}

/** Errors every signed route can answer. */
export const SIGNED_ERRORS = {
  400: { description: "Malformed tenant id, query, header or body; `field` names what was wrong.", schema: ErrorBody },
  401: { description: "Missing, wrong or expired host signature.", schema: ErrorBody },
  413: { description: "Body larger than the limit.", schema: ErrorBody },
  415: { description: "Body not sent as application/json.", schema: ErrorBody },
} as const;
