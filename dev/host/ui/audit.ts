/**
 * Settings > Audit Trail: the plugin's record of every change made to its channel (GET /audit),
 * newest first, a page at a time. Rendered from the plugin's answer, parsed defensively: a
 * field it drops shows as missing, never as a crash.
 */
import { html } from "hono/html";
import { z } from "zod";
import type { PluginAnswer } from "../plugin";
import { layout, paths, time, type Html } from "./layout";
import type { TenantInfo } from "./pages";

/** Entries on one page: a screen of rows. */
export const AUDIT_PAGE_SIZE = 50;

/** The words of each action the plugin records; an action it adds later shows by its name. */
const ACTION_WORDS: Record<string, string> = {
  enablement_changed: "Enablement changed",
  connected: "Connected",
  credentials_rotated: "Credentials replaced",
  connect_refused: "Connect refused",
  deactivated: "Deactivated",
  sync_requested: "Sync now",
  backfill_requested: "Backfill",
  reset_requested: "Cursor reset",
  delivery_retried: "Deliveries retried",
  findings_submitted: "Findings submitted",
  action_requested: "Response action requested",
  action_finished: "Response action finished",
};
const OUTCOME_WORDS: Record<string, { word: string; tone: string }> = {
  accepted: { word: "Accepted", tone: "on" },
  succeeded: { word: "Succeeded", tone: "on" },
  refused: { word: "Refused", tone: "open" },
  failed: { word: "Failed", tone: "error" },
};

/** The page's query: `?before=` (the previous page's last id) and `?action=`. */
export const auditQuerySchema = z.object({
  before: z.coerce.number().int().positive().optional().catch(undefined),
  action: z.string().regex(/^[a-z_]{1,64}$/).optional().catch(undefined),
});
/** What the Audit Trail page was asked for. */
export type AuditQuery = z.infer<typeof auditQuerySchema>;

const nullableString = z.string().nullish().catch(null);
const entrySchema = z.looseObject({
  id: z.number(),
  at: nullableString,
  actor: z.looseObject({ id: z.string(), name: nullableString }).nullish().catch(null),
  action: z.string().catch("unknown"),
  outcome: z.string().catch("unknown"),
  subject: nullableString,
  detail: z.record(z.string(), z.unknown()).catch({}),
});
const pageSchema = z.looseObject({ entries: z.array(entrySchema), nextBefore: z.number().nullish().catch(null) });
type Entry = z.infer<typeof entrySchema>;

/** The plugin's path for a page of the trail. */
export function auditPluginPath(query: AuditQuery): string {
  const params = new URLSearchParams({ limit: String(AUDIT_PAGE_SIZE) });
  if (query.before !== undefined) params.set("before", String(query.before));
  if (query.action !== undefined) params.set("action", query.action);
  return `/audit?${params}`;
}

function pageHref(tenantId: string, query: AuditQuery): string {
  const params = new URLSearchParams();
  if (query.action !== undefined) params.set("action", query.action);
  if (query.before !== undefined) params.set("before", String(query.before));
  const q = params.toString();
  return paths.audit(tenantId) + (q ? `?${q}` : "");
}

function detailValue(value: unknown): Html {
  if (value === null || value === undefined) return html`<span class="muted">none</span>`;
  if (Array.isArray(value) && value.every((v) => typeof v !== "object")) return html`<code>${value.length === 0 ? "none" : value.join(", ")}</code>`;
  if (typeof value === "object") return html`<code>${JSON.stringify(value)}</code>`;
  return html`<code>${String(value)}</code>`;
}

function entryRow(e: Entry): Html {
  const outcome = OUTCOME_WORDS[e.outcome] ?? { word: e.outcome, tone: "off" };
  const facts = Object.entries(e.detail);
  return html`<tr data-audit-id="${String(e.id)}" data-action="${e.action}" data-outcome="${e.outcome}">
    <td>${time(e.at)}</td>
    <td data-actor>${e.actor ? html`${e.actor.name ?? e.actor.id}${e.actor.name ? html`<br><small class="muted">${e.actor.id}</small>` : ""}` : html`<span class="muted">The host</span>`}</td>
    <td>${ACTION_WORDS[e.action] ?? e.action}</td>
    <td>${e.subject ?? html`<span class="muted">–</span>`}</td>
    <td><span class="status ${outcome.tone}">${outcome.word}</span>${typeof e.detail.message === "string" ? html`<br><small>${e.detail.message}</small>` : ""}</td>
    <td>${facts.length === 0
      ? html`<span class="muted">–</span>`
      : html`<details><summary>Details<span class="vh"> of entry ${String(e.id)}</span></summary><dl class="facts">${facts.map(([k, v]) => html`<dt>${k}</dt><dd>${detailValue(v)}</dd>`)}</dl></details>`}</td>
  </tr>`;
}

/** Settings > Audit Trail. `answer` is the plugin's answer to GET /audit for `query`. */
export function auditPage(t: TenantInfo, channelName: string, query: AuditQuery, answer: PluginAnswer): Html {
  const parsed = answer.status === 200 ? pageSchema.safeParse(answer.json) : null;
  const filter = html`<form class="filter" method="get" action="${paths.audit(t.tenantId)}">
    <label for="audit-action">Show</label>
    <select id="audit-action" name="action">
      <option value="" ${query.action === undefined ? "selected" : ""}>Every change</option>
      ${Object.entries(ACTION_WORDS).map(([value, words]) => html`<option value="${value}" ${query.action === value ? "selected" : ""}>${words}</option>`)}
    </select>
    <button type="submit">Show</button>
  </form>`;
  let content: Html;
  if (parsed === null || !parsed.success) {
    const why = parsed === null ? (z.object({ message: z.string() }).safeParse(answer.json).data?.message ?? `the plugin answered ${answer.status}`) : "the plugin's answer was not in the shape the dev host expects";
    content = html`<p class="panel sev high" role="alert">The audit trail could not be read: ${why}</p>`;
  } else if (parsed.data.entries.length === 0) {
    content = html`<p class="panel" data-audit-empty>${query.before === undefined ? `${channelName} has recorded no change${query.action ? " of this kind" : ""} yet.` : "No older entries."}</p>`;
  } else {
    const next = parsed.data.nextBefore;
    content = html`<table class="audit" aria-labelledby="audit-heading">
      <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">On</th><th scope="col">Outcome</th><th scope="col">Details</th></tr></thead>
      <tbody>${parsed.data.entries.map(entryRow)}</tbody>
    </table>
    <nav class="pager" aria-label="Pages of the audit trail">
      ${query.before !== undefined ? html`<a href="${pageHref(t.tenantId, { action: query.action })}">← Newest</a>` : html`<span class="muted">← Newest</span>`}
      ${next ? html`<a href="${pageHref(t.tenantId, { action: query.action, before: next })}" rel="next">Older →</a>` : html`<span class="muted">Older →</span>`}
    </nav>`;
  }
  const body = html`<p class="muted" id="audit-heading">Every change made to the ${channelName} channel for ${t.tenantName}, newest first: who asked, when, and how it ended. Passwords and other secrets are never recorded.</p>
  ${filter}
  ${content}`;
  return layout({ ...t, page: "audit", section: "Settings", title: "Audit Trail", body });
}
