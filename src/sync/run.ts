/**
 * One sync invocation for one tenant, as named steps: claim the tenant (its lease), open a
 * Cynet session, resume or start the run, then page Cynet's alerts from the run's LastSeen and
 * store every PAGES_PER_BATCH pages in one D1 batch (detections, their events and match outbox
 * rows, the run's totals and offset, and on the window's last page the cursor) while the next
 * pages are read. A long backlog is handed to a continuation message; nothing grows with it,
 * since each invocation reads a bounded number of pages and, once the run has a row, its offset
 * survives every invocation, retry and takeover. A run gets its row when it first stores
 * something new or goes on past its first invocation; a quiet run (nothing new) never does, and
 * one that fails before it has stored anything starts afresh from the cursor.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { ALERTS_PAGE_LIMIT, ChangedAlertsUnavailableError, fetchAlertsPage, fetchChangedAlertsPage, type CynetSession } from "../cynet/client";
import { withCynetRetries } from "../cynet/retry";
import type { AlertsPage } from "../cynet/schemas";
import { loginWithStoredPassword, openSession, type SessionTenant } from "../cynet/session";
import { CynetError, cynetTarget, type CynetTarget } from "../cynet/transport";
import { applyStatusChangesStatements, changesThatApply, verdictChangeStatements, whitelistedFiles, type StatusChange } from "../decisions/apply";
import { enqueueDispatch } from "../dispatch/enqueue";
import { insertNewDetectionsRowStatement, newDetectionsOf, type OutboxRef } from "../dispatch/outbox";
import { outboxKeys, type PageBatchRef } from "../dispatch/keys";
import type { Env } from "../env";
import { MAX_EVENTS_PER_BATCH } from "../host/schemas";
import { logLine } from "../observability/log";
import { systemClock, type Clock } from "../shared/clock";
import { DAY_MS } from "../shared/http-time";
import { changesOf, namedBatch, rowsOf } from "../storage/batch";
import type { Database } from "../storage/db";
import { tenantDatabase } from "../storage/directory";
import { detections, syncRuns, syncState, tenants, type RUN_PHASES } from "../storage/schema";
import { loadKeyRing, type KeyRing } from "../storage/secrets";
import { findTenant } from "../storage/tenants";
import { requestSync } from "./enqueue";
import { classifySyncError, OffsetIgnoredError } from "./failures";
import type { SyncMessage } from "./messages";
import { classifyAlert, classifyChange, type DetectionInput } from "./rule";
import { backoffMs, CHANGES_REPROBE_MS, nextTick } from "./schedule";
import {
  acquireLease,
  findRun,
  holdsLease,
  insertDetectionsStatements,
  insertRunIfLeasedStatement,
  LEASE_RELEASED,
  openRun,
  RUN_CLEARED,
  updateStateStatement,
  type SyncRunRow,
  type SyncStateRow,
  type SyncStateUpdate,
} from "./state";

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
/** How long a lease holds; every stored page batch renews it (a quiet one only past half its life), so it only has to outlast a batch's pages (15 s timeouts, in-place retries) with room to spare. */
export const LEASE_MS = 5 * 60_000;
/** Overlap subtracted from SyncTimeUtc for the next cursor (cynet-api.md, our choice); dedup absorbs the re-read. */
export const CURSOR_OVERLAP_MS = 5 * 60_000;


/** A window of a run: new alerts (alerts/bulk) or changed alerts (alerts/bulkByDateChanged). */
type RunPhase = (typeof RUN_PHASES)[number];

/** Whether a sync reads changed alerts now: unless Cynet said it has none, less than CHANGES_REPROBE_MS ago. */
export function readsChanges(state: Pick<SyncStateRow, "changesUnavailableAt">, now: Date): boolean {
  return !state.changesUnavailableAt || now.getTime() - state.changesUnavailableAt.getTime() >= CHANGES_REPROBE_MS;
}

/**
 * Where a run's change window starts: the change cursor; on a tenant's first run, the run's
 * start (its new alerts are read with the status they have then); on a tenant that synced before
 * it read changes, the look-back, so decisions on the detections it already holds are applied.
 */
function changeWindowStart(state: Pick<SyncStateRow, "changeCursor" | "cursor" | "lookbackDays">, runStartedAt: Date, now: Date): Date {
  if (state.changeCursor) return state.changeCursor;
  if (state.cursor === null) return new Date(runStartedAt.getTime() - CURSOR_OVERLAP_MS);
  return new Date(now.getTime() - state.lookbackDays * DAY_MS);
}

/** What one invocation did. */
export type SyncResult = "skipped" | "busy" | "backing_off" | "continued" | "completed" | "failed";

/** Reasons an admin asked for: they run even while the tenant backs off. */
const ADMIN_REASONS: ReadonlySet<SyncMessage["reason"]> = new Set(["manual", "activation", "backfill"]);

