import { Hono } from "hono";
import { errorBody, jsonOnError } from "../shared/http";
import { BUNDLES } from "./catalog";
import type { Env } from "./env";
import { loadManifest } from "./plugin";
import { DEFAULT_TENANT } from "./seed";
import { convictScan, ensureSeeded, setBundle, tenantStub } from "./tenants";
import { ui } from "./ui/routes";

/** The Durable Object class wrangler binds as HOST_STATE. */
export { HostState } from "./state";
/** Bindings of the dev host worker. */
export type { Env } from "./env";

const app = new Hono<{ Bindings: Env }>();

app.get("/__host/health", (c) => c.json({ ok: true }));

app.all("/v1/tenants/:tenantId/*", (c) => {
  if (c.req.header("authorization") !== `Bearer ${c.env.HOST_API_TOKEN}`) {
    return c.json(errorBody("unauthorized", "missing or wrong bearer token"), 401);
  }
  return tenantStub(c.env, c.req.param("tenantId")).fetch(c.req.raw);
});

/** Seeds the default tenant (acme, its scans); idempotent. Pages seed it on first use too. */
app.post("/__host/seed", async (c) => {
  const result = await ensureSeeded(c.env, DEFAULT_TENANT.tenantId);
  return c.json({ tenantId: DEFAULT_TENANT.tenantId, ...result });
});

/** The bundles, which are assigned, and which include the plugin's channel (per its manifest). */
app.get("/__host/tenants/:tenantId/bundles", async (c) => {
  const { assignedBundles } = await tenantStub(c.env, c.req.param("tenantId")).view();
  const manifest = await loadManifest(c.env);
  const including = manifest.ok ? new Set(manifest.manifest.bundles.map((b) => b.id)) : null;
  return c.json({
    assignedBundles,
    bundles: BUNDLES.map((b) => ({ id: b.id, name: b.name, assigned: assignedBundles.includes(b.id), includesPluginChannel: including?.has(b.id) ?? null })),
  });
});

/** Assigns (PUT) or unassigns (DELETE) a bundle, then calls the plugin's enablement, like the page does. */
app.on(["PUT", "DELETE"], "/__host/tenants/:tenantId/bundles/:bundleId", async (c) => {
  tenantStub(c.env, c.req.param("tenantId")); // validates the id
  const result = await setBundle(c.env, c.req.param("tenantId"), c.req.param("bundleId"), c.req.method === "PUT");
  if (result === null) return c.json(errorBody("bundle_not_found", `no bundle ${c.req.param("bundleId")}`, "bundleId"), 404);
  const { enablement } = result;
  return c.json({
    assignedBundles: result.assignedBundles,
    enablement: enablement.called
      ? { called: true, body: enablement.body, status: enablement.answer.status, answer: enablement.answer.json }
      : { called: false, reason: enablement.reason },
  });
});

/** The dev host's scanner convicts a scan's file: marks the scan and sends the plugin the finding (as the scan page's button does). */
app.post("/__host/tenants/:tenantId/scans/:scanId/convict", async (c) => {
  tenantStub(c.env, c.req.param("tenantId")); // validates the id
  const outcome = await convictScan(c.env, c.req.param("tenantId"), c.req.param("scanId"));
  if (!outcome.found) return c.json(errorBody("scan_not_found", `no scan ${c.req.param("scanId")}`, "scanId"), 404);
  if (!outcome.called) return c.json({ scan: outcome.scan, findings: { called: false, reason: outcome.reason } });
  return c.json({ scan: outcome.scan, findings: { called: true, body: outcome.body, status: outcome.answer.status, answer: outcome.answer.json } });
});

app.all("/__host/tenants/:tenantId", (c) => tenantStub(c.env, c.req.param("tenantId")).fetch(c.req.raw));
app.all("/__host/tenants/:tenantId/*", (c) => tenantStub(c.env, c.req.param("tenantId")).fetch(c.req.raw));

app.route("/", ui);

app.notFound((c) => c.json(errorBody("not_found", "no such route"), 404));
app.onError(jsonOnError);

/** The dev host worker: the host API (bearer token) and control routes per tenant's Durable Object, and the pages. */
export default app;
