/**
 * The pages a person clicks (server-rendered), their form actions, and the JSON routes the
 * page's script calls (`/ui/api/...`), which sign and forward to the plugin and hand back the
 * plugin's status and body unchanged.
 */
import { Hono, type Context } from "hono";
import { z } from "zod";
import { devAdmin, rawWithActor, withActor } from "../actor";
import { findBundle } from "../catalog";
import { auditPage, auditPluginPath, auditQuerySchema } from "./audit";
import type { Env } from "../env";
import { answerMessage, callPlugin, loadManifest, relay, type ManifestAction, type PluginAnswer, type PluginManifest } from "../plugin";
import { ACTION_CONFIRM, ActionDraft, ActionShape, actionPage, actionsPage, confirmActionPage } from "./actions";
import { DEFAULT_TENANT } from "../seed";
import type { HostRecord, ScanWithNotes } from "../state";
import { convictScan, ensureSeeded, sendEnablement, setBundle, tenantStub, type EnablementOutcome } from "../tenants";
import { channelActivity, channelRow, parseStatus, plural, readFailedDeliveries, readRuns, settling, type ChannelStatus } from "./channel";
import { FAVICON_SVG, paths, type Html, type Notice } from "./layout";
import { noticeCookie, setNotice, takeNotice } from "./notice";
import {
  DEACTIVATE_CONFIRM, bundlesPage, deactivatePage, eventsPage, eventsQuerySchema, irRequestsPage, scanNotFoundPage, scanPage, scansPage,
  type TenantInfo,
} from "./pages";
import { validate } from "../../shared/http";
import { tenantIdSchema } from "../schemas";

type Ctx = Context<{ Bindings: Env }>;

/** Largest activation form a browser sends: four short fields. */
const MAX_FORM_BYTES = 16 * 1024;
/** Runs in the sync history: the last ten fit beside the channel without scrolling far. */
const SYNC_HISTORY_RUNS = 10;
/** How long a browser may keep the icon: it never changes between runs. */
const FAVICON_MAX_AGE_SECONDS = 86_400;

export const ui = new Hono<{ Bindings: Env }>();

// A page on another site must not click these buttons for the admin.
ui.use("*", async (c, next) => {
  if (c.req.method !== "GET" && c.req.header("sec-fetch-site") === "cross-site") {
    return c.json({ error: "cross_site", message: "The dev host refuses state changes from other sites." }, 403);
  }
  await next();
});

// Browsers ask for /favicon.ico on every page whatever the page links.
ui.get("/favicon.ico", (c) => c.body(FAVICON_SVG, 200, { "content-type": "image/svg+xml", "cache-control": `public, max-age=${FAVICON_MAX_AGE_SECONDS}` }));

async function tenantInfo(c: Ctx): Promise<TenantInfo & { assignedBundles: string[] }> {
  const tenantId = validate(tenantIdSchema, c.req.param("tenantId"), "tenantId");
  await ensureSeeded(c.env, tenantId);
  const view = await tenantStub(c.env, tenantId).view();
  return { tenantId, tenantName: view.profile?.displayName ?? tenantId, assignedBundles: view.assignedBundles };
}

function backToSettings(c: Ctx, tenantId: string, notice: Notice & { watchSince?: string }): Response {
  setNotice(c, notice);
  return c.redirect(paths.bundles(tenantId), 303);
}

const ok = (a: PluginAnswer) => a.status >= 200 && a.status < 300;
const tenantPath = (tenantId: string, rest: string) => `/v1/tenants/${encodeURIComponent(tenantId)}${rest}`;

function enablementNotice(first: string, outcome: EnablementOutcome, tenantName: string): Notice {
  if (!outcome.called) return { tone: "error", text: `${first} The plugin could not be told: ${outcome.reason}` };
  const { answer, body, channelName } = outcome;
  if (!ok(answer)) return { tone: "error", text: `${first} ${channelName} did not take the change: ${answerMessage(answer)}` };
  const names = body.bundles.map((id) => findBundle(id)?.name ?? id).join(", ");
  const state = body.enabled ? `${channelName} is enabled for ${tenantName} (${names}).` : `${channelName} is not enabled for ${tenantName}: no assigned bundle includes it.`;
  return { tone: "ok", text: `${first} ${state}` };
}

/** The channel row and what it is drawn from, when an assigned bundle includes the channel. */
interface ChannelView {
  manifest: PluginManifest;
  fromBundles: string[];
  answer: PluginAnswer;
  status: ChannelStatus | null;
  live: boolean;
  activity: Html | null;
}