/** Runs one sync invocation for the tenant named in `message`. */
export async function runSync(env: Env, message: SyncMessage, clock: Clock = systemClock): Promise<SyncResult> {
  const { db } = await tenantDatabase(env, message.tenantId);
  const claim = await claimTenant(db, message, clock.now());
  if (typeof claim === "string") return claim;
  const { tenant, leaseId, leased } = claim;
  const store = new PageBatchStore(env, db, tenant.id, leaseId, clock.now());
  let progress: RunProgress | undefined;
  try {
    const cynet = await CynetLink.open(env, db, tenant, clock);
    progress = await resumeOrStartRun(db, leased, message.reason, clock.now());
    const changes = readsChanges(leased, clock.now());
    const changeStart = changeWindowStart(leased, progress.startedAt, clock.now());
    const outcome = await pageAndStore(cynet, store, progress, clock, { changes, changeStart });
    if (outcome === "continued") await requestSync(env, tenant.id, "continuation", clock.now());
    return outcome;
  } catch (err) {
    // A batch still in flight settles first: the failure is recorded over what it stored.
    await store.quiet();
    await recordFailure(db, tenant.id, leaseId, progress, err, clock.now(), store.deferredState());
    return "failed";
  } finally {
    await store.sendsDone();
  }
}

/** A tenant whose lease this invocation holds. */
interface Claim {
  tenant: SessionTenant;
  leaseId: string;
  leased: SyncStateRow;
}

/** Checks the tenant may sync now and takes its lease; otherwise says why not. */
async function claimTenant(db: Database, message: SyncMessage, now: Date): Promise<Claim | "skipped" | "busy" | "backing_off"> {
  const row = await findTenant(db, message.tenantId);
  if (!row?.enabled || row.state !== "active" || !row.orgUrl || !row.clientId || !row.username) return "skipped";
  const state = await db.query.syncState.findFirst({ where: eq(syncState.tenantId, row.id) });
  if (!state) return "skipped";
  if (!ADMIN_REASONS.has(message.reason) && state.backoffUntil && state.backoffUntil.getTime() > now.getTime()) return "backing_off";
  const leaseId = crypto.randomUUID();
  const leased = await acquireLease(db, row.id, leaseId, now, LEASE_MS);
  if (!leased) return "busy";
  return { tenant: { id: row.id, orgUrl: row.orgUrl, clientId: row.clientId, username: row.username }, leaseId, leased };
}

/**
 * The run the lease row points at, or a new one from the cursor (or the look-back on a first
 * sync). A new run has no row yet: it gets one when it has something to record (PageBatchStore).
 */
async function resumeOrStartRun(db: Database, leased: SyncStateRow, reason: string, now: Date): Promise<RunProgress> {
  const existing = leased.runId ? await findRun(db, leased.tenantId, leased.runId) : undefined;
  if (existing) return RunProgress.resume(existing, leased);
  const from = leased.cursor ?? new Date(now.getTime() - leased.lookbackDays * DAY_MS);
  return RunProgress.fresh(reason, now, from);
}

/** A logged-in Cynet session that logs in again once when Cynet refuses its token mid-run. */
class CynetLink {
  private reloggedIn = false;
  private constructor(
    private session: CynetSession,
    private readonly db: Database,
    private readonly ring: KeyRing,
    private readonly tenant: SessionTenant,
    private readonly target: CynetTarget,
    private readonly clock: Clock,
  ) {}

  static async open(env: Env, db: Database, tenant: SessionTenant, clock: Clock): Promise<CynetLink> {
    const ring = await loadKeyRing(env.CREDENTIALS_KEY);
    const target = cynetTarget(env, tenant.orgUrl);
    return new CynetLink(await openSession(db, ring, tenant, target, clock.now()), db, ring, tenant, target, clock);
  }

  /** One page of a window's alerts (seen, or changed, since `since`), tried again in place after transient failures. */
  page(phase: RunPhase, since: Date, offset: number): Promise<AlertsPage> {
    const session = this.session;
    const fetch = phase === "alerts" ? fetchAlertsPage : fetchChangedAlertsPage;
    return withCynetRetries(() => fetch(session, since, ALERTS_PAGE_LIMIT, offset), this.clock);
  }

  /** Whether `err` is Cynet refusing the token and a new login may help (once per invocation: tokens expire mid-paging). */
  mayLogInAgain(err: unknown): boolean {
    return !this.reloggedIn && err instanceof CynetError && err.failure === "http" && err.status === 401;
  }

  async logInAgain(): Promise<void> {
    this.reloggedIn = true;
    this.session = await loginWithStoredPassword(this.db, this.ring, this.tenant, this.target, this.clock.now());
  }
}

/** The alert id of a raw entity, when it has one (the full parse is the rule's). */
function entityId(entity: unknown): number | undefined {
  const id = typeof entity === "object" && entity !== null ? (entity as { ClientDbId?: unknown }).ClientDbId : undefined;
  return typeof id === "number" ? id : undefined;
}

/**
 * Where the next page starts: the positions of the window read so far, and the id of the alert
 * at the last of them (the anchor), once there is one.
 */
export interface PagePosition {
  offset: number;
  anchorId: number | null;
}

/** Step-backs one invocation may take after a shift: a Cynet whose pages never line up still moves on. */
export const MAX_STEP_BACKS_PER_INVOCATION = 10;

