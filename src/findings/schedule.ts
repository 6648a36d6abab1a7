/**
 * When the host's findings are looked for at Cynet (docs/operations.md, Findings): at once, and
 * again on a fixed schedule, since an attachment often reaches an endpoint hours or days after
 * the email. The schedule lives in D1 (`findings.next_check_at`), not in queue delays (12 hours
 * at most): the cron sends the checks that are due, and the check message only names them.
 */
import type { Env } from "../env";
import { logLine } from "../observability/log";
import { countSubrequest } from "../observability/meter";
import { QUEUE_SEND_BATCH_MAX } from "../queue-limits";
import { inEveryTenantDatabase } from "../storage/directory";
import { FINDING_IDS_PER_MESSAGE, type FindingsMessage } from "./messages";
import { dueFindings, markQueued } from "./store";

const HOUR_MS = 60 * 60_000;

/**
 * When each check runs, counted from when the plugin took the finding: at once (the file may be
 * on an endpoint already), then after 1 hour, 6 hours, a day and three days (a file saved, synced
 * or opened later). Past three days the attachment is the IR team's case and Cynet's own
 * detections report any new sighting.
 */
export const FINDING_CHECK_SCHEDULE_MS = [0, 1 * HOUR_MS, 6 * HOUR_MS, 24 * HOUR_MS, 72 * HOUR_MS] as const;

/** First wait after a check failed (Cynet busy or down): one cron tick. */
export const FINDING_RETRY_BASE_MS = 5 * 60_000;
/** Longest wait between two tries of a failing check: a Cynet back after hours is asked within two. */
export const FINDING_RETRY_MAX_MS = 2 * HOUR_MS;
/**
 * Failed tries of one scheduled check before it counts as done with its error shown: about a day
 * of backoff, so a Cynet that never answers ends the schedule instead of being asked forever.
 */
export const MAX_CHECK_FAILURES = 16;
/** How long a sent check message holds its findings: past it (the message was lost) the cron sends them again. */
export const FINDING_QUEUE_LEASE_MS = 30 * 60_000;
/** Findings the cron sends per tick and database, oldest-due first; a bigger backlog goes out over the next ticks. */
export const MAX_FINDING_CHECKS_PER_TICK = 2_000;

/** When the check after `checksDone` checks is due (null: none left). */
export function nextCheckAt(submittedAt: Date, checksDone: number): Date | null {
  const offset = FINDING_CHECK_SCHEDULE_MS[checksDone];
  return offset === undefined ? null : new Date(submittedAt.getTime() + offset);
}

/** When a check that failed for the `failures`-th time is tried again: doubling from the base, capped, never before Retry-After. */
export function retryCheckAt(now: Date, failures: number, retryAfterSeconds?: number): Date {
  const exponential = Math.min(FINDING_RETRY_MAX_MS, FINDING_RETRY_BASE_MS * 2 ** Math.max(0, failures - 1));
  return new Date(now.getTime() + Math.min(FINDING_RETRY_MAX_MS, Math.max(exponential, (retryAfterSeconds ?? 0) * 1000)));
}

/** Check messages for `findingIds` of one tenant, FINDING_IDS_PER_MESSAGE each. */
export function checkMessages(tenantId: string, findingIds: readonly number[]): Array<{ body: FindingsMessage }> {
  const messages: Array<{ body: FindingsMessage }> = [];
  for (let i = 0; i < findingIds.length; i += FINDING_IDS_PER_MESSAGE) {
    messages.push({ body: { kind: "finding_checks", tenantId, findingIds: findingIds.slice(i, i + FINDING_IDS_PER_MESSAGE) } });
  }
  return messages;
}

/** Sends check messages; returns the finding ids sent. A failed send is logged, not thrown: the cron sends those again. */
export async function sendChecks(env: Env, messages: Array<{ body: FindingsMessage }>): Promise<number[]> {
  const sent: number[] = [];
  for (let i = 0; i < messages.length; i += QUEUE_SEND_BATCH_MAX) {
    const chunk = messages.slice(i, i + QUEUE_SEND_BATCH_MAX);
    try {
      countSubrequest("queue");
      await env.FINDINGS_QUEUE.sendBatch(chunk);
      sent.push(...chunk.flatMap((m) => m.body.findingIds));
    } catch (err) {
      logLine("warn", "finding checks not enqueued; the cron sends them again", { findingIds: chunk.flatMap((m) => m.body.findingIds), error: err });
    }
  }
  return sent;
}

/**
 * The cron's step: in every database, the checks due (of enabled, active tenants, whose message
 * is not on its way) are sent, at most MAX_FINDING_CHECKS_PER_TICK each, and held for
 * FINDING_QUEUE_LEASE_MS. Returns how many were sent.
 */
export async function sendDueFindingChecks(env: Env, now: Date): Promise<number> {
  const sent = await inEveryTenantDatabase(env, "finding checks", async ({ db }) => {
    const due = await dueFindings(db, now, MAX_FINDING_CHECKS_PER_TICK);
    if (due.length === 0) return 0;
    const byTenant = new Map<string, number[]>();
    for (const f of due) byTenant.set(f.tenantId, [...(byTenant.get(f.tenantId) ?? []), f.id]);
    const messages = [...byTenant].flatMap(([tenantId, ids]) => checkMessages(tenantId, ids));
    // Held only once sent: a send that failed leaves them due for the next tick.
    const sent = await sendChecks(env, messages);
    await markQueued(db, sent, new Date(now.getTime() + FINDING_QUEUE_LEASE_MS), now);
    return sent.length;
  });
  return sent.reduce((a, b) => a + b, 0);
}
