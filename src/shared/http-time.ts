/** Time helpers shared by the Cynet and host clients and the sync. */

/** One day in milliseconds. */
export const DAY_MS = 24 * 60 * 60_000;

/** Seconds from a Retry-After header (seconds or an HTTP date), capped at `capSeconds`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, capSeconds: number): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds, capSeconds);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.min(capSeconds, Math.max(0, Math.ceil((at - Date.now()) / 1000)));
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;

/**
 * An instant as people read it in notes and IR requests: day, month, year, time to the minute,
 * and the zone (UTC: the host's readers are anywhere). The machine value stays in the
 * structured details beside it.
 *
 * @example
 * readableTime(new Date("2026-11-15T00:41:35Z")); // "15 Nov 2026, 00:41 UTC"
 */
export function readableTime(at: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${at.getUTCDate()} ${MONTHS[at.getUTCMonth()]} ${at.getUTCFullYear()}, ${two(at.getUTCHours())}:${two(at.getUTCMinutes())} UTC`;
}

/** A time another system gave as text (a scan's scannedAt), readable when it parses, as given when not. */
export function readableTimeText(text: string): string {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? text : readableTime(new Date(ms));
}
