/**
 * A host down for hours or days (503 throughout): every event, note and IR request of the
 * outage is delivered exactly once when it is back, with no admin call. The queues, the
 * dead-letter queue and the cron's sweeper are played against an injected clock, so the
 * outage costs the test seconds and the production bounds stay as they are.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ChannelStatus } from "../../src/activation/schemas";
import { loadChannelStatus } from "../../src/activation/status";
import { database } from "../../src/storage/db";
import { consumeDeadLetterBatch } from "../../src/dispatch/consumer";
import type { DispatchMessage } from "../../src/dispatch/messages";
import { LONG_RETRY_MAX_MS } from "../../src/dispatch/outbox";
import { sweepOutbox, SWEEP_GRACE_MS } from "../../src/dispatch/sweeper";
import type { QueueMessage } from "../../src/queue-message";
import { SYNC_INTERVAL_MS } from "../../src/sync/schedule";
import { TestClock } from "../support/clock";
import { clearHostFaults, deliver, DISPATCH_BATCH_SIZE, drainSync, expectExactlyOnce, hostFault, hostRecords, prepared, rows, status } from "../support/sync";

/** Deliveries of one message before the queue dead-letters it: wrangler.toml's max_retries (10) plus the first. */
const QUEUE_DELIVERIES = 11;
const HOUR_MS = 60 * 60_000;

type Queued = { body: DispatchMessage; attempts: number; dueAt: number };

/**
 * Plays the dispatch queue (retries at the delay each delivery asked for), the dead-letter
 * queue and the cron's sweeper every tick, until the host is back and nothing is pending.
 * Returns the host's status as the admin saw it during the outage.
 */
async function playThroughOutage(c: Awaited<ReturnType<typeof prepared>>, clock: TestClock, outageMs: number) {
  const backAt = clock.now().getTime() + outageMs;
  let queue: Queued[] = c.dispatch.take().map((body) => ({ body, attempts: 1, dueAt: clock.now().getTime() }));
  let tickAt = clock.now().getTime() + SYNC_INTERVAL_MS;
  let hostDown = true;
  let deadLettered = 0;
  let seenDuringOutage: ChannelStatus | undefined;
  const capture = () => queue.push(...c.dispatch.take().filter((m) => m.tenantId === c.tenantId).map((body) => ({ body, attempts: 1, dueAt: clock.now().getTime() })));
  for (let step = 0; step < 100_000; step++) {
    const nextMessage = Math.min(...queue.map((q) => q.dueAt));
    clock.advanceTo(Math.min(nextMessage, tickAt));
    const now = clock.now().getTime();
    if (hostDown && now >= backAt) {
      // What the admin sees at the end of the outage (the status route, at the injected time).
      seenDuringOutage = await loadChannelStatus(database(env.DB), c.tenantId, clock.now());
      await clearHostFaults(c.tenantId);
      hostDown = false;
    }
    if (now >= tickAt) {
      await sweepOutbox(c.env, clock.now());
      capture();
      tickAt += SYNC_INTERVAL_MS;
    }
    const due = queue.filter((q) => q.dueAt <= now);
    queue = queue.filter((q) => q.dueAt > now);
    for (const attempts of new Set(due.map((q) => q.attempts))) {
      const same = due.filter((q) => q.attempts === attempts);
      for (let i = 0; i < same.length; i += DISPATCH_BATCH_SIZE) {
        const chunk = same.slice(i, i + DISPATCH_BATCH_SIZE);
        const { ids, result } = await deliver(c.env, chunk.map((q) => q.body), attempts, clock);
        const retried = new Map(result.retryMessages.map((m) => [m.msgId, m.delaySeconds ?? 0]));
        const exhausted: DispatchMessage[] = [];
        chunk.forEach((q, j) => {
          const delay = retried.get(ids[j]!);
          if (delay === undefined) return;
          if (q.attempts >= QUEUE_DELIVERIES) exhausted.push(q.body);
          else queue.push({ body: q.body, attempts: q.attempts + 1, dueAt: clock.now().getTime() + delay * 1000 });
        });
        if (exhausted.length) {
          deadLettered += exhausted.length;
          const batch = createMessageBatch<QueueMessage>("cynet-dead-letter", exhausted.map((body, k) => ({ id: `dl-${step}-${k}`, timestamp: clock.now(), attempts: 1, body })));
          const ctx = createExecutionContext();
          await consumeDeadLetterBatch(batch, c.env, ctx, clock);
          expect((await getQueueResult(batch, ctx)).explicitAcks.length).toBe(exhausted.length);
        }
      }
    }
    capture();
    if (!hostDown && queue.length === 0) {
      const [left] = await rows<{ n: number }>("SELECT count(*) AS n FROM outbox WHERE tenant_id = ? AND state <> 'delivered'", c.tenantId);
      if (left!.n === 0) return { seenDuringOutage: seenDuringOutage!, deadLettered, deliveredAfterMs: clock.now().getTime() - backAt };
    }
  }
  throw new Error("the outage did not end in delivery");
}

/** A synced tenant whose new detections include a file that was in two earlier scans of the host. */
async function syncedWithScans() {
  const c = await prepared(260);
  const [sha] = [...new Set(c.expected.values())];
  const scans = [
    { scanId: "scan-outage-1", fileName: "invoice.exe", scannedAt: "2026-11-01T10:00:00Z", sha256: sha! },
    { scanId: "scan-outage-2", fileName: "invoice.exe", scannedAt: "2026-11-02T10:00:00Z", sha256: sha! },
  ];
  const seeded = await fetch(`https://host.test/__host/tenants/${c.tenantId}/scans`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ scans }) });
  expect(seeded.ok).toBe(true);
  expect(await drainSync(c.env, c.tenantId)).toContain("completed");
  return c;
}

describe("a host that is down for a long time", () => {
  for (const [name, outageMs] of [["6 hours", 6 * HOUR_MS], ["3 days", 72 * HOUR_MS]] as const) {
    it(`delivers every event, note and IR request exactly once after a ${name} outage (503 throughout), with no admin call`, async () => {
      const c = await syncedWithScans();
      await hostFault(c.tenantId, { endpoint: "*", status: 503 });
      const clock = new TestClock();
      const outcome = await playThroughOutage(c, clock, outageMs);

      // The queue gave up on messages more than once; nothing ended as failed.
      expect(outcome.deadLettered).toBeGreaterThan(0);
      expect(outcome.seenDuringOutage.deliveries.events.failed).toBe(0);
      expect(outcome.seenDuringOutage.hostFailing!.message).toMatch(/failing deliveries for \d+ (hours|days)/);
      // Delivered within the long schedule's longest wait (and a tick and the sweep's grace) of the host's return.
      expect(outcome.deliveredAfterMs).toBeLessThanOrEqual(LONG_RETRY_MAX_MS + SWEEP_GRACE_MS + SYNC_INTERVAL_MS);

      await expectExactlyOnce(c.tenantId, c.expected);
      const ir = await hostRecords<{ scanId: string }>(c.tenantId, "ir-requests");
      expect(ir.map((r) => r.scanId).sort()).toEqual(["scan-outage-1", "scan-outage-2"]);
      const notes = await hostRecords<{ scanId: string }>(c.tenantId, "notes");
      expect(notes.map((n) => n.scanId).sort()).toEqual(["scan-outage-1", "scan-outage-2"]);
      const s = await status(c.tenantId);
      expect(s.hostFailing).toBeNull();
      expect(Object.values(s.deliveries).every((d) => d.failed === 0 && d.pending === 0 && d.scheduled === 0)).toBe(true);
    }, 120_000);
  }
});
