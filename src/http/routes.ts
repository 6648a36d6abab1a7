/**
 * A route is declared once, with the zod schemas of its body and answers; the same
 * declaration validates requests and produces GET /v1/openapi.json, so the two cannot drift.
 */
import type { Context } from "hono";
import { z } from "zod";
import { ApiError, ErrorBody, validationError } from "./errors";

/** One route's contract. */
export interface RouteSpec {
  method: "get" | "post" | "put" | "delete";
  /** Hono-style path, e.g. `/v1/tenants/:tenantId/status`. */
  path: string;
  summary: string;
  /** Whether the host must sign the call (contract §2). */
  signed: boolean;
  body?: z.ZodType;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
}

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

/** Parses the verified raw body as JSON against `schema`: 415, 400 invalid_json, or 400 naming the field. */
export function parseBody<T extends z.ZodType>(c: Context, raw: string, schema: T, what = "The request body"): z.infer<T> {
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
  if (!parsed.success) throw validationError(parsed.error, what);
  return parsed.data;
}

/** Errors every signed route can answer. */
export const SIGNED_ERRORS = {
  400: { description: "Malformed tenant id or body; `field` names what was wrong.", schema: ErrorBody },
  401: { description: "Missing, wrong or expired host signature.", schema: ErrorBody },
  413: { description: "Body larger than the limit.", schema: ErrorBody },
  415: { description: "Body not sent as application/json.", schema: ErrorBody },
} as const;

function toJsonSchema(schema: z.ZodType, io: "input" | "output") {
  return z.toJSONSchema(schema, { io, unrepresentable: "any", target: "draft-2020-12" });
}

/** The OpenAPI 3.1 document for `routes`. */
export function openApiDocument(routes: readonly RouteSpec[], info: { title: string; version: string; description: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const params = [...route.path.matchAll(/:(\w+)/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: m[1] === "tenantId" ? toJsonSchema(TenantId, "input") : { type: "string" },
    }));
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(route.responses)) {
      responses[status] = r.schema
        ? { description: r.description, content: { "application/json": { schema: toJsonSchema(r.schema, "output") } } }
        : { description: r.description };
    }
    paths[path] ??= {};
    paths[path]![route.method] = {
      summary: route.summary,
      ...(params.length ? { parameters: params } : {}),
      ...(route.signed ? { security: [{ hostSignature: [], hostTimestamp: [] }] } : {}),
      ...(route.body ? { requestBody: { required: true, content: { "application/json": { schema: toJsonSchema(route.body, "input") } } } } : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info,
    paths,
    components: {
      securitySchemes: {
        hostSignature: { type: "apiKey", in: "header", name: "X-Host-Signature", description: 'v1=<hex HMAC-SHA256(HOST_SIGNING_SECRET, "<timestamp>.<METHOD>.<path with query>.<raw body>")>' },
        hostTimestamp: { type: "apiKey", in: "header", name: "X-Host-Timestamp", description: "Unix seconds; at most 300 s from the plugin's clock." },
      },
    },
  };
}
