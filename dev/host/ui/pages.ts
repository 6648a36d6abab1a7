/** The dev host's pages, rendered on the server from the tenant's records and the plugin's answers. */
import { html, raw } from "hono/html";
import { z } from "zod";
import { BUNDLES, type Bundle } from "../catalog";
import type { ActivationField, ManifestAction, ManifestResult, PluginAnswer, PluginManifest } from "../plugin";
import { actionForm, offerOf } from "./actions";
import type { HostRecord, ScanWithNotes } from "../state";
import { channelRow, plural } from "./channel";
import { ACTIVATION_JS, CHANNEL_LIVE_JS, MAX_STATUS_POLLS, STATUS_POLL_INTERVAL_MS } from "./client";
import { jsonScript, layout, paths, time, type Html, type Notice } from "./layout";

/** Who the pages are for. */
export interface TenantInfo {
  tenantId: string;
  tenantName: string;
}

// ---------------------------------------------------------------- Settings > Bundles and Channels

/** What the Bundles and Channels page shows. */
export interface BundlesPage extends TenantInfo {
  assignedBundles: string[];
  manifest: ManifestResult;
  /** The plugin's answer to GET /status, when the channel is in an assigned bundle. */
  status: PluginAnswer | null;
  notice: Notice | null;
  /** Whether the channel row keeps refreshing itself (a sync is running or deliveries are on the way). */
  live: boolean;
  /** When Connect or Sync now asked for the sync the row waits for. */
  watchSince: string | null;
  /** The channel's sync history and failed deliveries, once it was connected. */
  activity: Html | null;
}

function channelsOf(bundle: Bundle, manifest: PluginManifest | null): { name: string; plugin: boolean }[] {
  const builtIn = bundle.builtInChannels.map((name) => ({ name, plugin: false }));
  const includesPlugin = manifest?.bundles.some((b) => b.id === bundle.id) ?? false;
  return manifest !== null && includesPlugin ? [...builtIn, { name: manifest.channel.name, plugin: true }] : builtIn;
}

function bundleCard(t: TenantInfo, bundle: Bundle, manifest: PluginManifest | null, assigned: boolean): Html {
  const action = `/tenants/${encodeURIComponent(t.tenantId)}/settings/bundles/${encodeURIComponent(bundle.id)}/${assigned ? "unassign" : "assign"}`;
  return html`<li data-bundle="${bundle.id}">
  <h3 id="bundle-${bundle.id}">${bundle.name}</h3>
  <p>${bundle.description}</p>
  <details class="bundle-settings" ${assigned ? raw("open") : ""}>
    <summary>Bundle Settings<span class="vh"> of ${bundle.name}</span></summary>
    <p class="muted">Channels in this bundle:</p>
    <ul aria-label="Channels in ${bundle.name}">
      ${channelsOf(bundle, manifest).map((c) => html`<li>${c.name} <span class="tag">${c.plugin ? "plugin" : "built in"}</span></li>`)}
    </ul>
  </details>
  <form method="post" action="${action}">
    <button type="submit" class="${assigned ? "danger" : "primary"}">${assigned ? "Unassign" : "Assign"}<span class="vh"> ${bundle.name}</span></button>
  </form>
</li>`;
}