/**
 * Pages of one window, in order, with the next pages already asked for. Each page is asked
 * from the last alert already read (the anchor), so it must start with that alert: when it does
 * not, alerts moved while the window was paged (an alert seen again moves in a last-seen order),
 * and the pager steps back a page rather than skip the alerts that shifted over the offset.
 * A window ends on a page with nothing past the anchor (a short page may not be the last:
 * Cynet's largest Limit is undocumented), and a full page of alerts this invocation has
 * already read means Cynet is ignoring Offset.
 */
class AlertPager {
  /** Pages asked for ahead, at the positions the page size so far implies. */
  private ahead: Array<{ at: number; page: Promise<AlertsPage> }> = [];
  private nextAt = 0;
  /** The page size Cynet has been answering with: Limit until it shows another. */
  private stride = ALERTS_PAGE_LIMIT;
  private lastSize: number | undefined;
  /** Largest page read so far: a repeat counts as broken paging only on a page this full. */
  private fullest = 0;
  /** Position each alert id was first read at in this invocation. */
  private readonly seen = new Map<number, number>();
  private stepBacks = 0;
  /** Set when the step-backs ran out: the invocation ends at the last position that lined up. */
  private stalled = false;
  pagesRead = 0;
  /** The window's end was read. */
  complete = false;

  constructor(
    private readonly cynet: CynetLink,
    readonly phase: RunPhase,
    private readonly lastSeen: Date,
    private position: PagePosition,
    /** Pages this window may read in this invocation: what the invocation's earlier window left. */
    private readonly budget: number,
    /** This is the run's last window: its end is the run's end. */
    readonly final: boolean,
  ) {}

  /** Pages this invocation may still read: none once the pages stopped lining up (see advance). */
  get budgetLeft(): number {
    return this.stalled ? 0 : this.budget - this.pagesRead;
  }

  /** Where the next page starts (stored with each batch, so a later invocation resumes there). */
  get at(): PagePosition {
    return { ...this.position };
  }

  /** The position the next page is asked from: the anchor's, when there is one. */
  private get askAt(): number {
    return this.position.anchorId !== null && this.position.offset > 0 ? this.position.offset - 1 : this.position.offset;
  }

  /** The next page, holding only the alerts past the anchor; moves the position past it. */
  async next(): Promise<AlertsPage> {
    const at = this.askAt;
    if (this.ahead[0]?.at !== at) this.restartAt(at);
    this.fill(1);
    let page: AlertsPage;
    try {
      page = await this.ahead.shift()!.page;
    } catch (err) {
      if (!this.cynet.mayLogInAgain(err)) throw err;
      await this.cynet.logInAgain();
      // Pages asked for with the old token fail too; they are asked again.
      this.restartAt(at);
      this.fill(1);
      page = await this.ahead.shift()!.page;
    }
    this.pagesRead += 1;
    const ids = page.Entities.map(entityId);
    this.checkOffsetHonoured(ids, at);
    const fresh = this.advance(ids, at);
    return { ...page, Entities: page.Entities.slice(page.Entities.length - fresh) };
  }

  /**
   * A page asked from the anchor whose alerts were all read before, wholly below the position
   * asked (each first read at least a page's length lower than it holds now), is Cynet
   * answering an earlier page again: it ignores Offset. With Offset ignored that is the third
   * page read; the second overlaps the first at the anchor, as a page does when alerts arrive
   * ahead of it during an outbreak, which must not stop the sync. (A page read again after a
   * step back holds its alerts at the positions they were first read at.)
   */
  private checkOffsetHonoured(ids: Array<number | undefined>, at: number): void {
    const size = ids.length;
    const anchored = at < this.position.offset;
    const earlier = ids.filter((id, i) => id !== undefined && (this.seen.get(id) ?? Infinity) + size <= at + i);
    if (anchored && size > 1 && size >= this.fullest && earlier.length === size) throw new OffsetIgnoredError(at, this.seen.get(earlier[0]!)!);
    ids.forEach((id, i) => {
      if (id !== undefined && !this.seen.has(id)) this.seen.set(id, at + i);
    });
    this.fullest = Math.max(this.fullest, size);
  }

  /** Moves past a page; returns how many of its last alerts are past the anchor (the ones to classify). */
  private advance(ids: Array<number | undefined>, at: number): number {
    const size = ids.length;
    const anchored = at < this.position.offset;
    const anchorIndex = anchored ? ids.indexOf(this.position.anchorId!) : -1;
    if (anchored && anchorIndex < 0 && size > 0) {
      if (this.stepBacks >= MAX_STEP_BACKS_PER_INVOCATION) {
        // Pages keep shifting under this invocation: stop at the last position that lined up (its
        // batch is stored) and let a continuation go on from there, rather than skip alerts.
        this.stalled = true;
        return 0;
      }
      // The anchor is not where it was: alerts before it moved away (or it moved itself). Step
      // back a page, without an anchor, and read on from there; re-read alerts are deduplicated.
      this.stepBacks += 1;
      logLine("warn", "Cynet's pages shifted while paging; stepping back a page", { askedAt: at });
      this.position = { offset: Math.max(0, at - this.stride), anchorId: null };
      this.restartAt(this.askAt);
      return 0;
    }
    // Past the anchor (which may sit further in, when alerts arrived ahead of it) is what is new.
    const fresh = anchored ? size - (anchorIndex + 1) : size;
    // Nothing past the anchor on a page shorter than the ones before: the window's end.
    if (fresh <= 0 && (size < this.stride || size <= 1)) {
      this.complete = true;
      return 0;
    }
    this.position = { offset: at + size, anchorId: ids.at(-1) ?? null };
    // Nothing past it on a full page: alerts arrived ahead of the anchor and pushed it to the
    // page's end. Read on past it.
    if (fresh <= 0) return 0;
    // Guesses made with another page size are wrong: drop them and go on from the true position.
    if (size !== this.stride) {
      this.stride = size;
      this.restartAt(this.askAt);
    }
    // Read ahead after a full page, or one the size of the page before (a Cynet capping pages
    // below Limit); a shorter one is likely the window's end, confirmed by one more read.
    const full = size >= ALERTS_PAGE_LIMIT || size === this.lastSize;
    this.lastSize = size;
    if (full) this.fill(Math.min(PAGES_READ_AHEAD, this.budgetLeft));
    return fresh;
  }

