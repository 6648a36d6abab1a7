/** D1 reads and writes of sync state, runs and detections. */
import { and, eq, getTableColumns, isNull, lt, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../storage/db";
import { jsonArraysUnderLimit, MAX_JSON_PARAMETER_BYTES } from "../storage/json-list";
import { detections, syncRuns, syncState } from "../storage/schema";
import type { DetectionInput } from "./rule";

export type SyncStateRow = typeof syncState.$inferSelect;
/** Columns of sync_state an UPDATE sets. */
export type SyncStateUpdate = Partial<typeof syncState.$inferInsert>;
export type SyncRunRow = typeof syncRuns.$inferSelect;

/**
 * No run in progress: every run_* column of sync_state, cleared together (a run that ends, is
 * abandoned or starts afresh), so no run's position or anchor outlives it.
 */
export const RUN_CLEARED = { runId: null, runLastSeen: null, runSyncTime: null, runOffset: 0, runAnchorId: null } as const satisfies SyncStateUpdate;
/** No invocation holds the tenant's sync: the next one may take the lease at once. */
export const LEASE_RELEASED = { leaseId: null, leaseExpiresAt: null } as const satisfies SyncStateUpdate;

/**
 * Detection columns as the Drizzle schema names them. A page batch's new detections go to D1
 * as one JSON parameter that SQLite's json_each unpacks: one statement per batch whatever its
 * size, far under D1's bound of 100 parameters a statement (a multi-row INSERT of 17 columns
 * would fit 5 rows a statement).
 */
const DETECTION_COLUMNS = Object.keys(getTableColumns(detections)).map((key) => ({ key }));

/** Statement that creates the tenant's sync state, or on reconnect clears its run, failures and backoff. */
export function resetSyncStateStatement(db: Database, tenantId: string, lookbackDays: number, now: Date, resetCursor: boolean): BatchItem<"sqlite"> {
  const fresh = { ...RUN_CLEARED, ...LEASE_RELEASED, consecutiveFailures: 0, backoffUntil: null, nextRunAt: now };
  return db
    .insert(syncState)
    .values({ tenantId, lookbackDays, cursor: null, ...fresh })
    .onConflictDoUpdate({ target: syncState.tenantId, set: resetCursor ? { ...fresh, cursor: null, lookbackDays } : fresh });
}

/**
 * Statement closing any run of the tenant still marked running: a deactivation, reconnect,
 * backfill or reset abandons it, and the next run starts from the cursor.
 */
export function closeOpenRunsStatement(db: Database, tenantId: string, why: string, now: Date): BatchItem<"sqlite"> {
  return db
    .update(syncRuns)
    .set({ outcome: "failed", finishedAt: now, errorCode: "run_abandoned", errorMessage: `Stopped: ${why}.` })
    .where(and(eq(syncRuns.tenantId, tenantId), eq(syncRuns.outcome, "running")));
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

/** Condition true while the invocation `leaseId` holds the tenant's sync lease (for statements on other tables). */
export function holdsLease(tenantId: string, leaseId: string) {
  return sql`exists (select 1 from ${syncState} where ${syncState.tenantId} = ${tenantId} and ${syncState.leaseId} = ${leaseId})`;
}

/** Statement that updates the state only while this invocation still holds the lease. */
export function updateStateStatement(db: Database, tenantId: string, leaseId: string, set: SyncStateUpdate): BatchItem<"sqlite"> {
  return db.update(syncState).set(set).where(and(eq(syncState.tenantId, tenantId), eq(syncState.leaseId, leaseId)));
}

/** Starts a run: inserts its row and points the state at it, in one batch. Returns the run. */
export async function startRun(db: Database, tenantId: string, leaseId: string, reason: string, lastSeenFrom: Date, now: Date): Promise<SyncRunRow> {
  const [inserted] = await db.batch([
    db.insert(syncRuns).values({ tenantId, reason, startedAt: now, lastSeenFrom }).returning(),
    db
      .update(syncState)
      .set({ ...RUN_CLEARED, runId: sql`last_insert_rowid()`, runLastSeen: lastSeenFrom, lastRunAt: now })
      .where(and(eq(syncState.tenantId, tenantId), eq(syncState.leaseId, leaseId))),
  ]);
  return inserted[0]!;
}

/** The run row by id. */
export async function findRun(db: Database, tenantId: string, runId: number): Promise<SyncRunRow | undefined> {
  return db.query.syncRuns.findFirst({ where: and(eq(syncRuns.id, runId), eq(syncRuns.tenantId, tenantId)) });
}

/** Most UTF-8 bytes of detection JSON one INSERT carries (storage/json-list.ts says why). */
export const MAX_DETECTION_JSON_BYTES = MAX_JSON_PARAMETER_BYTES;

/**
 * The INSERTs of a page batch's new detections (a row already there, same tenant and alert
 * id, is left alone): as few statements as keep each one's JSON under MAX_DETECTION_JSON_BYTES,
 * one for a batch of ordinary pages.
 */
export function insertDetectionsStatements(db: Database, tenantId: string, runId: number, rows: DetectionInput[], now: Date) {
  const ms = (d: Date | null) => (d ? d.getTime() : null);
  const arrays = jsonArraysUnderLimit(
    rows.map((d) => ({ ...d, tenantId, runId, storedAt: now.getTime(), detectedAt: d.detectedAt.getTime(), firstSeenAt: ms(d.firstSeenAt), lastSeenAt: ms(d.lastSeenAt) })),
  );
  // Drizzle lists every column of the table in schema order; the SELECT yields them in that order.
  const values = sql.raw(DETECTION_COLUMNS.map((c) => `r.v ->> '$.${c.key}'`).join(", "));
  // Each row is turned into JSONB once (materialized), so reading its 17 fields is a binary
  // lookup; reading them from json_each's text value would parse the row again for every field.
  // "where true" lets SQLite tell the upsert clause from a join condition (INSERT ... SELECT).
  return arrays.map((json) =>
    db
      .insert(detections)
      .select(sql`with r as materialized (select jsonb(value) as v from json_each(${json})) select ${values} from r where true`)
      .onConflictDoNothing(),
  );
}