async function channelView(c: Ctx, info: TenantInfo & { assignedBundles: string[] }, watchSince: string | null): Promise<ChannelView | null> {
  const manifest = await loadManifest(c.env);
  if (!manifest.ok) return null;
  const m = manifest.manifest;
  const fromBundles = info.assignedBundles.filter((id) => m.bundles.some((b) => b.id === id)).map((id) => findBundle(id)?.name ?? id);
  if (fromBundles.length === 0) return null;
  const answer = await callPlugin(c.env, "GET", tenantPath(info.tenantId, "/status"));
  const status = parseStatus(answer);
  // History and failed deliveries exist once the channel was connected; before that they are empty words.
  const everConnected = status !== null && (status.activatedAt != null || status.sync != null);
  let activity: Html | null = null;
  if (status !== null && everConnected) {
    const [runs, failed] = await Promise.all([
      callPlugin(c.env, "GET", tenantPath(info.tenantId, `/sync/runs?limit=${SYNC_HISTORY_RUNS}`)),
      callPlugin(c.env, "GET", tenantPath(info.tenantId, "/deliveries?state=failed")),
    ]);
    activity = channelActivity({ tenantId: info.tenantId, manifest: m, status, runs: readRuns(runs), failed: readFailedDeliveries(failed) });
  }
  return { manifest: m, fromBundles, answer, status, live: settling(status, watchSince), activity };
}

ui.get("/", (c) => c.redirect(paths.bundles(DEFAULT_TENANT.tenantId), 302));
ui.get("/tenants/:tenantId", (c) => c.redirect(paths.bundles(c.req.param("tenantId")), 302));

ui.get("/tenants/:tenantId/settings/bundles-and-channels", async (c) => {
  const info = await tenantInfo(c);
  const flash = takeNotice(c);
  const watchSince = flash?.watchSince ?? null;
  const manifest = await loadManifest(c.env);
  const view = await channelView(c, info, watchSince);
  c.header("cache-control", "no-store");
  return c.html(
    bundlesPage({
      ...info,
      manifest,
      status: view?.answer ?? null,
      notice: flash === null ? null : { tone: flash.tone, text: flash.text },
      live: view?.live ?? false,
      watchSince,
      activity: view?.activity ?? null,
    }),
  );
});

ui.post("/tenants/:tenantId/settings/bundles/:bundleId/:action{assign|unassign}", async (c) => {
  const info = await tenantInfo(c);
  const bundle = findBundle(c.req.param("bundleId"));
  if (bundle === undefined) return backToSettings(c, info.tenantId, { tone: "error", text: "There is no such bundle." });
  const assign = c.req.param("action") === "assign";
  const result = await setBundle(c.env, info.tenantId, bundle.id, assign);
  if (result === null) return backToSettings(c, info.tenantId, { tone: "error", text: "There is no such bundle." });
  return backToSettings(c, info.tenantId, enablementNotice(`${bundle.name} is ${assign ? "assigned" : "unassigned"}.`, result.enablement, info.tenantName));
});

ui.post("/tenants/:tenantId/settings/channels/:channel/enablement", async (c) => {
  const info = await tenantInfo(c);
  const outcome = await sendEnablement(c.env, info.tenantId, info.assignedBundles);
  return backToSettings(c, info.tenantId, enablementNotice("The plugin was told again which bundles are assigned.", outcome, info.tenantName));
});

async function channelName(c: Ctx): Promise<string> {
  const manifest = await loadManifest(c.env);
  return manifest.ok ? manifest.manifest.channel.name : c.req.param("channel") ?? "the channel";
}

async function renderDeactivate(c: Ctx, unconfirmed: boolean): Promise<Response> {
  const info = await tenantInfo(c);
  const status = parseStatus(await callPlugin(c.env, "GET", tenantPath(info.tenantId, "/status")));
  const name = await channelName(c);
  c.header("cache-control", "no-store");
  const page = deactivatePage({
    ...info,
    channelName: name,
    action: c.req.path,
    orgUrl: status?.settings?.orgUrl ?? null,
    username: status?.settings?.username ?? null,
    unconfirmed,
  });
  return c.html(page, unconfirmed ? 400 : 200);
}

const deactivateFormSchema = z.object({ [DEACTIVATE_CONFIRM.name]: z.literal(DEACTIVATE_CONFIRM.value) });

ui.get("/tenants/:tenantId/settings/channels/:channel/deactivate", (c) => renderDeactivate(c, false));