  private restartAt(at: number): void {
    this.ahead = [];
    this.nextAt = at;
  }

  private fill(count: number): void {
    while (this.ahead.length < count) {
      const page = this.cynet.page(this.phase, this.lastSeen, this.nextAt);
      // Awaited (and its failure handled) when its turn comes, or dropped with the invocation.
      page.catch(() => undefined);
      this.ahead.push({ at: this.nextAt, page });
      // The next page is asked from this one's last alert.
      this.nextAt += Math.max(1, this.stride - 1);
    }
  }
}

/**
 * Running totals of a run, written to its row with every batch it stores once it has one (new
 * detections and duplicates are counted in SQL). A run without a row yet (runId null) keeps its
 * duplicates here until it gets one.
 */
class RunProgress {
  /** Alerts read again before the run had a row: added to the row's duplicates when it gets one. */
  unrecordedDuplicates = 0;
  /** Pages of changed alerts this invocation read: with `pages`, what names a page batch (its keys). */
  changePages = 0;

  private constructor(
    public runId: number | null,
    readonly reason: string,
    readonly startedAt: Date,
    /** The run's LastSeen for new alerts (its row's last_seen_from). */
    readonly alertsFrom: Date,
    /** The window being read, and where it starts (LastSeen, or "changed since"). */
    public phase: RunPhase,
    public lastSeen: Date,
    /** Where this invocation starts reading the window. */
    public position: PagePosition,
    /** The first page's SyncTimeUtc (clamped to our clock): the next cursor, less the overlap. */
    public syncTime: Date | null,
    public invocations: number,
    public pages: number,
    public fetched: number,
    public skipped: Record<string, number>,
  ) {}

  static resume(run: SyncRunRow, leased: SyncStateRow): RunProgress {
    const same = leased.runId === run.id;
    return new RunProgress(
      run.id,
      run.reason,
      run.startedAt,
      run.lastSeenFrom,
      same ? leased.runPhase : "alerts",
      (same ? leased.runLastSeen : null) ?? run.lastSeenFrom,
      same ? { offset: leased.runOffset, anchorId: leased.runAnchorId } : { offset: 0, anchorId: null },
      same ? leased.runSyncTime : null,
      run.invocations + 1,
      run.pages,
      run.fetched,
      { ...run.skipped },
    );
  }

  static fresh(reason: string, startedAt: Date, lastSeen: Date): RunProgress {
    return new RunProgress(null, reason, startedAt, lastSeen, "alerts", lastSeen, { offset: 0, anchorId: null }, null, 1, 0, 0, {});
  }

  /** Moves on to the changed alerts, from `from`: a window of its own, with its own first SyncTimeUtc. */
  enterChanges(from: Date): void {
    this.phase = "changes";
    this.lastSeen = from;
    this.position = { offset: 0, anchorId: null };
    this.syncTime = null;
  }

  /**
   * The totals as they stand now. A batch takes them when its pages are read, before it is
   * stored: the next batch's pages are read while it is stored and move the live totals on.
   */
  snapshot(): RunTotals {
    return { invocations: this.invocations, pages: this.pages, fetched: this.fetched, skipped: { ...this.skipped }, changePages: this.changePages };
  }

  /** The row a run gets when it has something to record: its totals as of `totals`. */
  row(tenantId: string, totals: RunTotals = this.snapshot()): Parameters<typeof openRun>[2] {
    return {
      tenantId,
      reason: this.reason,
      startedAt: this.startedAt,
      lastSeenFrom: this.alertsFrom,
      invocations: totals.invocations,
      pages: totals.pages,
      fetched: totals.fetched,
      skipped: totals.skipped,
      duplicates: this.unrecordedDuplicates,
    };
  }

  /** Notes a page read at `readAt`. SyncTimeUtc comes from Cynet's clock: never let it run ahead of ours. */
  countPage(page: AlertsPage, readAt: Date): void {
    this.syncTime ??= new Date(Math.min(Date.parse(page.SyncTimeUtc), readAt.getTime()));
    // The run's totals are of its new alerts; the change window's pages only name its batches.
    if (this.phase === "changes") this.changePages += 1;
    else {
      this.pages += 1;
      this.fetched += page.Entities.length;
    }
  }

