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
import { ALERTS_PAGE_LIMIT, fetchAlertsPage, type CynetSession } from "../cynet/client";
import { withCynetRetries } from "../cynet/retry";
import type { AlertsPage } from "../cynet/schemas";
import { loginWithStoredPassword, openSession, type SessionTenant } from "../cynet/session";
import { CynetError, cynetTarget, type CynetTarget } from "../cynet/transport";
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
import { detections, syncRuns, syncState, tenants } from "../storage/schema";
import { loadKeyRing, type KeyRing } from "../storage/secrets";
import { findTenant } from "../storage/tenants";
import { requestSync } from "./enqueue";
import { classifySyncError, OffsetIgnoredError } from "./failures";
import type { SyncMessage } from "./messages";
import { classifyAlert, type DetectionInput } from "./rule";
import { backoffMs, nextTick } from "./schedule";
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
    const pager = new AlertPager(cynet, progress.lastSeen, progress.position);
    const outcome = await pageAndStore(pager, store, progress, clock);
    if (outcome === "continued") await requestSync(env, tenant.id, "continuation", clock.now());
    return outcome;
  } catch (err) {
    // A batch still in flight settles first: the failure is recorded over what it stored.
    await store.quiet();
    await recordFailure(db, tenant.id, leaseId, progress, err, clock.now());
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

  /** One page of alerts, tried again in place after transient failures. */
  page(lastSeen: Date, offset: number): Promise<AlertsPage> {
    const session = this.session;
    return withCynetRetries(() => fetchAlertsPage(session, lastSeen, ALERTS_PAGE_LIMIT, offset), this.clock);
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
    private readonly lastSeen: Date,
    private position: PagePosition,
  ) {}

  /** Pages this invocation may still read: none once the pages stopped lining up (see advance). */
  get budgetLeft(): number {
    return this.stalled ? 0 : MAX_PAGES_PER_INVOCATION - this.pagesRead;
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
      const page = this.cynet.page(this.lastSeen, this.nextAt);
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

  private constructor(
    public runId: number | null,
    readonly reason: string,
    readonly startedAt: Date,
    readonly lastSeen: Date,
    /** Where this invocation starts reading. */
    readonly position: PagePosition,
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
      leased.runLastSeen ?? run.lastSeenFrom,
      same ? { offset: leased.runOffset, anchorId: leased.runAnchorId } : { offset: 0, anchorId: null },
      same ? leased.runSyncTime : null,
      run.invocations + 1,
      run.pages,
      run.fetched,
      { ...run.skipped },
    );
  }

  static fresh(reason: string, startedAt: Date, lastSeen: Date): RunProgress {
    return new RunProgress(null, reason, startedAt, lastSeen, { offset: 0, anchorId: null }, null, 1, 0, 0, {});
  }

  /**
   * The totals as they stand now. A batch takes them when its pages are read, before it is
   * stored: the next batch's pages are read while it is stored and move the live totals on.
   */
  snapshot(): RunTotals {
    return { invocations: this.invocations, pages: this.pages, fetched: this.fetched, skipped: { ...this.skipped } };
  }

  /** The row a run gets when it has something to record: its totals as of `totals`. */
  row(tenantId: string, totals: RunTotals = this.snapshot()): Parameters<typeof openRun>[2] {
    return {
      tenantId,
      reason: this.reason,
      startedAt: this.startedAt,
      lastSeenFrom: this.lastSeen,
      ...totals,
      duplicates: this.unrecordedDuplicates,
    };
  }

  /** Notes a page read at `readAt`. SyncTimeUtc comes from Cynet's clock: never let it run ahead of ours. */
  countPage(page: AlertsPage, readAt: Date): void {
    this.syncTime ??= new Date(Math.min(Date.parse(page.SyncTimeUtc), readAt.getTime()));
    this.pages += 1;
    this.fetched += page.Entities.length;
  }

  skip(reason: string): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
  }
}

/** A run's totals a batch is stored with. */
type RunTotals = Pick<RunProgress, "invocations" | "pages" | "fetched" | "skipped">;

/** The malicious files of up to PAGES_PER_BATCH pages, deduplicated by alert id. */
interface PageBatch {
  found: Map<number, DetectionInput>;
  duplicates: number;
  /** The window's last page (nothing past the anchor) was read. */
  complete: boolean;
  /** Where the next page starts. */
  position: PagePosition;
}

/** Reads and classifies the next pages of a batch. */
async function readBatch(pager: AlertPager, progress: RunProgress, clock: Clock): Promise<PageBatch> {
  const found = new Map<number, DetectionInput>();
  let duplicates = 0;
  for (let inBatch = 0; inBatch < PAGES_PER_BATCH && pager.budgetLeft > 0 && !pager.complete; inBatch++) {
    const page = await pager.next();
    const readAt = clock.now();
    progress.countPage(page, readAt);
    for (const entity of page.Entities) {
      const c = classifyAlert(entity, readAt);
      if (c.kind === "skipped") progress.skip(c.reason);
      else if (found.has(c.detection.alertId)) duplicates += 1;
      else found.set(c.detection.alertId, c.detection);
    }
  }
  return { found, duplicates, complete: pager.complete, position: pager.at };
}

/** Pages the window and stores it batch by batch, each batch stored while the next is read. */
async function pageAndStore(pager: AlertPager, store: PageBatchStore, progress: RunProgress, clock: Clock): Promise<"continued" | "completed" | "busy"> {
  while (pager.budgetLeft > 0) {
    const batch = await readBatch(pager, progress, clock);
    const lastOfInvocation = batch.complete || pager.budgetLeft === 0;
    // The previous batch must have committed (and kept the lease) before this one goes.
    if (!(await store.committed())) return "busy";
    store.begin(batch, progress, lastOfInvocation, clock.now());
    if (batch.complete) return (await store.committed()) ? "completed" : "busy";
  }
  return (await store.committed()) ? "continued" : "busy";
}

