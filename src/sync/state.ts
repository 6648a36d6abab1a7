/** D1 reads and writes of sync state, runs and detections. */
import { and, eq, getTableColumns, inArray, isNull, lt, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../storage/db";
import { detections, outbox, syncRuns, syncState } from "../storage/schema";
import type { DetectionInput } from "./rule";

export type SyncStateRow = typeof syncState.$inferSelect;
export type SyncRunRow = typeof syncRuns.$inferSelect;

/** D1 allows at most 100 bound parameters in one statement. */
export const D1_MAX_BOUND_PARAMETERS = 100;
/** Rows per multi-row INSERT into detections: as many as fit under D1's parameter bound. */
export const DETECTION_ROWS_PER_INSERT = Math.floor(D1_MAX_BOUND_PARAMETERS / Object.keys(getTableColumns(detections)).length);
/** Alert ids per `IN (...)` lookup, leaving room for the tenant id parameter. */
const IDS_PER_LOOKUP = D1_MAX_BOUND_PARAMETERS - 1;

/** Statement that creates the tenant's sync state, or on reconnect clears its run, failures and backoff. */
export function resetSyncStateStatement(db: Database, tenantId: string, lookbackDays: number, now: Date, resetCursor: boolean): BatchItem<"sqlite"> {
  const fresh = { runId: null, runLastSeen: null, runSyncTime: null, runOffset: 0, consecutiveFailures: 0, backoffUntil: null, nextRunAt: now, leaseId: null, leaseExpiresAt: null };
  return db
    .insert(syncState)
    .values({ tenantId, lookbackDays, cursor: null, ...fresh })
    .onConflictDoUpdate({ target: syncState.tenantId, set: resetCursor ? { ...fresh, cursor: null, lookbackDays } : fresh });
}

/** Takes the tenant's sync lease when it is free or expired; undefined when another invocation holds it. */
export async function acquireLease(db: Database, tenantId: string, leaseId: string, now: Date, leaseMs: number): Promise<SyncStateRow | undefined> {
  const [row] = await db
    .update(syncState)
    .set({ leaseId, leaseExpiresAt: new Date(now.getTime() + leaseMs) })
    .where(and(eq(syncState.tenantId, tenantId), or(isNull(syncState.leaseId), lt(syncState.leaseExpiresAt, now))))
    .returning();
  return row;
}

/** Statement that updates the state only while this invocation still holds the lease. */
export function updateStateStatement(db: Database, tenantId: string, leaseId: string, set: Partial<typeof syncState.$inferInsert>): BatchItem<"sqlite"> {
  return db.update(syncState).set(set).where(and(eq(syncState.tenantId, tenantId), eq(syncState.leaseId, leaseId)));
}

/** Starts a run: inserts its row and points the state at it, in one batch. Returns the run. */
export async function startRun(db: Database, tenantId: string, leaseId: string, reason: string, lastSeenFrom: Date, now: Date): Promise<SyncRunRow> {
  const [inserted] = await db.batch([
    db.insert(syncRuns).values({ tenantId, reason, startedAt: now, lastSeenFrom }).returning(),
    db
      .update(syncState)
      .set({ runId: sql`last_insert_rowid()`, runLastSeen: lastSeenFrom, runSyncTime: null, runOffset: 0, lastRunAt: now })
      .where(and(eq(syncState.tenantId, tenantId), eq(syncState.leaseId, leaseId))),
  ]);
  return inserted[0]!;
}

/** The run row by id. */
export async function findRun(db: Database, runId: number): Promise<SyncRunRow | undefined> {
  return db.query.syncRuns.findFirst({ where: eq(syncRuns.id, runId) });
}

/** Which of these alert ids the tenant already has. */
export async function existingAlertIds(db: Database, tenantId: string, alertIds: number[]): Promise<Set<number>> {
  const found = new Set<number>();
  for (let i = 0; i < alertIds.length; i += IDS_PER_LOOKUP) {
    const chunk = alertIds.slice(i, i + IDS_PER_LOOKUP);
    const rows = await db
      .select({ alertId: detections.alertId })
      .from(detections)
      .where(and(eq(detections.tenantId, tenantId), inArray(detections.alertId, chunk)));
    for (const r of rows) found.add(r.alertId);
  }
  return found;
}

/** Chunked multi-row INSERTs of new detections; a row already there (same tenant and alert id) is left alone. */
export function insertDetectionStatements(db: Database, tenantId: string, runId: number, rows: DetectionInput[], now: Date): BatchItem<"sqlite">[] {
  const statements: BatchItem<"sqlite">[] = [];
  for (let i = 0; i < rows.length; i += DETECTION_ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + DETECTION_ROWS_PER_INSERT).map((d) => ({ ...d, tenantId, runId, storedAt: now }));
    statements.push(db.insert(detections).values(chunk).onConflictDoNothing());
  }
  return statements;
}

/**
 * Statement adding the outbox row of one kind ("events" or "match") for a page's new
 * detections; returns its id. The key names the run and page, so a replayed page adds nothing.
 */
export function insertPageOutboxStatement(db: Database, kind: "events" | "match", tenantId: string, runId: number, pageNo: number, alertIds: number[], now: Date) {
  return db
    .insert(outbox)
    .values({ tenantId, kind, alertIds, idempotencyKey: `cynet-${kind}:${tenantId}:${runId}:${pageNo}`, nextAttemptAt: now, createdAt: now })
    .onConflictDoNothing()
    .returning({ id: outbox.id });
}