  skip(reason: string): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
  }
}

/** A run's totals a batch is stored with. */
type RunTotals = Pick<RunProgress, "invocations" | "pages" | "fetched" | "skipped" | "changePages">;

/** The malicious files of up to PAGES_PER_BATCH pages, deduplicated by alert id, and (in the change window) the statuses to apply. */
interface PageBatch {
  phase: RunPhase;
  found: Map<number, DetectionInput>;
  duplicates: number;
  /** Changed alerts' statuses (change window only). */
  changes: StatusChange[];
  /** The window's last page (nothing past the anchor) was read. */
  complete: boolean;
  /** The run ends with this batch: its last window is complete. */
  runDone: boolean;
  /** Cynet answered 404 for changed alerts: the run ends without them. */
  changesUnavailable: boolean;
  /** Where the next page starts. */
  position: PagePosition;
  /** The window's first SyncTimeUtc when the batch was read, and where the change window starts (used when the alerts window completes). */
  syncTime: Date | null;
  changeStart: Date;
}

/** Reads and classifies the next pages of a batch. */
async function readBatch(pager: AlertPager, progress: RunProgress, clock: Clock, changeStart: Date): Promise<PageBatch> {
  const found = new Map<number, DetectionInput>();
  // In the change window an alert that moved while paged is read twice: its latest reading stands.
  const latest = new Map<number, { change: StatusChange; detection: DetectionInput | null }>();
  let duplicates = 0;
  const keep = (d: DetectionInput) => {
    if (found.has(d.alertId)) duplicates += 1;
    else found.set(d.alertId, d);
  };
  for (let inBatch = 0; inBatch < PAGES_PER_BATCH && pager.budgetLeft > 0 && !pager.complete; inBatch++) {
    const page = await pager.next();
    const readAt = clock.now();
    progress.countPage(page, readAt);
    for (const entity of page.Entities) {
      if (pager.phase === "alerts") {
        const c = classifyAlert(entity, readAt);
        if (c.kind === "skipped") progress.skip(c.reason);
        else keep(c.detection);
        continue;
      }
      const c = classifyChange(entity, readAt);
      if (c.kind === "skipped") continue;
      const held = latest.get(c.alertId);
      if (held && held.change.changedAt.getTime() > c.changedAt.getTime()) continue;
      latest.set(c.alertId, { change: { alertId: c.alertId, sha256: c.sha256, status: c.status, changedAt: c.changedAt }, detection: c.detection });
    }
  }
  const changes = [...latest.values()].map((l) => l.change);
  for (const l of latest.values()) if (l.detection) found.set(l.detection.alertId, l.detection);
  return {
    phase: pager.phase,
    found,
    duplicates,
    changes,
    complete: pager.complete,
    runDone: pager.complete && pager.final,
    changesUnavailable: false,
    position: pager.at,
    syncTime: progress.syncTime,
    changeStart,
  };
}

/** The batch that ends a run whose Cynet answered 404 for changed alerts: nothing read, the run done. */
function changesUnavailableBatch(progress: RunProgress, changeStart: Date): PageBatch {
  return {
    phase: "changes",
    found: new Map(),
    duplicates: 0,
    changes: [],
    complete: true,
    runDone: true,
    changesUnavailable: true,
    position: progress.position,
    syncTime: progress.syncTime,
    changeStart,
  };
}

/** What the change window of a run needs to know: whether it is read, and from when. */
interface ChangeWindow {
  changes: boolean;
  changeStart: Date;
}

/**
 * Pages the run's windows (new alerts, then changed alerts) and stores them batch by batch,
 * each batch stored while the next is read. The windows share the invocation's page budget.
 */
async function pageAndStore(cynet: CynetLink, store: PageBatchStore, progress: RunProgress, clock: Clock, window: ChangeWindow): Promise<"continued" | "completed" | "busy"> {
  let budget = MAX_PAGES_PER_INVOCATION;
  const pagerFor = () => new AlertPager(cynet, progress.phase, progress.lastSeen, progress.position, budget, progress.phase === "changes" || !window.changes);
  let pager = pagerFor();
  for (;;) {
    while (pager.budgetLeft > 0) {
      let batch: PageBatch;
      try {
        batch = await readBatch(pager, progress, clock, window.changeStart);
      } catch (err) {
        if (!(err instanceof ChangedAlertsUnavailableError)) throw err;
        logLine("warn", "Cynet does not offer changed alerts (bulkByDateChanged answered 404); the sync goes on without them", {});
        batch = changesUnavailableBatch(progress, window.changeStart);
      }
      const lastOfInvocation = batch.runDone || pager.budgetLeft === 0;
      // The previous batch must have committed (and kept the lease) before this one goes.
      if (!(await store.committed())) return "busy";
      store.begin(batch, progress, lastOfInvocation, clock.now());
      if (batch.runDone) return (await store.committed()) ? "completed" : "busy";
      if (batch.complete) break;
    }
    if (!pager.complete || pager.budgetLeft === 0 || progress.phase === "changes") break;
    // The new alerts are read: the changed alerts follow, in what is left of the budget.
    if (!(await store.committed())) return "busy";
    budget -= pager.pagesRead;
    progress.enterChanges(window.changeStart);
    pager = pagerFor();
  }
  return (await store.committed()) ? "continued" : "busy";
}

