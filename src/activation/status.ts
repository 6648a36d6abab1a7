/** The channel status the host shows on the Enabled Channels row, with sync health and delivery counts. */
import { desc, eq } from "drizzle-orm";
import type { Database } from "../storage/db";
import { countRows, hostFailure } from "../dispatch/outbox";
import { syncRuns, syncState } from "../storage/schema";
import { findTenant, type TenantRow } from "../storage/tenants";
import { CHANGES_REPROBE_MS, nextTick } from "../sync/schedule";
import type { SyncStateRow } from "../sync/state";
import type { ChannelStatus, DeliveryCounts, HostFailing, SyncStatus } from "./schemas";

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/** Loads everything the status answer shows for a tenant. */
export async function loadChannelStatus(db: Database, tenantId: string, now: Date = new Date()): Promise<ChannelStatus> {
  const row = await findTenant(db, tenantId);
  if (!row) return channelStatus(tenantId, undefined, null, emptyDeliveries(), null);
  const [state, lastRun, counts, failing] = await Promise.all([
    db.query.syncState.findFirst({ where: eq(syncState.tenantId, tenantId) }),
    db.query.syncRuns.findFirst({ where: eq(syncRuns.tenantId, tenantId), orderBy: desc(syncRuns.id) }),
    countRows(db, tenantId, now),
    hostFailure(db, tenantId),
  ]);
  const deliveries = emptyDeliveries();
  for (const c of counts) {
    const key = ({ events: "events", match: "scanSearches", note: "notes", ir_request: "irRequests", attachment_events: "events", attachment_note: "notes", action_note: "notes" } as const)[c.kind];
    // An events row stands for many events; notes and IR requests are one per row.
    deliveries[key][c.state] += Number(c.kind === "events" || c.kind === "attachment_events" ? c.items : c.rows);
  }
  let sync: SyncStatus | null = null;
  if (state) {
    const active = row.enabled && row.state === "active";
    const health = row.state === "error" ? "stopped" : !state.lastRunAt && !lastRun ? "never" : state.consecutiveFailures > 0 ? "degraded" : "ok";
    const due = state.backoffUntil && state.backoffUntil > state.nextRunAt ? state.backoffUntil : state.nextRunAt;
    sync = {
      health,
      lastRun: lastRun
        ? {
            id: lastRun.id,
            reason: lastRun.reason,
            outcome: lastRun.outcome,
            startedAt: lastRun.startedAt.toISOString(),
            finishedAt: iso(lastRun.finishedAt),
            pages: lastRun.pages,
            fetched: lastRun.fetched,
            newDetections: lastRun.newDetections,
            duplicates: lastRun.duplicates,
            skipped: lastRun.skipped,
            eventsQueued: lastRun.eventsQueued,
            error: lastRun.errorCode && lastRun.errorMessage ? { code: lastRun.errorCode, message: lastRun.errorMessage } : null,
          }
        : null,
      lastSyncAt: iso(state.lastRunAt),
      quietRunsSinceLastRun: state.quietRuns,
      lastSuccessAt: iso(state.lastSuccessAt),
      consecutiveFailures: state.consecutiveFailures,
      backoffUntil: iso(state.backoffUntil),
      // The cron tick at or after the later of "due" and now.
      nextRunAt: active ? nextTick(new Date(Math.max(due.getTime(), now.getTime()) - 1)).toISOString() : null,
      cursor: iso(state.cursor),
      lookbackDays: state.lookbackDays,
      // A run with a row between invocations, or any sync holding an unexpired lease (a quiet one has no row yet).
      inProgress: state.runId !== null || (state.leaseId !== null && state.leaseExpiresAt !== null && state.leaseExpiresAt > now),
      changes: changesStatus(state),
    };
  }
  return channelStatus(tenantId, row, sync, deliveries, failing ? hostFailing(failing, now) : null);
}

/** The host's failure in words: how long, why, and that nothing is lost. */
function hostFailing(failing: { since: Date; lastError: string | null }, now: Date): HostFailing {
  const minutes = Math.max(1, Math.round((now.getTime() - failing.since.getTime()) / 60_000));
  const lasting = minutes < 120 ? `${minutes} minute${minutes === 1 ? "" : "s"}` : minutes < 48 * 60 ? `${Math.round(minutes / 60)} hours` : `${Math.round(minutes / 1440)} days`;
  return {
    since: failing.since.toISOString(),
    lastError: failing.lastError,
    message: `The host has been failing deliveries for ${lasting}${failing.lastError ? ` (${failing.lastError})` : ""}. They are retried, for as long as it takes, and delivered once the host answers.`,
  };
}

function emptyDeliveries(): ChannelStatus["deliveries"] {
  const zero = (): DeliveryCounts => ({ pending: 0, scheduled: 0, delivered: 0, failed: 0 });
  return { events: zero(), scanSearches: zero(), notes: zero(), irRequests: zero() };
}

/** Builds the status answer from loaded rows (or for a tenant never enabled). */
/** Whether the sync reads Cynet's later decisions, in words when it cannot. */
function changesStatus(state: Pick<SyncStateRow, "changeCursor" | "changesUnavailableAt">): SyncStatus["changes"] {
  const since = state.changesUnavailableAt;
  if (!since) return { available: true, cursor: iso(state.changeCursor), unavailableSince: null, nextCheckAt: null, message: null };
  return {
    available: false,
    cursor: iso(state.changeCursor),
    unavailableSince: since.toISOString(),
    nextCheckAt: new Date(since.getTime() + CHANGES_REPROBE_MS).toISOString(),
    message:
      "This Cynet does not offer changed alerts (alerts/bulkByDateChanged answered 404), so alerts set to Ignored or re-opened in Cynet after the channel stored them do not change verdicts. New detections sync as usual; the channel asks again daily.",
  };
}

export function channelStatus(tenantId: string, row: TenantRow | undefined, sync: SyncStatus | null, deliveries: ChannelStatus["deliveries"], failing: HostFailing | null): ChannelStatus {
  if (!row) {
    return { tenantId, status: "not_enabled", enabled: false, bundles: [], settings: null, activatedAt: null, error: null, sync: null, deliveries, hostFailing: failing };
  }
  const connected = row.state !== "inactive" && row.orgUrl !== null && row.clientId !== null && row.username !== null;
  return {
    tenantId,
    status: row.enabled ? row.state : "not_enabled",
    enabled: row.enabled,
    bundles: row.bundles,
    settings: connected ? { orgUrl: row.orgUrl!, clientId: row.clientId!, username: row.username! } : null,
    activatedAt: row.activatedAt ? row.activatedAt.toISOString() : null,
    error:
      row.state === "error" && row.errorCode && row.errorMessage
        ? { code: row.errorCode, message: row.errorMessage, at: (row.errorAt ?? row.updatedAt).toISOString() }
        : null,
    sync,
    deliveries,
    hostFailing: failing,
  };
}