ui.post("/tenants/:tenantId/settings/channels/:channel/deactivate", async (c) => {
  if (!deactivateFormSchema.safeParse(await c.req.parseBody()).success) return renderDeactivate(c, true);
  const info = await tenantInfo(c);
  const name = await channelName(c);
  const answer = await callPlugin(c.env, "DELETE", tenantPath(info.tenantId, "/activation"), withActor(info.tenantId));
  if (!ok(answer)) return backToSettings(c, info.tenantId, { tone: "error", text: `${name} is still connected: ${answerMessage(answer)}` });
  // The plugin answers with its status after the call: the notice says what it says.
  const after = parseStatus(answer)?.status;
  return backToSettings(
    c,
    info.tenantId,
    after === "inactive"
      ? { tone: "ok", text: `${name} is deactivated: its credentials are destroyed and syncing has stopped. What it delivered stays.` }
      : { tone: "error", text: `${name} took the deactivation, but its status is now “${after ?? "unknown"}”, not Inactive. Check the row below.` },
  );
});

ui.post("/tenants/:tenantId/settings/channels/:channel/sync", async (c) => {
  const info = await tenantInfo(c);
  const name = await channelName(c);
  const watchSince = new Date().toISOString();
  const answer = await callPlugin(c.env, "POST", tenantPath(info.tenantId, "/sync"), withActor(info.tenantId));
  return backToSettings(
    c,
    info.tenantId,
    ok(answer)
      ? { tone: "ok", text: `Sync queued. New events, scan notes and IR requests from ${name} appear on their pages as they arrive.`, watchSince }
      : { tone: "error", text: `The sync did not start: ${answerMessage(answer)}` },
  );
});

const retryFormSchema = z.object({ id: z.coerce.number().int().positive().optional() });

ui.post("/tenants/:tenantId/settings/channels/:channel/deliveries/retry", async (c) => {
  const info = await tenantInfo(c);
  const form = retryFormSchema.safeParse(await c.req.parseBody());
  if (!form.success) return backToSettings(c, info.tenantId, { tone: "error", text: "That delivery cannot be retried: the form was not understood." });
  const body = withActor(info.tenantId, form.data.id === undefined ? {} : { ids: [form.data.id] });
  const answer = await callPlugin(c.env, "POST", tenantPath(info.tenantId, "/deliveries/retry"), body);
  if (!ok(answer)) return backToSettings(c, info.tenantId, { tone: "error", text: `The retry did not start: ${answerMessage(answer)}` });
  const requeued = z.object({ requeued: z.number().int() }).safeParse(answer.json);
  const n = requeued.success ? requeued.data.requeued : null;
  return backToSettings(
    c,
    info.tenantId,
    n === 0
      ? { tone: "ok", text: "Nothing to retry: no delivery is failed any more." }
      : { tone: "ok", text: `Retry queued for ${n === null ? "the failed deliveries" : plural(n, "failed delivery", "failed deliveries")}. Each reaches this host once.` },
  );
});

ui.get("/tenants/:tenantId/settings/audit", async (c) => {
  const info = await tenantInfo(c);
  const query = auditQuerySchema.parse(c.req.query());
  const answer = await callPlugin(c.env, "GET", tenantPath(info.tenantId, auditPluginPath(query)));
  c.header("cache-control", "no-store");
  return c.html(auditPage(info, await channelName(c), query, answer));
});

ui.get("/tenants/:tenantId/security/events", async (c) => {
  const info = await tenantInfo(c);
  const query = eventsQuerySchema.parse(c.req.query());
  // The organization's URL (for where the alert is in Cynet) is the plugin's to tell.
  const [events, status] = await Promise.all([
    tenantStub(c.env, info.tenantId).events(),
    callPlugin(c.env, "GET", tenantPath(info.tenantId, "/status")).then(parseStatus),
  ]);
  c.header("cache-control", "no-store");
  return c.html(eventsPage(info, events, query, status?.settings?.orgUrl ?? null));
});

ui.get("/tenants/:tenantId/security/scans", async (c) => {
  const info = await tenantInfo(c);
  const stub = tenantStub(c.env, info.tenantId);
  const [scans, requests] = await Promise.all([stub.scansWithNotes(), stub.irRequests()]);
  c.header("cache-control", "no-store");
  return c.html(scansPage(info, scans, requests));
});

ui.get("/tenants/:tenantId/security/scans/:scanId", async (c) => {
  const info = await tenantInfo(c);
  const stub = tenantStub(c.env, info.tenantId);
  const [scans, requests]: [ScanWithNotes[], HostRecord[]] = await Promise.all([stub.scansWithNotes(), stub.irRequests()]);
  const scan = scans.find((s) => s.scanId === c.req.param("scanId"));
  c.header("cache-control", "no-store");
  if (scan === undefined) return c.html(scanNotFoundPage(info, c.req.param("scanId")), 404);
  const flash = takeNotice(c);
  return c.html(scanPage(info, scan, requests, flash === null ? null : { tone: flash.tone, text: flash.text }, await manifestActions(c)));
});