/**
 * Stores page batches, one at a time, each one D1 batch: outbox rows (they take only the
 * detections the tenant does not have yet, so they go before the detections' INSERT), the
 * detections, Cynet's later decisions on them (statuses, the verdicts they change, the notes to
 * matched scans), the run's totals and the state (offset, or the cursor on the window's last
 * page, and the lease). Every write is guarded by the lease; a batch that finds it gone reports
 * so and the invocation stops.
 */
class PageBatchStore {
  /** The batch in flight: resolves true when it committed with the lease held. */
  private storing: Promise<boolean> | undefined;
  /** Queue sends of stored batches' outbox rows, awaited before the invocation ends. */
  private readonly sends: Array<Promise<void>> = [];
  /** State a quiet batch had no need to write yet (a completed window's cursor): the next state write carries it. */
  private deferred: SyncStateUpdate = {};

  constructor(
    private readonly env: Env,
    private readonly db: Database,
    private readonly tenantId: string,
    private readonly leaseId: string,
    /** When the lease was last written (taken or renewed): a quiet batch renews it only past half its life. */
    private leaseWrittenAt: Date,
  ) {}

  /** Waits for the batch in flight: true when there was none or it committed with the lease held; throws its failure. */
  async committed(): Promise<boolean> {
    return this.storing ?? true;
  }

  /** Waits for the batch in flight, whatever its outcome. */
  async quiet(): Promise<void> {
    await this.storing?.catch(() => undefined);
  }

  /** State not written yet, for a failure record to carry (a cursor a quiet window moved). */
  deferredState(): SyncStateUpdate {
    return { ...this.deferred };
  }

  /** Starts storing `batch`; its failure is met by the next committed() (or runSync's catch), not as an unhandled rejection meanwhile. */
  begin(batch: PageBatch, progress: RunProgress, lastOfInvocation: boolean, storedAt: Date): void {
    // Taken now, while no later page has been read: what this batch stores is what it covers.
    this.storing = this.store(batch, progress, progress.snapshot(), lastOfInvocation, storedAt);
    this.storing.catch(() => undefined);
  }

  async sendsDone(): Promise<void> {
    await Promise.all(this.sends);
  }

  private async store(batch: PageBatch, progress: RunProgress, totals: RunTotals, lastOfInvocation: boolean, storedAt: Date): Promise<boolean> {
    if (!batch.syncTime && !batch.changesUnavailable) throw new Error("a batch was stored before any page was read");
    // Only changes not applied yet (the overlap re-reads the last minutes' every tick): a batch of none is quiet.
    batch = { ...batch, changes: await changesThatApply(this.db, this.tenantId, batch.changes) };
    const decisions = this.decisionParts(batch, storedAt);
    if (progress.runId === null) {
      // A run gets its row once it has news to record, or when it goes on in another invocation
      // (its row carries the totals across). Until then a batch of alerts all stored before
      // writes nothing but the state: a quiet tick is two rows written (lease, state).
      const news = batch.found.size > 0 && (await this.anyNew([...batch.found.keys()]));
      if (news || (lastOfInvocation && !batch.runDone)) {
        const runId = await openRun(this.db, this.leaseId, progress.row(this.tenantId, totals), { runPhase: batch.phase, runLastSeen: progress.lastSeen });
        if (runId === undefined) return false;
        progress.runId = runId;
      } else {
        if (batch.phase === "alerts") progress.unrecordedDuplicates += batch.duplicates + batch.found.size;
        // Mid-invocation, a quiet batch has nothing to keep: its position only saves re-reading
        // alerts already stored, and a completed window's cursor goes with the next state write.
        const leaseFresh = storedAt.getTime() - this.leaseWrittenAt.getTime() < LEASE_MS / 2;
        const state = this.stateUpdate(batch, progress, lastOfInvocation, storedAt);
        if (!batch.runDone && !lastOfInvocation && leaseFresh && batch.changes.length === 0) {
          this.deferred = withoutLease({ ...this.deferred, ...state });
          return true;
        }
        const done = await namedBatch(this.db, { ...decisions, state: [updateStateStatement(this.db, this.tenantId, this.leaseId, state)] });
        if (changesOf(done.state[0]) === 0) return false;
        this.afterCommit(storedAt, done.notes);
        return true;
      }
    }
    // Pages read in this lease, both windows: each batch of the invocation is named by a count of its own.
    const ref: PageBatchRef = { tenantId: this.tenantId, runId: progress.runId, leaseId: this.leaseId, pages: totals.pages + totals.changePages };
    const alertIds = [...batch.found.keys()];
    // One events call carries at most MAX_EVENTS_PER_BATCH: the batch's detections are split into events rows of that many.
    const eventKeys: string[] = [];
    const eventsRows: BatchItem<"sqlite">[] = [];
    for (let part = 0; part * MAX_EVENTS_PER_BATCH < alertIds.length; part++) {
      const key = outboxKeys.eventsRow(ref, part);
      eventKeys.push(key);
      eventsRows.push(insertNewDetectionsRowStatement(this.db, "events", this.tenantId, key, alertIds.slice(part * MAX_EVENTS_PER_BATCH, (part + 1) * MAX_EVENTS_PER_BATCH), storedAt));
    }
    // Matching has no per-call bound (correlation takes a tenant's match rows together): one row a batch.
    const matchRow = alertIds.length ? [insertNewDetectionsRowStatement(this.db, "match", this.tenantId, outboxKeys.matchRow(ref), alertIds, storedAt)] : [];
    // Only a batch that stores detections asks which of its files are whitelisted (a quiet one stores none).
    const toStore = await this.markWhitelisted(batch.found, storedAt);
    const done = await namedBatch(this.db, {
      eventsRows,
      matchRow,
      detections: insertDetectionsStatements(this.db, this.tenantId, progress.runId, [...toStore.values()], storedAt),
      ...decisions,
      totals: [this.totalsStatement(batch, totals, ref.runId, eventKeys, storedAt)],
      state: [updateStateStatement(this.db, this.tenantId, this.leaseId, this.stateUpdate(batch, progress, lastOfInvocation, storedAt))],
    });
    // No state row changed: another invocation (or a reconnect) took the lease over. What this batch stored is deduplicated; stop here.
    if (changesOf(done.state[0]) === 0) return false;
    this.afterCommit(storedAt, [...done.eventsRows, ...done.matchRow, ...done.notes]);
    return true;
  }

