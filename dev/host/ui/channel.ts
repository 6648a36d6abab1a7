/**
 * The plugin channel's row under Enabled Channels, its sync history and failed deliveries, and
 * whether the row is still settling (so the page keeps refreshing it). Everything here is
 * rendered from the plugin's own answers, parsed defensively: a field the plugin drops or
 * renames shows as missing, never as a crash.
 */
import { html } from "hono/html";
import { z } from "zod";
import type { PluginAnswer, PluginManifest } from "../plugin";
import { time, type Html } from "./layout";

// ---------------------------------------------------------------- the plugin's answers, read defensively

const nullableString = z.string().nullish().catch(null);
const nullableNumber = z.number().nullish().catch(null);
const count = z.number().catch(0);
const deliveryCounts = z.looseObject({ pending: count, delivered: count, failed: count }).nullish().catch(null);
/** What the dev host shows of a sync run, in the status's lastRun and in the runs list alike. */
const runFields = {
  reason: nullableString,
  outcome: nullableString,
  startedAt: nullableString,
  finishedAt: nullableString,
  fetched: nullableNumber,
  newDetections: nullableNumber,
  eventsQueued: nullableNumber,
};

const statusSchema = z.looseObject({
  status: z.string(),
  enabled: z.boolean().catch(false),
  bundles: z.array(z.string()).catch([]),
  settings: z.looseObject({ orgUrl: nullableString, clientId: nullableString, username: nullableString }).nullish().catch(null),
  activatedAt: nullableString,
  error: z.looseObject({ code: nullableString, message: nullableString, at: nullableString }).nullish().catch(null),
  sync: z
    .looseObject({
      health: nullableString,
      lastRun: z
        .looseObject({ ...runFields, error: z.looseObject({ code: nullableString, message: nullableString }).nullish().catch(null) })
        .nullish()
        .catch(null),
      lastSyncAt: nullableString,
      quietRunsSinceLastRun: nullableNumber,
      lastSuccessAt: nullableString,
      consecutiveFailures: nullableNumber,
      backoffUntil: nullableString,
      nextRunAt: nullableString,
      inProgress: z.boolean().nullish().catch(null),
      changes: z.looseObject({ available: z.boolean().catch(true), message: nullableString }).nullish().catch(null),
    })
    .nullish()
    .catch(null),
  deliveries: z
    .looseObject({ events: deliveryCounts, scanSearches: deliveryCounts, notes: deliveryCounts, irRequests: deliveryCounts })
    .nullish()
    .catch(null),
});
/** The plugin's status, as far as the dev host understood it. */
export type ChannelStatus = z.infer<typeof statusSchema>;

/** The plugin's status from its answer to GET /status, or null when it could not be read. */
export function parseStatus(answer: PluginAnswer | null): ChannelStatus | null {
  if (answer === null || answer.status !== 200) return null;
  const parsed = statusSchema.safeParse(answer.json);
  return parsed.success ? parsed.data : null;
}

const runSchema = z.looseObject({ id: z.number(), ...runFields, errorMessage: nullableString });
/** GET /sync/runs: the runs that found something, newest first, and how many quiet syncs followed the newest. */
const runsSchema = z.looseObject({ runs: z.array(runSchema), quietRunsSinceNewest: z.number().int().min(0).catch(0) });
type SyncRuns = z.infer<typeof runsSchema>;

const deliverySchema = z.looseObject({
  id: z.number().int(),
  kind: z.string(),
  items: z.number().catch(1),
  attempts: z.number().catch(0),
  lastError: nullableString,
  createdAt: nullableString,
});
/** GET /deliveries?state=failed. */
const deliveriesSchema = z.looseObject({ deliveries: z.array(deliverySchema) });
type FailedDeliveries = z.infer<typeof deliveriesSchema>["deliveries"];

/** A parsed answer, or why there is none, in words. */
type Read<T> = { ok: true; value: T } | { ok: false; reason: string };

function read<S extends z.ZodType>(schema: S, answer: PluginAnswer): Read<z.infer<S>> {
  if (answer.status !== 200) return { ok: false, reason: messageOf(answer) };
  const parsed = schema.safeParse(answer.json);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, reason: "the plugin's answer was not in the shape the dev host expects" };
}

function messageOf(answer: PluginAnswer): string {
  const parsed = z.object({ message: z.string() }).safeParse(answer.json);
  return parsed.success ? parsed.data.message : `the plugin could not answer (${answer.status})`;
}

/** The sync history as the page shows it. */
export const readRuns = (answer: PluginAnswer): Read<SyncRuns> => read(runsSchema, answer);
/** The failed deliveries as the page shows them. */
export const readFailedDeliveries = (answer: PluginAnswer): Read<FailedDeliveries> => {
  const r = read(deliveriesSchema, answer);
  return r.ok ? { ok: true, value: r.value.deliveries } : r;
};