/** The scan page's "Convict" button: the dev host's scanner convicts the file, and the plugin is sent the finding. */
ui.post("/tenants/:tenantId/security/scans/:scanId/convict", async (c) => {
  const info = await tenantInfo(c);
  const scanId = c.req.param("scanId");
  const outcome = await convictScan(c.env, info.tenantId, scanId);
  if (!outcome.found) return c.html(scanNotFoundPage(info, scanId), 404);
  if (!outcome.called) setNotice(c, { tone: "error", text: `${outcome.scan.fileName} is marked convicted, but no finding was sent: ${outcome.reason}` });
  else if (!ok(outcome.answer)) setNotice(c, { tone: "error", text: `${outcome.scan.fileName} is marked convicted, but the plugin did not take the finding: ${answerMessage(outcome.answer)}` });
  else {
    const fresh = z.object({ new: z.number().int() }).safeParse(outcome.answer.json);
    setNotice(c, {
      tone: "ok",
      text: fresh.success && fresh.data.new === 0
        ? `${outcome.scan.fileName} was already sent to ${await channelName(c)}; it keeps looking for it on the endpoints.`
        : `${outcome.scan.fileName} is convicted. ${await channelName(c)} looks for it on the endpoints now and again over the next three days; where it is found, events and a note on this scan follow.`,
    });
  }
  // After the notice: the redirect carries the headers set so far.
  return c.redirect(paths.scan(info.tenantId, scanId), 303);
});

ui.get("/tenants/:tenantId/security/ir-requests", async (c) => {
  const info = await tenantInfo(c);
  c.header("cache-control", "no-store");
  return c.html(irRequestsPage(info, await tenantStub(c.env, info.tenantId).irRequests(), await manifestActions(c)));
});

/** The response actions the plugin's manifest declares (none when it cannot be read). */
async function manifestActions(c: Ctx): Promise<ManifestAction[]> {
  const manifest = await loadManifest(c.env);
  return manifest.ok ? manifest.manifest.actions : [];
}

/** The draft of an action from a query or a form: repeated `host` fields, empty optional ones dropped. */
function draftOf(fields: Record<string, string | string[] | File | (string | File)[]>) {
  const one = (name: string) => {
    const v = fields[name];
    const s = Array.isArray(v) ? v[0] : v;
    return typeof s === "string" && s.trim() !== "" ? s.trim() : undefined;
  };
  const hosts = fields.host;
  const host = (Array.isArray(hosts) ? hosts : hosts === undefined ? [] : [hosts]).filter((h): h is string => typeof h === "string" && h !== "");
  return ActionDraft.safeParse({ action: one("action"), host, sha256: one("sha256"), scanId: one("scanId"), irRequestId: one("irRequestId"), reason: one("reason") });
}

ui.get("/tenants/:tenantId/security/actions", async (c) => {
  const info = await tenantInfo(c);
  const answer = await callPlugin(c.env, "GET", tenantPath(info.tenantId, "/actions?limit=50"));
  const list = z.object({ actions: z.array(ActionShape) }).safeParse(answer.json);
  c.header("cache-control", "no-store");
  return c.html(actionsPage(info, list.success ? list.data.actions : null, ok(answer) ? null : `The plugin did not list the actions: ${answerMessage(answer)}`));
});

ui.get("/tenants/:tenantId/security/actions/new", async (c) => {
  const info = await tenantInfo(c);
  const url = new URL(c.req.url);
  const fields: Record<string, string | string[]> = {};
  for (const key of new Set(url.searchParams.keys())) fields[key] = url.searchParams.getAll(key);
  const draft = draftOf(fields);
  const action = draft.success ? (await manifestActions(c)).find((a) => a.id === draft.data.action) : undefined;
  c.header("cache-control", "no-store");
  if (!draft.success || action === undefined) {
    return c.html(actionsPage(info, null, `That action cannot be asked: ${draft.success ? "the plugin does not offer it" : (draft.error.issues[0]?.message ?? "the form was not understood")}.`), 400);
  }
  return c.html(confirmActionPage(info, draft.data, action, null));
});

