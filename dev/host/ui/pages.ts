/** The dev host's pages, rendered on the server from the tenant's records and the plugin's answers. */
import { html, raw } from "hono/html";
import { z } from "zod";
import { BUNDLES, type Bundle } from "../catalog";
import type { ActivationField, ManifestResult, PluginAnswer, PluginManifest } from "../plugin";
import type { HostRecord, ScanWithNotes } from "../state";
import { ACTIVATION_JS } from "./client";
import { jsonScript, layout, paths, time, type Html, type Notice } from "./layout";

/** Who the pages are for. */
export interface TenantInfo {
  tenantId: string;
  tenantName: string;
}

// ---------------------------------------------------------------- the plugin's status, read defensively

const nullableString = z.string().nullish().catch(null);
const count = z.number().catch(0);
const deliveryCounts = z.looseObject({ pending: count, delivered: count, failed: count }).nullish().catch(null);
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
        .looseObject({
          reason: nullableString,
          outcome: nullableString,
          startedAt: nullableString,
          finishedAt: nullableString,
          fetched: z.number().nullish().catch(null),
          newDetections: z.number().nullish().catch(null),
          eventsQueued: z.number().nullish().catch(null),
          error: z.looseObject({ code: nullableString, message: nullableString }).nullish().catch(null),
        })
        .nullish()
        .catch(null),
      lastSyncAt: nullableString,
      quietRunsSinceLastRun: z.number().nullish().catch(null),
      lastSuccessAt: nullableString,
      consecutiveFailures: z.number().nullish().catch(null),
      backoffUntil: nullableString,
      nextRunAt: nullableString,
      inProgress: z.boolean().nullish().catch(null),
    })
    .nullish()
    .catch(null),
  deliveries: z.looseObject({ events: deliveryCounts, notes: deliveryCounts, irRequests: deliveryCounts }).nullish().catch(null),
});
type ChannelStatus = z.infer<typeof statusSchema>;

const STATUS_WORDS: Record<string, string> = { active: "Active", inactive: "Inactive", error: "Error", not_enabled: "Not enabled" };
const statusWord = (s: string) => STATUS_WORDS[s] ?? s;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// ---------------------------------------------------------------- Settings > Bundles and Channels

