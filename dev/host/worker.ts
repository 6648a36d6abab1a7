import { Hono } from "hono";
import { errorBody, jsonOnError, validate } from "../shared/http";
import { tenantIdSchema } from "./schemas";
import type { HostState } from "./state";

/** The Durable Object class wrangler binds as HOST_STATE. */
export { HostState } from "./state";

/** Bindings of the dev host worker. */
export interface Env {
  HOST_STATE: DurableObjectNamespace<HostState>;
  HOST_API_TOKEN: string;
}

const app = new Hono<{ Bindings: Env }>();

function tenant(env: Env, rawId: string): DurableObjectStub<HostState> {
  const tenantId = validate(tenantIdSchema, rawId, "tenantId");
  return env.HOST_STATE.get(env.HOST_STATE.idFromName(tenantId));
}

app.get("/__host/health", (c) => c.json({ ok: true }));

app.all("/v1/tenants/:tenantId/*", (c) => {
  if (c.req.header("authorization") !== `Bearer ${c.env.HOST_API_TOKEN}`) {
    return c.json(errorBody("unauthorized", "missing or wrong bearer token"), 401);
  }
  return tenant(c.env, c.req.param("tenantId")).fetch(c.req.raw);
});

app.all("/__host/tenants/:tenantId", (c) => tenant(c.env, c.req.param("tenantId")).fetch(c.req.raw));
app.all("/__host/tenants/:tenantId/*", (c) => tenant(c.env, c.req.param("tenantId")).fetch(c.req.raw));

app.notFound((c) => c.json(errorBody("not_found", "no such route"), 404));
app.onError(jsonOnError);

/** The dev host worker: checks the bearer token, then hands each tenant's calls to its Durable Object. */
export default app;