// ---------------------------------------------------------------- is the row still settling?

const pendingOf = (s: ChannelStatus) =>
  [s.deliveries?.events, s.deliveries?.scanSearches, s.deliveries?.notes, s.deliveries?.irRequests].reduce((n, c) => n + (c?.pending ?? 0), 0);

/**
 * Whether the page should keep refreshing the row: a sync is running (the plugin says so from
 * the moment it takes its lease, quiet syncs included), deliveries are pending, the channel
 * never synced yet, or a sync asked for at `watchSince` has not started.
 */
export function settling(s: ChannelStatus | null, watchSince: string | null): boolean {
  if (s === null || s.status !== "active") return false;
  if (s.sync?.inProgress || pendingOf(s) > 0) return true;
  const lastSyncMs = Date.parse(s.sync?.lastSyncAt ?? "");
  if (Number.isNaN(lastSyncMs)) return true;
  return watchSince !== null && lastSyncMs < Date.parse(watchSince);
}

// ---------------------------------------------------------------- the row

const STATUS_WORDS: Record<string, string> = { active: "Active", inactive: "Inactive", error: "Error", not_enabled: "Not enabled" };
const statusWord = (s: string) => STATUS_WORDS[s] ?? s;
/** "1 event", "3 events". */
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function deliveriesText(d: NonNullable<ChannelStatus["deliveries"]>): string | null {
  const parts = (
    [
      ["events", d.events],
      ["notes", d.notes],
      ["IR requests", d.irRequests],
    ] as const
  )
    .filter(([, c]) => c != null && c.pending + c.delivered + c.failed > 0)
    .map(([what, c]) => `${what}: ${c!.delivered} delivered${c!.pending ? `, ${c!.pending} on the way` : ""}${c!.failed ? `, ${c!.failed} failed` : ""}`);
  return parts.length === 0 ? null : parts.join("; ");
}

function lastSync(sync: NonNullable<ChannelStatus["sync"]>): Html {
  const run = sync.lastRun;
  const quiet = sync.quietRunsSinceLastRun ?? 0;
  const running = sync.inProgress && run?.outcome !== "running" ? html` A sync is running now.` : "";
  // Syncs that found nothing new are counted, not listed: the newest of them is the last sync.
  if (quiet > 0 && (sync.lastSyncAt || sync.lastSuccessAt)) {
    const since = run == null ? "" : ` (${plural(quiet, "sync")} with nothing new since the last one that found something)`;
    return html`Succeeded ${time(sync.lastSyncAt ?? sync.lastSuccessAt)}: nothing new${since}.${running}`;
  }
  if (run == null) return html`Not synced yet${sync.inProgress || sync.lastSyncAt ? ": the first sync is starting" : ""}.`;
  const counts = [
    run.fetched != null ? plural(run.fetched, "alert") + " read" : null,
    run.newDetections != null ? plural(run.newDetections, "new malicious file") : null,
    run.eventsQueued != null ? plural(run.eventsQueued, "event") + " queued" : null,
  ].filter((x) => x !== null);
  const reason = run.reason ? ` (${reasonWord(run.reason)})` : "";
  if (run.outcome === "running") return html`Running since ${time(run.startedAt)}${reason}${counts.length ? `: ${counts.join(", ")} so far` : ""}.`;
  if (run.outcome === "failed") {
    return html`<span class="sev high">Failed</span> ${time(run.finishedAt ?? run.startedAt)}${reason}: ${run.error?.message ?? "no reason given"}${running}`;
  }
  return html`Succeeded ${time(run.finishedAt ?? run.startedAt)}${reason}${counts.length ? `: ${counts.join(", ")}` : ""}.${running}`;
}

