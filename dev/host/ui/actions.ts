/**
 * Response actions in the dev host (host contract §2, "actions"): the "Act in Cynet" form on an
 * IR request and on a scan (an action the manifest declares, and hosts from the IR request's
 * evidence), the confirmation naming the hosts (a page of its own, so it holds without
 * JavaScript), the action's progress (the plugin's GET …/actions/{id}, the page reloading itself
 * until the action is final), and the list of actions. The signed-in user goes as the actor; each
 * confirmation form carries its own Idempotency-Key, so a double submit is one action.
 */
import { html } from "hono/html";
import { z } from "zod";
import type { ManifestAction } from "../plugin";
import type { HostRecord } from "../state";
import { devAdmin } from "../actor";
import { layout, paths, time, type Html } from "./layout";
import type { TenantInfo } from "./pages";

/** How often the progress page reloads while the action runs. */
export const ACTION_PROGRESS_REFRESH_SECONDS = 3;

/** What an IR request's evidence offers (dispatch/scan-effects.ts `actions`). */
const OfferSchema = z.object({ file: z.array(z.string()), host: z.array(z.string()), hosts: z.array(z.string()), sha256: z.string() });
export type Offer = z.infer<typeof OfferSchema>;

/** The offer of an IR request, when its evidence carries one with hosts. */
export function offerOf(request: HostRecord): Offer | null {
  const evidence = request.evidence as { actions?: unknown } | undefined;
  const parsed = OfferSchema.safeParse(evidence?.actions);
  return parsed.success && parsed.data.hosts.length > 0 ? parsed.data : null;
}

/** The "Act in Cynet" form: pick an action and hosts, then review them on the confirmation page. */
export function actionForm(t: TenantInfo, offer: Offer, actions: ManifestAction[], context: { scanId: string | null; irRequestId: string | null }, idSuffix: string): Html {
  const offered = actions.filter((a) => (a.targets === "file" ? offer.file : offer.host).includes(a.id));
  if (offered.length === 0) return html``;
  const formId = `act-${idSuffix}`;
  return html`<form class="act" method="get" action="${paths.newAction(t.tenantId)}" aria-labelledby="${formId}-title">
    <p id="${formId}-title"><strong>Act in Cynet</strong> <span class="muted">on the file and endpoints of this request</span></p>
    <input type="hidden" name="sha256" value="${offer.sha256}">
    ${context.scanId ? html`<input type="hidden" name="scanId" value="${context.scanId}">` : ""}
    ${context.irRequestId ? html`<input type="hidden" name="irRequestId" value="${context.irRequestId}">` : ""}
    <label for="${formId}-action">Action</label>
    <select id="${formId}-action" name="action">${offered.map((a) => html`<option value="${a.id}">${a.label}${a.targets === "host" ? " (the host)" : ""}</option>`)}</select>
    <fieldset><legend>Hosts</legend>
      ${offer.hosts.map((h, i) => html`<label class="check-inline"><input type="checkbox" name="host" value="${h}" checked id="${formId}-h${i}"> ${h}</label> `)}
    </fieldset>
    <button type="submit">Review action…</button>
  </form>`;
}

/** The request the confirmation page shows and then posts. */
export const ActionDraft = z.object({
  action: z.string().min(1).max(64),
  host: z.array(z.string().min(1).max(253)).min(1, "choose at least one host").max(20),
  sha256: z.string().max(64).optional(),
  scanId: z.string().max(200).optional(),
  irRequestId: z.string().max(200).optional(),
  reason: z.string().max(1000).optional(),
});
export type ActionDraft = z.infer<typeof ActionDraft>;

/** The name and value of the confirmation box of an action that asks for one. */
export const ACTION_CONFIRM = { name: "confirm", value: "act-on-hosts" } as const;

/** The confirmation: the action, the file, every host named, who asks; the form posts it with a fresh Idempotency-Key. */
export function confirmActionPage(t: TenantInfo, draft: ActionDraft, action: ManifestAction, error: string | null): Html {
  const key = crypto.randomUUID();
  const file = action.targets === "file" ? draft.sha256 : undefined;
  const body = html`<div class="panel confirm">
    <h2 id="confirm-heading">${action.label} on ${draft.host.length === 1 ? "1 host" : `${draft.host.length} hosts`}?</h2>
    <p>${action.description}</p>
    <ul aria-label="Hosts">${draft.host.map((h) => html`<li data-confirm-host><strong>${h}</strong></li>`)}</ul>
    ${file ? html`<p>File: <code>${file}</code></p>` : ""}
    ${draft.scanId ? html`<p>The outcome is noted on scan <code>${draft.scanId}</code>.</p>` : ""}
    <p class="muted">Asked by ${devAdmin(t.tenantId).name} (${devAdmin(t.tenantId).id}). Cynet acts on these hosts only.</p>
    ${error ? html`<p class="form-error" role="alert" id="confirm-error">${error}</p>` : ""}
    <form method="post" action="${paths.actions(t.tenantId)}" aria-labelledby="confirm-heading">
      <input type="hidden" name="idempotencyKey" value="${key}">
      <input type="hidden" name="action" value="${draft.action}">
      ${draft.host.map((h) => html`<input type="hidden" name="host" value="${h}">`)}
      ${file ? html`<input type="hidden" name="sha256" value="${file}">` : ""}
      ${draft.scanId ? html`<input type="hidden" name="scanId" value="${draft.scanId}">` : ""}
      ${draft.irRequestId ? html`<input type="hidden" name="irRequestId" value="${draft.irRequestId}">` : ""}
      <div class="field"><label for="reason">Reason (optional, kept in the audit trail and the note)</label><textarea id="reason" name="reason" maxlength="1000">${draft.reason ?? ""}</textarea></div>
      ${action.confirmation
        ? html`<p class="check"><input type="checkbox" id="confirm-box" name="${ACTION_CONFIRM.name}" value="${ACTION_CONFIRM.value}" required>
        <label for="confirm-box">I confirm: ${action.label.toLowerCase()} on ${draft.host.join(", ")}</label></p>`
        : ""}
      <div class="actions">
        <button type="submit" class="danger">${action.label}</button>
        <a href="${draft.scanId ? paths.scan(t.tenantId, draft.scanId) : paths.irRequests(t.tenantId)}">Cancel</a>
      </div>
    </form>
  </div>`;
  return layout({ ...t, page: "actions", section: "Security Operations", parent: { label: "Response Actions", href: paths.actions(t.tenantId) }, title: `Confirm: ${action.label}`, body });
}

