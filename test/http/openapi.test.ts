/**
 * GET /v1/openapi.json (issue 12.6): the document the Worker serves is valid OpenAPI 3.1, every
 * ref resolves, and it says what the routes do (a body the handler does without is optional).
 *
 * Both `validate()` and `dereference()` run: each has let a broken document through in some
 * version, and the last test checks that, here in workerd, both refuse the old `#/$defs/…` shape.
 */
import { exports } from "cloudflare:workers";
import { compileErrors, dereference, validate } from "@readme/openapi-parser";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { tenantRoutes } from "../../src/http/app";
import type { AppEnv } from "../../src/http/context";
import { handleError } from "../../src/http/errors";
import { openApiDocument } from "../../src/http/openapi";
import { tenantRoute } from "../../src/http/routes";
import { BOOKMARK_HEADER } from "../../src/storage/sessions";
import { callPlugin, enable, uniqueTenant } from "../support/plugin";

type Document = Parameters<typeof validate>[0];
type Json = { [key: string]: unknown };

const COMPONENT_REF = /^#\/components\/schemas\/([A-Za-z0-9._-]+)$/;

async function served(): Promise<Json> {
  const response = await exports.default.fetch(new Request("https://plugin.test/v1/openapi.json"));
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  return (await response.json()) as Json;
}

/** Fails with the parser's own account of what is wrong. */
async function expectValid(doc: Json): Promise<void> {
  // Both calls may rewrite what they are given; each gets its own copy.
  const result = await validate(structuredClone(doc) as Document);
  expect(result.valid, result.valid ? "" : compileErrors(result)).toBe(true);
  const resolved = await dereference(structuredClone(doc) as Document);
  expect(JSON.stringify(resolved)).not.toContain('"$ref"');
}

/** Every value of `key` anywhere in `value`, with the keys leading to it. */
function collect(value: unknown, key: string, at: string[] = [], found: Array<{ at: string; value: unknown }> = []) {
  if (Array.isArray(value)) value.forEach((v, i) => collect(v, key, [...at, String(i)], found));
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k === key) found.push({ at: [...at, k].join("/"), value: v });
      collect(v, key, [...at, k], found);
    }
  }
  return found;
}

type Operation = { requestBody?: { required?: boolean; content?: Json }; parameters?: Array<{ name: string; in: string; required?: boolean; description?: string; schema?: Json }>; responses?: Json };
function operation(doc: Json, path: string, method: string): Operation {
  const op = (doc.paths as Record<string, Record<string, Operation>>)[path.replace(/:(\w+)/g, "{$1}")]?.[method];
  if (!op) throw new Error(`no ${method} ${path} in the document`);
  return op;
}