/** What the Bundles and Channels page shows. */
export interface BundlesPage extends TenantInfo {
  assignedBundles: string[];
  manifest: ManifestResult;
  /** The plugin's answer to GET /status, when the channel is in an assigned bundle. */
  status: PluginAnswer | null;
  notice: Notice | null;
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

function deliveriesText(d: NonNullable<ChannelStatus["deliveries"]>): string | null {
  const parts = (
    [
      ["events", d.events],
      ["notes", d.notes],
      ["IR requests", d.irRequests],
    ] as const
  )
    .filter(([, c]) => c != null && c.pending + c.delivered + c.failed > 0)
    .map(([what, c]) => `${what}: ${c!.delivered} delivered${c!.pending ? `, ${c!.pending} pending` : ""}${c!.failed ? `, ${c!.failed} failed` : ""}`);
  return parts.length === 0 ? null : parts.join("; ");
}

function lastSync(sync: NonNullable<ChannelStatus["sync"]>): Html {
  const run = sync.lastRun;
  const quiet = sync.quietRunsSinceLastRun ?? 0;
  // Syncs that found nothing new are counted, not listed: the newest of them is the last sync.
  if (quiet > 0 && sync.lastSuccessAt) {
    const since = run == null ? "" : ` (${plural(quiet, "sync")} with nothing new since the last one that found something)`;
    return html`Succeeded ${time(sync.lastSuccessAt)}: nothing new${since}.`;
  }
  if (run == null) return html`Not synced yet${sync.inProgress ? " (a sync is starting)" : ""}.`;
  const counts = [
    run.fetched != null ? plural(run.fetched, "alert") + " read" : null,
    run.newDetections != null ? plural(run.newDetections, "new malicious file") : null,
    run.eventsQueued != null ? plural(run.eventsQueued, "event") + " queued" : null,
  ].filter((x) => x !== null);
  const reason = run.reason ? ` (${run.reason})` : "";
  if (run.outcome === "running") return html`Running since ${time(run.startedAt)}${reason}.`;
  if (run.outcome === "failed") {
    return html`<span class="sev high">Failed</span> ${time(run.finishedAt ?? run.startedAt)}${reason}: ${run.error?.message ?? "no reason given"}`;
  }
  return html`Succeeded ${time(run.finishedAt ?? run.startedAt)}${reason}${counts.length ? `: ${counts.join(", ")}` : ""}.`;
}

function channelFacts(s: ChannelStatus): Html {
  const sync = s.sync;
  const deliveries = s.deliveries ? deliveriesText(s.deliveries) : null;
  return html`<dl class="facts">
    ${s.settings?.orgUrl ? html`<dt>Organization's URL</dt><dd><code>${s.settings.orgUrl}</code></dd>` : ""}
    ${s.settings?.clientId ? html`<dt>Client ID</dt><dd>${s.settings.clientId}</dd>` : ""}
    ${s.settings?.username ? html`<dt>Cynet user</dt><dd>${s.settings.username}</dd>` : ""}
    ${s.activatedAt ? html`<dt>Connected</dt><dd>${time(s.activatedAt)}</dd>` : ""}
    ${sync ? html`<dt>Last sync</dt><dd data-last-sync>${lastSync(sync)}</dd>` : s.status === "active" ? html`<dt>Last sync</dt><dd data-last-sync>Not synced yet.</dd>` : ""}
    ${sync?.lastSuccessAt ? html`<dt>Last successful sync</dt><dd>${time(sync.lastSuccessAt)}</dd>` : ""}
    ${sync?.health === "degraded" ? html`<dt>Sync health</dt><dd>Cynet is failing; retrying${sync.consecutiveFailures ? ` after ${plural(sync.consecutiveFailures, "failure")} in a row` : ""}${sync.backoffUntil ? html`, not before ${time(sync.backoffUntil)}` : ""}.</dd>` : ""}
    ${sync?.nextRunAt ? html`<dt>Next sync</dt><dd>${time(sync.nextRunAt)}</dd>` : ""}
    ${deliveries ? html`<dt>Delivered to this host</dt><dd>${deliveries}</dd>` : ""}
    ${s.error?.message ? html`<dt>Error</dt><dd class="sev high" data-channel-error>${s.error.message}${s.error.at ? html` <span class="muted">(${time(s.error.at)})</span>` : ""}</dd>` : ""}
  </dl>`;
}

function pluginRow(p: BundlesPage, manifest: PluginManifest, fromBundles: string[]): Html {
  const base = `/tenants/${encodeURIComponent(p.tenantId)}/settings/channels/${encodeURIComponent(manifest.channel.id)}`;
  const answer = p.status;
  const parsed = answer !== null && answer.status === 200 ? statusSchema.safeParse(answer.json) : null;
  const s = parsed?.success ? parsed.data : null;
  let statusCell: Html;
  let details: Html;
  let actions: Html;
  if (s === null) {
    const why = answer === null ? "not asked" : `HTTP ${answer.status}: ${typeof (answer.json as { message?: unknown } | null)?.message === "string" ? (answer.json as { message: string }).message : answer.text.slice(0, 200)}`;
    statusCell = html`<span class="status error">Unknown</span>`;
    details = html`<p class="sev high">The plugin's status could not be read (${why}).</p>`;
    actions = html`<button type="button" class="primary" data-open-activation>Activate<span class="vh"> ${manifest.channel.name}</span></button>`;
  } else {
    statusCell = html`<span class="status ${s.status}" data-channel-status>${statusWord(s.status)}</span>`;
    details = channelFacts(s);
    const prefill = JSON.stringify({ orgUrl: s.settings?.orgUrl ?? "", clientId: s.settings?.clientId ?? "", username: s.settings?.username ?? "" });
    const connected = s.status === "active" || s.status === "error";
    const enableNote =
      !s.enabled
        ? html`<div class="notice warn"><p>The plugin does not have the channel enabled for this organization although ${fromBundles.join(", ")} is assigned.</p>
            <form method="post" action="${base}/enablement"><button type="submit">Tell the plugin again</button></form></div>`
        : "";
    actions = html`${enableNote}<div class="actions">
      ${connected
        ? html`<form method="post" action="${base}/sync"><button type="submit" class="primary">Sync now</button></form>
            <button type="button" data-open-activation data-prefill="${prefill}">${s.status === "error" ? "Reconnect" : "Edit connection"}<span class="vh"> ${manifest.channel.name}</span></button>
            <form method="post" action="${base}/deactivate"><button type="submit" class="danger">Deactivate<span class="vh"> ${manifest.channel.name}</span></button></form>`
        : html`<button type="button" class="primary" data-open-activation data-prefill="${prefill}">Activate<span class="vh"> ${manifest.channel.name}</span></button>`}
    </div>`;
  }
  return html`<tr data-channel="${manifest.channel.id}">
    <th scope="row">${manifest.channel.name} <span class="tag">plugin ${manifest.channel.version}</span></th>
    <td>${fromBundles.join(", ")}</td>
    <td>${statusCell}</td>
    <td>${details}</td>
    <td>${actions}</td>
  </tr>`;
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
  ${builtIn.length === 0 && pluginBundles.length === 0
    ? html`<p class="panel">No channel is enabled: channels come with the bundles assigned above.</p>`
    : html`<table aria-labelledby="channels-heading" class="channels">
    <colgroup><col style="width: 9rem"><col style="width: 8.5rem"><col style="width: 6.5rem"><col><col style="width: 11.5rem"></colgroup>
    <thead><tr><th scope="col">Channel</th><th scope="col">From bundle</th><th scope="col">Status</th><th scope="col">Details</th><th scope="col">Actions</th></tr></thead>
    <tbody>
      ${manifest !== null && pluginBundles.length > 0 ? pluginRow(p, manifest, pluginBundles) : ""}
      ${builtIn.map(
        (name) => html`<tr><th scope="row">${name} <span class="tag">built in</span></th>
          <td>${assigned.filter((b) => b.builtInChannels.includes(name)).map((b) => b.name).join(", ")}</td>
          <td><span class="status on">On</span></td><td class="muted">Part of the host.</td><td></td></tr>`,
      )}
    </tbody>
  </table>`}
</section>
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
    scripts: manifest !== null && pluginBundles.length > 0 ? [html`<script>${raw(ACTIVATION_JS)}</script>`] : [],
  });
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

