/**
 * The actions queue (`cynet-actions`): each response action runs as one chain of messages, a
 * step at a time. A step sends the requests that are due (each (action, host) is one remediation
 * request to Cynet, made at most once), polls the remediation items that are due, and then either
 * ends the action (its audit entry and, when it names a scan, the note's outbox row in the same
 * batch) or moves the chain on and sends the next step's message with the delay until what is
 * due next. A message of another step is a duplicate and does nothing; the cron re-sends a chain
 * whose message was lost (see sweepActions).
 */
import type { Env } from "../env";
import { auditStatementIf } from "../audit/trail";
import { fetchRemediationStatus, requestRemediation, type CynetSession } from "../cynet/client";
import { isTransientCynetFailure } from "../cynet/retry";
import { loginWithStoredPassword, openSession } from "../cynet/session";
import { CynetError, cynetTarget } from "../cynet/transport";
import { enqueueDispatch } from "../dispatch/enqueue";
import { outboxKeys } from "../dispatch/keys";
import { logLine } from "../observability/log";
import { countSubrequest } from "../observability/meter";
import type { QueueMessage } from "../queue-message";
import { systemClock, type Clock } from "../shared/clock";
import { namedBatch, rowsOf } from "../storage/batch";
import type { Database } from "../storage/db";
import { inEveryTenantDatabase, tenantDatabase } from "../storage/directory";
import type { ActionHostRow, ActionRow, RemediationItemRow } from "../storage/schema";
import { insertActionNoteStatement } from "../dispatch/outbox";
import { loadKeyRing } from "../storage/secrets";
import { findTenant, type TenantRow } from "../storage/tenants";
import { RESPONSE_ACTIONS } from "./catalog";
import { ActionMessage } from "./messages";
import { CHANNEL_STOPPED_MESSAGE, CREDENTIALS_MESSAGE, INTERRUPTED_MESSAGE, PERMISSION_MESSAGE, sendOutcome } from "./outcomes";
import {
  advanceStatement, claimHost, findAction, finishedAt, finishStatement, markActionsSwept, overdueActions, partsOf, recordEndedStatement,
  recordPollStatement, recordRetryStatement, recordSentStatements, type ItemUpdate,
} from "./store";

/** Seconds between two polls of a remediation item: Cynet's endpoint agents report within seconds to a minute. */
export const REMEDIATION_POLL_INTERVAL_SECONDS = 15;
/**
 * Polls in a row that read the same status before it counts as final: Cynet publishes no list of
 * final statuses (cynet-api.md), so a status that holds is taken as the outcome, unless its words
 * say it is still under way (UNDER_WAY_WORDS).
 */
export const REMEDIATION_STABLE_POLLS = 3;
/**
 * Cynet's words for a status that is still under way: such a status is never taken as final for
 * having held (an endpoint offline keeps its item pending for long); it is polled to the bound.
 */
export const UNDER_WAY_WORDS = /\b(pending|in progress|waiting|queued|running|sending|sent to (the )?endpoint)\b/i;
/** Longest an item is polled: past it, the status last read is shown as final (an endpoint offline for long). */
export const REMEDIATION_MAX_POLL_MS = 30 * 60_000;
/**
 * How long a "sending" claim is trusted to belong to a live invocation: longer than one Cynet
 * call and a re-login (two calls of CYNET_TIMEOUT_MS). A claim older than this was cut off.
 */
export const SEND_CLAIM_MS = 2 * 60_000;
/** A poll is due this much before its interval ends: a queue delay is whole seconds and may come a little early. */
const POLL_DUE_TOLERANCE_MS = 1_000;
/** How long past its due time an open action's message counts as lost, for the cron to send again: longer than a queue hop. */
export const ACTION_SWEEP_GRACE_MS = 10 * 60_000;
/** Actions the cron sends again per tick and database; a larger backlog goes on the next ticks. */
export const ACTION_SWEEP_MAX = 200;
/** First wait of a step that crashed (D1 or the session failing), doubling per attempt: D1 hiccups pass in seconds. */
const CRASH_RETRY_BASE_SECONDS = 10;
/** Longest wait between two tries of a crashed step: an analyst is watching, and the queue's 10 retries span about half an hour. */
const CRASH_RETRY_CAP_SECONDS = 5 * 60;

