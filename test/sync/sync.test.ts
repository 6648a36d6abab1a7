import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ALERTS_PAGE_LIMIT } from "../../src/cynet/client";
import { PAGES_PER_BATCH, PAGES_READ_AHEAD } from "../../src/sync/run";
import { MAX_ALERT_TEXT_LENGTH, type DetectionInput } from "../../src/sync/rule";
import { insertDetectionsStatements, MAX_DETECTION_JSON_BYTES } from "../../src/sync/state";
import { database } from "../../src/storage/db";
import { meteredD1 } from "../../src/observability/meter";
import { handleScheduled } from "../../src/sync/scheduled";
import { callJson, uniqueTenant } from "../support/plugin";
import { CynetWorld } from "../support/standins";
import { TestClock } from "../support/clock";
import { connectAndSettle, deliverCaptured, lastRunPaging, drainSync, expectedDetections, expectExactlyOnce, prepared, rows, status, waitForQuiet } from "../support/sync";
import { createExecutionContext, createScheduledController } from "cloudflare:test";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("detection sync", () => {
  it("stores exactly the malicious files of thousands of alerts over many pages, and the host gets one event each (real queues)", async () => {
    const world = await new CynetWorld().setup({ alertCount: 2500, seed: 7 });
    const alerts = await world.alerts();
    const expected = expectedDetections(alerts);
    const tenantId = uniqueTenant("e2e");
    const settled = await connectAndSettle(tenantId, world);
    await waitForQuiet(tenantId, 120_000);
    await expectExactlyOnce(tenantId, expected);

    const lastRun = (await status(tenantId)).sync!.lastRun!;
    expect(lastRun).toMatchObject({ outcome: "succeeded", fetched: alerts.length, newDetections: expected.size });
    const skipped = Object.values(lastRun.skipped).reduce((a, b) => a + b, 0);
    expect(skipped + expected.size + lastRun.duplicates).toBe(alerts.length);
    expect(Object.keys(lastRun.skipped)).toEqual(expect.arrayContaining(["ignored", "invalid_hash", "not_file_alert"]));
    expect(settled.deliveries.events).toMatchObject({ failed: 0, pending: 0, delivered: expected.size });

    // A second sync reads the overlap again and adds nothing: it is counted as quiet, not recorded as a run.
    expect((await callJson("POST", `/v1/tenants/${tenantId}/sync`)).status).toBe(202);
    await waitFor2(async () => (await status(tenantId)).sync?.quietRunsSinceLastRun === 1);
    const after = await waitForQuiet(tenantId);
    expect(after.sync!.lastRun!.id).toBe(lastRun.id);
    await expectExactlyOnce(tenantId, expected);
  }, 180_000);

  it("absorbs pages that shift while paging (newest-first order, alerts arriving mid-run)", async () => {
    const c = await prepared(450, { ordering: "last_seen_desc" });
    const realFetch = globalThis.fetch;
    let alertCalls = 0;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = new Request(input as RequestInfo, init).url;
      if (url.includes("/api/alerts/bulk") && ++alertCalls === 2) await c.world.addAlerts({ count: 7 });
      return realFetch(input as RequestInfo, init);
    });
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    vi.restoreAllMocks();
    // Alerts that arrived mid-run are picked up by the next run (their LastSeen is after the cursor).
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, expectedDetections(await c.world.alerts()));
    const runs = await rows<{ duplicates: number }>("SELECT duplicates FROM sync_runs WHERE tenant_id = ? ORDER BY id", c.tenantId);
    // Each page is asked from the last alert read, and a page that does not start with it makes
    // the pager step back one page: at most a page of alerts is read twice.
    expect(runs[0]!.duplicates).toBeLessThanOrEqual(ALERTS_PAGE_LIMIT);
  });

  it("logs in again once when the token is refused mid-paging", async () => {
    const c = await prepared(350);
    await c.world.fault({ endpoint: "alerts", status: 401, afterCalls: 2, times: 1 });
    const before = (await c.world.state()).counters.token ?? 0;
    expect(await drainSync(c.env, c.tenantId)).toEqual(["completed"]);
    expect((await c.world.state()).counters.token).toBe(before + 1);
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("re-logs in when the cached token expired at Cynet", async () => {
    const c = await prepared(120);
    await c.world.expireTokens();
    expect(await drainSync(c.env, c.tenantId)).toEqual(["completed"]);
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  const fatal: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ["401 that survives the re-login", { endpoint: "alerts", status: 401 }, "invalid_credentials", /Cynet rejected the username or password: connect again with valid credentials/],
    ["403", { endpoint: "alerts", status: 403 }, "missing_api_permission", /API permission/],
  ];
  for (const [name, rule, code, message] of fatal) {
    it(`stops the channel with an error in words on a Cynet ${name}, and polls no more`, async () => {
      const c = await prepared(150);
      await c.world.fault(rule as never);
      expect(await drainSync(c.env, c.tenantId)).toEqual(["failed"]);
      const s = await status(c.tenantId);
      expect(s.status).toBe("error");
      expect(s.error).toMatchObject({ code });
      expect(s.error!.message).toMatch(message);
      expect(s.sync!.health).toBe("stopped");
      // The cron leaves it alone until it is connected again.
      const ctx = createExecutionContext();
      await handleScheduled(createScheduledController({ scheduledTime: Date.now() + 24 * 3600_000, cron: "*/5 * * * *" }), c.env, ctx);
      expect(c.sync.take().filter((m) => m.tenantId === c.tenantId)).toEqual([]);
      expect(await rows("SELECT 1 FROM detections WHERE tenant_id = ?", c.tenantId)).toEqual([]);
    });
  }

  // [name, fault, code, Retry-After, the waits tried in place before the run gives up]
  const transient: Array<[string, Record<string, unknown>, string, number, number[]]> = [
    ["409 Concurrency found", { endpoint: "alerts", status: 409 }, "cynet_busy", 0, [1_000, 4_000]],
    // Longer than MAX_RETRY_AFTER_IN_PLACE_MS: not waited in place, the tenant is parked until then.
    ["429 with Retry-After", { endpoint: "alerts", status: 429, retryAfterSeconds: 1800 }, "cynet_rate_limited", 1800, []],
    ["500", { endpoint: "alerts", status: 500 }, "cynet_error", 0, [1_000, 4_000]],
    ["malformed JSON", { endpoint: "alerts", malformed: true }, "cynet_bad_answer", 0, []],
    // Past MAX_CYNET_RESPONSE_BYTES (8 MiB): refused on its Content-Length, or counted as it streams.
    ["an answer over the size cap, declared", { endpoint: "alerts", oversize: { bytes: 9 * 1024 * 1024, declared: true } }, "cynet_bad_answer", 0, []],
    ["an answer over the size cap, streamed", { endpoint: "alerts", oversize: { bytes: 9 * 1024 * 1024, declared: false } }, "cynet_bad_answer", 0, []],
    ["a 500 on the third page that lasts", { endpoint: "alerts", status: 500, afterCalls: 2 }, "cynet_error", 0, [1_000, 4_000]],
  ];
  for (const [name, rule, code, retryAfter, waits] of transient) {
    it(`backs off on ${name} with the cursor unchanged, then catches up exactly once`, async () => {
      const c = await prepared(350);
      const [before] = await rows<{ cursor: number }>("SELECT cursor FROM sync_state WHERE tenant_id = ?", c.tenantId);
      await c.world.fault(rule as never);
      const startedAt = Date.now();
      const clock = new TestClock();
      expect(await drainSync(c.env, c.tenantId, "manual", clock)).toEqual(["failed"]);
      // A read-ahead page may fail beside the one awaited; each page waits the same steps.
      expect([...new Set(clock.waits)].sort((a, b) => a - b)).toEqual(waits);
      const s = await status(c.tenantId);
      expect(s.status).toBe("active");
      expect(s.error).toBeNull();
      const sync = s.sync!;
      expect(sync).toMatchObject({ health: "degraded", consecutiveFailures: 1 });
      expect(sync.lastRun!.error!.code).toBe(code);
      expect(Date.parse(sync.backoffUntil!) - startedAt).toBeGreaterThanOrEqual(Math.max(5 * 60_000, retryAfter * 1000) - 5000);
      const [after] = await rows<{ cursor: number }>("SELECT cursor FROM sync_state WHERE tenant_id = ?", c.tenantId);
      expect(after!.cursor).toBe(before!.cursor);
      // The cron skips a tenant that is backing off.
      expect(await drainSync(c.env, c.tenantId, "cron")).toEqual(["backing_off"]);

      await c.world.clearFaults();
      expect(await drainSync(c.env, c.tenantId, "manual")).toContain("completed");
      expect((await status(c.tenantId)).sync!.health).toBe("ok");
      await deliverCaptured(c);
      await expectExactlyOnce(c.tenantId, c.expected);
    });
  }

  it("stores every detection once when Cynet answers more than Limit a page (read-ahead guesses dropped, events split at 100)", async () => {
    const c = await prepared(700, { pageSize: 150 });
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    const run = await lastRunPaging(c.tenantId);
    // 700 alerts at 150 a page, each page after the first asked from the last alert read: 150, then
    // 149 new three times, 103, then the page holding only the last alert, which ends the window.
    expect(run).toEqual({ pages: 6, fetched: 700 });
    await deliverCaptured(c);
    const events = await rows<{ n: number }>("SELECT json_array_length(alert_ids) AS n FROM outbox WHERE tenant_id = ? AND kind = 'events'", c.tenantId);
    expect(Math.max(...events.map((e) => e.n))).toBeLessThanOrEqual(100);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("times out a Cynet that stops answering, asks again in place a second later, and completes in the same run", async () => {
    const c = await prepared(50);
    await c.world.fault({ endpoint: "alerts", delayMs: 20_000, times: 1 });
    const clock = new TestClock();
    expect(await drainSync(c.env, c.tenantId, "manual", clock)).toEqual(["completed"]);
    expect(clock.waits).toEqual([1_000]);
    expect((await status(c.tenantId)).sync).toMatchObject({ health: "ok", consecutiveFailures: 0 });
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, c.expected);
  }, 60_000);

  it("splits a page batch's detections into INSERTs under D1's 2 MB value limit when their text is large, and stores every one", async () => {
    const tenantId = uniqueTenant("big-text");
    const wide = "\u6f22".repeat(MAX_ALERT_TEXT_LENGTH); // 3 UTF-8 bytes a character
    const control = "\u0001".repeat(MAX_ALERT_TEXT_LENGTH); // 6 bytes a character once escaped in JSON
    const input: DetectionInput[] = Array.from({ length: 400 }, (_, i) => ({
      alertId: 9_000_000 + i,
      sha256: i.toString(16).padStart(64, "0"),
      fileName: wide,
      path: control,
      hostName: wide,
      hostIp: "10.0.0.1",
      hostId: i,
      userName: control,
      cynetSeverity: 3,
      cynetStatus: 0,
      incidentName: wide,
      detectedAt: new Date(),
      firstSeenAt: null,
      lastSeenAt: null,
      statusChangedAt: null,
      revokedAt: null,
      revokedReason: null,
    }));
    const db = database(env.DB);
    const statements = insertDetectionsStatements(db, tenantId, 1, input, new Date());
    const params = statements.map((s) => (s.toSQL().params as unknown[]).map((p) => new TextEncoder().encode(String(p)).byteLength));
    // About 3.7 MB of JSON in all: several statements, each value under the bound.
    expect(statements.length).toBeGreaterThan(3);
    for (const sizes of params) expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_DETECTION_JSON_BYTES);
    await db.batch(statements as [(typeof statements)[number], ...typeof statements]);
    const [stored] = await rows<{ n: number; longest: number }>("SELECT count(*) AS n, max(length(path)) AS longest FROM detections WHERE tenant_id = ?", tenantId);
    expect(stored).toEqual({ n: 400, longest: MAX_ALERT_TEXT_LENGTH });
  });

  it("resumes after a crash between pages: the lease expires, the next invocation continues from the stored offset", async () => {
    // Enough pages for three page batches and a short last page; the crash takes the third.
    const c = await prepared((3 * PAGES_PER_BATCH + 1) * ALERTS_PAGE_LIMIT + 50);
    const realBatch = env.DB.batch.bind(env.DB);
    // The lease, the run's row, then two page batches, then the crash.
    let batches = 0;
    const db = { ...env.DB, batch: async (s: D1PreparedStatement[]) => (++batches >= 5 ? Promise.reject(new Error("worker died (injected)")) : realBatch(s)), prepare: env.DB.prepare.bind(env.DB) };
    const crashing = { ...c.env, DB: db as unknown as D1Database };
    // The crash takes out the failure record too, as a real death would.
    await expect(drainSync(crashing, c.tenantId)).rejects.toThrow(/worker died/);
    const [held] = await rows<{ lease_id: string | null; run_offset: number }>("SELECT lease_id, run_offset FROM sync_state WHERE tenant_id = ?", c.tenantId);
    expect(held!.lease_id).not.toBeNull();
    // The offset is what the two stored page batches covered: it never runs ahead of stored rows.
    // Each page after the first is asked from the last alert read, so it brings Limit - 1 new ones.
    expect(held!.run_offset).toBe(ALERTS_PAGE_LIMIT + (2 * PAGES_PER_BATCH - 1) * (ALERTS_PAGE_LIMIT - 1));
    // While the lease holds, a duplicate message does nothing.
    expect(await drainSync(c.env, c.tenantId)).toEqual(["busy"]);
    // Six minutes later the lease has expired and is taken over.
    expect(await drainSync(c.env, c.tenantId, "continuation", new TestClock(6 * 60_000))).toContain("completed");
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("counts a quiet sync instead of recording it: two D1 rows written (lease, state), no run row, the overlap read again", async () => {
    const c = await prepared(300);
    expect(await drainSync(c.env, c.tenantId)).toEqual(["completed"]);
    await deliverCaptured(c);
    const runsBefore = await rows<{ id: number }>("SELECT id FROM sync_runs WHERE tenant_id = ?", c.tenantId);
    const quietBefore = (await status(c.tenantId)).sync!.quietRunsSinceLastRun;

    // Nothing new at Cynet; the cursor's overlap brings back alerts already stored.
    const meter = { kind: "test", d1Queries: 0, d1RowsWritten: 0, d1RowsRead: 0, subrequests: 0, cynetCalls: 0, hostCalls: 0 };
    const meteredEnv = { ...c.env, DB: meteredD1(c.env.DB, meter) };
    expect(await drainSync(meteredEnv, c.tenantId)).toEqual(["completed"]);
    expect(meter.d1RowsWritten).toBe(2);
    expect(c.dispatch.take()).toEqual([]);

    expect(await rows("SELECT id FROM sync_runs WHERE tenant_id = ?", c.tenantId)).toEqual(runsBefore);
    const after = (await status(c.tenantId)).sync!;
    expect(after).toMatchObject({ quietRunsSinceLastRun: quietBefore + 1, health: "ok", inProgress: false });
    expect(Date.parse(after.lastSuccessAt!)).toBeGreaterThanOrEqual(Date.parse(after.lastRun!.finishedAt!));
    await expectExactlyOnce(c.tenantId, c.expected);

    // The next alert is news again: a run row, and the quiet count starts over.
    await c.world.addAlerts({ count: 10 });
    expect(await drainSync(c.env, c.tenantId)).toEqual(["completed"]);
    const news = (await status(c.tenantId)).sync!;
    expect(news.quietRunsSinceLastRun).toBe(0);
    expect(news.lastRun!.id).toBeGreaterThan(Math.max(...runsBefore.map((r) => r.id)));
  });

  it("keys each page batch by the pages it covers when the next batch is read while the first opens its run, so every detection's event goes out", async () => {
    const c = await prepared(3 * PAGES_PER_BATCH * ALERTS_PAGE_LIMIT);
    // The next batch's pages and the two read ahead of it: requested, and answered.
    const nextBatchRead = 2 * PAGES_PER_BATCH + PAGES_READ_AHEAD;
    let answered = 0;
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = new Request(input as RequestInfo, init).url;
      const response = await realFetch(input as RequestInfo, init);
      if (url.includes("/api/alerts/bulk")) answered += 1;
      return response;
    });
    // The first batch's check for new detections (the run has no row yet) answers only once the
    // next batch has been read: D1 slow, Cynet fast.
    let held = false;
    const whenNextBatchRead = async () => {
      for (let i = 0; answered < nextBatchRead && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
      // The last answer is parsed and counted on the turns after it arrives.
      for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
    };
    const slowed = (st: D1PreparedStatement): D1PreparedStatement =>
      ({
        bind: (...values: unknown[]) => slowed(st.bind(...values)),
        raw: async (options?: { columnNames?: boolean }) => (await whenNextBatchRead(), options?.columnNames ? st.raw({ columnNames: true }) : st.raw()),
        all: async () => (await whenNextBatchRead(), st.all()),
        first: async (column?: string) => (await whenNextBatchRead(), column === undefined ? st.first() : st.first(column)),
        run: async () => (await whenNextBatchRead(), st.run()),
      }) as D1PreparedStatement;
    const db = {
      batch: env.DB.batch.bind(env.DB),
      prepare: (query: string) => {
        const st = env.DB.prepare(query);
        if (held || !/count\(\*\)/.test(query)) return st;
        held = true;
        return slowed(st);
      },
    };
    expect(await drainSync({ ...c.env, DB: db as unknown as D1Database }, c.tenantId)).toContain("completed");
    expect(held).toBe(true);
    vi.restoreAllMocks();
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, c.expected);
    const [run] = await rows<{ new_detections: number; events_queued: number }>("SELECT new_detections, events_queued FROM sync_runs WHERE tenant_id = ? ORDER BY id DESC LIMIT 1", c.tenantId);
    expect(run).toEqual({ new_detections: c.expected.size, events_queued: c.expected.size });
  });

  it("runs one sync when the same message is delivered twice at once", async () => {
    const c = await prepared(250);
    const results = await Promise.all([drainSync(c.env, c.tenantId), drainSync(c.env, c.tenantId)]);
    expect(results.flat().filter((r) => r === "busy").length).toBeGreaterThanOrEqual(1);
    const leftovers = await drainSync(c.env, c.tenantId);
    expect(leftovers).toEqual(["completed"]);
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("fans out one message per due tenant when two cron ticks fire at once, and still stores each detection once", async () => {
    const c = await prepared(220);
    const at = Date.now() + 10 * 60_000;
    await Promise.all([0, 1].map(() => handleScheduled(createScheduledController({ scheduledTime: at, cron: "*/5 * * * *" }), c.env, createExecutionContext())));
    const mine = c.sync.take().filter((m) => m.tenantId === c.tenantId);
    expect(mine.length).toBe(2);
    const outcomes = await Promise.all(mine.map((m) => drainSync(c.env, m.tenantId, m.reason)));
    expect(outcomes.flat()).toContain("completed");
    await deliverCaptured(c);
    await expectExactlyOnce(c.tenantId, c.expected);
  });
});

async function waitFor2(probe: () => Promise<boolean>) {
  const deadline = Date.now() + 30_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 200));
  }
}
