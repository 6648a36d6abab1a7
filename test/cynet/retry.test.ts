/** In-place retries of Cynet calls: which failures, how long, how often. */
import { describe, expect, it } from "vitest";
import { CYNET_TRIES, MAX_RETRY_AFTER_IN_PLACE_MS, retryWaitMs, withCynetRetries } from "../../src/cynet/retry";
import { CynetError } from "../../src/cynet/transport";
import { TestClock } from "../support/clock";

const http = (status: number, retryAfterSeconds?: number) => new CynetError("http", status, "", retryAfterSeconds);

describe("retrying Cynet in place", () => {
  it("waits 1 s, then 4 s, for 409, 429, 5xx, a timeout or no answer; never for 401, 403, 404 or a malformed answer", () => {
    for (const err of [http(409), http(429), http(500), http(503), new CynetError("timeout", undefined, ""), new CynetError("unreachable", undefined, "")]) {
      expect([retryWaitMs(err, 0), retryWaitMs(err, 1), retryWaitMs(err, 2)]).toEqual([1_000, 4_000, undefined]);
    }
    for (const err of [http(401), http(403), http(404), new CynetError("malformed", 200, ""), new CynetError("too_large", 200, ""), new Error("not Cynet")]) {
      expect(retryWaitMs(err, 0)).toBeUndefined();
    }
  });

  it("honours Retry-After up to the longest wait in place, and leaves a longer one to the backoff across ticks", () => {
    expect(retryWaitMs(http(429, 1), 0)).toBe(1_000);
    expect(retryWaitMs(http(429, 10), 0)).toBe(10_000);
    expect(retryWaitMs(http(429, 2), 1)).toBe(4_000);
    expect(retryWaitMs(http(429, MAX_RETRY_AFTER_IN_PLACE_MS / 1000), 0)).toBe(MAX_RETRY_AFTER_IN_PLACE_MS);
    expect(retryWaitMs(http(429, MAX_RETRY_AFTER_IN_PLACE_MS / 1000 + 1), 0)).toBeUndefined();
  });

  it("makes CYNET_TRIES calls at most, waiting on the injected clock, and throws the last failure", async () => {
    const clock = new TestClock();
    let calls = 0;
    await expect(withCynetRetries(async () => {
      calls++;
      throw http(503);
    }, clock)).rejects.toMatchObject({ status: 503 });
    expect(calls).toBe(CYNET_TRIES);
    expect(clock.waits).toEqual([1_000, 4_000]);
    let second = 0;
    expect(await withCynetRetries(async () => (++second === 1 ? Promise.reject(http(500)) : "page"), clock)).toBe("page");
  });
});
