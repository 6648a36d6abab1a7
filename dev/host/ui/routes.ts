/**
 * The pages a person clicks (server-rendered), their form actions, and the JSON routes the
 * page's script calls (`/ui/api/...`), which sign and forward to the plugin and hand back the
 * plugin's status and body unchanged.
 */
import { Hono, type Context } from "hono";
import { findBundle } from "../catalog";
import type { Env } from "../env";
import { answerMessage, callPlugin, loadManifest, relay, type PluginAnswer } from "../plugin";
import { DEFAULT_TENANT } from "../seed";
import { ensureSeeded, sendEnablement, setBundle, tenantStub, type EnablementOutcome } from "../tenants";
import { paths, type Notice } from "./layout";
import { bundlesPage, eventsPage, irRequestsPage, scansPage, type TenantInfo } from "./pages";
import { validate } from "../../shared/http";
import { tenantIdSchema } from "../schemas";

type Ctx = Context<{ Bindings: Env }>;

/** Largest activation form a browser sends: four short fields. */
const MAX_FORM_BYTES = 16 * 1024;
/** Longest notice carried in a redirect. */
const MAX_NOTICE_LENGTH = 600;

export const ui = new Hono<{ Bindings: Env }>();

// A page on another site must not click these buttons for the admin.
ui.use("*", async (c, next) => {
  if (c.req.method !== "GET" && c.req.header("sec-fetch-site") === "cross-site") {
    return c.json({ error: "cross_site", message: "The dev host refuses state changes from other sites." }, 403);
  }
  await next();
});

async function tenantInfo(c: Ctx): Promise<TenantInfo & { assignedBundles: string[] }> {
  const tenantId = validate(tenantIdSchema, c.req.param("tenantId"), "tenantId");
  await ensureSeeded(c.env, tenantId);
  const view = await tenantStub(c.env, tenantId).view();
  return { tenantId, tenantName: view.profile?.displayName ?? tenantId, assignedBundles: view.assignedBundles };
}

function backToSettings(c: Ctx, tenantId: string, notice: Notice): Response {
  const text = notice.text.length > MAX_NOTICE_LENGTH ? `${notice.text.slice(0, MAX_NOTICE_LENGTH - 1)}…` : notice.text;
  return c.redirect(`${paths.bundles(tenantId)}?tone=${notice.tone}&notice=${encodeURIComponent(text)}`, 303);
}

function noticeFromQuery(c: Ctx): Notice | null {
  const text = c.req.query("notice");
  if (!text) return null;
  return { tone: c.req.query("tone") === "error" ? "error" : "ok", text: text.slice(0, MAX_NOTICE_LENGTH) };
}

const ok = (a: PluginAnswer) => a.status >= 200 && a.status < 300;

function enablementNotice(first: string, outcome: EnablementOutcome, tenantName: string): Notice {
  if (!outcome.called) return { tone: "error", text: `${first} The plugin could not be told: ${outcome.reason}` };
  const { answer, body, channelName } = outcome;
  if (!ok(answer)) return { tone: "error", text: `${first} The plugin refused the enablement (HTTP ${answer.status}): ${answerMessage(answer)}` };
  const names = body.bundles.map((id) => findBundle(id)?.name ?? id).join(", ");
  const state = body.enabled ? `${channelName} is enabled for ${tenantName} (${names})` : `${channelName} is not enabled for ${tenantName}: no assigned bundle includes it`;
  return { tone: "ok", text: `${first} ${state}; the plugin answered HTTP ${answer.status}.` };
}

ui.get("/", (c) => c.redirect(paths.bundles(DEFAULT_TENANT.tenantId), 302));
ui.get("/tenants/:tenantId", (c) => c.redirect(paths.bundles(c.req.param("tenantId")), 302));

ui.get("/tenants/:tenantId/settings/bundles-and-channels", async (c) => {
  const info = await tenantInfo(c);
  const manifest = await loadManifest(c.env);
  const pluginInAssigned = manifest.ok && info.assignedBundles.some((id) => manifest.manifest.bundles.some((b) => b.id === id));
  const status = pluginInAssigned ? await callPlugin(c.env, "GET", `/v1/tenants/${encodeURIComponent(info.tenantId)}/status`) : null;
  c.header("cache-control", "no-store");
  return c.html(bundlesPage({ ...info, manifest, status, notice: noticeFromQuery(c) }));
});