function fieldHtml(f: ActivationField, tenantName: string): Html {
  const id = `f-${f.name}`;
  const type = f.secret || f.type === "password" ? "password" : f.type === "url" ? "url" : "text";
  const describedBy = [f.help ? `${id}-help` : null, f.name === "orgUrl" ? `${id}-preview` : null, `${id}-error`].filter(Boolean).join(" ");
  const autocomplete = f.secret ? "new-password" : "off";
  return html`<div class="field">
    <label for="${id}">${f.label}${f.required ? html` <span class="req">(required)</span>` : ""}</label>
    <input id="${id}" name="${f.name}" type="${type}" placeholder="${f.placeholder}" autocomplete="${autocomplete}" spellcheck="false"
      ${f.required ? raw("required") : ""} aria-describedby="${describedBy}" ${type === "url" ? raw('inputmode="url"') : ""}>
    ${f.help ? html`<p class="help" id="${id}-help">${f.help}</p>` : ""}
    ${f.name === "orgUrl" ? html`<p class="preview" id="${id}-preview">${tenantName}'s Cynet API: <output id="orgUrl-normalized" for="${id}" aria-live="polite"></output></p>` : ""}
    <p class="field-error" id="${id}-error" hidden></p>
  </div>`;
}

function activationDialog(p: BundlesPage, manifest: PluginManifest): Html {
  const a = manifest.activation;
  return html`<dialog id="activation-dialog" aria-labelledby="activation-title" aria-describedby="activation-intro">
  <form novalidate>
    <h2 id="activation-title">${a.title}</h2>
    <p id="activation-intro" class="muted">Connect ${p.tenantName} to its Cynet organization. ${manifest.channel.description}</p>
    <div id="activation-error" class="form-error" role="alert" tabindex="-1" hidden></div>
    ${a.fields.map((f) => fieldHtml(f, p.tenantName))}
    <div class="actions">
      <button type="submit" class="primary">${a.submitLabel}</button>
      <button type="button" data-close>Cancel</button>
    </div>
  </form>
</dialog>
${jsonScript("activation-data", {
  endpoint: `/ui/api/tenants/${encodeURIComponent(p.tenantId)}/activation`,
  returnTo: paths.bundles(p.tenantId),
  fields: a.fields.map((f) => f.name),
  channelName: manifest.channel.name,
  busyLabel: a.submitLabel === "Connect" ? "Connecting…" : `${a.submitLabel}…`,
})}`;
}

/** Settings > Bundles and Channels. */
export function bundlesPage(p: BundlesPage): Html {
  const manifest = p.manifest.ok ? p.manifest.manifest : null;
  const assigned = BUNDLES.filter((b) => p.assignedBundles.includes(b.id));
  const available = BUNDLES.filter((b) => !p.assignedBundles.includes(b.id));
  const builtIn = [...new Set(assigned.flatMap((b) => b.builtInChannels))];
  const pluginBundles = manifest === null ? [] : assigned.filter((b) => manifest.bundles.some((mb) => mb.id === b.id)).map((b) => b.name);
  const notices: (Notice | { tone: "warn"; text: string })[] = [];
  if (p.notice) notices.push(p.notice);
  if (!p.manifest.ok) notices.push({ tone: "warn", text: `The plugin's manifest could not be read, so plugin channels are not shown: ${p.manifest.reason}` });

  const body = html`
<section aria-labelledby="assigned-heading">
  <h2 id="assigned-heading">Assigned Bundles</h2>
  ${assigned.length === 0
    ? html`<p class="panel">No bundle is assigned to ${p.tenantName} yet. Assign one below.</p>`
    : html`<ul class="cards" aria-labelledby="assigned-heading">${assigned.map((b) => bundleCard(p, b, manifest, true))}</ul>`}
</section>

<section aria-labelledby="channels-heading">
  <h2 id="channels-heading">Enabled Channels</h2>
  <p class="vh" id="channel-live-announcer" aria-live="polite"></p>
  ${builtIn.length === 0 && pluginBundles.length === 0
    ? html`<p class="panel">No channel is enabled: channels come with the bundles assigned above.</p>`
    : html`<table aria-labelledby="channels-heading" class="channels">
    <colgroup><col style="width: 9rem"><col style="width: 8.5rem"><col style="width: 6.5rem"><col><col style="width: 11.5rem"></colgroup>
    <thead><tr><th scope="col">Channel</th><th scope="col">From bundle</th><th scope="col">Status</th><th scope="col">Details</th><th scope="col">Actions</th></tr></thead>
    <tbody>
      ${manifest !== null && pluginBundles.length > 0 ? channelRow({ tenantId: p.tenantId, manifest, fromBundles: pluginBundles, answer: p.status, live: p.live }) : ""}
      ${builtIn.map(
        (name) => html`<tr><th scope="row">${name} <span class="tag">built in</span></th>
          <td>${assigned.filter((b) => b.builtInChannels.includes(name)).map((b) => b.name).join(", ")}</td>
          <td><span class="status on">On</span></td><td class="muted">Part of the host.</td><td></td></tr>`,
      )}
    </tbody>
  </table>`}
</section>
${p.activity !== null ? html`<section id="channel-activity" aria-labelledby="history-heading">${p.activity}</section>` : ""}
<section aria-labelledby="available-heading">
  <h2 id="available-heading">Available Bundles</h2>
  ${available.length === 0
    ? html`<p class="panel">Every bundle is assigned.</p>`
    : html`<ul class="cards" aria-labelledby="available-heading">${available.map((b) => bundleCard(p, b, manifest, false))}</ul>`}
</section>
${manifest !== null && pluginBundles.length > 0 ? activationDialog(p, manifest) : ""}`;
  return layout({
    ...p,
    page: "bundles",
    section: "Settings",
    title: "Bundles and Channels",
    notices,
    body,
    scripts:
      manifest !== null && pluginBundles.length > 0
        ? [
            jsonScript("channel-live", {
              endpoint: `/ui/api/tenants/${encodeURIComponent(p.tenantId)}/channel${p.watchSince ? `?since=${encodeURIComponent(p.watchSince)}` : ""}`,
              live: p.live,
              intervalMs: STATUS_POLL_INTERVAL_MS,
              maxPolls: MAX_STATUS_POLLS,
            }),
            html`<script>${raw(ACTIVATION_JS)}</script>`,
            html`<script>${raw(CHANNEL_LIVE_JS)}</script>`,
          ]
        : [],
  });
}

