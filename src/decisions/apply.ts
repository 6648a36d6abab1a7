/**
 * Cynet's later decisions (host contract §3.3): an analyst sets an alert to Ignored, re-opens
 * or closes it, or Cynet lists the file as whitelisted. This module owns what such a decision
 * does to the stored detections and to a hash's verdict, as statements for the D1 batch that
 * learns it (the sync's change read, or correlation's file lookup), so a decision, its history,
 * the verdict change and the notes to the scans it concerns land together or not at all.
 *
 * A hash is malicious while at least one live detection of it remains. Ignored revokes the
 * alert's detection; re-opening (Open or Pending) restores a detection revoked as Ignored.
 * Closed changes nothing: a closed alert that counted is a handled true positive, whose file is
 * still malicious; one that was Ignored stays cleared. A whitelisted file's detections do not
 * count, new ones included, until a lookup finds it off the list (docs/operations.md).
 */
import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { CYNET_STATUS } from "../cynet/labels";
import { insertDecisionNotesStatement } from "../dispatch/outbox";
import type { Database } from "../storage/db";
import { jsonList } from "../storage/json-list";
import { detections, detectionStatusChanges, fileHashes, verdictChanges } from "../storage/schema";

/** One alert's status as Cynet now holds it, read from the changed alerts. */
export interface StatusChange {
  alertId: number;
  /** The file the alert is about: its verdict may change with the status. */
  sha256: string;
  status: number | null;
  changedAt: Date;
}

/** The latest change of each alert among `changes` (an alert that moved while paged is read twice). */
export function latestChanges(changes: readonly StatusChange[]): StatusChange[] {
  const latest = new Map<number, StatusChange>();
  for (const c of changes) {
    const held = latest.get(c.alertId);
    if (!held || held.changedAt.getTime() <= c.changedAt.getTime()) latest.set(c.alertId, c);
  }
  return [...latest.values()];
}

/**
 * Of `changes`, those that would change a stored detection (the rule `applies` states in SQL),
 * in one read: the change read re-reads the last minutes' changes on every tick (the cursor's
 * overlap), and a batch whose changes are all applied already writes nothing for them.
 */
export async function changesThatApply(db: Database, tenantId: string, changes: readonly StatusChange[]): Promise<StatusChange[]> {
  const latest = latestChanges(changes);
  if (latest.length === 0) return [];
  const held = await db
    .select({ alertId: detections.alertId, status: detections.cynetStatus, changedAt: detections.statusChangedAt })
    .from(detections)
    .where(and(eq(detections.tenantId, tenantId), inArray(detections.alertId, jsonList(latest.map((c) => c.alertId)))));
  const byId = new Map(held.map((h) => [h.alertId, h]));
  return latest.filter((c) => {
    const h = byId.get(c.alertId);
    return h !== undefined && (h.changedAt === null || h.changedAt.getTime() < c.changedAt.getTime()) && h.status !== c.status;
  });
}

/**
 * Of `sha256s`, the files Cynet listed as whitelisted when they were looked up, in one read: a
 * new detection of one is stored not counting (it does not make the file malicious again until a
 * lookup finds it off the list, dispatch/correlate.ts).
 */
export async function whitelistedFiles(db: Database, tenantId: string, sha256s: readonly string[]): Promise<Set<string>> {
  if (sha256s.length === 0) return new Set();
  const rows = await db
    .select({ sha256: fileHashes.sha256 })
    .from(fileHashes)
    .where(and(eq(fileHashes.tenantId, tenantId), inArray(fileHashes.sha256, jsonList([...new Set(sha256s)])), eq(fileHashes.whitelisted, true)));
  return new Set(rows.map((r) => r.sha256));
}

/**
 * The changes as one JSON parameter unpacked into rows (alert_id, status, changed_at), and the
 * condition under which one applies to a stored detection: a different status, decided after
 * the one held (a change read late, but made earlier, never overrides a later one).
 */
