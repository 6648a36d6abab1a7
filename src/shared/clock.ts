/**
 * Time as the plugin's long-running work sees it: the current instant and a wait. Production
 * uses the system's; tests inject one that moves on without sleeping, so retries spread over
 * seconds or hours are exercised at their real bounds.
 *
 * @example
 * const clock = systemClock;
 * await clock.sleep(1_000);
 * const storedAt = clock.now();
 */
export interface Clock {
  /** The current instant. */
  now(): Date;
  /** Resolves after `ms` milliseconds of this clock's time. */
  sleep(ms: number): Promise<void>;
}

/** The Worker's own clock. */
export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
