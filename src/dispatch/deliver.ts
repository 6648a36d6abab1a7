/**
 * Delivering one outbox row to the host. The row is marked delivered only after the host
 * answered; a resend carries the same Idempotency-Key, so the host answers it instead of
 * recording it twice.
 */
import { countSubrequest } from "../observability/meter";
import { and, eq, inArray } from "drizzle-orm";
import type { Env } from "../env";
import { describeError } from "../http/errors";
import { HostError, postEventsBatch, postIrRequest, postScanNote } from "../host/client";
import { jsonList, type Database } from "../storage/db";
import { detections, fileHashes, outbox } from "../storage/schema";
import { correlate, selectFileHashes } from "./correlate";
import { enqueueDispatch, type OutboxRef } from "./enqueue";
import { detectionEvent } from "./events";
import { irRequest, scanNote } from "./scan-effects";

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

async function detectionsOf(db: Database, row: OutboxRow) {
  if (row.alertIds.length === 0) return [];
  // The ids travel as one JSON parameter: a row may name more alerts than D1's 100 bound parameters.
  return db
    .select()
    .from(detections)
    .where(and(eq(detections.tenantId, row.tenantId), inArray(detections.alertId, jsonList(row.alertIds))));
}

/** Sends a group (several "match" rows of one tenant, or one row of another kind); returns outbox rows it created. */
async function send(env: Env, db: Database, group: OutboxRow[], now: Date): Promise<OutboxRef[]> {
  const row = group[0]!;
  switch (row.kind) {
    case "events": {
      const rows = await detectionsOf(db, row);
      const hashes = await selectFileHashes(db, row.tenantId, [...new Set(rows.map((r) => r.sha256))]);
      const bySha = new Map(hashes.map((h) => [h.sha256, h]));
      if (rows.length) await postEventsBatch(env, row.tenantId, rows.map((r) => detectionEvent(r, bySha.get(r.sha256))), row.idempotencyKey);
      return [];
    }
    case "match":
      return correlate(env, db, group, now);
    case "note": {
      if (!row.payload) throw new HostError(false, undefined, "note row without its scan match");
      await postScanNote(env, row.tenantId, row.payload.scanId, scanNote(row.payload, await detectionsOf(db, row)), row.idempotencyKey);
      return [];
    }
    case "ir_request": {
      if (!row.payload) throw new HostError(false, undefined, "IR request row without its scan match");
      const [hashes] = await db.select().from(fileHashes).where(and(eq(fileHashes.tenantId, row.tenantId), eq(fileHashes.sha256, row.payload.sha256)));
      await postIrRequest(env, row.tenantId, irRequest(row.payload, await detectionsOf(db, row), hashes), row.idempotencyKey);
      return [];
    }
  }
}

/**
 * Delivers a group of pending rows (see send) and records the outcome of each in D1: the
 * rows share it, as they shared the host calls.
 */
export async function deliverGroup(env: Env, db: Database, group: OutboxRow[], now: Date = new Date()): Promise<Delivery> {
  const first = group[0];
  if (!first) return { outcome: "delivered" };
  const ids = group.map((r) => r.id);
  const attempts = Math.max(...group.map((r) => r.attempts)) + 1;
  let created: OutboxRef[];
  try {
    created = await send(env, db, group, now);
  } catch (err) {
    if (!(err instanceof HostError)) throw err;
    const reason = (err.status === undefined ? err.detail : `host answered HTTP ${err.status}: ${err.detail}`).slice(0, MAX_FAILURE_TEXT);
    if (!err.retryable) {
      await db.update(outbox).set({ state: "failed", attempts, lastError: reason }).where(inArray(outbox.id, ids));
      // The dead-letter consumer raises the alert for every final failure, refused or exhausted.
      countSubrequest("queue");
      await env.DEAD_LETTER_QUEUE.send({ kind: "dispatch", tenantId: first.tenantId, outboxIds: ids }).catch((e: unknown) =>
        console.error(JSON.stringify({ level: "error", msg: "dead-letter send failed; the failure stays recorded", tenantId: first.tenantId, outboxIds: ids, error: describeError(e) })),
      );
      return { outcome: "failed", reason };
    }
    const delaySeconds = dispatchDelaySeconds(attempts, err.retryAfterSeconds);
    await db
      .update(outbox)
      .set({ attempts, lastError: reason, nextAttemptAt: new Date(now.getTime() + delaySeconds * 1000) })
      .where(inArray(outbox.id, ids));
    return { outcome: "retry", delaySeconds, reason };
  }
  await db.update(outbox).set({ state: "delivered", attempts, deliveredAt: new Date(), lastError: null }).where(inArray(outbox.id, ids));
  // Rows a match created are enqueued after they are stored; a lost send is the sweeper's.
  if (created.length) await enqueueDispatch(env, first.tenantId, created);
  return { outcome: "delivered" };
}
