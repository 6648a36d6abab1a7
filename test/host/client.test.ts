/** The host client over the bounded upstream fetch: what it retries, what it calls permanent, what it refuses to read. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { HostError, MAX_HOST_RESPONSE_BYTES, postScanNote } from "../../src/host/client";
import { uniqueTenant } from "../support/plugin";
import { clearHostFaults, hostFault } from "../support/sync";

const testEnv = env as unknown as Env;

/** What a note call to the dev host throws under `fault` (or undefined when it succeeds). */
async function failureUnder(fault: Record<string, unknown>): Promise<HostError | undefined> {
  const tenantId = uniqueTenant("hc");
  await hostFault(tenantId, { endpoint: "notes", ...fault });
  try {
    await postScanNote(testEnv, tenantId, "scan-1", { author: "Cynet", text: "hello" }, `k-${crypto.randomUUID()}`);
    return undefined;
  } catch (err) {
    if (!(err instanceof HostError)) throw err;
    return err;
  } finally {
    await clearHostFaults(tenantId);
  }
}

describe("the host client", () => {
  it("calls 5xx, 408, 409 and 429 retryable, with Retry-After, and every other 4xx permanent", async () => {
    for (const status of [500, 502, 503, 409]) expect(await failureUnder({ status }), `HTTP ${status}`).toMatchObject({ retryable: true, status });
    expect(await failureUnder({ status: 429, retryAfterSeconds: 90 })).toMatchObject({ retryable: true, status: 429, retryAfterSeconds: 90 });
    for (const status of [400, 401, 403, 404]) expect(await failureUnder({ status }), `HTTP ${status}`).toMatchObject({ retryable: false, status });
  });

  it("never follows a redirect, and calls it permanent", async () => {
    expect(await failureUnder({ redirectTo: "https://elsewhere.example/" })).toMatchObject({ retryable: false, detail: expect.stringMatching(/redirect/) });
  });

  it("refuses an answer over its size cap, declared or streamed, and asks again later", async () => {
    for (const declared of [true, false]) {
      expect(await failureUnder({ oversize: { bytes: MAX_HOST_RESPONSE_BYTES + 1024, declared } }), declared ? "declared" : "streamed").toMatchObject({ retryable: true, detail: expect.stringMatching(/larger than the channel reads/) });
    }
  });

  it("calls an answer that is not the contract's retryable", async () => {
    expect(await failureUnder({ malformed: true })).toMatchObject({ retryable: true });
  });
});
