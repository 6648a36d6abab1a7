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
