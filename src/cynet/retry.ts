/**
 * Retrying a Cynet call in place when Cynet says "not now" (429, 409, 5xx) or does not answer:
 * field adapters wait a second or a few and ask again within the same run, instead of parking
 * the tenant until a later cron tick. Only a failure that outlasts these tries reaches the
 * sync's backoff across ticks.
 *
 * @example
 * const page = await withCynetRetries(() => fetchAlertsPage(session, since, 100, 0), clock);
 */
import type { Clock } from "../shared/clock";
import { CynetError } from "./transport";

/** Tries of one call (the first and two retries): enough to ride out a blip, few enough not to hammer Cynet. */
export const CYNET_TRIES = 3;
/** Waits before the second and third try when Cynet names none (1 s, then 4 s, as field adapters do). */
export const CYNET_RETRY_WAITS_MS = [1_000, 4_000] as const;
/** Longest Retry-After waited in place; a longer one parks the tenant until then, across ticks. */
export const MAX_RETRY_AFTER_IN_PLACE_MS = 30_000;

/** Whether Cynet may answer this call if asked again shortly: rate limits, concurrency, its own errors, silence. */
export function isTransientCynetFailure(err: unknown): err is CynetError {
  if (!(err instanceof CynetError)) return false;
  if (err.failure === "timeout" || err.failure === "unreachable") return true;
  return err.failure === "http" && err.status !== undefined && (err.status === 409 || err.status === 429 || err.status >= 500);
}

/** The wait before try `tryIndex + 1`, or undefined when the call should not be tried again in place. */
export function retryWaitMs(err: unknown, tryIndex: number): number | undefined {
  if (!isTransientCynetFailure(err) || tryIndex + 1 >= CYNET_TRIES) return undefined;
  const named = err.retryAfterSeconds === undefined ? undefined : err.retryAfterSeconds * 1000;
  if (named !== undefined && named > MAX_RETRY_AFTER_IN_PLACE_MS) return undefined;
  return Math.max(named ?? 0, CYNET_RETRY_WAITS_MS[tryIndex] ?? CYNET_RETRY_WAITS_MS.at(-1)!);
}

/** Runs `call`, trying again in place after transient Cynet failures (see retryWaitMs); throws the last failure. */
export async function withCynetRetries<T>(call: () => Promise<T>, clock: Clock): Promise<T> {
  for (let tryIndex = 0; ; tryIndex++) {
    try {
      return await call();
    } catch (err) {
      const wait = retryWaitMs(err, tryIndex);
      if (wait === undefined) throw err;
      await clock.sleep(wait);
    }
  }
}
