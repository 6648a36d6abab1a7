/**
 * One sync invocation for one tenant: take the lease, page Cynet's alerts from the run's
 * LastSeen (a few pages read ahead), store the malicious files of every PAGES_PER_BATCH pages
 * with their events and match outbox rows in one batch (with the run's offset, and on the last
 * page the cursor) while the next pages are read, and hand the rest of a long backlog to a
 * continuation message. Nothing grows with the backlog: each invocation reads a bounded number
 * of pages.
 */
import { DAY_MS } from "../shared/http-time";
import { and, eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { ALERTS_PAGE_LIMIT, fetchAlertsPage, type CynetSession } from "../cynet/client";
import type { AlertsPage } from "../cynet/schemas";
import { MAX_EVENTS_PER_BATCH } from "../host/schemas";
import { loginWithStoredPassword, openSession } from "../cynet/session";
import { CynetError, cynetTarget } from "../cynet/transport";
import { enqueueDispatch, type OutboxRef } from "../dispatch/enqueue";
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
  findRun,
  holdsLease,
  insertDetectionsStatements,
  insertNewDetectionsOutboxStatement,
  newDetectionsOf,
  startRun,
  updateStateStatement,
  type SyncRunRow,
} from "./state";
import { requestSync } from "./enqueue";

/** Pages one invocation reads: 4000 alerts in 40 Cynet reads and 10 page batches (~5 D1 queries and two queue sends each), well inside Workers' limits (1000 queries; the paid plan's subrequests). */
export const MAX_PAGES_PER_INVOCATION = 40;
/**
 * Pages requested from Cynet ahead of the one being classified: enough that Cynet's latency
 * hides behind the work on earlier pages, and at most three requests open to one tenant's
 * Cynet at a time (cynet-api.md asks for paced paging; no rate limit is published).
 */
export const PAGES_READ_AHEAD = 2;
/**
 * Pages classified together and stored in one D1 batch: a batch has a fixed cost (a round trip,
 * a transaction, the queue sends of its outbox rows) that four pages share, and at ~60%
 * malicious files its detections fill two and a half events calls. Its JSON stays ~150 KB,
 * far under D1's 2 MB value limit.
 */
export const PAGES_PER_BATCH = 4;
/** Pages one run may read before it is called broken: 500k alerts, far past any real backlog. */
export const MAX_PAGES_PER_RUN = 5000;
/** How long a lease holds; every stored page batch renews it, so it only has to outlast one batch's pages (15 s timeouts each) with room to spare. */
export const LEASE_MS = 5 * 60_000;
/** Overlap subtracted from SyncTimeUtc for the next cursor (cynet-api.md, our choice); dedup absorbs the re-read. */
export const CURSOR_OVERLAP_MS = 5 * 60_000;

/** What one invocation did. */
export type SyncResult = "skipped" | "busy" | "backing_off" | "continued" | "completed" | "failed";

/** Running totals of a run, written to its row with every page (new detections and duplicates are counted in SQL, see below). */
interface RunTotals {
  invocations: number;
  pages: number;
  fetched: number;
  skipped: Record<string, number>;
}

