/**
 * One sync invocation for one tenant: take the lease, page Cynet's alerts from the run's
 * LastSeen, store the malicious files and their events outbox row in one batch per page (with
 * the run's offset, and on the last page the cursor), and hand the rest of a long backlog to a
 * continuation message. Nothing grows with the backlog: each invocation reads a bounded
 * number of pages.
 */
import { DAY_MS } from "../shared/http-time";
import { and, eq } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { ALERTS_PAGE_LIMIT, fetchAlertsPage, type CynetSession } from "../cynet/client";
import { MAX_EVENTS_PER_BATCH } from "../host/schemas";
import { loginWithStoredPassword, openSession } from "../cynet/session";
import { CynetError, cynetTarget } from "../cynet/transport";
import { enqueueDispatch } from "../dispatch/enqueue";
import type { Env } from "../env";
import { describeError } from "../http/errors";
import { database, type Database } from "../storage/db";
import { syncRuns, syncState, tenants } from "../storage/schema";
import { loadKeyRing } from "../storage/secrets";
import { findTenant } from "../storage/tenants";
import { classifySyncError, RunawayPagingError } from "./failures";
import type { SyncMessage } from "./messages";
import { classifyAlert, type DetectionInput } from "./rule";
import { backoffMs, nextTick } from "./schedule";
import {
  acquireLease,
  existingAlertIds,
  findRun,
  insertDetectionsStatement,
  insertPageOutboxStatement,
  startRun,
  updateStateStatement,
  type SyncRunRow,
} from "./state";
import { requestSync } from "./enqueue";

/** Pages one invocation reads: 4000 alerts, ~6 D1 queries and ~2 subrequests a page, well inside Workers' limits (1000 queries; the paid plan's subrequests). */
export const MAX_PAGES_PER_INVOCATION = 40;
/** Pages one run may read before it is called broken: 500k alerts, far past any real backlog. */
export const MAX_PAGES_PER_RUN = 5000;
/** How long a lease holds; every stored page renews it, so it only has to outlast one page (15 s timeouts) with room to spare. */
export const LEASE_MS = 5 * 60_000;
/** Overlap subtracted from SyncTimeUtc for the next cursor (cynet-api.md, our choice); dedup absorbs the re-read. */
export const CURSOR_OVERLAP_MS = 5 * 60_000;

/** What one invocation did. */
export type SyncResult = "skipped" | "busy" | "backing_off" | "continued" | "completed" | "failed";

/** Running totals of a run, written to its row with every page. */
interface RunTotals {
  invocations: number;
  pages: number;
  fetched: number;
  newDetections: number;
  duplicates: number;
  skipped: Record<string, number>;
  eventsQueued: number;
}

const totalsOf = (run: SyncRunRow): RunTotals => ({
  invocations: run.invocations + 1,
  pages: run.pages,
  fetched: run.fetched,
  newDetections: run.newDetections,
  duplicates: run.duplicates,
  skipped: { ...run.skipped },
  eventsQueued: run.eventsQueued,
});