  /**
   * The batch's later decisions, after its detections: the changed statuses applied, then the
   * verdicts of its files recorded where they changed (a new detection of a revoked file makes it
   * malicious again), then the notes to the scans those files were matched in.
   */
  private decisionParts(batch: PageBatch, storedAt: Date) {
    const statuses = applyStatusChangesStatements(this.db, this.tenantId, batch.changes, storedAt);
    // The files whose verdict may have changed: those of the applied changes and of the batch's detections.
    const hashes = new Set([...batch.changes.map((c) => c.sha256), ...[...batch.found.values()].map((d) => d.sha256)]);
    const { verdicts, notes } = verdictChangeStatements(this.db, this.tenantId, [...hashes], storedAt, batch.changes.length === 0);
    return { statuses, verdicts, notes };
  }

  /** The batch's detections, those of files Cynet whitelisted stored as not counting (one read, when there are any). */
  private async markWhitelisted(found: Map<number, DetectionInput>, storedAt: Date): Promise<Map<number, DetectionInput>> {
    const listed = await whitelistedFiles(this.db, this.tenantId, [...found.values()].map((d) => d.sha256));
    if (listed.size === 0) return found;
    return new Map([...found].map(([id, d]) => [id, listed.has(d.sha256) ? { ...d, revokedAt: d.revokedAt ?? storedAt, revokedReason: d.revokedReason ?? "whitelisted" } : d]));
  }

  /** After a committed batch: the lease was written, and the outbox rows it added go to the queue. */
  private afterCommit(storedAt: Date, results: unknown[]): void {
    this.leaseWrittenAt = storedAt;
    this.deferred = {};
    const written = results.flatMap((r) => rowsOf<OutboxRef>(r));
    // Sent while the next pages are read; a send that fails is logged, and the sweeper re-sends its rows.
    if (written.length) this.sends.push(enqueueDispatch(this.env, this.tenantId, written));
  }

  /** Whether any of `alertIds` is not stored yet (the lease keeps any other invocation from storing them meanwhile). */
  private async anyNew(alertIds: number[]): Promise<boolean> {
    const [row] = await this.db
      .select({ stored: sql<number>`count(*)` })
      .from(detections)
      .where(and(eq(detections.tenantId, this.tenantId), inArray(detections.alertId, sql`(select value from json_each(${JSON.stringify(alertIds)}))`)));
    return (row?.stored ?? 0) < alertIds.length;
  }

  private totalsStatement(batch: PageBatch, totals: RunTotals, runId: number, eventKeys: string[], storedAt: Date): BatchItem<"sqlite"> {
    const newInBatch = newDetectionsOf(eventKeys);
    return (
      this.db
        .update(syncRuns)
        .set({
          invocations: totals.invocations,
          pages: totals.pages,
          fetched: totals.fetched,
          skipped: totals.skipped,
          // Counted inside the batch from the rows it wrote: exact even if the invocation dies right after.
          newDetections: sql`${syncRuns.newDetections} + ${newInBatch}`,
          eventsQueued: sql`${syncRuns.eventsQueued} + ${newInBatch}`,
          // A changed alert already stored is a status to apply, not an alert read twice.
          duplicates: batch.phase === "alerts" ? sql`${syncRuns.duplicates} + ${batch.duplicates + batch.found.size} - ${newInBatch}` : sql`${syncRuns.duplicates}`,
          ...(batch.runDone ? { outcome: "succeeded" as const, finishedAt: storedAt, errorCode: null, errorMessage: null } : {}),
        })
        // Only while this invocation holds the lease: a successor's totals are never overwritten.
        .where(and(eq(syncRuns.id, runId), holdsLease(this.tenantId, this.leaseId)))
    );
  }

