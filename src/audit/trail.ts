/**
 * The audit trail's one owner: every state-changing call adds its entry with `auditStatement`,
 * in the same D1 batch as the change, so a change is never without its entry nor an entry
 * without its change; a call that changes no row (sync now, a refusal) records its entry alone.
 * The listing reads it back. Detail is built by the caller from non-secret fields only.
 *
 * @example
 * await namedBatch(db, { change: [update], audit: [auditStatement(db, { tenantId, actor, action: "deactivated", outcome: "succeeded", at: now })] });
 * const { entries } = await listAuditEntries(db, tenantId, { limit: 50 });
 */
import { and, desc, eq, getTableColumns, lt, sql, type SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { ApiError } from "../http/errors";
import { logLine } from "../observability/log";
import type { Database } from "../storage/db";
import { auditLog, type AUDIT_ACTIONS, type AUDIT_OUTCOMES, type AuditRow } from "../storage/schema";
import type { Actor } from "./actor";

/** Longest subject kept: a list of host names is cut rather than refused. */
export const MAX_AUDIT_SUBJECT_LENGTH = 1024;

/** What an audit entry records. */
export type AuditAction = (typeof AUDIT_ACTIONS)[number];
/** How the call ended. */
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** One audit entry as a caller describes it. */
export interface AuditEntry {
  tenantId: string;
  actor: Actor | undefined;
  action: AuditAction;
  outcome: AuditOutcome;
  subject?: string | null;
  detail?: Record<string, unknown>;
  at: Date;
}

/** An entry whose outcome the call has not reached yet. */
export type PendingEntry = Omit<AuditEntry, "outcome">;

/** The row an entry is stored as. */
function rowOf(entry: AuditEntry) {
  return {
    tenantId: entry.tenantId,
    at: entry.at,
    actorId: entry.actor?.id ?? null,
    // A blank name (trimmed to "") names nobody: the id stands alone.
    actorName: entry.actor?.name || null,
    action: entry.action,
    outcome: entry.outcome,
    subject: entry.subject?.slice(0, MAX_AUDIT_SUBJECT_LENGTH) ?? null,
    detail: entry.detail ?? {},
  } satisfies Omit<AuditRow, "id">;
}

/** The INSERT of one audit entry, for the batch that makes the change. */
export function auditStatement(db: Database, entry: AuditEntry): BatchItem<"sqlite"> {
  return db.insert(auditLog).values(rowOf(entry));
}

/**
 * The INSERT of one audit entry that lands only when `when` holds inside the batch: for a change
 * made by a guarded statement (a compare-and-set), `when` says, after it, whether it applied, so
 * the entry is written exactly when the change is, in the same transaction.
 *
 * @example
 * namedBatch(db, { move: [guardedUpdate], audit: [auditStatementIf(db, entry, sql`exists (select 1 from … where …)`)] });
 */
export function auditStatementIf(db: Database, entry: AuditEntry, when: SQL): BatchItem<"sqlite"> {
  const row = rowOf(entry);
  const values: Record<keyof AuditRow, SQL> = {
    id: sql`null`,
    tenantId: sql`${row.tenantId}`,
    at: sql`${row.at.getTime()}`,
    actorId: sql`${row.actorId}`,
    actorName: sql`${row.actorName}`,
    action: sql`${row.action}`,
    outcome: sql`${row.outcome}`,
    subject: sql`${row.subject}`,
    detail: sql`${JSON.stringify(row.detail)}`,
  };
  // INSERT … SELECT names every column in the table's order (Drizzle refuses the statement otherwise).
  const ordered = Object.fromEntries(Object.keys(getTableColumns(auditLog)).map((key) => [key, values[key as keyof AuditRow]]));
  return db.insert(auditLog).select(db.select(ordered).from(sql`(select 1)`).where(when) as never);
}

/** Records an entry on its own: for a call whose change is not a D1 row (a queued sync). */
export async function recordAudit(db: Database, entry: AuditEntry): Promise<void> {
  await db.batch([auditStatement(db, entry)]);
}

/**
 * How a thrown error ends the call it interrupted, for the trail: a well-formed call the plugin
 * or Cynet turned down (409, 422) is refused, one that could not be carried out (5xx, anything
 * unexpected) failed. Malformed calls (400, 404, 413, 415) name nothing the plugin could act on
 * and are not recorded: undefined.
 */
export function refusalOutcome(err: unknown): { outcome: AuditOutcome; detail: Record<string, unknown> } | undefined {
  if (!(err instanceof ApiError)) return { outcome: "failed", detail: { error: "internal_error" } };
  const detail = { error: err.code, status: err.status, message: err.message, ...(err.field ? { field: err.field } : {}) };
  if (err.status === 409 || err.status === 422) return { outcome: "refused", detail };
  if (err.status >= 500) return { outcome: "failed", detail };
  return undefined;
}

/**
 * Runs a state-changing call's work (`entryOf` describes it, or gives its description when asked); when it throws a refusal or failure worth recording
 * (`refusalOutcome`), records it, then throws the same error. Recording is best effort: a
 * trail that cannot be written is logged and never hides the caller's answer.
 *
 * @example
 * return auditRefusals(db, { tenantId, actor, action: "sync_requested", at: now }, () => syncNow());
 */
export async function auditRefusals<T>(db: Database, entryOf: PendingEntry | (() => PendingEntry), work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    const refusal = refusalOutcome(err);
    if (refusal) {
      // A function gives the entry as the work left it (what it had read by the time it threw).
      const entry = typeof entryOf === "function" ? entryOf() : entryOf;
      await recordAudit(db, { ...entry, outcome: refusal.outcome, detail: { ...entry.detail, ...refusal.detail } }).catch((recordErr: unknown) => {
        logLine("error", "audit entry not recorded", { tenantId: entry.tenantId, action: entry.action, error: recordErr });
      });
    }
    throw err;
  }
}

/** A page of the tenant's trail, newest first: entries with ids below `before`, optionally of one action. */
export async function listAuditEntries(
  db: Database,
  tenantId: string,
  page: { limit: number; before?: number | undefined; action?: AuditAction | undefined },
): Promise<{ entries: AuditRow[]; nextBefore: number | null }> {
  const filters: SQL[] = [eq(auditLog.tenantId, tenantId)];
  if (page.before !== undefined) filters.push(lt(auditLog.id, page.before));
  if (page.action !== undefined) filters.push(eq(auditLog.action, page.action));
  // (tenant_id, id) serves the order; one row more than the page says whether another follows.
  const rows = await db
    .select()
    .from(auditLog)
    .where(and(...filters))
    .orderBy(desc(auditLog.id))
    .limit(page.limit + 1);
  const entries = rows.slice(0, page.limit);
  return { entries, nextBefore: rows.length > page.limit ? (entries.at(-1)?.id ?? null) : null };
}
