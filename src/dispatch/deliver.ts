/**
 * Delivering one outbox row to the host. The row is marked delivered only after the host
 * answered; a resend carries the same Idempotency-Key, so the host answers it instead of
 * recording it twice.
 */
import { logLine } from "../observability/log";
import { countSubrequest } from "../observability/meter";
import { and, eq, inArray } from "drizzle-orm";
import type { Env } from "../env";
import { HostError, postEventsBatch, postIrRequest, postScanNote } from "../host/client";
import type { Database } from "../storage/db";
import { jsonList } from "../storage/json-list";
import { detections, fileHashes, type DetectionRow } from "../storage/schema";
import { correlate } from "./correlate";
import { enqueueDispatch, OUTBOX_IDS_PER_MESSAGE } from "./enqueue";
import { markDeliveredStatement, markRefused, markRetry, scanMatchOf, type OutboxRef, type OutboxRow } from "./outbox";
import { actionNoteOf } from "../actions/note";
import { detectionEvent } from "./events";
import { decisionNote, irRequest, scanNote } from "./scan-effects";
import { sendAttachmentEvents, sendAttachmentNote } from "../findings/deliver";

/** First retry delay of a failed delivery. */
export const DISPATCH_BACKOFF_BASE_SECONDS = 10;
/** Longest delay between two delivery attempts. */
export const DISPATCH_BACKOFF_CAP_SECONDS = 15 * 60;
/** How much of the host's reason a failure record keeps. */
const MAX_FAILURE_TEXT = 500;

/** What happened to one row. */
export type Delivery = { outcome: "delivered"; created: OutboxRef[] } | { outcome: "failed"; reason: string } | { outcome: "retry"; delaySeconds: number; reason: string };

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

const eventDetectionKey = (tenantId: string, alertId: number) => `${tenantId}:${alertId}`;

/** Detections (with whatever MD5/SHA-1 correlation has learned so far) that events rows stand for, by tenant and alert id. */
export type EventDetections = Map<string, { detection: DetectionRow; md5: string | null; sha1: string | null }>;

/** Reads the detections of several events rows: one statement per tenant, however many rows. */
export async function loadEventDetections(db: Database, rows: OutboxRow[]): Promise<EventDetections> {
  const byTenant = new Map<string, number[]>();
  for (const row of rows) {
    if (row.kind !== "events") continue;
    const ids = byTenant.get(row.tenantId) ?? [];
    ids.push(...row.alertIds);
    byTenant.set(row.tenantId, ids);
  }
  const found: EventDetections = new Map();
  for (const [tenantId, alertIds] of byTenant) {
    if (alertIds.length === 0) continue;
    const read = await db
      .select({ detection: detections, md5: fileHashes.md5, sha1: fileHashes.sha1 })
      .from(detections)
      .leftJoin(fileHashes, and(eq(fileHashes.tenantId, detections.tenantId), eq(fileHashes.sha256, detections.sha256)))
      .where(and(eq(detections.tenantId, tenantId), inArray(detections.alertId, jsonList(alertIds))));
    for (const r of read) found.set(eventDetectionKey(tenantId, r.detection.alertId), r);
  }
  return found;
}

