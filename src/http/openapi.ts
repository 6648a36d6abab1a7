/**
 * GET /v1/openapi.json, built from the route declarations (./routes.ts).
 *
 * zod writes each schema as a standalone JSON Schema whose named parts (a `.meta({ id })`) sit
 * in that schema's own `$defs`. Pasted into `paths`, their `#/$defs/…` refs resolve against the
 * document's root and point at nothing; so every named part is hoisted once into
 * `components/schemas` and every ref is pointed there.
 */
import { z } from "zod";
import type { RouteSpec } from "./context";
import { bodyIsOptional, TenantId } from "./routes";

type JsonSchema = { [key: string]: unknown };

const ZOD_DEFS_PREFIX = "#/$defs/";
const COMPONENTS_PREFIX = "#/components/schemas/";

/** The named schemas of the document, filled as the routes' schemas are converted. */
class Components {
  readonly schemas: Record<string, JsonSchema> = {};

  /** `schema` as the document writes it inline: its named parts moved to components, refs pointed there. */
  inline(schema: z.ZodType, io: "input" | "output"): JsonSchema {
    // `$schema` goes: inside the document, OpenAPI 3.1's own dialect (JSON Schema 2020-12) applies.
    const { $schema: _dialect, $defs, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any", target: "draft-2020-12" }) as JsonSchema;
    for (const [id, def] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) {
      const hoisted = repoint(def) as JsonSchema;
      const known = this.schemas[id];
      // One name, one schema: a request and an answer reusing an id with different shapes (say,
      // a transform's input and output) would otherwise document one of them wrongly.
      if (known !== undefined && JSON.stringify(known) !== JSON.stringify(hoisted)) {
        throw new Error(`OpenAPI: two different schemas are named "${id}" (as ${io} here); give one of them another id.`);
      }
      this.schemas[id] = hoisted;
    }
    return repoint(rest) as JsonSchema;
  }
}

/** Copies `value` with every zod `#/$defs/X` ref turned into `#/components/schemas/X`; any other ref is a bug. */
function repoint(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(repoint);
  if (value === null || typeof value !== "object") return value;
  const out: JsonSchema = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key === "$ref" && typeof inner === "string") {
      if (!inner.startsWith(ZOD_DEFS_PREFIX)) throw new Error(`OpenAPI: unexpected $ref "${inner}" from zod; only ${ZOD_DEFS_PREFIX}… refs can be placed.`);
      out[key] = COMPONENTS_PREFIX + inner.slice(ZOD_DEFS_PREFIX.length);
    } else {
      out[key] = repoint(inner);
    }
  }
  return out;
}

/** The OpenAPI 3.1 document for `routes`. */
export function openApiDocument(routes: readonly RouteSpec[], info: { title: string; version: string; description: string }) {
  const components = new Components();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const pathParams = [...route.path.matchAll(/:(\w+)/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: m[1] === "tenantId" ? components.inline(TenantId, "input") : { type: "string" },
    }));
    // A parameter is required when leaving it out fails the declared schema (no default, not optional).
    const queryParams = Object.entries(route.query?.shape ?? {}).map(([name, schema]) => ({
      name,
      in: "query",
      required: !schema.safeParse(undefined).success,
      schema: components.inline(schema, "input"),
    }));
    const headerParams = Object.entries(route.headers?.shape ?? {}).map(([name, schema]) => ({
      name,
      in: "header",
      required: !schema.safeParse(undefined).success,
      ...(schema.description ? { description: schema.description } : {}),
      schema: components.inline(schema, "input"),
    }));
    const parameters = [...pathParams, ...queryParams, ...headerParams];
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(route.responses)) {
      const headers = r.headers && Object.fromEntries(Object.entries(r.headers).map(([name, h]) => [name, { description: h.description, schema: components.inline(h.schema, "output") }]));
      responses[status] = {
        description: r.description,
        ...(headers ? { headers } : {}),
        ...(r.schema ? { content: { "application/json": { schema: components.inline(r.schema, "output") } } } : {}),
      };
    }
    const requestBody = route.body && {
      required: !bodyIsOptional(route.body),
      ...(route.bodyName ? { description: route.bodyName } : {}),
      content: { "application/json": { schema: components.inline(route.body, "input") } },
    };
    paths[path] ??= {};
    paths[path]![route.method] = {
      summary: route.summary,
      ...(parameters.length ? { parameters } : {}),
      ...(route.signed ? { security: [{ hostSignature: [], hostTimestamp: [] }] } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info,
    paths,
    components: {
      schemas: components.schemas,
      securitySchemes: {
        hostSignature: { type: "apiKey", in: "header", name: "X-Host-Signature", description: 'v1=<hex HMAC-SHA256(HOST_SIGNING_SECRET, "<timestamp>.<METHOD>.<path with query>.<raw body>")>' },
        hostTimestamp: { type: "apiKey", in: "header", name: "X-Host-Timestamp", description: "Unix seconds; at most 300 s from the plugin's clock." },
      },
    },
  };
}