function changeRows(changes: readonly StatusChange[]) {
  const json = JSON.stringify(changes.map((c) => ({ alertId: c.alertId, status: c.status, changedAt: c.changedAt.getTime() })));
  return sql`(select value ->> '$.alertId' as alert_id, value ->> '$.status' as status, value ->> '$.changedAt' as changed_at from json_each(${json}))`;
}
const applies = sql`(${detections.statusChangedAt} is null or ${detections.statusChangedAt} < c.changed_at) and ${detections.cynetStatus} is not c.status`;

/** Statuses that re-open an alert: a detection revoked as Ignored counts again. Closed does not (an ignored false positive closed to tidy up stays cleared). */
const REOPENED = [CYNET_STATUS.Open, CYNET_STATUS.Pending];

/** Whether the detection's file is whitelisted at Cynet, as its lookup found (a primary-key probe). */
const fileWhitelisted = (tenantId: string) =>
  sql`exists (select 1 from ${fileHashes} where ${fileHashes.tenantId} = ${tenantId} and ${fileHashes.sha256} = ${detections.sha256} and ${fileHashes.whitelisted})`;

/**
 * Statements applying changed statuses to the tenant's stored detections, in order: the history
 * rows first (they read the status held before), then the detections. Alerts the tenant has no
 * detection of are left alone (the change read stores those that count as new detections).
 */
export function applyStatusChangesStatements(db: Database, tenantId: string, changes: readonly StatusChange[], now: Date): BatchItem<"sqlite">[] {
  const latest = latestChanges(changes);
  if (latest.length === 0) return [];
  const rows = changeRows(latest);
  const ids = jsonList(latest.map((c) => c.alertId));
  const ignored = CYNET_STATUS.Ignored;
  const reopens = sql`c.status in ${jsonList(REOPENED)} and ${detections.revokedReason} = 'ignored'`;
  return [
    // The selection names every column in the table's order (id left to SQLite). CROSS JOIN keeps
    // the changes driving the primary key, whatever the planner guesses of the table.
    db.insert(detectionStatusChanges).select(
      sql`select null, ${detections.tenantId}, ${detections.alertId}, ${detections.cynetStatus}, c.status, c.changed_at, ${now.getTime()}
        from ${rows} as c cross join ${detections} on ${detections.tenantId} = ${tenantId} and ${detections.alertId} = c.alert_id
        where ${applies}`,
    ),
    // Every SET reads the row as it was: Ignored revokes (keeping an earlier revocation's time and
    // reason); re-opening restores what Ignored revoked, unless Cynet whitelists the file (it then
    // stays revoked, as whitelisted); Closed leaves the revocation as it is.
    db
      .update(detections)
      .set({
        cynetStatus: sql`c.status`,
        statusChangedAt: sql`c.changed_at`,
        revokedAt: sql`case when c.status = ${ignored} then coalesce(${detections.revokedAt}, c.changed_at)
          when ${reopens} and not ${fileWhitelisted(tenantId)} then null else ${detections.revokedAt} end`,
        revokedReason: sql`case when c.status = ${ignored} then coalesce(${detections.revokedReason}, 'ignored')
          when ${reopens} then (case when ${fileWhitelisted(tenantId)} then 'whitelisted' end) else ${detections.revokedReason} end`,
      })
      .from(sql`${rows} as c`)
      // The alert ids again as an IN list: the primary key finds the rows, rather than a walk of the tenant's detections.
      .where(and(eq(detections.tenantId, tenantId), inArray(detections.alertId, ids), sql`${detections.alertId} = c.alert_id`, applies)),
  ];
}

/**
 * Statement restoring the detections of files Cynet no longer lists as whitelisted (looked up
 * again): each counts again, unless its alert is Ignored (it then stays revoked, as ignored).
 */
