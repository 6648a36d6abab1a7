/**
 * The plugin's HTTP surface: unsigned health, manifest (and its JSON Schema) and OpenAPI; everything under
 * /v1/tenants/ signed by the host.
 */
import { Hono } from "hono";
import { activationRoutes } from "../activation/routes";
import { syncRoutes } from "../sync/routes";
import { dispatchRoutes } from "../dispatch/routes";
import { verdictRoutes } from "../verdicts/routes";
import { auditRoutes } from "../audit/routes";
import { findingRoutes } from "../findings/routes";
import { actionRoutes } from "../actions/routes";
import { manifest, MANIFEST_PATH, MANIFEST_SCHEMA_PATH, manifestSchemaDocument } from "../manifest";
import { handleError, handleNotFound } from "./errors";
import type { AppEnv, Route } from "./context";
import { openApiDocument } from "./openapi";
import { requireHostSignature } from "./signature";
import { reportDatabaseConfiguration, requireHostApiUrl, warnIfDevelopmentOverride } from "./startup";

/** Every signed route, in the order the OpenAPI document lists them. */
export const tenantRoutes: Route[] = [...activationRoutes, ...syncRoutes, ...dispatchRoutes, ...verdictRoutes, ...auditRoutes, ...findingRoutes, ...actionRoutes];

const publicRoutes: Route[] = [
  {
    spec: { method: "get", path: "/healthz", summary: "Liveness", signed: false, responses: { 200: { description: "ok" } } },
    handler: (c) => c.json({ ok: true, channel: manifest.channel.id, version: manifest.channel.version }),
  },
  {
    spec: { method: "get", path: MANIFEST_PATH, summary: "plugin.manifest.json", signed: false, responses: { 200: { description: "The manifest" } } },
    handler: (c) => c.json(manifest),
  },
  {
    // The manifest's `$schema` names this path when resolved against the manifest's URL.
    spec: { method: "get", path: MANIFEST_SCHEMA_PATH, summary: "The manifest's JSON Schema (its $schema)", signed: false, responses: { 200: { description: "JSON Schema, draft 2020-12" } } },
    handler: (c) => c.json(manifestSchemaDocument),
  },
  {
    spec: { method: "get", path: "/v1/openapi.json", summary: "This document", signed: false, responses: { 200: { description: "OpenAPI 3.1" } } },
    handler: (c) => c.json(openapi),
  },
];

const openapi = openApiDocument([...publicRoutes, ...tenantRoutes].map((r) => r.spec), {
  title: "Cynet channel plugin",
  version: manifest.channel.version,
  description: manifest.channel.description,
});

/** Builds the Hono app. */
export function createApp() {
  const app = new Hono<AppEnv>();
  app.onError(handleError);
  app.notFound(handleNotFound);
  app.use("*", async (c, next) => {
    warnIfDevelopmentOverride(c.env);
    reportDatabaseConfiguration(c.env);
    await next();
  });
  app.use("/v1/tenants/*", requireHostSignature());
  app.use("/v1/tenants/*", requireHostApiUrl());
  for (const route of [...publicRoutes, ...tenantRoutes]) app.on(route.spec.method.toUpperCase(), route.spec.path, route.handler);
  return app;
}