/** What the deactivation confirmation shows. */
export interface DeactivatePage extends TenantInfo {
  channelName: string;
  /** Where the confirmed form posts. */
  action: string;
  /** The connection that will be forgotten, when the plugin said. */
  orgUrl: string | null;
  username: string | null;
  /** Set when the form came back without the box ticked. */
  unconfirmed: boolean;
}

/** The name of the box that confirms a deactivation, and the value it sends. */
export const DEACTIVATE_CONFIRM = { name: "confirm", value: "destroy-credentials" } as const;

/**
 * Settings > Bundles and Channels > Deactivate: a page of its own, so the confirmation holds
 * without JavaScript; the box is required by the browser and checked again by the dev host.
 */
export function deactivatePage(p: DeactivatePage): Html {
  const body = html`<div class="panel confirm">
    <h2 id="confirm-heading">Deactivate ${p.channelName} for ${p.tenantName}?</h2>
    <ul>
      <li>The ${p.channelName} credentials stored for ${p.tenantName}${p.username ? html` (user <strong>${p.username}</strong>${p.orgUrl ? html` at <code>${p.orgUrl}</code>` : ""})` : ""} are destroyed. Connecting again needs the password.</li>
      <li>Syncing stops: nothing new arrives from ${p.channelName}.</li>
      <li>What ${p.channelName} already delivered (events, scan notes, IR requests) stays.</li>
    </ul>
    <form method="post" action="${p.action}" aria-labelledby="confirm-heading">
      ${p.unconfirmed ? html`<p class="form-error" role="alert" id="confirm-error">Tick the box to confirm, or cancel.</p>` : ""}
      <p class="check"><input type="checkbox" id="confirm-box" name="${DEACTIVATE_CONFIRM.name}" value="${DEACTIVATE_CONFIRM.value}" required
        ${p.unconfirmed ? raw('aria-invalid="true" aria-describedby="confirm-error"') : ""}>
        <label for="confirm-box">I understand the ${p.channelName} credentials are destroyed</label></p>
      <div class="actions">
        <button type="submit" class="danger">Deactivate ${p.channelName}</button>
        <a href="${paths.bundles(p.tenantId)}">Cancel</a>
      </div>
    </form>
  </div>`;
  return layout({ ...p, page: "bundles", section: "Settings", parent: { label: "Bundles and Channels", href: paths.bundles(p.tenantId) }, title: `Deactivate ${p.channelName}`, body });
}

