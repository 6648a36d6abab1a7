/**
 * The audit trail's one writer: every state-changing call adds its entry with this statement,
 * in the same D1 batch as the change, so a change is never without its entry nor an entry
 * without its change. Detail is built by the caller from non-secret fields only.
 */
import { getTableColumns, sql, type SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../storage/db";
import { auditLog, type AUDIT_ACTIONS, type AUDIT_OUTCOMES } from "../storage/schema";
import type { Actor } from "./actor";

/** Longest subject kept: a list of host names is cut rather than refused. */
export const MAX_AUDIT_SUBJECT_LENGTH = 1024;

/** One audit entry as a caller describes it. */
export interface AuditEntry {
  tenantId: string;
  actor: Actor | undefined;
  action: (typeof AUDIT_ACTIONS)[number];
  outcome: (typeof AUDIT_OUTCOMES)[number];
  subject?: string | null;
  detail?: Record<string, unknown>;
  at: Date;
}

/** The INSERT of one audit entry, for the batch that makes the change. */
export function auditStatement(db: Database, entry: AuditEntry): BatchItem<"sqlite"> {
  return db.insert(auditLog).values({
    tenantId: entry.tenantId,
    at: entry.at,
    actorId: entry.actor?.id ?? null,
    actorName: entry.actor?.name ?? null,
    action: entry.action,
    outcome: entry.outcome,
    subject: entry.subject?.slice(0, MAX_AUDIT_SUBJECT_LENGTH) ?? null,
    detail: entry.detail ?? {},
  });
}

/**
 * The INSERT of one audit entry that lands only when `condition` (an SQL boolean) holds as the
 * statement runs: for a change made by a guarded UPDATE earlier in the same batch, so the entry
 * is written exactly when that UPDATE changed something, and a duplicate invocation adds none.
 */
export function auditStatementWhen(db: Database, entry: AuditEntry, condition: SQL): BatchItem<"sqlite"> {
  const v = {
    tenantId: entry.tenantId,
    at: entry.at.getTime(),
    actorId: entry.actor?.id ?? null,
    actorName: entry.actor?.name ?? null,
    subject: entry.subject?.slice(0, MAX_AUDIT_SUBJECT_LENGTH) ?? null,
    detail: JSON.stringify(entry.detail ?? {}),
  };
  // Every column in the table's order (Drizzle refuses an INSERT … SELECT otherwise); "where" carries the condition.
  const row: Record<keyof typeof auditLog.$inferSelect, SQL> = {
    id: sql`null`,
    tenantId: sql`${v.tenantId}`,
    at: sql`${v.at}`,
    actorId: sql`${v.actorId}`,
    actorName: sql`${v.actorName}`,
    action: sql`${entry.action}`,
    outcome: sql`${entry.outcome}`,
    subject: sql`${v.subject}`,
    detail: sql`${v.detail}`,
  };
  const ordered = Object.fromEntries(Object.keys(getTableColumns(auditLog)).map((key) => [key, row[key as keyof typeof row]]));
  return db.insert(auditLog).select(db.select(ordered).from(sql`(select 1)`).where(condition) as never);
}
