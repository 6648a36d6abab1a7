/**
 * Paging Cynet defensively (cynet-api.md "Paging, defensively"; issue rows of the sync): in-place
 * retries, short pages, an ignored Offset, a clock ahead of ours, alerts that move, and the
 * races around a lease.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CURSOR_OVERLAP_MS, runSync } from "../../src/sync/run";
import { callJson } from "../support/plugin";
import { TestClock } from "../support/clock";
import { deliverCaptured, lastRunPaging, drainSync, expectedDetections, expectExactlyOnce, prepared, rows, status } from "../support/sync";

afterEach(() => {
  vi.restoreAllMocks();
});

/** Calls the simulator's alerts endpoint received, from its counters. */
async function alertCalls(c: Awaited<ReturnType<typeof prepared>>): Promise<number> {
  return (await c.world.state()).counters.alerts ?? 0;
}

describe("paging Cynet", () => {
  it("waits out a 429 with Retry-After: 1 in place: the same run completes, seconds later, and its events are queued", async () => {
    const c = await prepared(450);
    await c.world.fault({ endpoint: "alerts", status: 429, retryAfterSeconds: 1, afterCalls: 2, times: 1 });
    const clock = new TestClock();
    expect(await drainSync(c.env, c.tenantId, "manual", clock)).toEqual(["completed"]);
    expect(clock.waits).toEqual([1_000]);
    const s = await status(c.tenantId);
    expect(s.sync).toMatchObject({ health: "ok", consecutiveFailures: 0, backoffUntil: null });
    expect(s.sync!.lastRun).toMatchObject({ outcome: "succeeded", error: null, fetched: 450 });
    expect(c.dispatch.sent.length).toBeGreaterThan(0);
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("asks again after a 500 on one page (1 s) and again after a second one (4 s), then completes", async () => {
    const c = await prepared(250);
    await c.world.fault({ endpoint: "alerts", status: 500, times: 2 });
    const clock = new TestClock();
    expect(await drainSync(c.env, c.tenantId, "manual", clock)).toEqual(["completed"]);
    expect(clock.waits).toEqual([1_000, 4_000]);
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("reads the whole window when Cynet caps pages below Limit: a short page is not the end, a page with nothing new is", async () => {
    const c = await prepared(260, { pageSize: 30 });
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    const run = await lastRunPaging(c.tenantId);
    // Each page after the first is asked from the last alert read: 30 new, then 29 new seven
    // times, 27, then the page holding only that last alert, which ends the window.
    expect(run).toEqual({ pages: 10, fetched: 260 });
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("notices two pages after the first that Cynet ignores Offset, stops the run and says so in words an admin can forward", async () => {
    const c = await prepared(350, { ignoreOffset: true });
    const before = await alertCalls(c);
    expect(await drainSync(c.env, c.tenantId)).toEqual(["failed"]);
    // The first page and the two asked ahead of it; the third gives it away.
    expect((await alertCalls(c)) - before).toBeLessThanOrEqual(3);
    const s = await status(c.tenantId);
    expect(s.status).toBe("active");
    expect(s.sync!.lastRun!.error).toMatchObject({ code: "cynet_offset_ignored" });
    expect(s.sync!.lastRun!.error!.message).toMatch(/ignoring the Offset parameter of \/api\/alerts\/bulk: asked for Offset=198, it returned only alerts it had already returned at Offset=0.*Forward this message to Cynet support/);
    expect(s.sync!.backoffUntil).not.toBeNull();
    // The batch that met the repeat is not stored. The attempt had stored nothing, so it is
    // recorded as a failed run of its own and the next attempt starts afresh from the cursor.
    expect(await rows("SELECT 1 FROM detections WHERE tenant_id = ?", c.tenantId)).toEqual([]);
    expect(s.sync!.lastRun).toMatchObject({ outcome: "failed", newDetections: 0 });
    expect(s.sync!.inProgress).toBe(false);
  });

  it("never moves the cursor past its own clock when Cynet's SyncTimeUtc runs two hours ahead, so later alerts are read", async () => {
    const c = await prepared(120, { syncTimeAheadSeconds: 2 * 3600 });
    const startedAt = Date.now();
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    const [state] = await rows<{ cursor: number }>("SELECT cursor FROM sync_state WHERE tenant_id = ?", c.tenantId);
    expect(state!.cursor).toBeLessThanOrEqual(Date.now() - CURSOR_OVERLAP_MS);
    expect(state!.cursor).toBeGreaterThanOrEqual(startedAt - CURSOR_OVERLAP_MS - 1000);
    await c.world.addAlerts({ count: 60 });
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, expectedDetections(await c.world.alerts()));
  });

  it("stores every detection once when Cynet pages oldest-first and alerts move to the end while the window is paged", async () => {
    const c = await prepared(450, { ordering: "last_seen_asc" });
    const ids = (await c.world.alerts()).map((a) => a.ClientDbId as number);
    const realFetch = globalThis.fetch;
    let calls = 0;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = new Request(input as RequestInfo, init).url;
      // After the first page: ten alerts of the first pages are seen again, and move behind the rest.
      if (url.includes("/api/alerts/bulk") && ++calls === 2) await c.world.touch(ids.slice(5, 15));
      return realFetch(input as RequestInfo, init);
    });
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    vi.restoreAllMocks();
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("keeps paging through an outbreak: 99 alerts arriving newest-first between two pages are not taken for an ignored Offset", async () => {
    const c = await prepared(450, { ordering: "last_seen_desc" });
    const realFetch = globalThis.fetch;
    let calls = 0;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = new Request(input as RequestInfo, init).url;
      // The page asked from the anchor then holds only alerts already read, the anchor last.
      if (url.includes("/api/alerts/bulk") && ++calls === 2) await c.world.addAlerts({ count: 99 });
      return realFetch(input as RequestInfo, init);
    });
    expect(await drainSync(c.env, c.tenantId)).toEqual(["completed"]);
    vi.restoreAllMocks();
    // The arrivals are newer than the cursor: the next run reads them.
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, expectedDetections(await c.world.alerts()));
  });

  it("leaves a reconnected tenant alone when a stale invocation fails after losing its lease", async () => {
    const c = await prepared(150);
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = new Request(input as RequestInfo, init).url;
      if (url.includes("/api/alerts/bulk")) {
        // Meanwhile a reconnect (or a successor) took the lease; Cynet now refuses this invocation's user.
        await env.DB.prepare("UPDATE sync_state SET lease_id = 'successor', lease_expires_at = ? WHERE tenant_id = ?").bind(Date.now() + 60_000, c.tenantId).run();
        return new Response(JSON.stringify({ error: "unauthorized" }), { status: 401, headers: { "content-type": "application/json" } });
      }
      return realFetch(input as RequestInfo, init);
    });
    expect(await runSync(c.env, { kind: "sync", tenantId: c.tenantId, reason: "manual", requestedAt: new Date().toISOString() }, new TestClock())).toBe("failed");
    vi.restoreAllMocks();
    const s = await status(c.tenantId);
    expect(s.status).toBe("active");
    expect(s.error).toBeNull();
    const [state] = await rows<{ lease_id: string; consecutive_failures: number }>("SELECT lease_id, consecutive_failures FROM sync_state WHERE tenant_id = ?", c.tenantId);
    expect(state).toEqual({ lease_id: "successor", consecutive_failures: 0 });
  });

  it("caches no token when the channel was deactivated while the sync was logging in", async () => {
    const c = await prepared(60);
    await env.DB.prepare("DELETE FROM secrets WHERE tenant_id = ? AND kind = 'token'").bind(c.tenantId).run();
    const realFetch = globalThis.fetch;
    let deactivated = false;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = new Request(input as RequestInfo, init).url;
      const answer = await realFetch(input as RequestInfo, init);
      if (url.includes("/api/account/token") && !deactivated) {
        deactivated = true;
        const r = await callJson("DELETE", `/v1/tenants/${c.tenantId}/activation`);
        expect(r.status).toBe(200);
      }
      return answer;
    });
    await runSync(c.env, { kind: "sync", tenantId: c.tenantId, reason: "manual", requestedAt: new Date().toISOString() }, new TestClock());
    vi.restoreAllMocks();
    expect(deactivated).toBe(true);
    expect(await rows("SELECT kind FROM secrets WHERE tenant_id = ?", c.tenantId)).toEqual([]);
  });
});