const totalsOf = (run: SyncRunRow): RunTotals => ({
  invocations: run.invocations + 1,
  pages: run.pages,
  fetched: run.fetched,
  skipped: { ...run.skipped },
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
  // Dispatch sends of stored batches, awaited before the invocation ends whatever way it ends.
  const sends: Array<Promise<void>> = [];
  // The D1 batch of the pages stored last, in flight while the next pages are read and
  // classified; true while the lease held. At most one is in flight, and each goes only after
  // its predecessor committed, so every batch sees the table as the pages before it left it.
  let storing: Promise<boolean> | undefined;
  const store = async (statements: BatchItem<"sqlite">[], outboxRows: number): Promise<boolean> => {
    const results = await db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
    // The state update is guarded by the lease: no row changed means another invocation (or a
    // reconnect) took it over. What this batch stored is deduplicated; stop here.
    if ((results.at(-1) as D1Result | undefined)?.meta?.changes === 0) return false;
    const written = results.slice(0, outboxRows).flatMap((r) => r as OutboxRef[]);
    // Sent while the next pages are read; a send that fails is logged, and the sweeper re-sends its rows.
    if (written.length) sends.push(enqueueDispatch(env, tenant.id, written));
    return true;
  };
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
      // Awaited (and its failure handled) when its turn comes, or dropped with the invocation.
      pending.catch(() => undefined);
      return pending;
    };
    // Pages are requested ahead of the one being classified, at the offsets full pages imply, so
    // Cynet's latency hides behind the work on earlier pages. A page of another size (the last,
    // or one bigger than Limit) makes the guesses wrong: they are dropped and paging goes on from
    // the true offset.
    const ahead: Array<{ at: number; page: Promise<AlertsPage> }> = [];
    let nextAt = offset;
    const restartAt = (at: number) => {
      ahead.length = 0;
      nextAt = at;
    };
    const fill = (inFlight: number) => {
      while (ahead.length < inFlight) {
        ahead.push({ at: nextAt, page: read(nextAt) });
        nextAt += ALERTS_PAGE_LIMIT;
      }
    };
    let pagesRead = 0;
    /** The page at `offset`, with the next ones already asked for (within the invocation's budget). */
    const nextPage = async (): Promise<AlertsPage> => {
      if (totals.pages >= MAX_PAGES_PER_RUN) throw new RunawayPagingError();
      const pagesLeft = MAX_PAGES_PER_INVOCATION - pagesRead;
      if (ahead[0]?.at !== offset) restartAt(offset);
      fill(Math.min(PAGES_READ_AHEAD + 1, pagesLeft));
      let result: AlertsPage;
      try {
        result = await ahead.shift()!.page;
      } catch (err) {
        // Tokens expire mid-paging (cynet-api.md): log in again once, then give up.
        if (!(err instanceof CynetError && err.failure === "http" && err.status === 401) || reloggedIn) throw err;
        await relogin();
        // Pages asked for with the old token fail too; they are asked again.
        restartAt(offset);
        result = await fetchAlertsPage(session, lastSeen, ALERTS_PAGE_LIMIT, offset);
        nextAt = offset + ALERTS_PAGE_LIMIT;
      }
      pagesRead += 1;
      if (result.Entities.length >= ALERTS_PAGE_LIMIT) fill(Math.min(PAGES_READ_AHEAD, pagesLeft - 1));
      return result;
    };

    while (pagesRead < MAX_PAGES_PER_INVOCATION) {
      // Up to PAGES_PER_BATCH pages are classified together and stored in one batch.
      const found = new Map<number, DetectionInput>();
      let duplicatesInBatch = 0;
      let complete = false;
      for (let inBatch = 0; inBatch < PAGES_PER_BATCH && pagesRead < MAX_PAGES_PER_INVOCATION && !complete; inBatch++) {
        const result = await nextPage();
        const pageTime = new Date();
        syncTime ??= new Date(Date.parse(result.SyncTimeUtc));
        complete = result.Entities.length < ALERTS_PAGE_LIMIT;
        for (const entity of result.Entities) {
          const c = classifyAlert(entity, pageTime);
          if (c.kind === "skipped") totals.skipped[c.reason] = (totals.skipped[c.reason] ?? 0) + 1;
          else if (found.has(c.detection.alertId)) duplicatesInBatch += 1;
          else found.set(c.detection.alertId, c.detection);
        }
        totals.pages += 1;
        totals.fetched += result.Entities.length;
        offset += result.Entities.length;
      }
      if (!syncTime) throw new Error("a batch was stored before any page was read");
      const storedAt = new Date();
      const lastOfInvocation = complete || pagesRead >= MAX_PAGES_PER_INVOCATION;

      // Outbox rows first: they take only the detections the tenant does not have yet, so they
      // must see the table as it was before this batch's INSERT. Events and scan matching travel
      // separately: a host failing scans/search never holds up events. One events call carries
      // at most MAX_EVENTS_PER_BATCH, so the batch's detections are split into events rows of
      // that many. Keys name the invocation (its lease), so rows of an invocation that lost its
      // lease never collide with its successor's; the events themselves are keyed per Cynet
      // alert at the host.
      const statements: BatchItem<"sqlite">[] = [];
      const eventKeys: string[] = [];
      const alertIds = [...found.keys()];
      const batchKey = `${tenant.id}:${runId}:${leaseId}:${totals.pages}`;
      for (let part = 0; part * MAX_EVENTS_PER_BATCH < alertIds.length; part++) {
        const slice = alertIds.slice(part * MAX_EVENTS_PER_BATCH, (part + 1) * MAX_EVENTS_PER_BATCH);
        eventKeys.push(`cynet-events:${batchKey}:${part}`);
        statements.push(insertNewDetectionsOutboxStatement(db, "events", tenant.id, eventKeys.at(-1)!, slice, storedAt));
      }
      // Matching has no per-call bound (correlation takes a tenant's match rows together): one row a batch.
      if (alertIds.length) statements.push(insertNewDetectionsOutboxStatement(db, "match", tenant.id, `cynet-match:${batchKey}`, alertIds, storedAt));
      const outboxRows = statements.length;
      statements.push(...insertDetectionsStatements(db, tenant.id, runId, [...found.values()], storedAt));
      const newInBatch = newDetectionsOf(eventKeys);
      statements.push(
        db
          .update(syncRuns)
          .set({
            invocations: totals.invocations,
            pages: totals.pages,
            fetched: totals.fetched,
            skipped: totals.skipped,
            // Counted inside the batch from the rows it wrote: exact even if the invocation dies right after.
            newDetections: sql`${syncRuns.newDetections} + ${newInBatch}`,
            eventsQueued: sql`${syncRuns.eventsQueued} + ${newInBatch}`,
            duplicates: sql`${syncRuns.duplicates} + ${duplicatesInBatch + found.size} - ${newInBatch}`,
            ...(complete ? { outcome: "succeeded" as const, finishedAt: storedAt, errorCode: null, errorMessage: null } : {}),
          })
          // Only while this invocation holds the lease: a successor's totals are never overwritten.
          .where(and(eq(syncRuns.id, runId), holdsLease(tenant.id, leaseId))),
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
                lastSuccessAt: storedAt,
                nextRunAt: nextTick(storedAt),
              }
            : { runOffset: offset, runSyncTime: syncTime, runLastSeen: lastSeen }),
          ...(lastOfInvocation ? { leaseId: null, leaseExpiresAt: null } : { leaseExpiresAt: new Date(storedAt.getTime() + LEASE_MS) }),
        }),
      );
      // The previous batch must have committed (and kept the lease) before this one goes.
      if (storing && !(await storing)) return "busy";
      storing = store(statements, outboxRows);
      // Its failure is met where it is awaited (next batch, or the catch below), not as an unhandled rejection meanwhile.
      storing.catch(() => undefined);
      if (complete) return (await storing) ? "completed" : "busy";
    }
    if (storing && !(await storing)) return "busy";
    await requestSync(env, tenant.id, "continuation", new Date());
    return "continued";
  } catch (err) {
    // A batch still in flight settles first: the failure is recorded over what it stored.
    await storing?.catch(() => undefined);
    await recordFailure(db, tenant.id, leaseId, run?.id, err, new Date());
    return "failed";
  } finally {
    await Promise.all(sends);
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