// ---------------------------------------------------------------- Security Operations > Events

const rec = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : null);
const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function fact(label: string, value: unknown, opts: { code?: boolean; time?: boolean } = {}): Html {
  const s = str(value);
  if (s === null) return html``;
  return html`<dt>${label}</dt><dd>${opts.time ? time(s) : opts.code ? html`<code>${s}</code>` : s}</dd>`;
}

/**
 * Where the event's Cynet alert is. cynet-api.md documents no console address for an alert
 * (only the API's), so the page gives the alert id and the organization's URL as text rather
 * than a link that might lead nowhere.
 */
function cynetAlertPlace(alertId: string | null, orgUrl: string | null): Html {
  if (alertId === null) return html``;
  return html`<dt>In Cynet</dt><dd data-cynet-alert>Alert <code>${alertId}</code>${orgUrl ? html` in the organization <code>${orgUrl}</code>` : ""}
    <span class="muted">(search for the alert ID in the Cynet console; Cynet documents no direct link to an alert)</span></dd>`;
}

function eventDetails(e: HostRecord, orgUrl: string | null): Html {
  const d = rec(e.details);
  const file = rec(d.file);
  const endpoint = rec(d.endpoint);
  const cynet = rec(d.cynet);
  return html`<div class="detail-groups">
    <div class="detail-group"><h4>File</h4><dl class="facts">
      ${fact("Name", file.name)}${fact("Path", file.path, { code: true })}
      ${fact("SHA-256", file.sha256, { code: true })}${fact("MD5", file.md5, { code: true })}${fact("SHA-1", file.sha1, { code: true })}
    </dl></div>
    <div class="detail-group"><h4>Endpoint</h4><dl class="facts">
      ${fact("Host", endpoint.hostName)}${fact("IP", endpoint.ip)}${fact("User", endpoint.user)}${fact("Host ID", endpoint.hostId)}
      ${fact("Path on endpoint", endpoint.path, { code: true })}${typeof endpoint.ranAsProcess === "boolean" ? fact("Ran as a process", endpoint.ranAsProcess ? "Yes" : "No") : ""}
      ${fact("Owner", endpoint.ownerUser)}${fact("Running user", endpoint.runningUser)}${fact("Created", endpoint.createdAt, { time: true })}${fact("Last run", endpoint.lastRunAt, { time: true })}
    </dl></div>
    ${Array.isArray(d.scans)
      ? html`<div class="detail-group"><h4>Convicted in scans</h4><dl class="facts">${d.scans.map((s) => {
          const scan = rec(s);
          return fact(str(scan.scanId) ?? "Scan", scan.convictedAt, { time: true });
        })}</dl></div>`
      : html`<div class="detail-group"><h4>Cynet alert</h4><dl class="facts">
      ${fact("Alert ID", cynet.alertId)}${fact("Cynet severity", cynet.severity)}${fact("Status", cynet.status)}${fact("Incident", cynet.incidentName)}
      ${fact("Detected", cynet.detectedAt, { time: true })}${fact("First seen", cynet.firstSeenAt, { time: true })}${fact("Last seen", cynet.lastSeenAt, { time: true })}
      ${cynetAlertPlace(str(cynet.alertId), orgUrl)}
    </dl></div>`}
  </div>
  <details class="raw"><summary>Event as delivered (JSON)</summary><pre>${JSON.stringify(e, null, 2)}</pre></details>`;
}