describe("GET /v1/openapi.json", () => {
  it("is valid OpenAPI 3.1: validate() passes and dereference() resolves every $ref", async () => {
    const doc = await served();
    expect(doc.openapi).toBe("3.1.0");
    await expectValid(doc);
  });

  it("keeps the shared schemas in components/schemas: every $ref points there, no $defs or $schema is left in it", async () => {
    const doc = await served();
    const schemas = (doc.components as { schemas: Json }).schemas;
    const refs = collect(doc, "$ref");
    expect(refs.length).toBeGreaterThan(0);
    for (const { at, value } of refs) {
      const name = COMPONENT_REF.exec(String(value))?.[1];
      expect(name, `${at}: ${String(value)}`).toBeDefined();
      expect(Object.keys(schemas), `${at}: ${String(value)}`).toContain(name);
    }
    expect(collect(doc, "$defs")).toEqual([]);
    expect(collect(doc, "$schema")).toEqual([]);
    // The names the route modules give their schemas are the components' names.
    expect(Object.keys(schemas)).toEqual(expect.arrayContaining(["Error", "ChannelStatus", "EnablementRequest", "ActivationRequest", "VerdictRequest", "RetryDeliveriesRequest", "ResetRequest", "FindingsRequest", "FindingsPage"]));
  });

  it("marks a request body required exactly where the route refuses an empty one", async () => {
    const doc = await served();
    const required = Object.fromEntries(
      tenantRoutes.filter((r) => r.spec.body).map((r) => [`${r.spec.method.toUpperCase()} ${r.spec.path}`, operation(doc, r.spec.path, r.spec.method).requestBody?.required]),
    );
    expect(required).toEqual({
      "PUT /v1/tenants/:tenantId/enablement": true,
      "POST /v1/tenants/:tenantId/activation": true,
      // Only the signed actor, which is optional: an empty body is a whole request.
      "DELETE /v1/tenants/:tenantId/activation": false,
      "POST /v1/tenants/:tenantId/sync": false,
      "POST /v1/tenants/:tenantId/sync/backfill": true,
      "POST /v1/tenants/:tenantId/sync/reset": false,
      "POST /v1/tenants/:tenantId/deliveries/retry": false,
      "POST /v1/tenants/:tenantId/verdicts": true,
      "POST /v1/tenants/:tenantId/findings": true,
      "POST /v1/tenants/:tenantId/actions": true,
    });

    // And the routes behave as documented: signed calls with no body at all, to an enabled tenant.
    const tenantId = uniqueTenant("openapi");
    await enable(tenantId);
    for (const route of tenantRoutes.filter((r) => r.spec.body)) {
      const name = `${route.spec.method.toUpperCase()} ${route.spec.path}`;
      const response = await callPlugin(route.spec.method.toUpperCase(), route.spec.path.replace(":tenantId", tenantId));
      const body = (await response.json()) as { error?: string };
      if (required[name]) {
        // Refused for the missing body, or by a state check the route makes first (backfill needs an active channel).
        expect([400, 409, 415], `${name}: ${response.status} ${JSON.stringify(body)}`).toContain(response.status);
      } else {
        expect([400, 415], `${name}: ${response.status} ${JSON.stringify(body)}`).not.toContain(response.status);
      }
    }
    const retry = await callPlugin("POST", `/v1/tenants/${tenantId}/deliveries/retry`);
    expect(retry.status).toBe(202);
    expect(await retry.json()).toEqual({ tenantId, requeued: 0 });
  });

  it("documents a declared query, and the route table reads query and body by the declaration", async () => {
    const Query = z.object({ limit: z.coerce.number().int().min(1).max(10).default(5), cursor: z.string() });
    const Body = z.object({ note: z.string().optional() }).strict();
    const route = tenantRoute(
      { method: "post", path: "/v1/tenants/:tenantId/probe", summary: "probe", signed: true, query: Query, body: Body, responses: { 200: { description: "echo" } } },
      (c, request) => c.json({ tenantId: request.tenantId, query: request.query(), body: request.body() }),
    );

    const doc = openApiDocument([route.spec], { title: "probe", version: "0", description: "probe" }) as Json;
    await expectValid(doc);
    const op = operation(doc, route.spec.path, "post");
    expect(op.parameters?.map((p) => [p.name, p.in, p.required])).toEqual([
      ["tenantId", "path", true],
      ["limit", "query", false],
      ["cursor", "query", true],
    ]);
    expect(op.requestBody?.required).toBe(false);

    const app = new Hono<AppEnv>();
    app.onError(handleError);
    // Stands in for the signature middleware, which hands handlers the body it verified.
    app.use("*", async (c, next) => {
      c.set("rawBody", await c.req.text());
      await next();
    });
    app.on("POST", route.spec.path, route.handler);
    const call = (path: string, body?: string) =>
      app.request(path, { method: "POST", ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }) });

    const ok = await call("/v1/tenants/acme/probe?cursor=x");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ tenantId: "acme", query: { limit: 5, cursor: "x" }, body: {} });

    const badQuery = await call("/v1/tenants/acme/probe?cursor=x&limit=0");
    expect(badQuery.status).toBe(400);
    expect(await badQuery.json()).toMatchObject({ error: "invalid_request", field: "limit" });

    const badBody = await call("/v1/tenants/acme/probe?cursor=x", JSON.stringify({ note: 1 }));
    expect(badBody.status).toBe(400);
    expect(await badBody.json()).toMatchObject({ error: "invalid_request", field: "note" });

    const badTenant = await call("/v1/tenants/%61cme/probe?cursor=x");
    expect(badTenant.status).toBe(400);
    expect(await badTenant.json()).toMatchObject({ error: "invalid_tenant_id", field: "tenantId" });
  });

  it("documents the verdicts' D1 bookmark (an optional request header, and a header of the 200 answer) and the actions' Idempotency-Key", async () => {
    const doc = await served();
    const verdicts = operation(doc, "/v1/tenants/:tenantId/verdicts", "post");
    const header = verdicts.parameters?.find((p) => p.in === "header");
    expect(header).toMatchObject({ name: BOOKMARK_HEADER, in: "header", required: false, schema: { type: "string", pattern: expect.any(String) } });
    const ok = (verdicts.responses as Record<string, { headers?: Record<string, { description: string; schema: Json }> }>)["200"];
    expect(Object.keys(ok?.headers ?? {})).toEqual([BOOKMARK_HEADER]);
    expect(ok!.headers![BOOKMARK_HEADER]!.schema).toEqual(header!.schema);
    // Besides it, only the actions request declares a header: its optional Idempotency-Key.
    const actions = operation(doc, "/v1/tenants/:tenantId/actions", "post").parameters?.filter((p) => p.in === "header");
    expect(actions).toMatchObject([{ name: "idempotency-key", in: "header", required: false }]);
    const others = tenantRoutes.filter((r) => !(r.spec.path === "/v1/tenants/:tenantId/verdicts" || (r.spec.path === "/v1/tenants/:tenantId/actions" && r.spec.method === "post"))).flatMap((r) => operation(doc, r.spec.path, r.spec.method).parameters ?? []);
    expect(others.filter((p) => p.in === "header")).toEqual([]);
  });

  it("would catch the old faults: validate() and dereference() refuse a #/$defs ref, validate() a response without a description", async () => {
    const doc = await served();
    const retry = operation(doc, "/v1/tenants/:tenantId/deliveries/retry", "post");

    const pasted = structuredClone(doc);
    const pastedRetry = operation(pasted, "/v1/tenants/:tenantId/deliveries/retry", "post");
    pastedRetry.requestBody = { ...retry.requestBody, content: { "application/json": { schema: { $ref: "#/$defs/RetryDeliveriesRequest" } } } };
    expect((await validate(structuredClone(pasted) as Document)).valid).toBe(false);
    await expect(dereference(structuredClone(pasted) as Document)).rejects.toThrow(/\$defs/);

    // A response without its description: the OpenAPI 3.1 schema itself (not a ref) is broken.
    const malformed = structuredClone(doc);
    delete (operation(malformed, "/v1/tenants/:tenantId/deliveries/retry", "post").responses as Record<string, Json>)["202"]!.description;
    expect((await validate(structuredClone(malformed) as Document)).valid).toBe(false);
  });
});
