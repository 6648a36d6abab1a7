/**
 * The cron tick: one sync message per active tenant that is due, and the outbox sweeper.
 * The tick itself does no syncing, so it stays small however many tenants there are.
 */
import { logLine } from "../observability/log";
import { countSubrequest } from "../observability/meter";
import { and, asc, eq, lte, or, isNull } from "drizzle-orm";
import { sweepOutbox } from "../dispatch/sweeper";
import type { Env } from "../env";
import { database } from "../storage/db";
import { syncState, tenants } from "../storage/schema";
import { QUEUE_SEND_BATCH_MAX } from "../queue-limits";
import type { SyncMessage } from "./messages";

/**
 * Tenants fanned out per tick, oldest-due first; the rest are the oldest-due of the next tick.
 * 10,000 is 100 queue sendBatch calls, far inside a cron invocation's subrequests, and brings
 * 12,000 active tenants round within two ticks.
 */
export const MAX_TENANTS_PER_TICK = 10_000;

/** Enqueues a sync for every enabled, active tenant whose next run is due and that is not backing off. */
export async function fanOutSyncs(env: Env, now: Date): Promise<number> {
  const db = database(env.DB);
  const due = await db
    .select({ tenantId: tenants.id })
    .from(tenants)
    .innerJoin(syncState, eq(syncState.tenantId, tenants.id))
    .where(
      and(
        eq(tenants.enabled, true),
        eq(tenants.state, "active"),
        lte(syncState.nextRunAt, now),
        or(isNull(syncState.backoffUntil), lte(syncState.backoffUntil, now)),
      ),
    )
    // Oldest-due first: past the bound, those left out are due longest and go first next tick.
    .orderBy(asc(syncState.nextRunAt), asc(syncState.tenantId))
    .limit(MAX_TENANTS_PER_TICK);
  const messages = due.map(({ tenantId }) => ({ body: { kind: "sync", tenantId, reason: "cron", requestedAt: now.toISOString() } satisfies SyncMessage }));
  for (let i = 0; i < messages.length; i += QUEUE_SEND_BATCH_MAX) {
    countSubrequest("queue");
    await env.SYNC_QUEUE.sendBatch(messages.slice(i, i + QUEUE_SEND_BATCH_MAX));
  }
  return messages.length;
}

/** The Worker's scheduled handler. */
export async function handleScheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  const now = new Date(controller.scheduledTime);
  const [fanned, swept] = await Promise.allSettled([fanOutSyncs(env, now), sweepOutbox(env, now)]);
  console.log(
    JSON.stringify({
      level: "info",
      msg: "cron tick",
      syncsEnqueued: fanned.status === "fulfilled" ? fanned.value : null,
      outboxSwept: swept.status === "fulfilled" ? swept.value : null,
    }),
  );
  for (const r of [fanned, swept]) if (r.status === "rejected") logLine("error", "cron step failed", { error: r.reason });
  if (fanned.status === "rejected") throw fanned.reason;
}