function eventDetails(e: HostRecord): Html {
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
    </dl></div>
    <div class="detail-group"><h4>Cynet alert</h4><dl class="facts">
      ${fact("Alert ID", cynet.alertId)}${fact("Cynet severity", cynet.severity)}${fact("Status", cynet.status)}${fact("Incident", cynet.incidentName)}
      ${fact("Detected", cynet.detectedAt, { time: true })}${fact("First seen", cynet.firstSeenAt, { time: true })}${fact("Last seen", cynet.lastSeenAt, { time: true })}
    </dl></div>
  </div>
  <details class="raw"><summary>Event as delivered (JSON)</summary><pre>${JSON.stringify(e, null, 2)}</pre></details>`;
}

const timeOf = (e: HostRecord, key: string) => {
  const ms = Date.parse(str(e[key]) ?? "");
  return Number.isNaN(ms) ? 0 : ms;
};

/** Security Operations > Events: newest first. */
export function eventsPage(t: TenantInfo, events: HostRecord[]): Html {
  const sorted = [...events].sort((a, b) => timeOf(b, "occurredAt") - timeOf(a, "occurredAt") || timeOf(b, "receivedAt") - timeOf(a, "receivedAt"));
  const body = html`<p class="toolbar"><span><span data-count="events">${plural(sorted.length, "event")}</span>, newest first.</span> <a href="">Refresh</a></p>
  ${sorted.length === 0
    ? html`<p class="panel">No events yet. Events arrive when a channel, such as Cynet, reports something.</p>`
    : html`<table class="events" aria-label="Events">
    <colgroup><col style="width: 16rem"><col style="width: 11.5rem"><col style="width: 6rem"><col></colgroup>
    <thead><tr><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Severity</th><th scope="col">Title</th></tr></thead>
    ${sorted.map((e) => {
      const severity = str(e.severity) ?? "unknown";
      return html`<tbody class="event" data-event-id="${str(e.eventId) ?? ""}">
      <tr class="event-row">
        <td>${time(e.occurredAt)}</td>
        <td>${str(e.type) ?? ""}</td>
        <td><span class="sev ${severity}">${capitalized(severity)}</span></td>
        <td>${str(e.title) ?? ""}</td>
      </tr>
      <tr class="event-details-row"><td colspan="4">
        <details class="event-details"><summary>Details<span class="vh"> of ${str(e.title) ?? "this event"}</span></summary>${eventDetails(e)}</details>
      </td></tr>
    </tbody>`;
    })}
  </table>`}`;
  return layout({ ...t, page: "events", section: "Security Operations", title: "Events", body });
}

// ---------------------------------------------------------------- Scans

/** Security Operations > Scans: newest first, each with its notes. */
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
      <h2 id="${s.scanId}-title">${s.fileName} <span class="tag">${s.scanId}</span></h2>
      <dl class="facts">
        <dt>Scanned</dt><dd>${time(s.scannedAt)}</dd>
        ${fact("SHA-256", s.sha256, { code: true })}${fact("MD5", s.md5, { code: true })}${fact("SHA-1", s.sha1, { code: true })}
        <dt>IR requests</dt><dd>${n === 0 ? "None" : html`<a href="${paths.irRequests(t.tenantId)}#scan-${s.scanId}">${plural(n, "request")}</a>`}</dd>
      </dl>
      <section aria-labelledby="${s.scanId}-notes">
        <h3 id="${s.scanId}-notes">Notes (${s.notes.length})</h3>
        ${s.notes.length === 0
          ? html`<p class="muted">No notes.</p>`
          : html`<ul class="notes">${s.notes.map(
              (note) => html`<li data-note-id="${str(note.noteId) ?? ""}"><p class="muted"><strong class="note-author">${str(note.author) ?? "Unknown"}</strong> · ${time(note.receivedAt)}</p>
                <p class="note-text">${str(note.text) ?? ""}</p></li>`,
            )}</ul>`}
      </section>
    </article></li>`;
      })}</ol>`}`;
  return layout({ ...t, page: "scans", section: "Security Operations", title: "Scans", body });
}

