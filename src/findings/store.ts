/**
 * Every query on the host's findings and the endpoints they were found on (tables `findings`
 * and `finding_endpoints`); the outbox rows a check writes are dispatch/outbox.ts's.
 */
import { and, asc, desc, eq, inArray, isNotNull, isNull, lt, lte, or } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../storage/db";
import { jsonList } from "../storage/json-list";
import { findingEndpoints, findings, tenants, type FindingEndpointRow, type FindingRow } from "../storage/schema";

/** A finding as the route stores it. */
export type NewFinding = Pick<FindingRow, "tenantId" | "sha256" | "scanId" | "fileName" | "recipients" | "foundAt" | "submittedAt" | "nextCheckAt" | "queuedUntil">;
/** An endpoint a check found, as it is stored. */
export type NewFindingEndpoint = Omit<FindingEndpointRow, "id">;

/** Findings per multi-row INSERT: 9 columns each under D1's 100 bound parameters. */
const FINDING_ROWS_PER_INSERT = 11;
/** Endpoints per multi-row INSERT: 13 columns each under D1's 100 bound parameters. */
const ENDPOINT_ROWS_PER_INSERT = 7;

/** INSERTs of findings, a finding already stored for its (tenant, file, scan) left as it is; each returns the ids it added. */
export function insertFindingsStatements(db: Database, rows: NewFinding[]) {
  const statements = [];
  for (let i = 0; i < rows.length; i += FINDING_ROWS_PER_INSERT) {
    statements.push(db.insert(findings).values(rows.slice(i, i + FINDING_ROWS_PER_INSERT)).onConflictDoNothing().returning({ id: findings.id }));
  }
  return statements;
}

/** Up to `limit` findings of enabled, active tenants whose check is due and not on its way, oldest-due first. */
export async function dueFindings(db: Database, now: Date, limit: number) {
  return db
    .select({ id: findings.id, tenantId: findings.tenantId })
    .from(findings)
    .innerJoin(tenants, eq(tenants.id, findings.tenantId))
    .where(
      and(
        isNotNull(findings.nextCheckAt),
        lte(findings.nextCheckAt, now),
        or(isNull(findings.queuedUntil), lte(findings.queuedUntil, now)),
        eq(tenants.enabled, true),
        eq(tenants.state, "active"),
      ),
    )
    .orderBy(asc(findings.nextCheckAt))
    .limit(limit);
}

/**
 * Holds findings whose check message was sent until `until`, those still due at `now` only: a
 * check that already ran (the message can be quicker than this write) keeps its own next time.
 */
export async function markQueued(db: Database, ids: number[], until: Date, now: Date): Promise<void> {
  if (ids.length === 0) return;
  await db
    .update(findings)
    .set({ queuedUntil: until })
    .where(and(inArray(findings.id, jsonList(ids)), isNotNull(findings.nextCheckAt), lte(findings.nextCheckAt, now)));
}

/** Those of the tenant's findings `ids` whose check is due at `now`. */
export async function findingsDue(db: Database, tenantId: string, ids: readonly number[], now: Date): Promise<FindingRow[]> {
  return db
    .select()
    .from(findings)
    .where(and(eq(findings.tenantId, tenantId), inArray(findings.id, jsonList(ids)), isNotNull(findings.nextCheckAt), lte(findings.nextCheckAt, now)));
}

/** The endpoints already recorded for the tenant's files (by file, host names only). */
export async function knownEndpoints(db: Database, tenantId: string, sha256s: readonly string[]): Promise<Map<string, Set<string>>> {
  const known = new Map<string, Set<string>>(sha256s.map((h) => [h, new Set<string>()]));
  if (sha256s.length === 0) return known;
  const rows = await db
    .select({ sha256: findingEndpoints.sha256, hostname: findingEndpoints.hostname })
    .from(findingEndpoints)
    .where(and(eq(findingEndpoints.tenantId, tenantId), inArray(findingEndpoints.sha256, jsonList(sha256s))));
  for (const r of rows) known.get(r.sha256)?.add(r.hostname);
  return known;
}

/** INSERTs of newly found endpoints; one recorded before (by any check) is left as it is. */
export function insertEndpointsStatements(db: Database, rows: NewFindingEndpoint[]): BatchItem<"sqlite">[] {
  const statements: BatchItem<"sqlite">[] = [];
  for (let i = 0; i < rows.length; i += ENDPOINT_ROWS_PER_INSERT) {
    statements.push(db.insert(findingEndpoints).values(rows.slice(i, i + ENDPOINT_ROWS_PER_INSERT)).onConflictDoNothing());
  }
  return statements;
}

/** How a check ended for one finding. */
export interface CheckRecord {
  checksDone: number;
  nextCheckAt: Date | null;
  failures: number;
  lastError: string | null;
  notedEndpoints?: string[];
}

/**
 * The UPDATE recording a check of `finding`, guarded by the check number it was read at: a
 * check recorded already (a message delivered twice) changes nothing.
 */
export function recordCheckStatement(db: Database, finding: Pick<FindingRow, "id" | "checksDone">, record: CheckRecord, now: Date) {
  return db
    .update(findings)
    .set({ ...record, lastCheckedAt: now, queuedUntil: null })
    .where(and(eq(findings.id, finding.id), eq(findings.checksDone, finding.checksDone)));
}

/** A page of the tenant's findings, newest first, from before id `before`. */
export async function listFindings(db: Database, tenantId: string, limit: number, before?: number): Promise<FindingRow[]> {
  return db
    .select()
    .from(findings)
    .where(and(eq(findings.tenantId, tenantId), ...(before === undefined ? [] : [lt(findings.id, before)])))
    .orderBy(desc(findings.id))
    .limit(limit);
}

/** The endpoints recorded for the tenant's files, in the order they were found. */
export async function endpointsOfFiles(db: Database, tenantId: string, sha256s: readonly string[]): Promise<FindingEndpointRow[]> {
  if (sha256s.length === 0) return [];
  return db
    .select()
    .from(findingEndpoints)
    .where(and(eq(findingEndpoints.tenantId, tenantId), inArray(findingEndpoints.sha256, jsonList(sha256s))))
    .orderBy(asc(findingEndpoints.id));
}

/** The tenant's endpoint rows with these ids. */
export async function endpointsById(db: Database, tenantId: string, ids: readonly number[]): Promise<FindingEndpointRow[]> {
  if (ids.length === 0) return [];
  return db
    .select()
    .from(findingEndpoints)
    .where(and(eq(findingEndpoints.tenantId, tenantId), inArray(findingEndpoints.id, jsonList(ids))))
    .orderBy(asc(findingEndpoints.id));
}

/** The tenant's findings of one file (the scans it was in), oldest first, at most `limit`. */
export async function findingsOfFile(db: Database, tenantId: string, sha256: string, limit: number): Promise<FindingRow[]> {
  return db
    .select()
    .from(findings)
    .where(and(eq(findings.tenantId, tenantId), eq(findings.sha256, sha256)))
    .orderBy(asc(findings.id))
    .limit(limit);
}