/** A lazily opened Cynet session for one step, logged in again once on a 401. */
class StepSession {
  #session: Promise<CynetSession> | undefined;
  #relogged = false;
  constructor(
    private readonly env: Env,
    private readonly db: Database,
    private readonly tenant: TenantRow & { orgUrl: string; clientId: string; username: string },
    private readonly now: Date,
  ) {}

  #target() {
    return cynetTarget(this.env, this.tenant.orgUrl);
  }
  #who() {
    return { id: this.tenant.id, orgUrl: this.tenant.orgUrl, clientId: this.tenant.clientId, username: this.tenant.username };
  }

  /** Runs `call` with the session; on Cynet's 401, logs in again once (per step) and runs it again. */
  async run<T>(call: (session: CynetSession) => Promise<T>): Promise<T> {
    this.#session ??= loadKeyRing(this.env.CREDENTIALS_KEY).then((ring) => openSession(this.db, ring, this.#who(), this.#target(), this.now));
    try {
      return await call(await this.#session);
    } catch (err) {
      if (!(err instanceof CynetError && err.failure === "http" && err.status === 401) || this.#relogged) throw err;
      this.#relogged = true;
      this.#session = loadKeyRing(this.env.CREDENTIALS_KEY).then((ring) => loginWithStoredPassword(this.db, ring, this.#who(), this.#target(), this.now));
      return call(await this.#session);
    }
  }
}

/** What one step did, for its log line and the tests. */
export interface StepResult {
  outcome: "stale" | "advanced" | "finished" | "lost_race";
  sent: number;
  polled: number;
  nextStepInSeconds?: number;
}

/** The stored requests and items of one action. */
interface ActionParts {
  hosts: ActionHostRow[];
  items: RemediationItemRow[];
}

const isFinalHost = (h: ActionHostRow) => h.state === "sent" || h.state === "failed" || h.state === "unknown";

/** Sends what is due: claims each pending host, calls Cynet once, records the answer (or why there is none). */
async function sendDue(db: Database, action: ActionRow, hosts: ActionHostRow[], session: StepSession, now: Date): Promise<number> {
  let sent = 0;
  let refusedAll: { code: string; message: string } | undefined;
  // In the order asked, not the table's.
  const order = new Map(action.hosts.map((h, i) => [h, i]));
  for (const host of [...hosts].sort((a, b) => (order.get(a.host) ?? 0) - (order.get(b.host) ?? 0))) {
    if (host.state === "sending" && host.claimedAt && now.getTime() - host.claimedAt.getTime() >= SEND_CLAIM_MS) {
      // Cut off between the claim and the record of Cynet's answer: never asked again.
      await db.batch([recordEndedStatement(db, host, "unknown", "interrupted", INTERRUPTED_MESSAGE)]);
      continue;
    }
    if (host.state !== "pending" || host.nextAttemptAt.getTime() > now.getTime()) continue;
    if (refusedAll) {
      await db.batch([recordEndedStatement(db, host, "failed", refusedAll.code, refusedAll.message)]);
      continue;
    }
    const claim = crypto.randomUUID();
    const claimed = await claimHost(db, host, claim, now);
    if (!claimed) continue;
    let itemIds: number[];
    try {
      itemIds = await session.run((s) => requestRemediation(s, RESPONSE_ACTIONS[action.action].cynetPath, host.host, RESPONSE_ACTIONS[action.action].targets === "file" ? action.sha256 : null));
    } catch (err) {
      if (!(err instanceof CynetError)) throw err;
      const outcome = sendOutcome(err, action.action, claimed.attempts);
      logLine("warn", "remediation request not made", { tenantId: action.tenantId, actionId: action.id, host: host.host, outcome: outcome.kind, code: outcome.code, status: err.status ?? null });
      if (outcome.kind === "retry") {
        await db.batch([recordRetryStatement(db, host, claim, new Date(now.getTime() + outcome.delaySeconds * 1000), outcome.code, outcome.message)]);
      } else {
        await db.batch([recordEndedStatement(db, host, outcome.kind, outcome.code, outcome.message)]);
        if (outcome.kind === "failed" && outcome.all) refusedAll = { code: outcome.code, message: outcome.message };
      }
      continue;
    }
    // Cynet acted: its answer and the "sent" mark land together, or (a crash here) the claim stays and the request is never made again.
    await namedBatch(db, { sent: recordSentStatements(db, host, claim, itemIds, now) });
    sent += 1;
  }
  return sent;
}

/** The next state of an item after a poll that read `status`/`statusInfo`, or after a poll that read nothing (`failure`). */
function afterPoll(item: RemediationItemRow, now: Date, read: { status: number | null; statusInfo: string | null } | { failure: string; final: boolean }): ItemUpdate {
  const polls = item.polls + 1;
  const expired = now.getTime() - item.createdAt.getTime() >= REMEDIATION_MAX_POLL_MS;
  if ("failure" in read) {
    const final = read.final || expired;
    return { status: item.status, statusInfo: item.statusInfo, samePolls: item.samePolls, polls, final, note: final ? read.failure : item.note, lastPolledAt: now };
  }
  const same = item.polls > 0 && read.status === item.status && read.statusInfo === item.statusInfo;
  const samePolls = same ? item.samePolls + 1 : 1;
  const settled = samePolls >= REMEDIATION_STABLE_POLLS && !UNDER_WAY_WORDS.test(read.statusInfo ?? "");
  const note = settled ? null : expired ? `Cynet's status had not settled after ${REMEDIATION_MAX_POLL_MS / 60_000} minutes; this is the last one read.` : null;
  return { status: read.status, statusInfo: read.statusInfo, samePolls, polls, final: settled || expired, note, lastPolledAt: now };
}

/** Polls the action's items that are due; returns how many were polled. */
async function pollDue(db: Database, items: RemediationItemRow[], session: StepSession, now: Date): Promise<number> {
  const due = items.filter((i) => !i.final && (i.lastPolledAt ?? i.createdAt).getTime() + REMEDIATION_POLL_INTERVAL_SECONDS * 1000 - POLL_DUE_TOLERANCE_MS <= now.getTime());
  const updates = [];
  for (const item of due) {
    let update: ItemUpdate;
    try {
      const read = await session.run((s) => fetchRemediationStatus(s, item.itemId));
      update = afterPoll(item, now, { status: read.status ?? null, statusInfo: read.statusInfo });
    } catch (err) {
      if (!(err instanceof CynetError)) throw err;
      if (err.failure === "http" && err.status === 404) update = afterPoll(item, now, { failure: `Cynet no longer knows remediation item ${item.itemId} (HTTP 404).`, final: true });
      else if (err.failure === "http" && err.status === 403) update = afterPoll(item, now, { failure: PERMISSION_MESSAGE, final: true });
      else if (err.failure === "http" && err.status === 401) update = afterPoll(item, now, { failure: CREDENTIALS_MESSAGE, final: true });
      else update = afterPoll(item, now, { failure: `Cynet's status for this item could not be read (${isTransientCynetFailure(err) ? "Cynet was busy or unreachable" : "an unexpected answer"}); polling stopped at its bound.`, final: false });
    }
    updates.push(recordPollStatement(db, item, update));
  }
  if (updates.length) await namedBatch(db, { polls: updates });
  return due.length;
}

/** When the next step is due, from what is left: pending hosts, claims in flight, items to poll. */
function nextDue(parts: ActionParts, now: Date): Date {
  const times: number[] = [];
  for (const h of parts.hosts) {
    if (h.state === "pending") times.push(h.nextAttemptAt.getTime());
    if (h.state === "sending") times.push((h.claimedAt ?? now).getTime() + SEND_CLAIM_MS);
  }
  for (const i of parts.items) if (!i.final) times.push((i.lastPolledAt ?? i.createdAt).getTime() + REMEDIATION_POLL_INTERVAL_SECONDS * 1000);
  // Never empty here (an action with nothing left is ended instead); a poll interval on is the safe default.
  const next = times.length ? Math.min(...times) : now.getTime() + REMEDIATION_POLL_INTERVAL_SECONDS * 1000;
  return new Date(Math.max(now.getTime(), next));
}

/** Statements ending `action`: its state, its audit entry (only if this invocation ended it) and the scan's note row. */
function finishStatements(db: Database, action: ActionRow, step: number, parts: ActionParts, now: Date) {
  const failed = parts.hosts.some((h) => h.state !== "sent");
  const state = failed ? "failed" : "done";
  const counts = { sent: parts.hosts.filter((h) => h.state === "sent").length, failed: parts.hosts.filter((h) => h.state === "failed").length, unknown: parts.hosts.filter((h) => h.state === "unknown").length };
  const entry = {
    tenantId: action.tenantId,
    actor: { id: action.actorId, ...(action.actorName ? { name: action.actorName } : {}) },
    action: "action_finished" as const,
    outcome: failed ? ("failed" as const) : ("succeeded" as const),
    subject: `action ${action.id}: ${action.action} on ${action.hosts.join(", ")}`,
    detail: { actionId: action.id, action: action.action, state, hosts: action.hosts, ...counts, remediationItems: parts.items.map((i) => ({ host: i.host, id: i.itemId, status: i.status, statusInfo: i.statusInfo })) },
    at: now,
  };
  // The entry and the note land only if this invocation's UPDATE ended the action (a duplicate's adds neither).
  const endedHere = finishedAt(action, step, now);
  const note = action.scanId ? [insertActionNoteStatement(db, action.tenantId, { scanId: action.scanId, actionId: action.id }, outboxKeys.actionNote(action.tenantId, action.id), now, endedHere)] : [];
  return { finish: [finishStatement(db, action, step, state, now)], audit: [auditStatementIf(db, entry, endedHere)], note };
}

/**
 * Runs one step of an action. Throws only on what the queue should retry (D1 failing, a Cynet
 * session that cannot be opened for a transient reason); Cynet's answers are recorded, not thrown.
 */
export async function runActionStep(env: Env, message: ActionMessage, clock: Clock = systemClock): Promise<StepResult> {
  const { db } = await tenantDatabase(env, message.tenantId);
  const action = await findAction(db, message.tenantId, message.actionId);
  if (!action || action.step !== message.step || action.state === "done" || action.state === "failed") return { outcome: "stale", sent: 0, polled: 0 };
  const now = clock.now();
  let parts: ActionParts = await partsOf(db, action.tenantId, [action.id]);
  const tenant = await findTenant(db, action.tenantId);
  let sent = 0;
  let polled = 0;
  if (!tenant?.enabled || tenant.state !== "active" || !tenant.orgUrl || !tenant.clientId || !tenant.username) {
    // Nothing more can be asked of Cynet: what was not sent never will be, and polling stops where it is.
    const stop = [
      ...parts.hosts.filter((h) => h.state === "pending" || h.state === "sending").map((h) => recordEndedStatement(db, h, h.state === "sending" ? "unknown" : "failed", "channel_stopped", h.state === "sending" ? INTERRUPTED_MESSAGE : CHANNEL_STOPPED_MESSAGE)),
      ...parts.items.filter((i) => !i.final).map((i) => recordPollStatement(db, i, { status: i.status, statusInfo: i.statusInfo, samePolls: i.samePolls, polls: i.polls, final: true, note: "Polling stopped: the Cynet channel was deactivated or stopped.", lastPolledAt: i.lastPolledAt })),
    ];
    if (stop.length) await namedBatch(db, { stop });
  } else {
    const session = new StepSession(env, db, { ...tenant, orgUrl: tenant.orgUrl, clientId: tenant.clientId, username: tenant.username }, now);
    try {
      sent = await sendDue(db, action, parts.hosts, session, now);
      parts = await partsOf(db, action.tenantId, [action.id]);
      polled = await pollDue(db, parts.items, session, now);
    } catch (err) {
      // Logging in failed for good: every request still pending fails with the reason, polling stops.
      if (!(err instanceof CynetError) || isTransientCynetFailure(err as unknown) || err.failure !== "http") throw err;
      const message = err.status === 403 ? PERMISSION_MESSAGE : CREDENTIALS_MESSAGE;
      const code = err.status === 403 ? "remediation_not_permitted" : "cynet_credentials_rejected";
      parts = await partsOf(db, action.tenantId, [action.id]);
      const stop = [
        ...parts.hosts.filter((h) => h.state === "pending").map((h) => recordEndedStatement(db, h, "failed", code, message)),
        ...parts.items.filter((i) => !i.final).map((i) => recordPollStatement(db, i, { status: i.status, statusInfo: i.statusInfo, samePolls: i.samePolls, polls: i.polls, final: true, note: message, lastPolledAt: i.lastPolledAt })),
      ];
      if (stop.length) await namedBatch(db, { stop });
    }
  }
  parts = await partsOf(db, action.tenantId, [action.id]);
  if (parts.hosts.every(isFinalHost) && parts.items.every((i) => i.final)) {
    const done = await namedBatch(db, finishStatements(db, action, message.step, parts, now));
    if (rowsOf(done.finish[0]).length === 0) return { outcome: "lost_race", sent, polled };
    const noteRows = rowsOf<{ id: number; kind: "action_note" }>(done.note[0]);
    if (noteRows.length) await enqueueDispatch(env, action.tenantId, noteRows);
    return { outcome: "finished", sent, polled };
  }
  const due = nextDue(parts, now);
  const [moved] = rowsOf<{ step: number }>((await namedBatch(db, { advance: [advanceStatement(db, action, message.step, due)] })).advance[0]);
  if (!moved) return { outcome: "lost_race", sent, polled };
  const delaySeconds = Math.max(0, Math.ceil((due.getTime() - now.getTime()) / 1000));
  await sendStep(env, { kind: "action", tenantId: action.tenantId, actionId: action.id, step: moved.step }, delaySeconds);
  return { outcome: "advanced", sent, polled, nextStepInSeconds: delaySeconds };
}

/** Sends a step's message; a failed send is logged, not thrown (the cron sends an overdue chain again). Returns whether it was sent. */
export async function sendStep(env: Env, body: ActionMessage, delaySeconds = 0): Promise<boolean> {
  try {
    countSubrequest("queue");
    await env.ACTIONS_QUEUE.send(body, delaySeconds > 0 ? { delaySeconds } : undefined);
    return true;
  } catch (err) {
    logLine("warn", "action step not enqueued; the cron sends it again", { tenantId: body.tenantId, actionId: body.actionId, step: body.step, error: err });
    return false;
  }
}

/** Consumes a batch of the actions queue: each message is one step, acked when done, retried with backoff when it crashed. */
export async function consumeActionBatch(batch: MessageBatch<QueueMessage>, env: Env, _ctx: ExecutionContext, clock: Clock = systemClock): Promise<void> {
  for (const message of batch.messages) {
    const parsed = ActionMessage.safeParse(message.body);
    if (!parsed.success) {
      logLine("error", "malformed action message dropped", { id: message.id });
      message.ack();
      continue;
    }
    try {
      const result = await runActionStep(env, parsed.data, clock);
      logLine("info", "action step", { tenantId: parsed.data.tenantId, actionId: parsed.data.actionId, step: parsed.data.step, ...result });
      message.ack();
    } catch (err) {
      logLine("error", "action step failed; retried", { tenantId: parsed.data.tenantId, actionId: parsed.data.actionId, step: parsed.data.step, error: err });
      message.retry({ delaySeconds: Math.min(CRASH_RETRY_CAP_SECONDS, CRASH_RETRY_BASE_SECONDS * 2 ** Math.max(0, message.attempts - 1)) });
    }
  }
}

/** The cron's part: sends again the current step of every open action whose message is long overdue, in every database. */
export async function sweepActions(env: Env, now: Date): Promise<number> {
  const swept = await inEveryTenantDatabase(env, "action sweep", async ({ db }) => {
    const overdue = await overdueActions(db, new Date(now.getTime() - ACTION_SWEEP_GRACE_MS), ACTION_SWEEP_MAX);
    const sent: string[] = [];
    for (const a of overdue) if (await sendStep(env, { kind: "action", tenantId: a.tenantId, actionId: a.id, step: a.step })) sent.push(a.id);
    // Marked only once sent: a failed send leaves the action for the next tick.
    await markActionsSwept(db, sent, now);
    return sent.length;
  });
  return swept.reduce((a, b) => a + b, 0);
}