function channelFacts(s: ChannelStatus): Html {
  const sync = s.sync;
  const connected = s.status === "active" || s.status === "error";
  const deliveries = s.deliveries ? deliveriesText(s.deliveries) : null;
  return html`<dl class="facts">
    ${s.settings?.orgUrl ? html`<dt>Organization's URL</dt><dd><code>${s.settings.orgUrl}</code></dd>` : ""}
    ${s.settings?.clientId ? html`<dt>Client ID</dt><dd>${s.settings.clientId}</dd>` : ""}
    ${s.settings?.username ? html`<dt>Cynet user</dt><dd>${s.settings.username}</dd>` : ""}
    ${connected && s.activatedAt ? html`<dt>Connected</dt><dd>${time(s.activatedAt)}</dd>` : ""}
    ${!connected && s.status === "inactive" ? html`<dt>Connection</dt><dd data-connection>Not connected: no credentials are stored${s.activatedAt ? html`; last connected ${time(s.activatedAt)}` : ""}.</dd>` : ""}
    ${connected && sync ? html`<dt>Last sync</dt><dd data-last-sync>${lastSync(sync)}</dd>` : s.status === "active" ? html`<dt>Last sync</dt><dd data-last-sync>Not synced yet.</dd>` : ""}
    ${connected && sync?.lastSuccessAt ? html`<dt>Last successful sync</dt><dd>${time(sync.lastSuccessAt)}</dd>` : ""}
    ${sync?.health === "degraded" ? html`<dt>Sync health</dt><dd>Cynet is failing; retrying${sync.consecutiveFailures ? ` after ${plural(sync.consecutiveFailures, "failure")} in a row` : ""}${sync.backoffUntil ? html`, not before ${time(sync.backoffUntil)}` : ""}.</dd>` : ""}
    ${sync?.nextRunAt ? html`<dt>Next sync</dt><dd>${time(sync.nextRunAt)}</dd>` : ""}
    ${sync?.changes && !sync.changes.available ? html`<dt>Later decisions</dt><dd data-changes>${sync.changes.message ?? "Cynet does not offer changed alerts."}</dd>` : ""}
    ${deliveries ? html`<dt>Delivered to this host</dt><dd data-deliveries>${deliveries}</dd>` : ""}
    ${s.error?.message ? html`<dt>Error</dt><dd class="sev high" data-channel-error>${s.error.message}${s.error.at ? html` <span class="muted">(${time(s.error.at)})</span>` : ""}</dd>` : ""}
  </dl>`;
}

/** What the channel row is drawn from. */
export interface ChannelRowInput {
  tenantId: string;
  manifest: PluginManifest;
  /** Names of the assigned bundles that include the channel. */
  fromBundles: string[];
  /** The plugin's answer to GET /status (null: not asked). */
  answer: PluginAnswer | null;
  /** Whether the page keeps refreshing the row. */
  live: boolean;
}

/** Where the channel's forms post. */
export const channelBase = (tenantId: string, channelId: string) =>
  `/tenants/${encodeURIComponent(tenantId)}/settings/channels/${encodeURIComponent(channelId)}`;

/** The channel's row under Enabled Channels. */
export function channelRow(r: ChannelRowInput): Html {
  const { manifest } = r;
  const base = channelBase(r.tenantId, manifest.channel.id);
  const s = parseStatus(r.answer);
  let statusCell: Html;
  let details: Html;
  let actions: Html;
  if (s === null) {
    const why = r.answer === null ? "not asked" : messageOf(r.answer);
    statusCell = html`<span class="status error">Unknown</span>`;
    details = html`<p class="sev high">The plugin's status could not be read: ${why}.</p>`;
    actions = html`<button type="button" class="primary" data-open-activation>Activate<span class="vh"> ${manifest.channel.name}</span></button>`;
  } else {
    statusCell = html`<span class="status ${s.status}" data-channel-status>${statusWord(s.status)}</span>`;
    details = channelFacts(s);
    const prefill = JSON.stringify({ orgUrl: s.settings?.orgUrl ?? "", clientId: s.settings?.clientId ?? "", username: s.settings?.username ?? "" });
    const connected = s.status === "active" || s.status === "error";
    const enableNote = !s.enabled
      ? html`<div class="notice warn"><p>The plugin does not have the channel enabled for this organization although ${r.fromBundles.join(", ")} is assigned.</p>
            <form method="post" action="${base}/enablement"><button type="submit">Tell the plugin again</button></form></div>`
      : "";
    // Deactivate opens a confirmation page (a GET form, so it works without JavaScript): it destroys the credentials.
    actions = html`${enableNote}<div class="actions">
      ${connected
        ? html`<form method="post" action="${base}/sync"><button type="submit" class="primary">Sync now</button></form>
            <button type="button" data-open-activation data-prefill="${prefill}">${s.status === "error" ? "Reconnect" : "Edit connection"}<span class="vh"> ${manifest.channel.name}</span></button>
            <form method="get" action="${base}/deactivate"><button type="submit" class="danger">Deactivate<span class="vh"> ${manifest.channel.name}</span>…</button></form>`
        : html`<button type="button" class="primary" data-open-activation data-prefill="${prefill}">Activate<span class="vh"> ${manifest.channel.name}</span></button>`}
    </div>`;
  }
  return html`<tr data-channel="${manifest.channel.id}" data-live="${r.live ? "true" : "false"}">
    <th scope="row">${manifest.channel.name} <span class="tag">plugin ${manifest.channel.version}</span></th>
    <td>${r.fromBundles.join(", ")}</td>
    <td>${statusCell}</td>
    <td>${details}${r.live ? html`<p class="muted live-note" data-live-note>Refreshing while the sync runs…</p>` : ""}</td>
    <td>${actions}</td>
  </tr>`;
}