/** Runs one sync invocation for the tenant named in `message`. */
export async function runSync(env: Env, message: SyncMessage, now: Date = new Date()): Promise<SyncResult> {
  const db = database(env.DB);
  const tenant = await findTenant(db, message.tenantId);
  if (!tenant?.enabled || tenant.state !== "active" || !tenant.orgUrl || !tenant.clientId || !tenant.username) return "skipped";
  const state = await db.query.syncState.findFirst({ where: eq(syncState.tenantId, tenant.id) });
  if (!state) return "skipped";
  const adminAsked = message.reason === "manual" || message.reason === "activation" || message.reason === "backfill";
  if (!adminAsked && state.backoffUntil && state.backoffUntil.getTime() > now.getTime()) return "backing_off";

  const leaseId = crypto.randomUUID();
  const leased = await acquireLease(db, tenant.id, leaseId, now, LEASE_MS);
  if (!leased) return "busy";

  const settings = { id: tenant.id, orgUrl: tenant.orgUrl, clientId: tenant.clientId, username: tenant.username };
  const target = cynetTarget(env, tenant.orgUrl);
  let run: SyncRunRow | undefined = leased.runId ? await findRun(db, tenant.id, leased.runId) : undefined;
  try {
    const ring = await loadKeyRing(env.CREDENTIALS_KEY);
    let session: CynetSession = await openSession(db, ring, settings, target, now);
    let reloggedIn = false;
    const relogin = async () => {
      reloggedIn = true;
      session = await loginWithStoredPassword(db, ring, settings, target, new Date());
    };

    if (!run) {
      const from = leased.cursor ?? new Date(now.getTime() - leased.lookbackDays * DAY_MS);
      run = await startRun(db, tenant.id, leaseId, message.reason, from, now);
    }
    const runId = run.id;
    const lastSeen = leased.runLastSeen ?? run.lastSeenFrom;
    let offset = leased.runId === runId ? leased.runOffset : 0;
    let syncTime = leased.runId === runId ? leased.runSyncTime : null;
    const totals = totalsOf(run);

    const read = (at: number) => {
      const pending = fetchAlertsPage(session, lastSeen, ALERTS_PAGE_LIMIT, at);
      // Awaited (and its failure handled) on the next turn of the loop, or dropped with the invocation.
      pending.catch(() => undefined);
      return pending;
    };
    // The next page is read while this one is stored: Offset is known as soon as a page arrives.
    let nextPage = read(offset);
    for (let page = 0; page < MAX_PAGES_PER_INVOCATION; page++) {
      if (totals.pages >= MAX_PAGES_PER_RUN) throw new RunawayPagingError();
      let result;
      try {
        result = await nextPage;
      } catch (err) {
        // Tokens expire mid-paging (cynet-api.md): log in again once, then give up.
        if (!(err instanceof CynetError && err.failure === "http" && err.status === 401) || reloggedIn) throw err;
        await relogin();
        result = await fetchAlertsPage(session, lastSeen, ALERTS_PAGE_LIMIT, offset);
      }
      const pageTime = new Date();
      syncTime ??= new Date(Date.parse(result.SyncTimeUtc));
      const complete = result.Entities.length < ALERTS_PAGE_LIMIT;
      const lastOfInvocation = complete || page === MAX_PAGES_PER_INVOCATION - 1;
      if (!lastOfInvocation) nextPage = read(offset + result.Entities.length);

      const found = new Map<number, DetectionInput>();
      for (const entity of result.Entities) {
        const c = classifyAlert(entity, pageTime);
        if (c.kind === "skipped") totals.skipped[c.reason] = (totals.skipped[c.reason] ?? 0) + 1;
        else if (found.has(c.detection.alertId)) totals.duplicates += 1;
        else found.set(c.detection.alertId, c.detection);
      }
      const existing = await existingAlertIds(db, tenant.id, [...found.keys()]);
      const fresh = [...found.values()].filter((d) => !existing.has(d.alertId));
      totals.duplicates += found.size - fresh.length;
      totals.newDetections += fresh.length;
      totals.pages += 1;
      totals.fetched += result.Entities.length;
      offset += result.Entities.length;

      const statements: BatchItem<"sqlite">[] = fresh.length ? [insertDetectionsStatement(db, tenant.id, runId, fresh, pageTime)] : [];
      const outboxFrom = statements.length;
      if (fresh.length > 0) {
        const alertIds = fresh.map((d) => d.alertId);
        // Events and scan matching travel separately: a host failing scans/search never holds up events.
        // One events call carries at most MAX_EVENTS_PER_BATCH: a page Cynet made bigger than Limit is split.
        for (let part = 0; part * MAX_EVENTS_PER_BATCH < alertIds.length; part++) {
          const slice = alertIds.slice(part * MAX_EVENTS_PER_BATCH, (part + 1) * MAX_EVENTS_PER_BATCH);
          statements.push(insertPageOutboxStatement(db, "events", tenant.id, runId, totals.pages, part, slice, pageTime));
          statements.push(insertPageOutboxStatement(db, "match", tenant.id, runId, totals.pages, part, slice, pageTime));
        }
        totals.eventsQueued += fresh.length;
      }
      const outboxRows = statements.length - outboxFrom;
      statements.push(
        db
          .update(syncRuns)
          .set({
            ...totals,
            ...(complete ? { outcome: "succeeded" as const, finishedAt: pageTime, errorCode: null, errorMessage: null } : {}),
          })
          .where(eq(syncRuns.id, runId)),
      );
      // The cursor moves only here, in the batch that stores the last page it covers.
      statements.push(
        updateStateStatement(db, tenant.id, leaseId, {
          ...(complete
            ? {
                cursor: new Date(syncTime.getTime() - CURSOR_OVERLAP_MS),
                runId: null,
                runLastSeen: null,
                runSyncTime: null,
                runOffset: 0,
                consecutiveFailures: 0,
                backoffUntil: null,
                lastSuccessAt: pageTime,
                nextRunAt: nextTick(pageTime),
              }
            : { runOffset: offset, runSyncTime: syncTime, runLastSeen: lastSeen }),
          ...(lastOfInvocation ? { leaseId: null, leaseExpiresAt: null } : { leaseExpiresAt: new Date(pageTime.getTime() + LEASE_MS) }),
        }),
      );
      const results = await db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
      // The state update is guarded by the lease: no row changed means another invocation (or a
      // reconnect) took it over. What this page stored is deduplicated; stop here.
      if ((results.at(-1) as D1Result | undefined)?.meta?.changes === 0) return "busy";
      if (fresh.length > 0) {
        const ids = results.slice(outboxFrom, outboxFrom + outboxRows).flatMap((r) => (r as Array<{ id: number }>).map((x) => x.id));
        if (ids.length) await enqueueDispatch(env, tenant.id, ids);
      }
      if (complete) return "completed";
    }
    await requestSync(env, tenant.id, "continuation", new Date());
    return "continued";
  } catch (err) {
    await recordFailure(db, tenant.id, leaseId, run?.id, err, new Date());
    return "failed";
  }
}