/** Sends a group (several "match" rows of one tenant, or one row of another kind); returns outbox rows it created. */
async function send(env: Env, db: Database, group: OutboxRow[], now: Date, eventDetections?: EventDetections, lookupBudget?: number): Promise<OutboxRef[]> {
  const row = group[0]!;
  switch (row.kind) {
    case "events": {
      const known = eventDetections ?? (await loadEventDetections(db, [row]));
      const found = row.alertIds.map((id) => known.get(eventDetectionKey(row.tenantId, id))).filter((d) => d !== undefined);
      if (found.length) await postEventsBatch(env, row.tenantId, found.map((d) => detectionEvent(d.detection, d)), row.idempotencyKey);
      return [];
    }
    case "match":
      return correlate(env, db, group, now, lookupBudget);
    case "note": {
      const match = scanMatchOf(row);
      if (!match) throw new HostError(false, undefined, "note row without its scan match");
      const note = match.decision ? decisionNote(match) : scanNote(match, await detectionsOf(db, row));
      await postScanNote(env, row.tenantId, match.scanId, note, row.idempotencyKey);
      return [];
    }
    case "ir_request": {
      const match = scanMatchOf(row);
      if (!match) throw new HostError(false, undefined, "IR request row without its scan match");
      const [hashes] = await db.select().from(fileHashes).where(and(eq(fileHashes.tenantId, row.tenantId), eq(fileHashes.sha256, match.sha256)));
      await postIrRequest(env, row.tenantId, irRequest(match, await detectionsOf(db, row), hashes), row.idempotencyKey);
      return [];
    }
    case "action_note": {
      const action = row.payload && "actionId" in row.payload ? row.payload : undefined;
      if (!action) throw new HostError(false, undefined, "action note row without its action");
      await postScanNote(env, row.tenantId, action.scanId, await actionNoteOf(db, row.tenantId, action.actionId), row.idempotencyKey);
      return [];
    }
    case "attachment_events":
      await sendAttachmentEvents(env, db, row);
      return [];
    case "attachment_note":
      await sendAttachmentNote(env, db, row);
      return [];
  }
}

/**
 * Delivers a group of pending rows (see send). A refusal or a retry is recorded in D1 here (the
 * rows share it, as they shared the host calls); a delivery is recorded by the caller, with
 * the other deliveries of its batch in one statement (see markDelivered).
 */
export async function deliverGroup(env: Env, db: Database, group: OutboxRow[], now: Date = new Date(), eventDetections?: EventDetections, lookupBudget?: number): Promise<Delivery> {
  const first = group[0];
  if (!first) return { outcome: "delivered", created: [] };
  const ids = group.map((r) => r.id);
  const attempts = Math.max(...group.map((r) => r.attempts)) + 1;
  let created: OutboxRef[];
  try {
    created = await send(env, db, group, now, eventDetections, lookupBudget);
  } catch (err) {
    if (!(err instanceof HostError)) throw err;
    const reason = (err.status === undefined ? err.detail : `host answered HTTP ${err.status}: ${err.detail}`).slice(0, MAX_FAILURE_TEXT);
    if (!err.retryable) {
      await markRefused(db, ids, attempts, reason);
      // The dead-letter consumer raises the alert for every final failure, refused or exhausted.
      // A match group may hold more rows than one message carries.
      for (let i = 0; i < ids.length; i += OUTBOX_IDS_PER_MESSAGE) {
        const outboxIds = ids.slice(i, i + OUTBOX_IDS_PER_MESSAGE);
        countSubrequest("queue");
        await env.DEAD_LETTER_QUEUE.send({ kind: "dispatch", tenantId: first.tenantId, outboxIds }).catch((e: unknown) =>
          logLine("error", "dead-letter send failed; the failure stays recorded", { tenantId: first.tenantId, outboxIds, error: e }),
        );
      }
      return { outcome: "failed", reason };
    }
    const delaySeconds = dispatchDelaySeconds(attempts, err.retryAfterSeconds);
    await markRetry(db, ids, attempts, reason, new Date(now.getTime() + delaySeconds * 1000), now);
    return { outcome: "retry", delaySeconds, reason };
  }
  return { outcome: "delivered", created };
}

/**
 * Records rows the host accepted as delivered, in one statement, and enqueues the rows their
 * matches created. Until the record is written the rows stay pending: a crash in between
 * resends them, and the host answers the resend from its idempotency record. The created rows
 * are already stored, so they are enqueued whether or not the record is (a lost send is the
 * sweeper's).
 */
export async function markDelivered(env: Env, db: Database, ids: number[], created: Array<{ tenantId: string; rows: OutboxRef[] }>, now: Date = new Date()): Promise<void> {
  try {
    if (ids.length) await markDeliveredStatement(db, ids, now);
  } finally {
    for (const { tenantId, rows } of created) if (rows.length) await enqueueDispatch(env, tenantId, rows);
  }
}