const timeOf = (e: HostRecord, key: string) => {
  const ms = Date.parse(str(e[key]) ?? "");
  return Number.isNaN(ms) ? 0 : ms;
};

/** Events on one page: a screenful of rows, each with its details closed. */
export const EVENTS_PAGE_SIZE = 25;
/** Longest search text: longer than any hash (64) or path a person pastes. */
const MAX_EVENT_SEARCH_LENGTH = 300;

/** The Events page's query: `?q=` (a hash, host name or file name, any part, any case) and `?page=` (from 1). */
export const eventsQuerySchema = z.object({
  q: z.string().trim().max(MAX_EVENT_SEARCH_LENGTH).catch("").default(""),
  page: z.coerce.number().int().min(1).catch(1).default(1),
});
/** What the Events page was asked for. */
export type EventsQuery = z.infer<typeof eventsQuerySchema>;

/** The words an event is found by: its file's name and hashes, the endpoint's host name, and the title. */
function searchText(e: HostRecord): string {
  const d = rec(e.details);
  const file = rec(d.file);
  const endpoint = rec(d.endpoint);
  return [file.name, file.path, file.sha256, file.md5, file.sha1, endpoint.hostName, endpoint.ip, e.title]
    .map(str)
    .filter((x) => x !== null)
    .join("\n")
    .toLowerCase();
}

function eventsHref(t: TenantInfo, q: string, page: number): string {
  const params = new URLSearchParams();
  if (q !== "") params.set("q", q);
  if (page > 1) params.set("page", String(page));
  const query = params.toString();
  return paths.events(t.tenantId) + (query ? `?${query}` : "");
}

function pager(t: TenantInfo, q: string, page: number, pages: number): Html {
  if (pages <= 1) return html``;
  return html`<nav class="pager" aria-label="Pages of events">
    ${page > 1 ? html`<a href="${eventsHref(t, q, page - 1)}" rel="prev">← Newer</a>` : html`<span class="muted">← Newer</span>`}
    <span data-page-of>Page ${page} of ${pages}</span>
    ${page < pages ? html`<a href="${eventsHref(t, q, page + 1)}" rel="next">Older →</a>` : html`<span class="muted">Older →</span>`}
  </nav>`;
}