/** The plugin's action as the pages read it (its GET …/actions/{id}). */
export const ActionShape = z.looseObject({
  id: z.string(),
  label: z.string(),
  state: z.string(),
  summary: z.string(),
  sha256: z.string().nullable(),
  hosts: z.array(z.string()),
  scanId: z.string().nullable(),
  reason: z.string().nullable(),
  requestedBy: z.looseObject({ id: z.string(), name: z.string().nullable() }),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  results: z.array(
    z.looseObject({
      host: z.string(),
      state: z.string(),
      error: z.looseObject({ code: z.string(), message: z.string() }).nullable(),
      remediationItems: z.array(z.looseObject({ id: z.number(), status: z.number().nullable(), statusInfo: z.string().nullable(), final: z.boolean(), note: z.string().nullable() })),
    }),
  ),
});
export type ActionShape = z.infer<typeof ActionShape>;

const finalStates = new Set(["done", "failed"]);
const stateLabel = (s: string) => ({ queued: "Queued", running: "Running", done: "Done", failed: "Failed" })[s] ?? s;

function resultsTable(a: ActionShape): Html {
  return html`<table aria-label="Hosts of this action">
    <thead><tr><th scope="col">Host</th><th scope="col">Request</th><th scope="col">Cynet's remediation items</th></tr></thead>
    <tbody>${a.results.map(
      (r) => html`<tr data-action-host="${r.host}">
        <th scope="row">${r.host}</th>
        <td>${r.state}${r.error ? html`<p class="muted" data-host-error>${r.error.message}</p>` : ""}</td>
        <td>${r.remediationItems.length === 0
          ? html`<span class="muted">none yet</span>`
          : html`<ul class="plain">${r.remediationItems.map(
              (i) => html`<li data-item-id="${String(i.id)}"><code>${String(i.id)}</code> <span data-status-info>${i.statusInfo ?? "not read yet"}</span>${i.final ? html` <span class="tag">final</span>` : html` <span class="tag">polling</span>`}${i.note ? html`<p class="muted">${i.note}</p>` : ""}</li>`,
            )}</ul>`}</td>
      </tr>`,
    )}</tbody>
  </table>`;
}

/** One action's progress: reloads itself until the action is done or failed. */
export function actionPage(t: TenantInfo, a: ActionShape): Html {
  const running = !finalStates.has(a.state);
  const body = html`<div class="panel" data-action-id="${a.id}">
    <p><span class="status ${a.state}" data-action-state>${stateLabel(a.state)}</span> <span data-action-summary>${a.summary}</span></p>
    <dl class="facts">
      <dt>Asked by</dt><dd>${a.requestedBy.name ?? a.requestedBy.id}</dd>
      <dt>Asked</dt><dd>${time(a.createdAt)}</dd>
      ${a.finishedAt ? html`<dt>Ended</dt><dd>${time(a.finishedAt)}</dd>` : ""}
      ${a.sha256 ? html`<dt>File</dt><dd><code>${a.sha256}</code></dd>` : ""}
      ${a.scanId ? html`<dt>Scan</dt><dd><a href="${paths.scan(t.tenantId, a.scanId)}"><code>${a.scanId}</code></a></dd>` : ""}
      ${a.reason ? html`<dt>Reason</dt><dd>${a.reason}</dd>` : ""}
    </dl>
    ${resultsTable(a)}
    ${running ? html`<p class="live-note muted" aria-live="polite">Following Cynet: this page refreshes every ${String(ACTION_PROGRESS_REFRESH_SECONDS)} s until the action is final.</p>` : ""}
  </div>`;
  return layout({ ...t, page: "actions", section: "Security Operations", parent: { label: "Response Actions", href: paths.actions(t.tenantId) }, title: a.label, body, ...(running ? { refreshSeconds: ACTION_PROGRESS_REFRESH_SECONDS } : {}) });
}

/** Security Operations > Response Actions: the plugin's list, newest first. */
export function actionsPage(t: TenantInfo, list: ActionShape[] | null, problem: string | null): Html {
  const body = html`${problem ? html`<p class="notice error" role="alert">${problem}</p>` : ""}
  ${list === null || list.length === 0
    ? html`<p class="panel">No response action yet. Act from an IR request or a scan.</p>`
    : html`<table aria-label="Response actions"><thead><tr><th scope="col">Asked</th><th scope="col">Action</th><th scope="col">Hosts</th><th scope="col">State</th><th scope="col">By</th></tr></thead>
      <tbody>${list.map((a) => html`<tr><td>${time(a.createdAt)}</td><td><a href="${paths.action(t.tenantId, a.id)}">${a.label}</a></td><td>${a.hosts.join(", ")}</td>
        <td><span class="status ${a.state}">${stateLabel(a.state)}</span></td><td>${a.requestedBy.name ?? a.requestedBy.id}</td></tr>`)}</tbody></table>`}`;
  return layout({ ...t, page: "actions", section: "Security Operations", title: "Response Actions", body });
}