ui.post("/tenants/:tenantId/security/actions", async (c) => {
  const info = await tenantInfo(c);
  const form = await c.req.parseBody({ all: true });
  const draft = draftOf(form);
  const action = draft.success ? (await manifestActions(c)).find((a) => a.id === draft.data.action) : undefined;
  if (!draft.success || action === undefined) return c.html(actionsPage(info, null, "That action cannot be asked: the form was not understood."), 400);
  if (action.confirmation && form[ACTION_CONFIRM.name] !== ACTION_CONFIRM.value) {
    return c.html(confirmActionPage(info, draft.data, action, "Tick the box to confirm, or cancel."), 400);
  }
  const key = typeof form.idempotencyKey === "string" && /^[\x21-\x7e]{1,200}$/.test(form.idempotencyKey) ? form.idempotencyKey : crypto.randomUUID();
  const d = draft.data;
  const body = JSON.stringify({
    action: d.action,
    ...(action.targets === "file" && d.sha256 ? { sha256: d.sha256 } : {}),
    hosts: d.host,
    ...(d.scanId ? { scanId: d.scanId } : {}),
    ...(d.irRequestId ? { irRequestId: d.irRequestId } : {}),
    ...(d.reason ? { reason: d.reason } : {}),
    actor: devAdmin(info.tenantId),
  });
  const answer = await callPlugin(c.env, "POST", tenantPath(info.tenantId, "/actions"), body, { "idempotency-key": key });
  const made = z.object({ id: z.string() }).safeParse(answer.json);
  if (!ok(answer) || !made.success) return c.html(confirmActionPage(info, d, action, `Cynet was not asked: ${answerMessage(answer)}`), 400);
  return c.redirect(paths.action(info.tenantId, made.data.id), 303);
});

ui.get("/tenants/:tenantId/security/actions/:actionId", async (c) => {
  const info = await tenantInfo(c);
  const answer = await callPlugin(c.env, "GET", tenantPath(info.tenantId, `/actions/${encodeURIComponent(c.req.param("actionId"))}`));
  const action = ActionShape.safeParse(answer.json);
  c.header("cache-control", "no-store");
  if (!ok(answer) || !action.success) return c.html(actionsPage(info, null, `That action cannot be shown: ${answerMessage(answer)}`), answer.status === 404 ? 404 : 502);
  return c.html(actionPage(info, action.data));
});

// ---------------------------------------------------------------- JSON for the page's script

const tenantOf = (c: Ctx) => validate(tenantIdSchema, c.req.param("tenantId"), "tenantId");
const pluginPath = (c: Ctx, rest: string) => `/v1/tenants/${encodeURIComponent(tenantOf(c))}${rest}`;

ui.post("/ui/api/tenants/:tenantId/activation", async (c) => {
  const path = pluginPath(c, "/activation");
  const body = await c.req.text();
  if (new TextEncoder().encode(body).byteLength > MAX_FORM_BYTES) {
    return c.json({ error: "too_large", message: "The activation form is larger than the dev host accepts." }, 413);
  }
  const answer = await callPlugin(c.env, "POST", path, rawWithActor(tenantOf(c), body));
  if (ok(answer)) {
    // The page's script goes back to the settings page, which shows this once and follows the first sync.
    const activatedAt = z.object({ activatedAt: z.iso.datetime() }).safeParse(answer.json);
    const response = relay(answer);
    response.headers.append(
      "set-cookie",
      noticeCookie({
        tone: "ok",
        text: `Connected to ${await channelName(c)}. The first sync has started.`,
        watchSince: activatedAt.success ? activatedAt.data.activatedAt : new Date().toISOString(),
      }),
    );
    return response;
  }
  return relay(answer);
});
ui.delete("/ui/api/tenants/:tenantId/activation", async (c) => relay(await callPlugin(c.env, "DELETE", pluginPath(c, "/activation"), withActor(tenantOf(c)))));
ui.post("/ui/api/tenants/:tenantId/sync", async (c) => relay(await callPlugin(c.env, "POST", pluginPath(c, "/sync"), withActor(tenantOf(c)))));
ui.get("/ui/api/tenants/:tenantId/status", async (c) => relay(await callPlugin(c.env, "GET", pluginPath(c, "/status"))));

const sinceSchema = z.iso.datetime().optional().catch(undefined);

/** The channel row and its activity section, rendered again for the page's live refresh. */
ui.get("/ui/api/tenants/:tenantId/channel", async (c) => {
  const info = await tenantInfo(c);
  const view = await channelView(c, info, sinceSchema.parse(c.req.query("since")) ?? null);
  c.header("cache-control", "no-store");
  if (view === null) return c.json({ live: false, row: null, activity: null });
  const row = String(await channelRow({ tenantId: info.tenantId, manifest: view.manifest, fromBundles: view.fromBundles, answer: view.answer, live: view.live }));
  return c.json({ live: view.live, row, activity: view.activity === null ? null : String(await view.activity) });
});