/** Security Operations > Events: newest first, a page at a time, searchable. */
export function eventsPage(t: TenantInfo, events: HostRecord[], query: EventsQuery, orgUrl: string | null): Html {
  const needle = query.q.toLowerCase();
  const matching = events.filter((e) => needle === "" || searchText(e).includes(needle));
  const sorted = matching.sort((a, b) => timeOf(b, "occurredAt") - timeOf(a, "occurredAt") || timeOf(b, "receivedAt") - timeOf(a, "receivedAt"));
  const pages = Math.max(1, Math.ceil(sorted.length / EVENTS_PAGE_SIZE));
  const page = Math.min(query.page, pages);
  const shown = sorted.slice((page - 1) * EVENTS_PAGE_SIZE, page * EVENTS_PAGE_SIZE);
  const first = (page - 1) * EVENTS_PAGE_SIZE + 1;
  const summary =
    sorted.length === 0
      ? query.q !== "" ? `No event matches “${query.q}” (of ${plural(events.length, "event")}).` : "No events."
      : `${sorted.length > shown.length ? `${first}–${first + shown.length - 1} of ` : ""}${plural(sorted.length, "event")}${query.q !== "" ? ` matching “${query.q}” (of ${events.length})` : ""}, newest first.`;
  const body = html`<form class="filter" method="get" action="${paths.events(t.tenantId)}" role="search">
    <label for="events-q">Find events</label>
    <input id="events-q" name="q" type="search" value="${query.q}" maxlength="${String(MAX_EVENT_SEARCH_LENGTH)}" spellcheck="false"
      placeholder="hash, host name or file name" aria-describedby="events-q-help">
    <button type="submit">Search</button>
    ${query.q !== "" ? html`<a href="${paths.events(t.tenantId)}">Clear</a>` : ""}
    <p class="help muted" id="events-q-help">Any part of a SHA-256, MD5 or SHA-1, an endpoint's host name, or a file's name; any case.</p>
  </form>
  <p class="toolbar"><span data-count="events">${summary}</span> <a href="${eventsHref(t, query.q, page)}">Refresh</a></p>
  ${events.length === 0
    ? html`<p class="panel">No events yet. Events arrive when a channel, such as Cynet, reports something.</p>`
    : shown.length === 0
      ? ""
      : html`<table class="events" aria-label="Events">
    <colgroup><col style="width: 16rem"><col style="width: 11.5rem"><col style="width: 6rem"><col></colgroup>
    <thead><tr><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Severity</th><th scope="col">Title</th></tr></thead>
    ${shown.map((e) => {
      const severity = str(e.severity) ?? "unknown";
      return html`<tbody class="event" data-event-id="${str(e.eventId) ?? ""}">
      <tr class="event-row">
        <td>${time(e.occurredAt)}</td>
        <td>${str(e.type) ?? ""}</td>
        <td><span class="sev ${severity}">${capitalized(severity)}</span></td>
        <td>${str(e.title) ?? ""}</td>
      </tr>
      <tr class="event-details-row"><td colspan="4">
        <details class="event-details"><summary>Details<span class="vh"> of ${str(e.title) ?? "this event"}</span></summary>${eventDetails(e, orgUrl)}</details>
      </td></tr>
    </tbody>`;
    })}
  </table>`}
  ${pager(t, query.q, page, pages)}`;
  return layout({ ...t, page: "events", section: "Security Operations", title: "Events", body });
}

// ---------------------------------------------------------------- Scans

function scanHashes(s: ScanWithNotes): Html {
  return html`${fact("SHA-256", s.sha256, { code: true })}${fact("MD5", s.md5, { code: true })}${fact("SHA-1", s.sha1, { code: true })}`;
}

const newestFirst = (a: HostRecord, b: HostRecord) => timeOf(b, "receivedAt") - timeOf(a, "receivedAt");

/** Security Operations > Scans: newest first, each with its notes and a link to its details. */
export function scansPage(t: TenantInfo, scans: ScanWithNotes[], irRequests: HostRecord[]): Html {
  const sorted = [...scans].sort((a, b) => Date.parse(b.scannedAt) - Date.parse(a.scannedAt));
  const withNotes = sorted.filter((s) => s.notes.length > 0).length;
  const requestsFor = (scanId: string) => irRequests.filter((r) => r.scanId === scanId).length;
  const body = html`<p class="toolbar"><span>${plural(sorted.length, "scan")}, ${withNotes} with notes; newest first.</span> <a href="">Refresh</a></p>
  ${sorted.length === 0
    ? html`<p class="panel">No scans.</p>`
    : html`<ol class="plain">${sorted.map((s) => {
        const n = requestsFor(s.scanId);
        return html`<li><article class="scan" id="${s.scanId}" data-scan-id="${s.scanId}" aria-labelledby="${s.scanId}-title">
      <h2 id="${s.scanId}-title"><a href="${paths.scan(t.tenantId, s.scanId)}">${s.fileName}</a> <span class="tag">${s.scanId}</span></h2>
      <dl class="facts">
        <dt>Scanned</dt><dd>${time(s.scannedAt)}</dd>
        ${scanHashes(s)}
        <dt>IR requests</dt><dd>${n === 0 ? "None" : html`<a href="${paths.scan(t.tenantId, s.scanId)}#ir-requests">${plural(n, "request")}</a>`}</dd>
      </dl>
      <section aria-labelledby="${s.scanId}-notes">
        <h3 id="${s.scanId}-notes">Notes (${s.notes.length})</h3>
        ${notesList(s.notes)}
      </section>
    </article></li>`;
      })}</ol>`}`;
  return layout({ ...t, page: "scans", section: "Security Operations", title: "Scans", body });
}