ui.post("/tenants/:tenantId/settings/bundles/:bundleId/:action{assign|unassign}", async (c) => {
  const info = await tenantInfo(c);
  const bundle = findBundle(c.req.param("bundleId"));
  if (bundle === undefined) return backToSettings(c, info.tenantId, { tone: "error", text: `There is no bundle ${c.req.param("bundleId")}.` });
  const assign = c.req.param("action") === "assign";
  const result = await setBundle(c.env, info.tenantId, bundle.id, assign);
  if (result === null) return backToSettings(c, info.tenantId, { tone: "error", text: `There is no bundle ${bundle.id}.` });
  return backToSettings(c, info.tenantId, enablementNotice(`${bundle.name} is ${assign ? "assigned" : "unassigned"}.`, result.enablement, info.tenantName));
});

ui.post("/tenants/:tenantId/settings/channels/:channel/enablement", async (c) => {
  const info = await tenantInfo(c);
  const outcome = await sendEnablement(c.env, info.tenantId, info.assignedBundles);
  return backToSettings(c, info.tenantId, enablementNotice("The plugin was told again which bundles are assigned.", outcome, info.tenantName));
});

ui.post("/tenants/:tenantId/settings/channels/:channel/deactivate", async (c) => {
  const info = await tenantInfo(c);
  const answer = await callPlugin(c.env, "DELETE", `/v1/tenants/${encodeURIComponent(info.tenantId)}/activation`);
  const manifest = await loadManifest(c.env);
  const name = manifest.ok ? manifest.manifest.channel.name : c.req.param("channel");
  return backToSettings(
    c,
    info.tenantId,
    ok(answer)
      ? { tone: "ok", text: `${name} is deactivated: its credentials are destroyed and the sync has stopped; what it delivered stays.` }
      : { tone: "error", text: `Deactivate failed: the plugin answered HTTP ${answer.status}: ${answerMessage(answer)}` },
  );
});

ui.post("/tenants/:tenantId/settings/channels/:channel/sync", async (c) => {
  const info = await tenantInfo(c);
  const answer = await callPlugin(c.env, "POST", `/v1/tenants/${encodeURIComponent(info.tenantId)}/sync`);
  return backToSettings(
    c,
    info.tenantId,
    ok(answer)
      ? { tone: "ok", text: `Sync now: the plugin queued a sync (HTTP ${answer.status}). Events, scan notes and IR requests appear on their pages as it delivers them.` }
      : { tone: "error", text: `Sync now: the plugin answered HTTP ${answer.status}: ${answerMessage(answer)}` },
  );
});

ui.get("/tenants/:tenantId/security/events", async (c) => {
  const info = await tenantInfo(c);
  c.header("cache-control", "no-store");
  return c.html(eventsPage(info, await tenantStub(c.env, info.tenantId).events()));
});

ui.get("/tenants/:tenantId/security/scans", async (c) => {
  const info = await tenantInfo(c);
  const stub = tenantStub(c.env, info.tenantId);
  const [scans, requests] = await Promise.all([stub.scansWithNotes(), stub.irRequests()]);
  c.header("cache-control", "no-store");
  return c.html(scansPage(info, scans, requests));
});

ui.get("/tenants/:tenantId/security/ir-requests", async (c) => {
  const info = await tenantInfo(c);
  c.header("cache-control", "no-store");
  return c.html(irRequestsPage(info, await tenantStub(c.env, info.tenantId).irRequests()));
});

// ---------------------------------------------------------------- JSON for the page's script

const pluginPath = (c: Ctx, rest: string) => `/v1/tenants/${encodeURIComponent(validate(tenantIdSchema, c.req.param("tenantId"), "tenantId"))}${rest}`;

ui.post("/ui/api/tenants/:tenantId/activation", async (c) => {
  const path = pluginPath(c, "/activation");
  const body = await c.req.text();
  if (new TextEncoder().encode(body).byteLength > MAX_FORM_BYTES) {
    return c.json({ error: "too_large", message: "The activation form is larger than the dev host accepts." }, 413);
  }
  return relay(await callPlugin(c.env, "POST", path, body));
});
ui.delete("/ui/api/tenants/:tenantId/activation", async (c) => relay(await callPlugin(c.env, "DELETE", pluginPath(c, "/activation"))));
ui.post("/ui/api/tenants/:tenantId/sync", async (c) => relay(await callPlugin(c.env, "POST", pluginPath(c, "/sync"))));
ui.get("/ui/api/tenants/:tenantId/status", async (c) => relay(await callPlugin(c.env, "GET", pluginPath(c, "/status"))));
