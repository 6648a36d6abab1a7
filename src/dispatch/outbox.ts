/**
 * The outbox: every delivery to the host, written in the same D1 batch as what caused it and
 * sent through the queues. This module owns its rows, their states and every query on them;
 * the keys live in keys.ts. A row is pending until the host took it (delivered) or refused it
 * for good (failed, waiting for an admin). A host that is only busy or down never makes a row
 * fail: past the queue's retries it waits on a long schedule, however long the outage.
 *
 * @example
 * const rows = await readRows(db, [12, 13]);
 * await db.batch([markDeliveredStatement(db, [12], new Date())]);
 */
import { and, asc, desc, eq, getTableColumns, inArray, isNotNull, lt, min, sql, type SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { namedBatch } from "../storage/batch";
import type { Database } from "../storage/db";
import { jsonArraysUnderLimit, jsonList } from "../storage/json-list";
import { detections, findingEndpoints, OUTBOX_KINDS, OUTBOX_STATES, outbox, verdictChanges, type ActionNotePayload, type ScanMatchPayload } from "../storage/schema";
import { decisionNoteKeySql } from "./keys";

/** A stored outbox row. */
export type OutboxRow = typeof outbox.$inferSelect;
/** What an outbox row does (events, match, note, ir_request). */
export type OutboxKind = (typeof OUTBOX_KINDS)[number];
/** An outbox row as the queues need it: which row, and so which queue. */
export type OutboxRef = Pick<OutboxRow, "id" | "kind">;

/** The state a new row starts in. */
const PENDING = OUTBOX_STATES[0];

/** First wait on the long schedule: an outage that outlasted the queue's retries (about an hour) is not over in minutes. */
export const LONG_RETRY_MIN_MS = 30 * 60_000;
/** Longest wait on the long schedule: a host back after days gets its deliveries within hours. */
export const LONG_RETRY_MAX_MS = 6 * 60 * 60_000;

/**
 * When a row the queue gave up on is tried again: half as long as the host has been failing,
 * between LONG_RETRY_MIN_MS and LONG_RETRY_MAX_MS. The schedule never ends: retryable failures
 * are delivered once the host is back, with no admin call.
 */
export function longRetryAt(failingSince: Date | null, now: Date): Date {
  const failingFor = now.getTime() - (failingSince ?? now).getTime();
  return new Date(now.getTime() + Math.min(LONG_RETRY_MAX_MS, Math.max(LONG_RETRY_MIN_MS, failingFor / 2)));
}

/** The rows with these ids, in one read (ids travel as one JSON parameter). */
export async function readRows(db: Database, ids: readonly number[]): Promise<OutboxRow[]> {
  if (ids.length === 0) return [];
  return db.select().from(outbox).where(inArray(outbox.id, jsonList(ids)));
}

/**
 * The selection of an INSERT … SELECT of outbox rows: every column in the table's order (Drizzle
 * refuses the statement otherwise), a new pending row's defaults, and `fields` as the source
 * query gives them.
 */
function newRowSelection(fields: Pick<Record<keyof OutboxRow, SQL>, "tenantId" | "kind" | "alertIds" | "payload" | "idempotencyKey">, now: Date) {
  const at = now.getTime();
  const row: Record<keyof OutboxRow, SQL> = {
    id: sql`null`,
    ...fields,
    state: sql`${PENDING}`,
    attempts: sql`0`,
    nextAttemptAt: sql`${at}`,
    lastError: sql`null`,
    failingSince: sql`null`,
    createdAt: sql`${at}`,
    deliveredAt: sql`null`,
  };
  return Object.fromEntries(Object.keys(getTableColumns(outbox)).map((key) => [key, row[key as keyof OutboxRow]]));
}

/**
 * Statement adding the outbox row of one kind ("events" or "match") for those of `alertIds`
 * the tenant has no detection of yet; returns its id and kind, or nothing when none is new.
 * It runs in the page batch's D1 batch before the detections INSERT, so "new" means new
 * before this batch: the existing-id read and the write are one round trip, and no other
 * invocation can slip between them (a batch is one transaction). The selection names every
 * column, in the schema's order (Drizzle refuses the statement otherwise).
 */
export function insertNewDetectionsRowStatement(db: Database, kind: "events" | "match", tenantId: string, idempotencyKey: string, alertIds: number[], now: Date) {
  const fresh = sql`(select json_group_array(page.value) as ids, count(*) as n from json_each(${JSON.stringify(alertIds)}) as page
    where not exists (select 1 from ${detections} where ${detections.tenantId} = ${tenantId} and ${detections.alertId} = page.value))`;
  const ordered = newRowSelection({ tenantId: sql`${tenantId}`, kind: sql`${kind}`, alertIds: sql`fresh.ids`, payload: sql`null`, idempotencyKey: sql`${idempotencyKey}` }, now);
  return db
    .insert(outbox)
    .select(db.select(ordered).from(sql`${fresh} as fresh`).where(sql`fresh.n > 0`) as never)
    .onConflictDoNothing()
    .returning({ id: outbox.id, kind: outbox.kind });
}

/** How many detections the batch's events rows (by idempotency key) stand for: its new detections, counted inside its batch. */
export function newDetectionsOf(eventKeys: string[]) {
  return sql<number>`(select coalesce(sum(json_array_length(${outbox.alertIds})), 0) from ${outbox}
    where ${outbox.idempotencyKey} in ${jsonList(eventKeys)})`;
}

/** A note or IR request row correlation writes, or an attachment note a finding's check writes. */
export interface EffectRow {
  tenantId: string;
  kind: "note" | "ir_request" | "attachment_note";
  alertIds: number[];
  payload: ScanMatchPayload;
  idempotencyKey: string;
}

/**
 * INSERTs of note and IR request rows (a row whose key exists is left alone), as few as keep
 * each one's JSON under MAX_JSON_PARAMETER_BYTES (scan ids and file names come from the host,
 * endpoints from Cynet): a file on thousands of scans is a few statements, not two per scan.
 * Each returns the ids and kinds of the rows it added.
 */
export function insertEffectRowsStatements(db: Database, rows: EffectRow[], now: Date) {
  return jsonArraysUnderLimit(rows).map((json) => {
    const r = sql`(select value ->> '$.tenantId' as tenant_id, value ->> '$.kind' as kind, json(value -> '$.alertIds') as alert_ids,
      json(value -> '$.payload') as payload, value ->> '$.idempotencyKey' as idempotency_key from json_each(${json}))`;
    const ordered = newRowSelection({ tenantId: sql`r.tenant_id`, kind: sql`r.kind`, alertIds: sql`r.alert_ids`, payload: sql`r.payload`, idempotencyKey: sql`r.idempotency_key` }, now);
    // "where true" lets SQLite tell the upsert clause from a join condition (INSERT ... SELECT).
    return db
      .insert(outbox)
      .select(db.select(ordered).from(sql`${r} as r`).where(sql`true`) as never)
      .onConflictDoNothing()
      .returning({ id: outbox.id, kind: outbox.kind });
  });
}

/**
 * Statement adding, for each verdict change just recorded for `sha256s` (the latest of each
 * hash), one note to every scan the file was matched in before the change was recorded (its IR
 * request rows, found by the (tenant, sha256) index on them: `+` drops the column's TEXT affinity,
 * which the indexed expression lacks, so the index serves the comparison): the scan match of the IR request
 * with the decision added. Keyed by (scan, file, seq), so a statement run again adds nothing.
 */
export function insertDecisionNotesStatement(db: Database, tenantId: string, sha256s: readonly string[], now: Date) {
  const ir = sql`ir`;
  const payload = sql`json_set(${ir}.payload, '$.decision', json_object('seq', vc.seq, 'malicious', json(case when vc.malicious then 'true' else 'false' end),
    'reason', vc.reason, 'alertId', vc.alert_id, 'at', vc.at))`;
  const ordered = newRowSelection(
    { tenantId: sql`${tenantId}`, kind: sql`'note'`, alertIds: sql`'[]'`, payload, idempotencyKey: decisionNoteKeySql(sql`${ir}.idempotency_key`, sql`vc.seq`) },
    now,
  );
  const changed = sql`(select * from ${verdictChanges} as latest where latest.tenant_id = ${tenantId} and latest.sha256 in ${jsonList([...new Set(sha256s)])}
    and latest.seq = (select max(seq) from ${verdictChanges} where tenant_id = ${tenantId} and sha256 = latest.sha256))`;
  return db
    .insert(outbox)
    .select(
      db
        .select(ordered)
        .from(sql`${changed} as vc join ${outbox} as ${ir} on ${ir}.tenant_id = ${tenantId} and ${ir}.kind = 'ir_request'
          and json_extract(${ir}.payload, '$.sha256') = +vc.sha256 and ${ir}.created_at <= vc.recorded_at`)
        .where(sql`true`) as never,
    )
    .onConflictDoNothing()
    .returning({ id: outbox.id, kind: outbox.kind });
}

/**
 * Statement adding the attachment_events row of the finding_endpoints rows one check added
 * (`foundBy`), in the check's D1 batch after their INSERT: an endpoint another check recorded
 * first is that check's, so each (file, endpoint) is in one row, ever. Nothing when the check
 * added none, or when the key exists (the check was recorded already). Returns its id and kind.
 */
export function insertAttachmentEventsRowStatement(db: Database, tenantId: string, sha256: string, foundBy: string, idempotencyKey: string, now: Date) {
  const found = sql`(select json_group_array(${findingEndpoints.id}) as ids, count(*) as n from ${findingEndpoints}
    where ${findingEndpoints.tenantId} = ${tenantId} and ${findingEndpoints.sha256} = ${sha256} and ${findingEndpoints.foundBy} = ${foundBy})`;
  const ordered = newRowSelection({ tenantId: sql`${tenantId}`, kind: sql`'attachment_events'`, alertIds: sql`found.ids`, payload: sql`null`, idempotencyKey: sql`${idempotencyKey}` }, now);
  return db
    .insert(outbox)
    .select(db.select(ordered).from(sql`${found} as found`).where(sql`found.n > 0`) as never)
    .onConflictDoNothing()
    .returning({ id: outbox.id, kind: outbox.kind });
}

/**
 * Statement adding the note row of an ended response action, only when `condition` holds as it
 * runs (the action was ended by the UPDATE before it in the same batch); nothing if its key exists.
 * Returns its id and kind when it was added.
 */
export function insertActionNoteStatement(db: Database, tenantId: string, payload: ActionNotePayload, idempotencyKey: string, now: Date, condition: SQL) {
  const ordered = newRowSelection({ tenantId: sql`${tenantId}`, kind: sql`'action_note'`, alertIds: sql`'[]'`, payload: sql`${JSON.stringify(payload)}`, idempotencyKey: sql`${idempotencyKey}` }, now);
  return db
    .insert(outbox)
    .select(db.select(ordered).from(sql`(select 1)`).where(condition) as never)
    .onConflictDoNothing()
    .returning({ id: outbox.id, kind: outbox.kind });
}

/** Statement adding a deferred match row (a later correlation of these alerts); nothing if its key exists. */
export function insertMatchRowStatement(db: Database, tenantId: string, alertIds: number[], idempotencyKey: string, dueAt: Date, now: Date): BatchItem<"sqlite"> {
  return db.insert(outbox).values({ tenantId, kind: "match", alertIds, idempotencyKey, nextAttemptAt: dueAt, createdAt: now }).onConflictDoNothing();
}

/** The scan match a note or IR request row carries; undefined for a row of another kind (an action note names an action instead). */
export function scanMatchOf(row: Pick<OutboxRow, "payload">): ScanMatchPayload | undefined {
  return row.payload && "sha256" in row.payload ? row.payload : undefined;
}

/** The tenant's notes already written under these key prefixes (all of one length), in one read. */
export async function notesUnderPrefixes(db: Database, tenantId: string, prefixes: string[]) {
  if (prefixes.length === 0) return [];
  const rows = await db
    .select({ key: outbox.idempotencyKey, payload: outbox.payload })
    .from(outbox)
    .where(and(eq(outbox.tenantId, tenantId), eq(outbox.kind, "note"), sql`substr(${outbox.idempotencyKey}, 1, ${prefixes[0]!.length}) in ${jsonList(prefixes)}`));
  return rows.map((r) => ({ key: r.key, payload: scanMatchOf(r) }));
}

/** Statement recording rows the host accepted, in one UPDATE however many. */
export function markDeliveredStatement(db: Database, ids: number[], now: Date) {
  return db
    .update(outbox)
    .set({ state: "delivered", attempts: sql`${outbox.attempts} + 1`, deliveredAt: now, lastError: null, failingSince: null })
    .where(inArray(outbox.id, jsonList(ids)));
}

/** Records rows the host refused for good: they wait for an admin's retry. */
export async function markRefused(db: Database, ids: number[], attempts: number, reason: string): Promise<void> {
  await db.update(outbox).set({ state: "failed", attempts, lastError: reason }).where(inArray(outbox.id, jsonList(ids)));
}

/** Records a retryable failure: the next attempt is due at `dueAt`, and the failure's start is kept. */
export async function markRetry(db: Database, ids: number[], attempts: number, reason: string, dueAt: Date, now: Date): Promise<void> {
  await db
    .update(outbox)
    .set({ attempts, lastError: reason, nextAttemptAt: dueAt, failingSince: sql`coalesce(${outbox.failingSince}, ${now.getTime()})` })
    .where(inArray(outbox.id, jsonList(ids)));
}

/**
 * Puts pending rows the queue gave up on back on the long schedule (longRetryAt): the sweeper
 * sends each again when it is due. Returns when each is next due.
 */
export async function parkOnLongSchedule(db: Database, rows: OutboxRow[], now: Date): Promise<Array<{ row: OutboxRow; dueAt: Date }>> {
  const parked = rows.filter((r) => r.state === "pending").map((row) => ({ row, dueAt: longRetryAt(row.failingSince, now) }));
  if (parked.length === 0) return [];
  const updates = parked.map(({ row, dueAt }) =>
    db
      .update(outbox)
      .set({ nextAttemptAt: dueAt, failingSince: sql`coalesce(${outbox.failingSince}, ${now.getTime()})` })
      .where(and(eq(outbox.id, row.id), eq(outbox.state, PENDING))),
  );
  await namedBatch(db, { updates });
  return parked;
}

/** Pending rows due before `before` (oldest-due first), at most `limit`: what the sweeper sends again. */
export async function duePendingRows(db: Database, before: Date, limit: number) {
  return db
    .select({ id: outbox.id, tenantId: outbox.tenantId, kind: outbox.kind })
    .from(outbox)
    .where(and(eq(outbox.state, PENDING), lt(outbox.nextAttemptAt, before)))
    .orderBy(asc(outbox.nextAttemptAt))
    .limit(limit);
}

/** Marks swept rows as just sent (still pending), so the next tick does not send them again. */
export async function markSwept(db: Database, ids: number[], now: Date): Promise<void> {
  await db
    .update(outbox)
    .set({ nextAttemptAt: now })
    .where(and(inArray(outbox.id, jsonList(ids)), eq(outbox.state, PENDING)));
}

/** The tenant's rows in one state, newest first. */
export async function listRows(db: Database, tenantId: string, state: OutboxRow["state"], limit: number) {
  return db
    .select()
    .from(outbox)
    .where(and(eq(outbox.tenantId, tenantId), eq(outbox.state, state)))
    .orderBy(desc(outbox.id))
    .limit(limit);
}

/** The ids of the tenant's failed rows (all, or those of these ids), at most `limit`, oldest first: what a retry sets pending again. */
export async function failedRowIds(db: Database, tenantId: string, ids: number[] | undefined, limit: number): Promise<number[]> {
  const filter = and(eq(outbox.tenantId, tenantId), eq(outbox.state, "failed"), ...(ids ? [inArray(outbox.id, jsonList(ids))] : []));
  const rows = await db.select({ id: outbox.id }).from(outbox).where(filter).orderBy(asc(outbox.id)).limit(limit);
  return rows.map((r) => r.id);
}

/**
 * Statement setting these failed rows of the tenant pending again, due now (a row no longer
 * failed is left alone); returns the ids and kinds it requeued. For the batch that records the retry.
 */
export function requeueFailedStatement(db: Database, tenantId: string, ids: number[], now: Date) {
  return db
    .update(outbox)
    .set({ state: PENDING, attempts: 0, nextAttemptAt: now, failingSince: null })
    .where(and(eq(outbox.tenantId, tenantId), eq(outbox.state, "failed"), inArray(outbox.id, jsonList(ids))))
    .returning({ id: outbox.id, kind: outbox.kind });
}

/** The tenant's rows counted by kind and state ("scheduled": pending, not due yet), and the items they stand for. */
export async function countRows(db: Database, tenantId: string, now: Date) {
  return db
    .select({
      kind: outbox.kind,
      state: sql<OutboxRow["state"] | "scheduled">`case when ${outbox.state} = 'pending' and ${outbox.nextAttemptAt} > ${now.getTime()} then 'scheduled' else ${outbox.state} end`,
      rows: sql<number>`count(*)`,
      items: sql<number>`sum(max(json_array_length(${outbox.alertIds}), 1))`,
    })
    .from(outbox)
    .where(eq(outbox.tenantId, tenantId))
    .groupBy(sql`1`, sql`2`);
}

/** Since when the host has been failing the tenant's pending rows, and its last reason; undefined when none is failing. One read. */
export async function hostFailure(db: Database, tenantId: string): Promise<{ since: Date; lastError: string | null } | undefined> {
  const failing = and(eq(outbox.tenantId, tenantId), eq(outbox.state, PENDING), isNotNull(outbox.failingSince));
  // The reason of the row failed last: the one whose next attempt is furthest out.
  const lastError = db.select({ lastError: outbox.lastError }).from(outbox).where(failing).orderBy(desc(outbox.nextAttemptAt)).limit(1);
  const [row] = await db
    .select({ since: min(outbox.failingSince), lastError: sql<string | null>`(${lastError})` })
    .from(outbox)
    .where(failing);
  if (!row?.since) return undefined;
  return { since: new Date(row.since), lastError: row.lastError };
}