function notesList(notes: HostRecord[]): Html {
  if (notes.length === 0) return html`<p class="muted">No notes.</p>`;
  return html`<ul class="notes">${notes.map(
    (note) => html`<li data-note-id="${str(note.noteId) ?? ""}"><p class="muted"><strong class="note-author">${str(note.author) ?? "Unknown"}</strong> · ${time(note.receivedAt)}</p>
      <p class="note-text">${str(note.text) ?? ""}</p></li>`,
  )}</ul>`;
}

/** Security Operations > Scans > one scan: the scanned file and its hashes, its notes and the IR requests about it. */
export function scanPage(t: TenantInfo, scan: ScanWithNotes, irRequests: HostRecord[], notice: Notice | null = null, actions: ManifestAction[] = []): Html {
  const requests = irRequests.filter((r) => r.scanId === scan.scanId).sort(newestFirst);
  // The endpoints the scan's IR requests name, for the action form.
  const offers = requests.map(offerOf).filter((o) => o !== null);
  const offer = offers[0] ? { ...offers[0], hosts: [...new Set(offers.flatMap((o) => o.hosts))] } : null;
  const body = html`<article class="scan" data-scan-id="${scan.scanId}" aria-labelledby="scan-file">
    <h2 id="scan-file">${scan.fileName} <span class="tag">${scan.scanId}</span></h2>
    <dl class="facts">
      <dt>Scan ID</dt><dd><code>${scan.scanId}</code></dd>
      <dt>Scanned</dt><dd>${time(scan.scannedAt)}</dd>
      <dt>Scanner verdict</dt><dd data-verdict="${scan.convictedAt ? "malicious" : "none"}">${scan.convictedAt ? html`Malicious, convicted ${time(scan.convictedAt)}` : "Not convicted"}</dd>
    </dl>
    <form method="post" action="${paths.scan(t.tenantId, scan.scanId)}/convict" class="inline">
      <button type="submit"${scan.sha256 ? "" : " disabled"}>${scan.convictedAt ? "Send the conviction again" : "Convict this file (the scanner's verdict: malicious)"}</button>
      <span class="muted">${scan.sha256 ? "The channel then looks for it on the endpoints." : "Needs the file's SHA-256."}</span>
    </form>
    <h3>Scanned file</h3>
    <table class="attachments" aria-label="Files in this scan">
      <thead><tr><th scope="col">File name</th><th scope="col">Hashes</th></tr></thead>
      <tbody><tr><td>${scan.fileName}</td><td><dl class="facts">${scanHashes(scan)}</dl></td></tr></tbody>
    </table>
  </article>
  <section class="scan" aria-labelledby="notes-heading">
    <h2 id="notes-heading">Notes (${scan.notes.length})</h2>
    ${notesList(scan.notes)}
  </section>
  <section class="scan" id="ir-requests" aria-labelledby="ir-heading">
    <h2 id="ir-heading">IR requests (${requests.length})</h2>
    ${requests.length === 0
      ? html`<p class="muted">No IR request is about this scan.</p>`
      : html`<ul class="plain">${requests.map((r) => {
          const id = str(r.requestId) ?? "";
          return html`<li data-request-id="${id}"><p><a href="${paths.irRequests(t.tenantId)}#${id}">${str(r.subject) ?? "(no subject)"}</a></p>
            <p class="muted">${irStatusBadge()} · ${capitalized(str(r.priority) ?? "")} priority · received ${time(r.receivedAt)}</p></li>`;
        })}</ul>`}
    ${offer ? actionForm(t, offer, actions, { scanId: scan.scanId, irRequestId: null }, "scan") : ""}
  </section>`;
  return layout({ ...t, page: "scans", section: "Security Operations", parent: { label: "Scans", href: paths.scans(t.tenantId) }, title: scan.fileName, body, notices: notice ? [notice] : [] });
}

