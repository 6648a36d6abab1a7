/**
 * Delivering one outbox row to the host. The row is marked delivered only after the host
 * answered; a resend carries the same Idempotency-Key, so the host answers it instead of
 * recording it twice.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { Env } from "../env";
import { HostError, postEventsBatch } from "../host/client";
import type { Database } from "../storage/db";
import { detections, outbox } from "../storage/schema";
import { detectionEvent } from "./events";

export type OutboxRow = typeof outbox.$inferSelect;

/** First retry delay of a failed delivery. */
export const DISPATCH_BACKOFF_BASE_SECONDS = 10;
/** Longest delay between two delivery attempts. */
export const DISPATCH_BACKOFF_CAP_SECONDS = 15 * 60;
/** How much of the host's reason a failure record keeps. */
const MAX_FAILURE_TEXT = 500;

/** What happened to one row. */
export type Delivery = { outcome: "delivered" } | { outcome: "failed"; reason: string } | { outcome: "retry"; delaySeconds: number; reason: string };

/** Delay before the next attempt: exponential, capped, never sooner than the host's Retry-After. */
export function dispatchDelaySeconds(attempts: number, retryAfterSeconds?: number): number {
  const exponential = Math.min(DISPATCH_BACKOFF_CAP_SECONDS, DISPATCH_BACKOFF_BASE_SECONDS * 2 ** Math.max(0, attempts - 1));
  return Math.max(exponential, Math.ceil(retryAfterSeconds ?? 0));
}

async function send(env: Env, db: Database, row: OutboxRow): Promise<void> {
  switch (row.kind) {
    case "events": {
      const rows = row.alertIds.length
        ? await db.select().from(detections).where(and(eq(detections.tenantId, row.tenantId), inArray(detections.alertId, row.alertIds)))
        : [];
      if (rows.length === 0) return;
      await postEventsBatch(env, row.tenantId, rows.map((r) => detectionEvent(r)), row.idempotencyKey);
      return;
    }
    default:
      throw new HostError(false, undefined, `outbox kind ${row.kind} has no sender`);
  }
}

/** Delivers one pending row and records the outcome in D1. */
export async function deliverRow(env: Env, db: Database, row: OutboxRow, now: Date = new Date()): Promise<Delivery> {
  try {
    await send(env, db, row);
  } catch (err) {
    if (!(err instanceof HostError)) throw err;
    const attempts = row.attempts + 1;
    const reason = (err.status === undefined ? err.detail : `host answered HTTP ${err.status}: ${err.detail}`).slice(0, MAX_FAILURE_TEXT);
    if (!err.retryable) {
      await db.update(outbox).set({ state: "failed", attempts, lastError: reason }).where(eq(outbox.id, row.id));
      console.error(JSON.stringify({ level: "error", msg: "host refused a delivery; recorded as failed", tenantId: row.tenantId, outboxId: row.id, kind: row.kind, status: err.status }));
      return { outcome: "failed", reason };
    }
    const delaySeconds = dispatchDelaySeconds(attempts, err.retryAfterSeconds);
    await db
      .update(outbox)
      .set({ attempts, lastError: reason, nextAttemptAt: new Date(now.getTime() + delaySeconds * 1000) })
      .where(eq(outbox.id, row.id));
    return { outcome: "retry", delaySeconds, reason };
  }
  await db.update(outbox).set({ state: "delivered", attempts: row.attempts + 1, deliveredAt: new Date(), lastError: null }).where(eq(outbox.id, row.id));
  return { outcome: "delivered" };
}