// ---------------------------------------------------------------- IR Requests

function evidence(value: unknown): Html {
  const obj = rec(value);
  const entries = Array.isArray(value) ? [] : Object.entries(obj);
  const scalar = entries.filter(([, v]) => typeof v === "string" || typeof v === "number" || typeof v === "boolean");
  const nested = entries.filter(([, v]) => typeof v === "object" && v !== null);
  return html`${scalar.length > 0 ? html`<dl class="facts">${scalar.map(([k, v]) => html`<dt>${k}</dt><dd><code>${String(v)}</code></dd>`)}</dl>` : ""}
    ${Array.isArray(value) || nested.length > 0 ? html`<pre>${JSON.stringify(Array.isArray(value) ? value : Object.fromEntries(nested), null, 2)}</pre>` : ""}`;
}

/** Security Operations > IR Requests: the IR team's queue, in the order received. */
export function irRequestsPage(t: TenantInfo, requests: HostRecord[]): Html {
  const body = html`<p class="toolbar"><span><span data-count="ir-requests">${plural(requests.length, "request")}</span> in the order received.</span> <a href="">Refresh</a></p>
  ${requests.length === 0
    ? html`<p class="panel">The IR team's queue is empty.</p>`
    : html`<ol class="plain">${requests.map((r, i) => {
        const id = str(r.requestId) ?? "";
        const scanId = str(r.scanId) ?? "";
        const firstForScan = requests.findIndex((other) => other.scanId === r.scanId) === i;
        return html`<li ${firstForScan ? html`id="scan-${scanId}"` : ""}><article class="ir" data-request-id="${id}" aria-labelledby="${id}-title">
      <h2 id="${id}-title">${str(r.subject) ?? "(no subject)"}</h2>
      <dl class="facts">
        <dt>Priority</dt><dd class="sev ${(str(r.priority) ?? "").toLowerCase()}">${capitalized(str(r.priority) ?? "")}</dd>
        <dt>Scan</dt><dd><a href="${paths.scans(t.tenantId)}#${scanId}"><code>${scanId}</code></a></dd>
        <dt>Received</dt><dd>${time(r.receivedAt)}</dd>
        <dt>Request ID</dt><dd><code>${id}</code></dd>
      </dl>
      <h3>Description</h3>
      <p class="ir-description">${str(r.description) ?? ""}</p>
      <h3>Evidence</h3>
      ${evidence(r.evidence)}
    </article></li>`;
      })}</ol>`}`;
  return layout({ ...t, page: "ir-requests", section: "Security Operations", title: "IR Requests", body });
}
