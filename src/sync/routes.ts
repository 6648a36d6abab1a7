/**
 * The admin's handles on the sync: sync now, backfill from a date, reset the cursor, the run
 * history and the detections learned from Cynet.
 */
import { DAY_MS } from "../shared/http-time";
import { and, asc, desc, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import { z } from "zod";
import { ApiError, ErrorBody } from "../http/errors";
import type { AppContext, Route } from "../http/context";
import { pagedListQuery } from "../http/paging";
import { SIGNED_ERRORS, tenantRoute, type DeclaredRequest } from "../http/routes";
import type { Database } from "../storage/db";
import { tenantDatabase } from "../storage/directory";
import { jsonList } from "../storage/json-list";
import { detections, detectionStatusChanges, REVOCATION_REASONS, syncRuns, syncState } from "../storage/schema";
import { findTenant, type TenantRow } from "../storage/tenants";
import { namedBatch, rowsOf } from "../storage/batch";
import { ActorOnlyRequest, actorInRawBody, WithActor } from "../audit/actor";
import { auditRefusals, auditStatementIf, recordAudit, type AuditEntry } from "../audit/trail";
import { MAX_LOOKBACK_DAYS } from "../manifest/schema";
import { requestSync } from "./enqueue";
import { closeOpenRunsStatement, LEASE_RELEASED, RUN_CLEARED, type SyncStateUpdate } from "./state";
import { severityLabel, statusLabel } from "../cynet/labels";

/** Status changes listed per detection: an alert flipped more often than this is shown by its latest. */
export const MAX_HISTORY_PER_DETECTION = 20;
/** Largest page of detections or runs one call returns (the lists share one bound). */
export { MAX_LIST_LIMIT } from "../http/paging";

const SyncAccepted = z.object({ tenantId: z.string(), queued: z.boolean(), reason: z.string() }).meta({ id: "SyncAccepted" });

export const BackfillRequest = z
  .object({ since: z.iso.datetime({ offset: true }).describe("Read Cynet's alerts seen since this time"), ...WithActor.shape })
  .strict()
  .meta({ id: "BackfillRequest" });
export const ResetRequest = z
  .object({ lookbackDays: z.number().int().min(1).max(MAX_LOOKBACK_DAYS).optional(), ...WithActor.shape })
  .strict()
  .meta({ id: "ResetRequest" });

export const Detection = z
  .object({
    alertId: z.number().int(),
    sha256: z.string(),
    fileName: z.string().nullable(),
    path: z.string().nullable(),
    hostName: z.string().nullable(),
    hostIp: z.string().nullable(),
    userName: z.string().nullable(),
    cynetSeverity: z.string(),
    cynetStatus: z.string().nullable().describe("Cynet's status as last applied (Open, Pending, Ignored, Closed)"),
    statusChangedAt: z.iso.datetime().nullable().describe("Cynet's DateChanged of that status"),
    counts: z.boolean().describe("Whether this detection makes the file malicious in verdicts (false once its alert is Ignored or the file whitelisted)"),
    revoked: z
      .object({ at: z.iso.datetime(), reason: z.enum(REVOCATION_REASONS) })
      .nullable()
      .describe("When and why the detection stopped counting"),
    history: z
      .array(z.object({ from: z.string().nullable(), to: z.string().nullable(), changedAt: z.iso.datetime(), appliedAt: z.iso.datetime() }))
      .describe(`Status changes Cynet made after the detection was stored, oldest first (the latest ${MAX_HISTORY_PER_DETECTION})`),
    incidentName: z.string().nullable(),
    detectedAt: z.iso.datetime(),
    firstSeenAt: z.iso.datetime().nullable(),
    lastSeenAt: z.iso.datetime().nullable(),
  })
  .meta({ id: "Detection" });
const DetectionsPage = z.object({ detections: z.array(Detection), nextBefore: z.number().int().nullable() }).meta({ id: "DetectionsPage" });

const DetectionsQuery = pagedListQuery("an alert id", "Only alerts with a smaller id than this (the previous page's nextBefore)");
const RunsQuery = pagedListQuery("a run id", "Only runs with a smaller id than this (the last id of the previous page)");

/** The tenant's row, or 409 when the channel was never enabled: nothing to act on, and nobody's trail to write to. */
async function requireKnown(db: Database, tenantId: string): Promise<TenantRow> {
  const row = await findTenant(db, tenantId);
  if (!row?.enabled) throw new ApiError(409, "channel_not_enabled", "The Cynet channel is not enabled for this organization.");
  return row;
}

/** 409 unless the channel is enabled and connected. */
function requireActive(row: TenantRow): void {
  if (!row.enabled) throw new ApiError(409, "channel_not_enabled", "The Cynet channel is not enabled for this organization.");
  if (row.state !== "active") {
    throw new ApiError(409, "channel_not_active", row.state === "error" ? `The channel is stopped: ${row.errorMessage ?? "connect again"}` : "Connect the Cynet channel first.");
  }
}

/** The tenant's row when its channel is enabled and active; else the 409 every route that needs Cynet answers. */
export async function requireActiveChannel(db: Database, tenantId: string): Promise<TenantRow> {
  const row = await requireKnown(db, tenantId);
  requireActive(row);
  return row;
}

/** The trail entry a sync handle starts from: the signed body's actor, read before the body is parsed so refusals name them too. */
function entryOf(c: AppContext, tenantId: string, action: "sync_requested" | "backfill_requested" | "reset_requested", at: Date) {
  return { tenantId, actor: actorInRawBody(c.get("rawBody")), action, at };
}

async function syncNow(c: AppContext, request: DeclaredRequest<typeof ActorOnlyRequest>): Promise<Response> {
  const { tenantId } = request;
  const { db } = await tenantDatabase(c.env, tenantId);
  const row = await requireKnown(db, tenantId);
  const now = new Date();
  const entry = entryOf(c, tenantId, "sync_requested", now);
  return auditRefusals(db, entry, async () => {
    requireActive(row);
    const { actor } = request.body();
    const queued = await requestSync(c.env, tenantId, "manual", now);
    if (!queued) throw new ApiError(503, "queue_unavailable", "The sync could not be queued right now; the next scheduled sync will run as usual.");
    // The change is a queue message, not a row: the entry follows the send it records.
    await recordAudit(db, { ...entry, actor, outcome: "accepted" });
    return c.json({ tenantId, queued, reason: "manual" }, 202);
  });
}

/**
 * Moves the cursor (and drops a run in progress) unless another invocation holds the lease.
 * The audit entry is in the move's batch, written only when the move applied: after it, no
 * lease is held (a held one is what refuses the move).
 */
async function moveCursor(db: Database, tenantId: string, set: SyncStateUpdate, now: Date, audit: AuditEntry): Promise<void> {
  const moved = db
    .update(syncState)
    // The lease goes too: an expired one's invocation may still be running, and its lease-guarded writes must not land over the admin's cursor.
    .set({ ...set, ...RUN_CLEARED, ...LEASE_RELEASED, backoffUntil: null, consecutiveFailures: 0, nextRunAt: now })
    .where(and(eq(syncState.tenantId, tenantId), or(isNull(syncState.leaseId), lt(syncState.leaseExpiresAt, now))))
    .returning({ tenantId: syncState.tenantId });
  const applied = sql`exists (select 1 from ${syncState} where ${syncState.tenantId} = ${tenantId} and ${syncState.leaseId} is null)`;
  const done = await namedBatch(db, { move: [moved], audit: [auditStatementIf(db, audit, applied)] });
  if (rowsOf(done.move[0]).length === 0) throw new ApiError(409, "sync_in_progress", "A sync is running for this organization; try again when it finishes.");
  await namedBatch(db, { runs: [closeOpenRunsStatement(db, tenantId, "the cursor was moved by an admin", now)] });
}

async function backfill(c: AppContext, request: DeclaredRequest<typeof BackfillRequest>): Promise<Response> {
  const { tenantId } = request;
  const { db } = await tenantDatabase(c.env, tenantId);
  const row = await requireKnown(db, tenantId);
  const now = new Date();
  const entry = entryOf(c, tenantId, "backfill_requested", now);
  return auditRefusals(db, entry, async () => {
    requireActive(row);
    const { since, actor } = request.body();
    const from = new Date(since);
    if (from.getTime() > now.getTime()) throw new ApiError(400, "invalid_request", '"since" is in the future.', "since");
    if (from.getTime() < now.getTime() - MAX_LOOKBACK_DAYS * DAY_MS) throw new ApiError(400, "invalid_request", `"since" is more than ${MAX_LOOKBACK_DAYS} days ago.`, "since");
    const sinceIso = from.toISOString();
    await moveCursor(db, tenantId, { cursor: from }, now, { ...entry, actor, outcome: "accepted", subject: `since ${sinceIso}`, detail: { since: sinceIso } });
    const queued = await requestSync(c.env, tenantId, "backfill", now);
    return c.json({ tenantId, queued, reason: "backfill" }, 202);
  });
}

async function reset(c: AppContext, request: DeclaredRequest<typeof ResetRequest>): Promise<Response> {
  const { tenantId } = request;
  const { db } = await tenantDatabase(c.env, tenantId);
  const row = await requireKnown(db, tenantId);
  const now = new Date();
  const entry = entryOf(c, tenantId, "reset_requested", now);
  return auditRefusals(db, entry, async () => {
    requireActive(row);
    const { lookbackDays, actor } = request.body();
    const detail = lookbackDays ? { lookbackDays } : {};
    await moveCursor(db, tenantId, { cursor: null, ...detail }, now, { ...entry, actor, outcome: "accepted", subject: lookbackDays ? `lookback ${lookbackDays} days` : "cursor", detail });
    const queued = await requestSync(c.env, tenantId, "manual", now);
    return c.json({ tenantId, queued, reason: "manual" }, 202);
  });
}

async function listDetections(c: AppContext, request: DeclaredRequest<undefined, typeof DetectionsQuery>): Promise<Response> {
  const { tenantId } = request;
  const { limit, before } = request.query();
  const { db } = await tenantDatabase(c.env, tenantId);
  // Newest first by Cynet's alert id, which Cynet assigns in order; the primary key serves it.
  const rows = await db
    .select()
    .from(detections)
    .where(before ? and(eq(detections.tenantId, tenantId), lt(detections.alertId, before)) : eq(detections.tenantId, tenantId))
    .orderBy(desc(detections.alertId))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  const history = await statusHistory(db, tenantId, page.map((r) => r.alertId));
  return c.json(
    {
      detections: page.map((r) => ({
        alertId: r.alertId,
        sha256: r.sha256,
        fileName: r.fileName,
        path: r.path,
        hostName: r.hostName,
        hostIp: r.hostIp,
        userName: r.userName,
        cynetSeverity: severityLabel(r.cynetSeverity),
        cynetStatus: statusLabel(r.cynetStatus),
        statusChangedAt: r.statusChangedAt?.toISOString() ?? null,
        counts: r.revokedAt === null,
        revoked: r.revokedAt && r.revokedReason ? { at: r.revokedAt.toISOString(), reason: r.revokedReason } : null,
        history: (history.get(r.alertId) ?? []).map((h) => ({
          from: statusLabel(h.fromStatus),
          to: statusLabel(h.toStatus),
          changedAt: h.changedAt.toISOString(),
          appliedAt: h.appliedAt.toISOString(),
        })),
        incidentName: r.incidentName,
        detectedAt: r.detectedAt.toISOString(),
        firstSeenAt: r.firstSeenAt?.toISOString() ?? null,
        lastSeenAt: r.lastSeenAt?.toISOString() ?? null,
      })),
      nextBefore: rows.length > limit ? (page.at(-1)?.alertId ?? null) : null,
    },
    200,
  );
}

/** The status changes of a page's detections, oldest first, the latest MAX_HISTORY_PER_DETECTION each: one read. */
async function statusHistory(db: Database, tenantId: string, alertIds: number[]) {
  const byAlert = new Map<number, Array<typeof detectionStatusChanges.$inferSelect>>();
  if (alertIds.length === 0) return byAlert;
  const rows = await db
    .select()
    .from(detectionStatusChanges)
    .where(and(eq(detectionStatusChanges.tenantId, tenantId), inArray(detectionStatusChanges.alertId, jsonList(alertIds))))
    .orderBy(asc(detectionStatusChanges.id));
  for (const row of rows) byAlert.set(row.alertId, [...(byAlert.get(row.alertId) ?? []), row].slice(-MAX_HISTORY_PER_DETECTION));
  return byAlert;
}

async function listRuns(c: AppContext, request: DeclaredRequest<undefined, typeof RunsQuery>): Promise<Response> {
  const { tenantId } = request;
  const { limit, before } = request.query();
  const { db } = await tenantDatabase(c.env, tenantId);
  const rows = await db
    .select()
    .from(syncRuns)
    .where(before ? and(eq(syncRuns.tenantId, tenantId), lt(syncRuns.id, before)) : eq(syncRuns.tenantId, tenantId))
    .orderBy(desc(syncRuns.id))
    .limit(limit);
  const state = await db.query.syncState.findFirst({ columns: { quietRuns: true }, where: eq(syncState.tenantId, tenantId) });
  // Quiet syncs (nothing new) have no rows of their own: how many followed the newest run is said beside the list.
  return c.json({ runs: rows, quietRunsSinceNewest: state?.quietRuns ?? 0 }, 200);
}

const conflict = { 409: { description: "channel_not_enabled, channel_not_active or sync_in_progress", schema: ErrorBody } };

/** The routes of this module. */
export const syncRoutes: Route[] = [
  tenantRoute(
    {
      method: "post",
      path: "/v1/tenants/:tenantId/sync",
      summary: "Sync now",
      signed: true,
      body: ActorOnlyRequest,
      responses: { 202: { description: "Queued", schema: SyncAccepted }, ...SIGNED_ERRORS, ...conflict, 503: { description: "queue_unavailable: the sync could not be queued", schema: ErrorBody } },
    },
    syncNow,
  ),
  tenantRoute(
    {
      method: "post",
      path: "/v1/tenants/:tenantId/sync/backfill",
      summary: "Read Cynet again from a date (detections already stored are not duplicated)",
      signed: true,
      body: BackfillRequest,
      responses: { 202: { description: "Queued", schema: SyncAccepted }, ...SIGNED_ERRORS, ...conflict },
    },
    backfill,
  ),
  tenantRoute(
    {
      method: "post",
      path: "/v1/tenants/:tenantId/sync/reset",
      summary: "Forget the cursor: the next run reads the lookback window again",
      signed: true,
      body: ResetRequest,
      responses: { 202: { description: "Queued", schema: SyncAccepted }, ...SIGNED_ERRORS, ...conflict },
    },
    reset,
  ),
  tenantRoute(
    {
      method: "get",
      path: "/v1/tenants/:tenantId/sync/runs",
      summary: "Sync run history, newest first, paged with ?limit=&before=",
      signed: true,
      query: RunsQuery,
      responses: { 200: { description: "Runs" }, ...SIGNED_ERRORS },
    },
    listRuns,
  ),
  tenantRoute(
    {
      method: "get",
      path: "/v1/tenants/:tenantId/detections",
      summary: "The malicious files learned from Cynet, newest first, paged with ?limit=&before=",
      signed: true,
      query: DetectionsQuery,
      responses: { 200: { description: "A page of detections", schema: DetectionsPage }, ...SIGNED_ERRORS },
    },
    listDetections,
  ),
];
