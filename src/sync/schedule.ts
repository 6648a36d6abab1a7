/** The sync cadence, taken from the manifest's cron so the two cannot disagree. */
import { manifest } from "../manifest";

/** Minutes between cron ticks, from a `*\/N * * * *` schedule (the only shape the channel uses). */
export function intervalMinutes(schedule: string): number {
  const m = /^\*\/(\d{1,2}) \* \* \* \*$/.exec(schedule.trim());
  const minutes = m ? Number(m[1]) : NaN;
  if (!(minutes >= 1 && minutes <= 59)) throw new Error(`sync.schedule must look like "*/N * * * *", got ${schedule}`);
  return minutes;
}

/** Time between two scheduled syncs of a tenant. */
export const SYNC_INTERVAL_MS = intervalMinutes(manifest.sync.schedule) * 60_000;

/** The first cron tick strictly after `at`. */
export function nextTick(at: Date): Date {
  return new Date(Math.floor(at.getTime() / SYNC_INTERVAL_MS) * SYNC_INTERVAL_MS + SYNC_INTERVAL_MS);
}

/** Backoff after the first failure: one tick. */
export const BACKOFF_BASE_MS = SYNC_INTERVAL_MS;
/** Longest backoff: a failing tenant is still tried a dozen times a day. */
export const BACKOFF_CAP_MS = 2 * 60 * 60_000;

/** Exponential backoff after `failures` consecutive failures, at least Cynet's Retry-After. */
export function backoffMs(failures: number, retryAfterSeconds?: number): number {
  const exponential = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1));
  return Math.max(exponential, (retryAfterSeconds ?? 0) * 1000);
}

/**
 * How long a Cynet that answered 404 for changed alerts is left alone before it is asked again:
 * a tenant's Cynet is upgraded rarely, and asking every tick would add a failing call to each.
 */
export const CHANGES_REPROBE_MS = 24 * 60 * 60_000;
