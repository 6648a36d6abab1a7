/** D1 reads and writes of sync state, runs and detections. */
import { and, eq, getTableColumns, is, isNull, lt, or, SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { namedBatch, rowsOf } from "../storage/batch";
import type { Database } from "../storage/db";
import { jsonArraysUnderLimit, MAX_JSON_PARAMETER_BYTES } from "../storage/json-list";
import { detections, syncRuns, syncState } from "../storage/schema";
import type { DetectionInput } from "./rule";

export type SyncStateRow = typeof syncState.$inferSelect;
/** Columns of sync_state an UPDATE sets: values, or SQL computed from the row (a count going up). */
export type SyncStateUpdate = { [K in keyof typeof syncState.$inferInsert]?: (typeof syncState.$inferInsert)[K] | SQL };
export type SyncRunRow = typeof syncRuns.$inferSelect;
/** A run row as written: what is not given takes the column's default. */
export type SyncRunInsert = typeof syncRuns.$inferInsert;

/**
 * No run in progress: every run_* column of sync_state, cleared together (a run that ends, is
 * abandoned or starts afresh), so no run's position or anchor outlives it.
 */
export const RUN_CLEARED = { runId: null, runPhase: "alerts", runLastSeen: null, runSyncTime: null, runOffset: 0, runAnchorId: null } as const satisfies SyncStateUpdate;
/** No invocation holds the tenant's sync: the next one may take the lease at once. */
export const LEASE_RELEASED = { leaseId: null, leaseExpiresAt: null } as const satisfies SyncStateUpdate;

/**
 * Detection columns as the Drizzle schema names them. A page batch's new detections go to D1
 * as one JSON parameter that SQLite's json_each unpacks: one statement per batch whatever its
 * size, far under D1's bound of 100 parameters a statement (a multi-row INSERT of 20 columns
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

/**
 * Takes the tenant's sync lease when it is free or expired, and notes when this sync started
 * (in the same row write); undefined when another invocation holds it.
 */
export async function acquireLease(db: Database, tenantId: string, leaseId: string, now: Date, leaseMs: number): Promise<SyncStateRow | undefined> {
  // A batch of one, not a lone statement: D1 reports rows written for batches (and run/all), not
  // for the raw() reads Drizzle gives a lone UPDATE … RETURNING, and this write is on every tick.
  const done = await namedBatch(db, {
    lease: [
      db
        .update(syncState)
        .set({ leaseId, leaseExpiresAt: new Date(now.getTime() + leaseMs), lastRunAt: now })
        .where(and(eq(syncState.tenantId, tenantId), or(isNull(syncState.leaseId), lt(syncState.leaseExpiresAt, now))))
        .returning(),
    ],
  });
  return rowsOf<SyncStateRow>(done.lease[0])[0];
}

/** Condition true while the invocation `leaseId` holds the tenant's sync lease (for statements on other tables). */
export function holdsLease(tenantId: string, leaseId: string) {
  return sql`exists (select 1 from ${syncState} where ${syncState.tenantId} = ${tenantId} and ${syncState.leaseId} = ${leaseId})`;
}

/** Statement that updates the state only while this invocation still holds the lease. */
export function updateStateStatement(db: Database, tenantId: string, leaseId: string, set: SyncStateUpdate): BatchItem<"sqlite"> {
  return db.update(syncState).set(set).where(and(eq(syncState.tenantId, tenantId), eq(syncState.leaseId, leaseId)));
}

/**
 * Statement inserting a run row only while the invocation `leaseId` holds the tenant's lease, so
 * an invocation that lost it leaves no row behind. An INSERT … SELECT from the lease row: the
 * selection names every column in the table's order (Drizzle refuses the statement otherwise),
 * each given value encoded by its column, the rest the column's default.
 */
export function insertRunIfLeasedStatement(db: Database, leaseId: string, values: SyncRunInsert) {
  const selection = Object.fromEntries(
    Object.entries(getTableColumns(syncRuns)).map(([key, column]) => {
      const value = values[key as keyof SyncRunInsert];
      if (value !== undefined) return [key, sql`${sql.param(value, column)}`];
      if (column.default === undefined) return [key, sql`null`];
      return [key, is(column.default, SQL) ? column.default : sql`${sql.param(column.default, column)}`];
    }),
  );
  const leased = and(eq(syncState.tenantId, values.tenantId), eq(syncState.leaseId, leaseId));
  return db
    .insert(syncRuns)
    .select(db.select(selection).from(syncState).where(leased) as never)
    .returning({ id: syncRuns.id });
}

/**
 * Gives a run its row, pointing the state at it, in one batch. A run gets a row once it stores
 * something new or outlasts its first invocation; a quiet run never does (its tick is counted
 * in quiet_runs), which resets here. Returns the row's id, or undefined when the lease is gone.
 */
export async function openRun(
  db: Database,
  leaseId: string,
  values: SyncRunInsert & { lastSeenFrom: Date },
  /** The window the run is reading when it gets its row (it may be the changed alerts') and where that window starts. */
  window: { runPhase: SyncStateRow["runPhase"]; runLastSeen: Date } = { runPhase: "alerts", runLastSeen: values.lastSeenFrom },
): Promise<number | undefined> {
  const done = await namedBatch(db, {
    run: [insertRunIfLeasedStatement(db, leaseId, values)],
    state: [
      db
        .update(syncState)
        // The INSERT just before, in the same transaction, made the row this points at (when the lease is held; otherwise neither applies).
        // The position columns start clear (a quiet attempt before may have left its own); the batch that follows writes this run's.
        .set({ ...RUN_CLEARED, runId: sql`last_insert_rowid()`, ...window, quietRuns: 0 })
        .where(and(eq(syncState.tenantId, values.tenantId), eq(syncState.leaseId, leaseId))),
    ],
  });
  return rowsOf<{ id: number }>(done.run[0])[0]?.id;
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
    rows.map((d) => ({
      ...d,
      tenantId,
      runId,
      storedAt: now.getTime(),
      detectedAt: d.detectedAt.getTime(),
      firstSeenAt: ms(d.firstSeenAt),
      lastSeenAt: ms(d.lastSeenAt),
      statusChangedAt: ms(d.statusChangedAt),
      revokedAt: ms(d.revokedAt),
    })),
  );
  // Drizzle lists every column of the table in schema order; the SELECT yields them in that order.
  const values = sql.raw(DETECTION_COLUMNS.map((c) => `r.v ->> '$.${c.key}'`).join(", "));
  // Each row is turned into JSONB once (materialized), so reading its 20 fields is a binary
  // lookup; reading them from json_each's text value would parse the row again for every field.
  // "where true" lets SQLite tell the upsert clause from a join condition (INSERT ... SELECT).
  return arrays.map((json) =>
    db
      .insert(detections)
      .select(sql`with r as materialized (select jsonb(value) as v from json_each(${json})) select ${values} from r where true`)
      .onConflictDoNothing(),
  );
}
