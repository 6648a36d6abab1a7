/**
 * The admin's handles on the sync: sync now, backfill from a date, reset the cursor, the run
 * history and the detections learned from Cynet.
 */
import { DAY_MS } from "../shared/http-time";
import { and, desc, eq, isNull, lt, or } from "drizzle-orm";
import { z } from "zod";
import { ApiError, ErrorBody } from "../http/errors";
import type { AppContext, Route } from "../http/context";
import { SIGNED_ERRORS, tenantRoute, type DeclaredRequest } from "../http/routes";
import type { Database } from "../storage/db";
import { tenantDatabase } from "../storage/directory";
import { detections, syncRuns, syncState } from "../storage/schema";
import { findTenant } from "../storage/tenants";
import { MAX_LOOKBACK_DAYS } from "../manifest/schema";
import { requestSync } from "./enqueue";
import { closeOpenRunsStatement, LEASE_RELEASED, RUN_CLEARED, type SyncStateUpdate } from "./state";
import { severityLabel, statusLabel } from "../cynet/labels";

/** Largest page of detections or runs one call returns. */
export const MAX_LIST_LIMIT = 200;
const DEFAULT_LIST_LIMIT = 50;

const SyncAccepted = z.object({ tenantId: z.string(), queued: z.boolean(), reason: z.string() }).meta({ id: "SyncAccepted" });

export const BackfillRequest = z
  .object({ since: z.iso.datetime({ offset: true }).describe("Read Cynet's alerts seen since this time") })
  .strict()
  .meta({ id: "BackfillRequest" });
export const ResetRequest = z
  .object({ lookbackDays: z.number().int().min(1).max(MAX_LOOKBACK_DAYS).optional() })
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
    cynetStatus: z.string().nullable(),
    incidentName: z.string().nullable(),
    detectedAt: z.iso.datetime(),
    firstSeenAt: z.iso.datetime().nullable(),
    lastSeenAt: z.iso.datetime().nullable(),
  })
  .meta({ id: "Detection" });
const DetectionsPage = z.object({ detections: z.array(Detection), nextBefore: z.number().int().nullable() }).meta({ id: "DetectionsPage" });

/**
 * The query of a newest-first list paged by id, `?limit=&before=`. Whatever is wrong with a
 * parameter (not a number, not whole, out of range), the 400 says what both take.
 */
function pagedListQuery(idName: string, before: string) {
  const hint = { error: `limit is 1 to ${MAX_LIST_LIMIT}, before ${idName}` };
  return z.object({
    // A schema's own error message is also its checks' (zod 4): one sentence for every way it fails.
    limit: z.coerce.number(hint).int().min(1).max(MAX_LIST_LIMIT).default(DEFAULT_LIST_LIMIT).describe(`Most items in the page, 1 to ${MAX_LIST_LIMIT}`),
    before: z.coerce.number(hint).int().positive().optional().describe(before),
  });
}
const DetectionsQuery = pagedListQuery("an alert id", "Only alerts with a smaller id than this (the previous page's nextBefore)");
const RunsQuery = pagedListQuery("a run id", "Only runs with a smaller id than this (the last id of the previous page)");

/** The tenant, when its channel is enabled and active; else the 409 every admin route answers. */
export async function requireActive(db: Database, tenantId: string) {
  const row = await findTenant(db, tenantId);
  if (!row?.enabled) throw new ApiError(409, "channel_not_enabled", "The Cynet channel is not enabled for this organization.");
  if (row.state !== "active") {
    throw new ApiError(409, "channel_not_active", row.state === "error" ? `The channel is stopped: ${row.errorMessage ?? "connect again"}` : "Connect the Cynet channel first.");
  }
  return row;
}

async function syncNow(c: AppContext, { tenantId }: DeclaredRequest): Promise<Response> {
  await requireActive((await tenantDatabase(c.env, tenantId)).db, tenantId);
  const queued = await requestSync(c.env, tenantId, "manual", new Date());
  if (!queued) throw new ApiError(503, "queue_unavailable", "The sync could not be queued right now; the next scheduled sync will run as usual.");
  return c.json({ tenantId, queued, reason: "manual" }, 202);
}

/** Moves the cursor (and drops a run in progress) unless another invocation holds the lease. */
async function moveCursor(db: Database, tenantId: string, set: SyncStateUpdate, now: Date): Promise<void> {
  const [updated] = await db
    .update(syncState)
    // The lease goes too: an expired one's invocation may still be running, and its lease-guarded writes must not land over the admin's cursor.
    .set({ ...set, ...RUN_CLEARED, ...LEASE_RELEASED, backoffUntil: null, consecutiveFailures: 0, nextRunAt: now })
    .where(and(eq(syncState.tenantId, tenantId), or(isNull(syncState.leaseId), lt(syncState.leaseExpiresAt, now))))
    .returning({ tenantId: syncState.tenantId });
  if (!updated) throw new ApiError(409, "sync_in_progress", "A sync is running for this organization; try again when it finishes.");
  await db.batch([closeOpenRunsStatement(db, tenantId, "the cursor was moved by an admin", now)]);
}

async function backfill(c: AppContext, request: DeclaredRequest<typeof BackfillRequest>): Promise<Response> {
  const { tenantId } = request;
  const { db } = await tenantDatabase(c.env, tenantId);
  await requireActive(db, tenantId);
  const { since } = request.body();
  const now = new Date();
  const from = new Date(since);
  if (from.getTime() > now.getTime()) throw new ApiError(400, "invalid_request", '"since" is in the future.', "since");
  if (from.getTime() < now.getTime() - MAX_LOOKBACK_DAYS * DAY_MS) throw new ApiError(400, "invalid_request", `"since" is more than ${MAX_LOOKBACK_DAYS} days ago.`, "since");
  await moveCursor(db, tenantId, { cursor: from }, now);
  const queued = await requestSync(c.env, tenantId, "backfill", now);
  return c.json({ tenantId, queued, reason: "backfill" }, 202);
}

async function reset(c: AppContext, request: DeclaredRequest<typeof ResetRequest>): Promise<Response> {
  const { tenantId } = request;
  const { db } = await tenantDatabase(c.env, tenantId);
  await requireActive(db, tenantId);
  const { lookbackDays } = request.body();
  const now = new Date();
  await moveCursor(db, tenantId, { cursor: null, ...(lookbackDays ? { lookbackDays } : {}) }, now);
  const queued = await requestSync(c.env, tenantId, "manual", now);
  return c.json({ tenantId, queued, reason: "manual" }, 202);
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
    { method: "post", path: "/v1/tenants/:tenantId/sync", summary: "Sync now", signed: true, responses: { 202: { description: "Queued", schema: SyncAccepted }, ...SIGNED_ERRORS, ...conflict } },
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