/**
 * Stores page batches, one at a time, each one D1 batch: outbox rows (they take only the
 * detections the tenant does not have yet, so they go before the detections' INSERT), the
 * detections, the run's totals and the state (offset, or the cursor on the window's last page,
 * and the lease). Every write is guarded by the lease; a batch that finds it gone reports so
 * and the invocation stops.
 */
class PageBatchStore {
  /** The batch in flight: resolves true when it committed with the lease held. */
  private storing: Promise<boolean> | undefined;
  /** Queue sends of stored batches' outbox rows, awaited before the invocation ends. */
  private readonly sends: Array<Promise<void>> = [];

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
    if (!progress.syncTime) throw new Error("a batch was stored before any page was read");
    if (progress.runId === null) {
      // A run gets its row once it has news to record, or when it goes on in another invocation
      // (its row carries the totals across). Until then a batch of alerts all stored before
      // writes nothing but the state: a quiet tick is two rows written (lease, state).
      const news = batch.found.size > 0 && (await this.anyNew([...batch.found.keys()]));
      if (news || (lastOfInvocation && !batch.complete)) {
        const runId = await openRun(this.db, this.leaseId, progress.row(this.tenantId, totals));
        if (runId === undefined) return false;
        progress.runId = runId;
      } else {
        progress.unrecordedDuplicates += batch.duplicates + batch.found.size;
        // Mid-invocation, a quiet batch has nothing to keep: its position only saves re-reading
        // alerts already stored, so the state is written at the end (or to renew the lease).
        const leaseFresh = storedAt.getTime() - this.leaseWrittenAt.getTime() < LEASE_MS / 2;
        if (!batch.complete && !lastOfInvocation && leaseFresh) return true;
        const done = await namedBatch(this.db, { state: [this.stateStatement(batch, progress, lastOfInvocation, storedAt)] });
        this.leaseWrittenAt = storedAt;
        return changesOf(done.state[0]) > 0;
      }
    }
    const ref: PageBatchRef = { tenantId: this.tenantId, runId: progress.runId, leaseId: this.leaseId, pages: totals.pages };
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
    const done = await namedBatch(this.db, {
      eventsRows,
      matchRow,
      detections: insertDetectionsStatements(this.db, this.tenantId, progress.runId, [...batch.found.values()], storedAt),
      totals: [this.totalsStatement(batch, totals, ref.runId, eventKeys, storedAt)],
      state: [this.stateStatement(batch, progress, lastOfInvocation, storedAt)],
    });
    // No state row changed: another invocation (or a reconnect) took the lease over. What this batch stored is deduplicated; stop here.
    if (changesOf(done.state[0]) === 0) return false;
    this.leaseWrittenAt = storedAt;
    const written = [...done.eventsRows, ...done.matchRow].flatMap((r) => rowsOf<OutboxRef>(r));
    // Sent while the next pages are read; a send that fails is logged, and the sweeper re-sends its rows.
    if (written.length) this.sends.push(enqueueDispatch(this.env, this.tenantId, written));
    return true;
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
          duplicates: sql`${syncRuns.duplicates} + ${batch.duplicates + batch.found.size} - ${newInBatch}`,
          ...(batch.complete ? { outcome: "succeeded" as const, finishedAt: storedAt, errorCode: null, errorMessage: null } : {}),
        })
        // Only while this invocation holds the lease: a successor's totals are never overwritten.
        .where(and(eq(syncRuns.id, runId), holdsLease(this.tenantId, this.leaseId)))
    );
  }

  /** The cursor moves only here, in the batch that stores the last page it covers. */
  private stateStatement(batch: PageBatch, progress: RunProgress, lastOfInvocation: boolean, storedAt: Date): BatchItem<"sqlite"> {
    const runState = batch.complete
      ? {
          cursor: new Date(progress.syncTime!.getTime() - CURSOR_OVERLAP_MS),
          ...RUN_CLEARED,
          consecutiveFailures: 0,
          backoffUntil: null,
          lastSuccessAt: storedAt,
          nextRunAt: nextTick(storedAt),
          // A run that ends without a row was quiet: counted, not recorded.
          ...(progress.runId === null ? { quietRuns: sql`${syncState.quietRuns} + 1` } : {}),
        }
      : { runOffset: batch.position.offset, runAnchorId: batch.position.anchorId, runSyncTime: progress.syncTime, runLastSeen: progress.lastSeen };
    const lease = lastOfInvocation ? LEASE_RELEASED : { leaseExpiresAt: new Date(storedAt.getTime() + LEASE_MS) };
    return updateStateStatement(this.db, this.tenantId, this.leaseId, { ...runState, ...lease });
  }
}

/**
 * Records a failed invocation: backoff for transient failures (a run with a row keeps it and its
 * offset, so the next attempt resumes where this one stopped; one without stored nothing and is
 * recorded as a failed run, the next attempt starting from the cursor); error state and no more
 * polling for fatal ones. Every write is guarded by the lease, so an invocation that lost it (a reconnect, a
 * successor) cannot put a fresh tenant in error or overwrite its successor's run.
 */
async function recordFailure(db: Database, tenantId: string, leaseId: string, progress: RunProgress | undefined, err: unknown, now: Date): Promise<void> {
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
  await namedBatch(db, { run, channel, state: [updateStateStatement(db, tenantId, leaseId, { ...stateSet, ...recorded, ...LEASE_RELEASED })] });
}