export function restoreUnwhitelistedStatement(db: Database, tenantId: string, sha256s: readonly string[]): BatchItem<"sqlite"> {
  const stillIgnored = sql`${detections.cynetStatus} = ${CYNET_STATUS.Ignored}`;
  return db
    .update(detections)
    .set({
      revokedAt: sql`case when ${stillIgnored} then ${detections.revokedAt} end`,
      revokedReason: sql`case when ${stillIgnored} then 'ignored' end`,
    })
    .where(and(eq(detections.tenantId, tenantId), inArray(detections.sha256, jsonList(sha256s)), eq(detections.revokedReason, "whitelisted")));
}

/** Statement revoking every live detection of files Cynet lists as whitelisted, as of `at`. */
export function revokeWhitelistedStatement(db: Database, tenantId: string, sha256s: readonly string[], at: Date): BatchItem<"sqlite"> {
  return db
    .update(detections)
    .set({ revokedAt: at, revokedReason: "whitelisted" })
    .where(and(eq(detections.tenantId, tenantId), inArray(detections.sha256, jsonList(sha256s)), isNull(detections.revokedAt)));
}

/**
 * Statement recording a verdict change for each of `sha256s` (hashes the tenant has detections
 * of) whose live state now differs from its last recorded verdict (none recorded: malicious since
 * first detected). A revocation names the last detection that stopped counting, why and when.
 */
export function recordVerdictChangesStatement(db: Database, tenantId: string, sha256s: readonly string[], now: Date, onlyWithHistory = false): BatchItem<"sqlite"> {
  const at = now.getTime();
  // New detections change a verdict only for a file that was revoked before (it has a history): the
  // first detection of a file needs no row, and a primary-key probe skips the rest of the work.
  const history = onlyWithHistory
    ? sql`and exists (select 1 from ${verdictChanges} where ${verdictChanges.tenantId} = ${tenantId} and ${verdictChanges.sha256} = hash.value)`
    : sql``;
  // The selection names every column in the table's order.
  return db.insert(verdictChanges).select(sql`select ${tenantId}, h.sha256, coalesce(h.last_seq, 0) + 1, h.live,
      case when h.live then null else last_revoked.revoked_reason end,
      case when h.live then null else last_revoked.alert_id end,
      case when h.live then ${at} else coalesce(last_revoked.revoked_at, ${at}) end,
      ${at}
    from (
      select hash.value as sha256,
        exists (select 1 from ${detections} where ${detections.tenantId} = ${tenantId} and ${detections.sha256} = hash.value and ${detections.revokedAt} is null) as live,
        (select max(${verdictChanges.seq}) from ${verdictChanges} where ${verdictChanges.tenantId} = ${tenantId} and ${verdictChanges.sha256} = hash.value) as last_seq
      from json_each(${JSON.stringify([...new Set(sha256s)])}) as hash
      where exists (select 1 from ${detections} where ${detections.tenantId} = ${tenantId} and ${detections.sha256} = hash.value) ${history}
    ) as h
    left join ${verdictChanges} as last on last.tenant_id = ${tenantId} and last.sha256 = h.sha256 and last.seq = h.last_seq
    left join ${detections} as last_revoked on last_revoked.rowid = (
      select rowid from ${detections} where ${detections.tenantId} = ${tenantId} and ${detections.sha256} = h.sha256 and ${detections.revokedAt} is not null
      order by ${detections.revokedAt} desc limit 1)
    where h.live <> coalesce(last.malicious, 1)`);
}

/**
 * What a decision on `sha256s` adds to its batch, after the statements that changed detections:
 * the verdict changes it made, then the notes to every scan each changed hash was matched in
 * (returning their outbox rows, for the dispatch queue). `onlyWithHistory`: the batch only added
 * detections, so only files revoked before can change.
 */
export function verdictChangeStatements(db: Database, tenantId: string, sha256s: readonly string[], now: Date, onlyWithHistory = false) {
  if (sha256s.length === 0) return { verdicts: [], notes: [] };
  return {
    verdicts: [recordVerdictChangesStatement(db, tenantId, sha256s, now, onlyWithHistory)],
    notes: [insertDecisionNotesStatement(db, tenantId, sha256s, now)],
  };
}
