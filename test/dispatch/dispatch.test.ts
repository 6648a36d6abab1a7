import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { consumeDeadLetterBatch } from "../../src/dispatch/consumer";
import type { DispatchMessage } from "../../src/dispatch/messages";
import type { Env } from "../../src/env";
import type { QueueMessage } from "../../src/queue-message";
import { handleScheduled } from "../../src/sync/scheduled";
import { LONG_RETRY_MIN_MS } from "../../src/dispatch/outbox";
import { sweepOutbox, SWEEP_GRACE_MS } from "../../src/dispatch/sweeper";
import { TestClock } from "../support/clock";
import { callJson } from "../support/plugin";
import { CapturingQueue, clearHostFaults, deliver, drainSync, expectExactlyOnce, hostFault, hostRecords, prepared, rows, settle, status, waitForQuiet } from "../support/sync";

/** A prepared tenant whose sync ran, with its dispatch messages captured but not yet delivered. */
async function synced(count = 260) {
  const c = await prepared(count);
  expect(await drainSync(c.env, c.tenantId)).toContain("completed");
  const messages = c.dispatch.take();
  expect(messages.length).toBeGreaterThan(0);
  return { ...c, messages };
}

describe("delivering events to the host", () => {
  it("retries a host 429 no sooner than its Retry-After, and delivers once when the host recovers", async () => {
    const c = await synced();
    await hostFault(c.tenantId, { endpoint: "events/batch", status: 429, retryAfterSeconds: 120 });
    const first = await deliver(c.env, c.messages);
    expect(first.result.explicitAcks).toEqual([]);
    expect(first.result.retryMessages.length).toBe(c.messages.length);
    const due = await rows<{ next_attempt_at: number; attempts: number; state: string; last_error: string }>(
      "SELECT next_attempt_at, attempts, state, last_error FROM outbox WHERE tenant_id = ? AND kind = 'events'",
      c.tenantId,
    );
    expect(due.every((r) => r.state === "pending" && r.attempts === 1)).toBe(true);
    // Under a loaded test run wrangler's dev proxy in front of the dev host may itself answer a
    // call with 503 and Retry-After: 0; such a row is retried on the plain backoff. Every 429 is
    // retried no sooner than its Retry-After.
    const refused = due.filter((r) => /429/.test(r.last_error));
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect(r.next_attempt_at - Date.now()).toBeGreaterThan(110_000);
    for (const r of due.filter((r) => !/429/.test(r.last_error))) expect(r.last_error).toMatch(/HTTP 5\d\d|did not answer|could not be reached/);
    expect(await hostRecords(c.tenantId, "events")).toEqual([]);

    await clearHostFaults(c.tenantId);
    const second = await deliver(c.env, c.messages, 2);
    expect(second.result.retryMessages).toEqual([]);
    expect(second.result.explicitAcks.length).toBe(c.messages.length);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("retries a host 500 with exponential backoff", async () => {
    const c = await synced(120);
    await hostFault(c.tenantId, { endpoint: "events/batch", status: 500 });
    const delays = async () => (await rows<{ d: number }>("SELECT next_attempt_at - ? AS d FROM outbox WHERE tenant_id = ? AND kind = 'events'", Date.now(), c.tenantId)).map((r) => Math.round(r.d / 1000));
    const first = await deliver(c.env, c.messages);
    expect(first.result.retryMessages.length).toBe(c.messages.length);
    for (const d of await delays()) expect(d).toBeGreaterThanOrEqual(9), expect(d).toBeLessThanOrEqual(10);
    await deliver(c.env, c.messages, 2);
    for (const d of await delays()) expect(d).toBeGreaterThanOrEqual(19), expect(d).toBeLessThanOrEqual(20);
    await clearHostFaults(c.tenantId);
    await deliver(c.env, c.messages, 3);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("retries a host that does not answer in time", async () => {
    const c = await synced(60);
    await hostFault(c.tenantId, { endpoint: "events/batch", delayMs: 20_000, times: 1 });
    c.dispatch.sent.push(...c.messages);
    // The queue redelivers after the timeout; the host answers the repeated key if the first call landed after all.
    expect(await settle(c.env, c.dispatch)).toBeGreaterThanOrEqual(1);
    const [events] = await rows<{ last_error: string; attempts: number }>("SELECT last_error, attempts FROM outbox WHERE tenant_id = ? AND kind = 'events'", c.tenantId);
    expect(events!.attempts).toBeGreaterThanOrEqual(2);
    await expectExactlyOnce(c.tenantId, c.expected);
  }, 60_000);

  it("records a permanent host 400 as failed and visible, acks it, and the retry call delivers it once after the host is fixed", async () => {
    const c = await synced(150);
    await hostFault(c.tenantId, { endpoint: "events/batch", status: 400 });
    const first = await deliver(c.env, c.messages);
    expect(first.result.retryMessages).toEqual([]);
    expect(first.result.explicitAcks.length).toBe(c.messages.length);
    const s = await status(c.tenantId);
    expect(s.deliveries.events).toMatchObject({ failed: c.expected.size, pending: 0, delivered: 0 });
    // A refusal is not the host failing: nothing waits on the long schedule.
    expect(s.hostFailing).toBeNull();
    // Rows, not messages: one message carries every events row of a page batch (more than
    // 100 new detections make two rows), so the figures below count the events rows.
    const eventRows = await rows<{ id: number }>("SELECT id FROM outbox WHERE tenant_id = ? AND kind = 'events'", c.tenantId);
    // The refusal also went to the dead-letter consumer, which raises the alert and leaves the record as it is.
    const dead = c.deadLetter.take();
    expect(dead.flatMap((m) => m.outboxIds).sort()).toEqual(eventRows.map((r) => r.id).sort());
    const dlBatch = createMessageBatch<QueueMessage>("cynet-dead-letter", dead.map((body, i) => ({ id: `dl${i}`, timestamp: new Date(), attempts: 1, body })));
    const dlCtx = createExecutionContext();
    await consumeDeadLetterBatch(dlBatch, c.env, dlCtx);
    expect((await getQueueResult(dlBatch, dlCtx)).explicitAcks.length).toBe(dead.length);
    const listed = await callJson<{ deliveries: Array<{ kind: string; lastError: string; items: number }> }>("GET", `/v1/tenants/${c.tenantId}/deliveries?state=failed`);
    expect(listed.body.deliveries.length).toBe(eventRows.length);
    expect(listed.body.deliveries[0]!.lastError).toMatch(/host answered HTTP 400/);

    await clearHostFaults(c.tenantId);
    const retry = await callJson<{ requeued: number }>("POST", `/v1/tenants/${c.tenantId}/deliveries/retry`);
    expect(retry.status).toBe(202);
    expect(retry.body.requeued).toBe(eventRows.length);
    // The retry call goes through the Worker's real dispatch queue.
    await waitForQuiet(c.tenantId);
    await expectExactlyOnce(c.tenantId, c.expected);
    expect((await status(c.tenantId)).deliveries.events).toMatchObject({ failed: 0, delivered: c.expected.size });
  });

  it("delivers once when the same message arrives twice (ack lost after the send)", async () => {
    const c = await synced(180);
    await deliver(c.env, c.messages);
    const replay = await deliver(c.env, c.messages);
    expect(replay.result.explicitAcks.length).toBe(c.messages.length);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("delivers once when the D1 update after a successful send was lost (the host answers the repeated keys)", async () => {
    const c = await synced(180);
    await deliver(c.env, c.messages);
    await rows("UPDATE outbox SET state = 'pending', delivered_at = NULL WHERE tenant_id = ?", c.tenantId);
    await deliver(c.env, c.messages);
    await expectExactlyOnce(c.tenantId, c.expected);
    const body = (await (await fetch(`https://host.test/__host/tenants/${c.tenantId}/events`)).json()) as { duplicatesRefused: number };
    expect(body.duplicatesRefused).toBeGreaterThan(0);
  });

  it("reads a batch's detections once and records its deliveries in one statement; when that record is lost every message is retried and the resend is answered from the host's record", async () => {
    const c = await synced(1200);
    const kinds = await rows<{ id: number; kind: string }>("SELECT id, kind FROM outbox WHERE tenant_id = ?", c.tenantId);
    const eventIds = new Set(kinds.filter((k) => k.kind === "events").map((k) => k.id));
    // Two messages of events rows, as the dispatch queue would batch them.
    const ids = [...eventIds];
    const events: DispatchMessage[] = [ids.slice(0, 3), ids.slice(3)].map((outboxIds) => ({ kind: "dispatch", tenantId: c.tenantId, outboxIds }));
    expect(ids.length).toBeGreaterThan(3);

    const statements: string[] = [];
    let loseTheRecord = true;
    const watched = {
      ...c.env.DB,
      batch: c.env.DB.batch.bind(c.env.DB),
      prepare: (query: string) => {
        statements.push(query);
        if (loseTheRecord && /^update "outbox" set "state"/.test(query)) throw new Error("D1 went away (injected)");
        return c.env.DB.prepare(query);
      },
    } as D1Database;
    const first = await deliver({ ...c.env, DB: watched }, events);
    expect(statements.filter((q) => q.includes('from "detections"'))).toHaveLength(1);
    expect(statements.filter((q) => /^update "outbox" set "state"/.test(q))).toHaveLength(1);
    // The host has every event; the rows are still pending, so every message goes round again.
    expect(first.result.retryMessages.map((m) => m.msgId).sort()).toEqual([...first.ids].sort());
    const pending = await rows<{ n: number }>("SELECT count(*) AS n FROM outbox WHERE tenant_id = ? AND kind = 'events' AND state = 'pending'", c.tenantId);
    expect(pending[0]!.n).toBe(eventIds.size);

    loseTheRecord = false;
    statements.length = 0;
    const second = await deliver({ ...c.env, DB: watched }, events, 2);
    expect(second.result.explicitAcks.length).toBe(events.length);
    expect(statements.filter((q) => /^update "outbox" set "state"/.test(q))).toHaveLength(1);
    const delivered = await rows<{ n: number }>("SELECT count(*) AS n FROM outbox WHERE tenant_id = ? AND kind = 'events' AND state = 'delivered' AND attempts = 1", c.tenantId);
    expect(delivered[0]!.n).toBe(eventIds.size);
    const body = (await (await fetch(`https://host.test/__host/tenants/${c.tenantId}/events`)).json()) as { duplicatesRefused: number };
    expect(body.duplicatesRefused).toBeGreaterThan(0);
    // The rest (scan matching) as captured; their events rows are delivered already and skipped.
    await deliver(c.env, c.messages);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("sweeps rows whose message was never sent (crash between the D1 write and the send)", async () => {
    const c = await prepared(240);
    c.dispatch.failSends = 1000;
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    expect(c.dispatch.take()).toEqual([]);
    const orphaned = await rows("SELECT id FROM outbox WHERE tenant_id = ? AND state = 'pending'", c.tenantId);
    expect(orphaned.length).toBeGreaterThan(0);
    c.dispatch.failSends = 0;
    // Right away the rows are not orphans yet; eleven minutes later they are.
    await handleScheduled(createScheduledController({ scheduledTime: Date.now(), cron: "*/5 * * * *" }), c.env, createExecutionContext());
    expect(c.dispatch.take().filter((m) => m.tenantId === c.tenantId)).toEqual([]);
    await handleScheduled(createScheduledController({ scheduledTime: Date.now() + 11 * 60_000, cron: "*/5 * * * *" }), c.env, createExecutionContext());
    const swept = c.dispatch.take().filter((m) => m.tenantId === c.tenantId);
    expect(swept.flatMap((m) => m.outboxIds).sort()).toEqual(orphaned.map((o) => o.id).sort());
    await deliver(c.env, swept);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("sends scan matching on the correlate queue and deliveries on the dispatch queue, from the sync and from the sweeper", async () => {
    const c = await prepared(240);
    const correlate = new CapturingQueue<DispatchMessage>();
    const env = { ...c.env, CORRELATE_QUEUE: correlate } as unknown as Env;
    expect(await drainSync(env, c.tenantId)).toContain("completed");
    const kindsOf = async (messages: DispatchMessage[]) => {
      const ids = messages.flatMap((m) => m.outboxIds);
      const found = await rows<{ kind: string }>("SELECT DISTINCT kind FROM outbox WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))", c.tenantId, JSON.stringify(ids));
      return found.map((r) => r.kind).sort();
    };
    expect(await kindsOf(c.dispatch.take())).toEqual(["events"]);
    expect(await kindsOf(correlate.take())).toEqual(["match"]);

    // Orphans go back to the queue of their kind.
    await handleScheduled(createScheduledController({ scheduledTime: Date.now() + 11 * 60_000, cron: "*/5 * * * *" }), env, createExecutionContext());
    expect(await kindsOf(c.dispatch.take().filter((m) => m.tenantId === c.tenantId))).toEqual(["events"]);
    expect(await kindsOf(correlate.take().filter((m) => m.tenantId === c.tenantId))).toEqual(["match"]);
  });

  it("puts what exhausted its queue retries on the long schedule, never failed, and the sweeper sends it again when due", async () => {
    const c = await synced(90);
    await hostFault(c.tenantId, { endpoint: "events/batch", status: 503 });
    const clock = new TestClock();
    await deliver(c.env, c.messages, 1, clock);
    const batch = createMessageBatch<QueueMessage>("cynet-dead-letter", c.messages.map((body, i) => ({ id: `dl${i}`, timestamp: new Date(), attempts: 11, body })));
    const ctx = createExecutionContext();
    await consumeDeadLetterBatch(batch, c.env, ctx, clock);
    expect((await getQueueResult(batch, ctx)).explicitAcks.length).toBe(c.messages.length);
    expect(await rows("SELECT 1 FROM outbox WHERE tenant_id = ? AND state = 'failed'", c.tenantId)).toEqual([]);
    const [events] = await rows<{ state: string; next_attempt_at: number; failing_since: number }>("SELECT state, next_attempt_at, failing_since FROM outbox WHERE tenant_id = ? AND kind = 'events'", c.tenantId);
    expect(events!.state).toBe("pending");
    const wait = events!.next_attempt_at - clock.now().getTime();
    expect(wait).toBeGreaterThan(LONG_RETRY_MIN_MS - 5_000);
    expect(wait).toBeLessThanOrEqual(LONG_RETRY_MIN_MS);
    const s = await status(c.tenantId);
    expect(s.hostFailing).toMatchObject({ since: new Date(events!.failing_since).toISOString() });
    expect(s.hostFailing!.lastError).toMatch(/host answered HTTP 503/);
    expect(s.hostFailing!.message).toMatch(/The host has been failing deliveries for \d+ minutes? .*delivered once the host answers/);
    // Not before it is due (plus the sweep's grace); then on its way again.
    await sweepOutbox(c.env, new Date(clock.now().getTime() + LONG_RETRY_MIN_MS));
    expect(c.dispatch.take().filter((m) => m.tenantId === c.tenantId)).toEqual([]);
    await sweepOutbox(c.env, new Date(clock.now().getTime() + LONG_RETRY_MIN_MS + SWEEP_GRACE_MS + 1000));
    const swept = c.dispatch.take().filter((m) => m.tenantId === c.tenantId);
    expect(swept.flatMap((m) => m.outboxIds)).toContain(c.messages[0]!.outboxIds[0]);
    await clearHostFaults(c.tenantId);
    await deliver(c.env, swept, 1, clock);
    await expectExactlyOnce(c.tenantId, c.expected);
    expect((await status(c.tenantId)).hostFailing).toBeNull();
  });
});
