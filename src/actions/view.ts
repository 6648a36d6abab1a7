/**
 * An action as the host reads it (GET …/actions[/{id}]) and as the note on its scan tells it:
 * who asked, what, where it stands, and per host Cynet's remediation items with their status in
 * Cynet's own words.
 */
import { z } from "zod";
import { readableTime } from "../shared/http-time";
import { MAX_NOTE_TEXT_LENGTH, type NoteRequest } from "../host/schemas";
import { ACTION_HOST_STATES, ACTION_KINDS, ACTION_STATES, type ActionHostRow, type ActionRow, type RemediationItemRow } from "../storage/schema";
import { RESPONSE_ACTIONS } from "./catalog";

export const RemediationItemView = z
  .object({
    id: z.number().int().describe("Cynet's remediation item id"),
    status: z.number().int().nullable().describe("Cynet's numeric status (its meaning is not published); null before the first poll"),
    statusInfo: z.string().nullable().describe("Cynet's words for the status, as Cynet wrote them"),
    final: z.boolean().describe("Polling has stopped: the status held for several polls, or the polling bound passed"),
    polls: z.number().int(),
    lastPolledAt: z.iso.datetime().nullable(),
    note: z.string().nullable().describe("Why polling stopped, when it was not a settled status"),
  })
  .meta({ id: "RemediationItem" });

export const ActionHostView = z
  .object({
    host: z.string().describe("The host as Cynet names it"),
    state: z.enum(ACTION_HOST_STATES).describe("pending, sending, sent (Cynet took it), failed (refused or kept failing), unknown (check in Cynet)"),
    attempts: z.number().int(),
    sentAt: z.iso.datetime().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable().describe("Why the request failed, is unknown or is being asked again, in admin words"),
    remediationItems: z.array(RemediationItemView),
  })
  .meta({ id: "ActionHost" });

export const ActionView = z
  .object({
    id: z.string(),
    action: z.enum(ACTION_KINDS),
    label: z.string(),
    sha256: z.string().nullable(),
    hosts: z.array(z.string()),
    scanId: z.string().nullable(),
    irRequestId: z.string().nullable(),
    reason: z.string().nullable(),
    requestedBy: z.object({ id: z.string(), name: z.string().nullable() }),
    state: z.enum(ACTION_STATES).describe("queued, running, done (every host's request reached Cynet and its items settled), failed (some host's request did not)"),
    createdAt: z.iso.datetime(),
    finishedAt: z.iso.datetime().nullable(),
    summary: z.string().describe("One sentence saying where the action stands"),
    results: z.array(ActionHostView),
  })
  .meta({ id: "Action" });
export type ActionView = z.infer<typeof ActionView>;

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** How many of `n` things, in words. */
const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function summaryOf(action: ActionRow, hosts: ActionHostRow[], items: RemediationItemRow[]): string {
  const label = RESPONSE_ACTIONS[action.action].label;
  const sent = hosts.filter((h) => h.state === "sent").length;
  const failed = hosts.filter((h) => h.state === "failed").length;
  const unknown = hosts.filter((h) => h.state === "unknown").length;
  const settled = items.filter((i) => i.final).length;
  if (action.state === "queued") return `${label} on ${count(hosts.length, "host")}: queued.`;
  const parts = [`${sent} of ${count(hosts.length, "host")} sent to Cynet`];
  if (items.length) parts.push(`${settled} of ${count(items.length, "remediation item")} final`);
  if (failed) parts.push(`${failed} failed`);
  if (unknown) parts.push(`${unknown} unknown (check in Cynet)`);
  return `${label}: ${action.state === "running" ? "running" : action.state}, ${parts.join(", ")}.`;
}

/** The view of one action from its rows (hosts and items may include other actions'; only its own are used). */
export function actionView(action: ActionRow, allHosts: ActionHostRow[], allItems: RemediationItemRow[]): ActionView {
  const hosts = allHosts.filter((h) => h.actionId === action.id);
  const items = allItems.filter((i) => i.actionId === action.id);
  // The order asked, not the table's.
  const order = new Map(action.hosts.map((h, i) => [h, i]));
  hosts.sort((a, b) => (order.get(a.host) ?? 0) - (order.get(b.host) ?? 0));
  return {
    id: action.id,
    action: action.action,
    label: RESPONSE_ACTIONS[action.action].label,
    sha256: action.sha256,
    hosts: action.hosts,
    scanId: action.scanId,
    irRequestId: action.irRequestId,
    reason: action.reason,
    requestedBy: { id: action.actorId, name: action.actorName },
    state: action.state,
    createdAt: action.createdAt.toISOString(),
    finishedAt: iso(action.finishedAt),
    summary: summaryOf(action, hosts, items),
    results: hosts.map((h) => ({
      host: h.host,
      state: h.state,
      attempts: h.attempts,
      sentAt: iso(h.sentAt),
      error: h.error ? { code: h.errorCode ?? "error", message: h.error } : null,
      remediationItems: items
        .filter((i) => i.host === h.host)
        .map((i) => ({ id: i.itemId, status: i.status, statusInfo: i.statusInfo, final: i.final, polls: i.polls, lastPolledAt: iso(i.lastPolledAt), note: i.note })),
    })),
  };
}

/** The note on the action's scan once it ended: what was asked, by whom, and each host's outcome in Cynet's words. */
export function actionNote(view: ActionView, finishedAt: Date): NoteRequest {
  const who = view.requestedBy.name ?? view.requestedBy.id;
  const target = view.sha256 ? ` of file SHA-256 ${view.sha256}` : "";
  const perHost = view.results.map((r) => {
    if (r.state !== "sent") return `${r.host}: ${r.state === "unknown" ? "not known" : "not done"}: ${r.error?.message ?? r.state}`;
    if (r.remediationItems.length === 0) return `${r.host}: Cynet took the request (it named no remediation item to follow)`;
    const items = r.remediationItems.map((i) => `${i.statusInfo ?? (i.status === null ? "no status read" : `status ${i.status}`)} (Cynet remediation item ${i.id})${i.note ? `; ${i.note}` : ""}`);
    return `${r.host}: ${items.join("; ")}`;
  });
  const reason = view.reason ? ` Reason given: ${view.reason}` : "";
  const text = `Cynet response action ${view.label}${target}, asked by ${who}${view.irRequestId ? ` from IR request ${view.irRequestId}` : ""}, ${view.state === "done" ? "ended" : "ended with failures"} at ${readableTime(finishedAt)}. ${perHost.join(". ")}.${reason}`;
  return { author: "Cynet", text: text.slice(0, MAX_NOTE_TEXT_LENGTH) };
}