/** Records a failed invocation: backoff for transient failures; error state and no more polling for fatal ones. */
async function recordFailure(db: Database, tenantId: string, leaseId: string, runId: number | undefined, err: unknown, now: Date): Promise<void> {
  const failure = classifySyncError(err);
  console.warn(JSON.stringify({ level: "warn", msg: "sync failed", tenantId, runId, code: failure.code, fatal: failure.fatal, error: describeError(err) }));
  const state = await db.query.syncState.findFirst({ where: eq(syncState.tenantId, tenantId) });
  const failures = (state?.consecutiveFailures ?? 0) + 1;
  const statements: BatchItem<"sqlite">[] = [];
  if (failure.fatal) {
    statements.push(
      // Only an active channel turns to error: a deactivation meanwhile stands.
      db
        .update(tenants)
        .set({ state: "error", errorCode: failure.code, errorMessage: failure.message, errorAt: now, updatedAt: now })
        .where(and(eq(tenants.id, tenantId), eq(tenants.state, "active"))),
      updateStateStatement(db, tenantId, leaseId, { runId: null, runLastSeen: null, runSyncTime: null, runOffset: 0, consecutiveFailures: failures, leaseId: null, leaseExpiresAt: null }),
    );
    if (runId) statements.push(db.update(syncRuns).set({ outcome: "failed", finishedAt: now, errorCode: failure.code, errorMessage: failure.message }).where(eq(syncRuns.id, runId)));
  } else {
    const until = new Date(now.getTime() + backoffMs(failures, failure.retryAfterSeconds));
    // The run and its offset stay, so the next attempt resumes where this one stopped; unless
    // the run itself is what failed, then the next one starts over from the cursor.
    const dropRun = failure.code === RunawayPagingError.code ? { runId: null, runLastSeen: null, runSyncTime: null, runOffset: 0 } : {};
    statements.push(updateStateStatement(db, tenantId, leaseId, { ...dropRun, consecutiveFailures: failures, backoffUntil: until, nextRunAt: until, leaseId: null, leaseExpiresAt: null }));
    if (runId) {
      const ended = failure.code === RunawayPagingError.code ? { outcome: "failed" as const, finishedAt: now } : {};
      statements.push(db.update(syncRuns).set({ ...ended, errorCode: failure.code, errorMessage: failure.message }).where(eq(syncRuns.id, runId)));
    }
  }
  await db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}