/** A scan id the dev host does not have: a page that says so, not JSON. */
export function scanNotFoundPage(t: TenantInfo, scanId: string): Html {
  const body = html`<p class="panel">There is no scan <code>${scanId}</code> for ${t.tenantName}. <a href="${paths.scans(t.tenantId)}">All scans</a></p>`;
  return layout({ ...t, page: "scans", section: "Security Operations", parent: { label: "Scans", href: paths.scans(t.tenantId) }, title: "No such scan", body });
}

// ---------------------------------------------------------------- IR Requests

/**
 * The dev host's IR queue has no workflow: a request stays open once received (the real host's
 * IR team moves it on). The status is shown so the page reads like the real queue.
 */
function irStatusBadge(): Html {
  return html`<span class="status open" data-ir-status>Open</span>`;
}

function evidence(value: unknown): Html {
  const obj = rec(value);
  const entries = Array.isArray(value) ? [] : Object.entries(obj);
  const scalar = entries.filter(([, v]) => typeof v === "string" || typeof v === "number" || typeof v === "boolean");
  const nested = entries.filter(([, v]) => typeof v === "object" && v !== null);
  return html`${scalar.length > 0 ? html`<dl class="facts">${scalar.map(([k, v]) => html`<dt>${k}</dt><dd><code>${String(v)}</code></dd>`)}</dl>` : ""}
    ${Array.isArray(value) || nested.length > 0 ? html`<pre>${JSON.stringify(Array.isArray(value) ? value : Object.fromEntries(nested), null, 2)}</pre>` : ""}`;
}

/** Security Operations > IR Requests: the IR team's queue, newest first, evidence folded. */
export function irRequestsPage(t: TenantInfo, requests: HostRecord[], actions: ManifestAction[] = []): Html {
  const sorted = [...requests].sort(newestFirst);
  const body = html`<p class="toolbar"><span><span data-count="ir-requests">${plural(sorted.length, "request")}</span>, newest first.</span> <a href="">Refresh</a></p>
  ${sorted.length === 0
    ? html`<p class="panel">The IR team's queue is empty.</p>`
    : html`<ol class="plain">${sorted.map((r) => {
        const id = str(r.requestId) ?? "";
        const scanId = str(r.scanId) ?? "";
        return html`<li id="${id}"><article class="ir" data-request-id="${id}" data-scan-id="${scanId}" aria-labelledby="${id}-title">
      <h2 id="${id}-title">${str(r.subject) ?? "(no subject)"}</h2>
      <dl class="facts">
        <dt>Status</dt><dd>${irStatusBadge()}</dd>
        <dt>Priority</dt><dd class="sev ${(str(r.priority) ?? "").toLowerCase()}">${capitalized(str(r.priority) ?? "")}</dd>
        <dt>Scan</dt><dd><a href="${paths.scan(t.tenantId, scanId)}"><code>${scanId}</code></a></dd>
        <dt>Received</dt><dd>${time(r.receivedAt)}</dd>
        <dt>Request ID</dt><dd><code>${id}</code></dd>
      </dl>
      <h3>Description</h3>
      <p class="ir-description">${str(r.description) ?? ""}</p>
      <details class="evidence"><summary>Evidence<span class="vh"> for ${str(r.subject) ?? "this request"}</span></summary>${evidence(r.evidence)}</details>
      ${(() => {
        const offer = offerOf(r);
        return offer ? actionForm(t, offer, actions, { scanId: scanId || null, irRequestId: id || null }, id) : "";
      })()}
    </article></li>`;
      })}</ol>`}`;
  return layout({ ...t, page: "ir-requests", section: "Security Operations", title: "IR Requests", body });
}