// ---------------------------------------------------------------- sync history and failed deliveries

const REASON_WORDS: Record<string, string> = {
  activation: "first sync after Connect",
  manual: "Sync now",
  cron: "scheduled",
  backfill: "backfill",
  continuation: "continued",
};
const reasonWord = (r: string) => REASON_WORDS[r] ?? r;
const OUTCOME_WORDS: Record<string, string> = { running: "Running", succeeded: "Succeeded", failed: "Failed" };
const KIND_WORDS: Record<string, string> = { events: "Events", match: "Scan search", note: "Note on a scan", ir_request: "IR request" };
const num = (n: number | null | undefined) => (n == null ? "–" : String(n));

function historyTable(runs: SyncRuns, lastSyncAt: string | null | undefined): Html {
  const quiet = runs.quietRunsSinceNewest;
  const quietLine =
    quiet > 0
      ? html`<p data-quiet-runs>Since the newest run below, ${plural(quiet, "sync")} found nothing new${lastSyncAt ? html` (the last ${time(lastSyncAt)})` : ""}. Syncs with nothing new are counted, not listed.</p>`
      : "";
  if (runs.runs.length === 0) return html`${quietLine}<p class="muted">No sync has found anything yet.</p>`;
  return html`${quietLine}<table class="runs" aria-labelledby="history-heading">
    <thead><tr><th scope="col">Started</th><th scope="col">Why</th><th scope="col">Outcome</th><th scope="col">Alerts read</th><th scope="col">New malicious files</th><th scope="col">Events queued</th></tr></thead>
    <tbody>${runs.runs.map(
      (run) => html`<tr data-run-id="${String(run.id)}" data-outcome="${run.outcome ?? ""}">
        <td>${time(run.startedAt)}</td>
        <td>${run.reason ? reasonWord(run.reason) : ""}</td>
        <td>${run.outcome === "failed" ? html`<span class="sev high">Failed</span>${run.errorMessage ? html`: ${run.errorMessage}` : ""}` : OUTCOME_WORDS[run.outcome ?? ""] ?? run.outcome ?? ""}</td>
        <td>${num(run.fetched)}</td><td>${num(run.newDetections)}</td><td>${num(run.eventsQueued)}</td>
      </tr>`,
    )}</tbody>
  </table>`;
}

function failedTable(base: string, failed: FailedDeliveries): Html {
  if (failed.length === 0) return html`<p class="muted" data-failed-deliveries="0">No failed deliveries.</p>`;
  return html`<div class="actions"><form method="post" action="${base}/deliveries/retry"><button type="submit" class="primary">Retry all failed deliveries</button></form></div>
  <table class="failed" aria-labelledby="failed-heading" data-failed-deliveries="${String(failed.length)}">
    <thead><tr><th scope="col">What</th><th scope="col">Queued</th><th scope="col">Tries</th><th scope="col">The host's reason</th><th scope="col"><span class="vh">Retry</span></th></tr></thead>
    <tbody>${failed.map(
      (d) => html`<tr data-delivery-id="${String(d.id)}">
        <td>${KIND_WORDS[d.kind] ?? d.kind}${d.kind === "events" ? ` (${plural(d.items, "event")})` : ""}</td>
        <td>${time(d.createdAt)}</td><td>${String(d.attempts)}</td><td>${d.lastError ?? html`<span class="muted">none given</span>`}</td>
        <td><form method="post" action="${base}/deliveries/retry"><input type="hidden" name="id" value="${String(d.id)}"><button type="submit">Retry<span class="vh"> delivery ${String(d.id)}</span></button></form></td>
      </tr>`,
    )}</tbody>
  </table>`;
}

/** What the activity section is drawn from. */
export interface ActivityInput {
  tenantId: string;
  manifest: PluginManifest;
  status: ChannelStatus;
  runs: Read<SyncRuns>;
  failed: Read<FailedDeliveries>;
}

/** The channel's sync history and failed deliveries (the inside of #channel-activity). */
export function channelActivity(a: ActivityInput): Html {
  const base = channelBase(a.tenantId, a.manifest.channel.id);
  const name = a.manifest.channel.name;
  return html`<h2 id="history-heading">${name} sync history</h2>
  <div data-sync-history>${a.runs.ok ? historyTable(a.runs.value, a.status.sync?.lastSyncAt) : html`<p class="sev high">The sync history could not be read: ${a.runs.reason}.</p>`}</div>
  <h2 id="failed-heading">Failed deliveries</h2>
  <p class="muted">What ${name} could not deliver to this host, with the host's reason. A retry sends each again; this host receives it once.</p>
  ${a.failed.ok ? failedTable(base, a.failed.value) : html`<p class="sev high">The failed deliveries could not be read: ${a.failed.reason}.</p>`}`;
}
