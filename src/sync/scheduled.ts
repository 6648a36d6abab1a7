/**
 * The cron tick: one sync message per active tenant that is due, the outbox sweeper, the
 * findings' due checks (findings/schedule.ts), response actions whose step message was lost, and retention (storage/retention.ts).
 * The tick itself does no syncing, so it stays small however many tenants there are.
 */
import { logLine } from "../observability/log";
import { countSubrequest } from "../observability/meter";
import { and, asc, eq, lte, or, isNull } from "drizzle-orm";
import { sweepOutbox } from "../dispatch/sweeper";
import { sendDueFindingChecks } from "../findings/schedule";
import { sweepActions } from "../actions/consumer";
import type { Env } from "../env";
import type { Database } from "../storage/db";
import { tenantDatabases } from "../storage/directory";
import { pruneTenantDatabases } from "../storage/retention";
import { syncState, tenants } from "../storage/schema";
import { QUEUE_SEND_BATCH_MAX } from "../queue-limits";
import type { SyncMessage } from "./messages";

/**
 * Tenants fanned out per tick, oldest-due first; the rest are the oldest-due of the next tick.
 * 10,000 is 100 queue sendBatch calls, far inside a cron invocation's subrequests, and brings
 * 12,000 active tenants round within two ticks.
 */
export const MAX_TENANTS_PER_TICK = 10_000;

/**
 * Enqueues a sync for every enabled, active tenant whose next run is due and that is not
 * backing off, in every database: up to `limit` of each, oldest-due first, merged, and the
 * oldest-due `limit` of them all sent, so a busy database does not crowd out a quiet one's
 * overdue tenants, nor the other way round.
 */
export async function fanOutSyncs(env: Env, now: Date, limit = MAX_TENANTS_PER_TICK): Promise<number> {
  const databases = tenantDatabases(env);
  const read = await Promise.allSettled(databases.map(({ db }) => dueTenants(db, now, limit)));
  read.forEach((r, i) => {
    if (r.status === "rejected") logLine("error", "fan-out read failed in one database; the others' due tenants are sent", { binding: databases[i]!.binding, error: r.reason });
  });
  const due = read.flatMap((r) => (r.status === "fulfilled" ? r.value : [])).sort(oldestDueFirst).slice(0, limit);
  const messages = due.map(({ tenantId }) => ({ body: { kind: "sync", tenantId, reason: "cron", requestedAt: now.toISOString() } satisfies SyncMessage }));
  for (let i = 0; i < messages.length; i += QUEUE_SEND_BATCH_MAX) {
    countSubrequest("queue");
    await env.SYNC_QUEUE.sendBatch(messages.slice(i, i + QUEUE_SEND_BATCH_MAX));
  }
  const failed = read.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  return messages.length;
}

/** The order dueTenants reads in (next_run_at, then tenant id), for merging the databases' answers. */
function oldestDueFirst(a: { tenantId: string; nextRunAt: Date }, b: { tenantId: string; nextRunAt: Date }): number {
  return a.nextRunAt.getTime() - b.nextRunAt.getTime() || (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0);
}

/** Up to `limit` of one database's due tenants, oldest-due first. */
async function dueTenants(db: Database, now: Date, limit: number) {
  return db
    .select({ tenantId: tenants.id, nextRunAt: syncState.nextRunAt })
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
    .limit(limit);
}

/** The Worker's scheduled handler. */
export async function handleScheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  const now = new Date(controller.scheduledTime);
  const [fanned, swept, checks, pruned, actionsSwept] = await Promise.allSettled([
    fanOutSyncs(env, now),
    sweepOutbox(env, now),
    sendDueFindingChecks(env, now),
    pruneTenantDatabases(env, now),
    sweepActions(env, now),
  ]);
  console.log(
    JSON.stringify({
      level: "info",
      msg: "cron tick",
      syncsEnqueued: fanned.status === "fulfilled" ? fanned.value : null,
      outboxSwept: swept.status === "fulfilled" ? swept.value : null,
      findingChecksSent: checks.status === "fulfilled" ? checks.value : null,
      retentionPruned: pruned.status === "fulfilled" ? pruned.value : null,
      actionsSwept: actionsSwept.status === "fulfilled" ? actionsSwept.value : null,
    }),
  );
  for (const r of [fanned, swept, checks, pruned, actionsSwept]) if (r.status === "rejected") logLine("error", "cron step failed", { error: r.reason });
  if (fanned.status === "rejected") throw fanned.reason;
}
