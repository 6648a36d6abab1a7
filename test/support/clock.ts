/** An injected clock for tests: the real time plus an offset that moves on instead of sleeping. */
import type { Clock } from "../../src/shared/clock";

/**
 * Reads the real time shifted by `offsetMs`; `sleep` records the wait and moves the offset on
 * at once, so a retry waited in place (or an outage of hours) costs the test nothing.
 */
export class TestClock implements Clock {
  /** Every wait asked for, in order. */
  readonly waits: number[] = [];
  constructor(private offsetMs = 0) {}
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  async sleep(ms: number): Promise<void> {
    this.waits.push(ms);
    this.offsetMs += ms;
  }
  /** Moves the clock on to the instant `atMs` (never back). */
  advanceTo(atMs: number): void {
    this.offsetMs = Math.max(this.offsetMs, atMs - Date.now());
  }
  /** Moves the clock on by `ms`. */
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}