  /**
   * The state the batch leaves, with what earlier quiet batches deferred. A cursor moves only
   * here, in the batch that stores the last page it covers: the alerts' cursor when their window
   * completes (the change window then starts), the change cursor when the changes' window does.
   */
  private stateUpdate(batch: PageBatch, progress: RunProgress, lastOfInvocation: boolean, storedAt: Date): SyncStateUpdate {
    const next = (syncTime: Date | null) => new Date((syncTime ?? storedAt).getTime() - CURSOR_OVERLAP_MS);
    const succeeded = {
      ...RUN_CLEARED,
      consecutiveFailures: 0,
      backoffUntil: null,
      lastSuccessAt: storedAt,
      nextRunAt: nextTick(storedAt),
      // A run that ends without a row was quiet: counted, not recorded.
      ...(progress.runId === null ? { quietRuns: sql`${syncState.quietRuns} + 1` } : {}),
    };
    let runState: SyncStateUpdate;
    if (batch.phase === "alerts" && batch.runDone) runState = { cursor: next(batch.syncTime), ...succeeded };
    else if (batch.phase === "alerts" && batch.complete) {
      runState = { cursor: next(batch.syncTime), runPhase: "changes", runLastSeen: batch.changeStart, runOffset: 0, runAnchorId: null, runSyncTime: null };
    } else if (batch.changesUnavailable) runState = { changesUnavailableAt: storedAt, ...succeeded };
    else if (batch.runDone) runState = { changeCursor: next(batch.syncTime), changesUnavailableAt: null, ...succeeded };
    else runState = { runOffset: batch.position.offset, runAnchorId: batch.position.anchorId, runSyncTime: batch.syncTime, runLastSeen: progress.lastSeen, runPhase: batch.phase };
    const lease = lastOfInvocation ? LEASE_RELEASED : { leaseExpiresAt: new Date(storedAt.getTime() + LEASE_MS) };
    return { ...this.deferred, ...runState, ...lease };
  }
}

/** A state update without the lease columns: each write decides the lease itself. */
function withoutLease(update: SyncStateUpdate): SyncStateUpdate {
  const { leaseId: _id, leaseExpiresAt: _until, ...rest } = update;
  return rest;
}

/**
 * Records a failed invocation: backoff for transient failures (a run with a row keeps it and its
 * offset, so the next attempt resumes where this one stopped; one without stored nothing and is
 * recorded as a failed run, the next attempt starting from the cursor); error state and no more
 * polling for fatal ones. Every write is guarded by the lease, so an invocation that lost it (a reconnect, a
 * successor) cannot put a fresh tenant in error or overwrite its successor's run.
 */
async function recordFailure(db: Database, tenantId: string, leaseId: string, progress: RunProgress | undefined, err: unknown, now: Date, deferred: SyncStateUpdate): Promise<void> {
  const failure = classifySyncError(err);
  logLine("warn", "sync failed", { tenantId, runId: progress?.runId, code: failure.code, fatal: failure.fatal, error: err });
  const state = await db.query.syncState.findFirst({ where: eq(syncState.tenantId, tenantId) });
  const failures = (state?.consecutiveFailures ?? 0) + 1;
  const leaseHeld = holdsLease(tenantId, leaseId);
  const error = { errorCode: failure.code, errorMessage: failure.message };
  // A run with a row keeps it (a transient failure resumes it); one without gets a row for the
  // failed attempt, finished: it stored nothing, so the next attempt starts afresh from the cursor.
  const run = progress?.runId
    ? [
        db
          .update(syncRuns)
          .set({ ...(failure.fatal ? { outcome: "failed" as const, finishedAt: now } : {}), ...error })
          .where(and(eq(syncRuns.id, progress.runId), leaseHeld)),
      ]
    : progress
      ? [insertRunIfLeasedStatement(db, leaseId, { ...progress.row(tenantId), outcome: "failed", finishedAt: now, ...error })]
      : [];
  const channel = failure.fatal
    ? // Only an active channel turns to error: a deactivation meanwhile stands.
      [db.update(tenants).set({ state: "error", errorCode: failure.code, errorMessage: failure.message, errorAt: now, updatedAt: now }).where(and(eq(tenants.id, tenantId), eq(tenants.state, "active"), leaseHeld))]
    : [];
  const until = new Date(now.getTime() + backoffMs(failures, failure.fatal ? undefined : failure.retryAfterSeconds));
  // A run without a row stored nothing: the next attempt starts afresh, so no position of it stays.
  const unrecorded = progress && progress.runId === null ? RUN_CLEARED : {};
  const stateSet = failure.fatal
    ? { ...RUN_CLEARED, consecutiveFailures: failures }
    : { ...unrecorded, consecutiveFailures: failures, backoffUntil: until, nextRunAt: until };
  const recorded = run.length ? { quietRuns: 0 } : {};
  // The state update releases the lease, so it goes last: the statements before it still see it held.
  // What a quiet window left to write (its cursor) is kept: the failure came after it was read.
  await namedBatch(db, { run, channel, state: [updateStateStatement(db, tenantId, leaseId, { ...deferred, ...stateSet, ...recorded, ...LEASE_RELEASED })] });
}
