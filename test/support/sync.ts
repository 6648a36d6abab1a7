/** Drives syncs and deliveries step by step, with the Worker's queues captured instead of sent. */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { consumeDispatchBatch } from "../../src/dispatch/consumer";
import { consumeFindingsBatch } from "../../src/findings/consumer";
import type { DispatchMessage } from "../../src/dispatch/messages";
import type { FindingsMessage } from "../../src/findings/messages";
import type { ActionMessage } from "../../src/actions/messages";
import type { ChannelStatus } from "../../src/activation/schemas";
import type { Env } from "../../src/env";
import type { QueueMessage } from "../../src/queue-message";
import type { SyncMessage } from "../../src/sync/messages";
import { runSync, type SyncResult } from "../../src/sync/run";
import { callJson, enable, uniqueTenant } from "./plugin";
import { connectForm, CynetWorld, type WorldSetup } from "./standins";
import { expectedDetections } from "./expected";
import { TestClock } from "./clock";
import type { Clock } from "../../src/shared/clock";

export { expectedDetections };

/** A queue binding that records what is sent. */
export class CapturingQueue<T> {
  readonly sent: T[] = [];
  failSends = 0;
  async send(body: T): Promise<void> {
    if (this.failSends > 0) {
      this.failSends -= 1;
      throw new Error("queue send failed (injected)");
    }
    this.sent.push(structuredClone(body));
  }
  async sendBatch(messages: Iterable<{ body: T }>): Promise<void> {
    for (const m of messages) await this.send(m.body);
  }
  take(): T[] {
    return this.sent.splice(0);
  }
}

/** The Worker's env with every producer captured. */
export function capturedEnv() {
  const sync = new CapturingQueue<SyncMessage>();
  const dispatch = new CapturingQueue<DispatchMessage>();
  const deadLetter = new CapturingQueue<DispatchMessage>();
  const findings = new CapturingQueue<FindingsMessage>();
  const actions = new CapturingQueue<ActionMessage>();
  // Both delivery queues feed one capture: the tests play them through the same consumer.
  const testEnv = { ...env, SYNC_QUEUE: sync, DISPATCH_QUEUE: dispatch, CORRELATE_QUEUE: dispatch, DEAD_LETTER_QUEUE: deadLetter, FINDINGS_QUEUE: findings, ACTIONS_QUEUE: actions } as unknown as Env;
  return { env: testEnv, sync, dispatch, deadLetter, findings, actions };
}

/** Polls `probe` until it returns a truthy value. */
export async function waitFor<T>(probe: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The tenant's status, as the host sees it. */
export async function status(tenantId: string): Promise<ChannelStatus> {
  return (await callJson<ChannelStatus>("GET", `/v1/tenants/${tenantId}/status`)).body;
}

/** Waits until no run is in progress and nothing is pending delivery (the real queues did their work). */
export async function waitForQuiet(tenantId: string, timeoutMs = 60_000) {
  return waitFor(
    async () => {
      const s = await status(tenantId);
      const pending = Object.values(s.deliveries).reduce((n, d) => n + d.pending, 0);
      // A sync has ended: the newest run row is finished, or (a quiet sync has no row) one was counted.
      const ended = s.sync && (s.sync.lastRun ? s.sync.lastRun.outcome !== "running" : s.sync.quietRunsSinceLastRun > 0);
      return s.sync && !s.sync.inProgress && ended && pending === 0 ? s : undefined;
    },
    `tenant ${tenantId} to finish syncing and delivering`,
    timeoutMs,
  );
}

/** Enables and connects a tenant to `world`, then waits for the first sync (through the real queues) to finish. */
export async function connectAndSettle(tenantId: string, world: CynetWorld) {
  await enable(tenantId);
  const r = await callJson("POST", `/v1/tenants/${tenantId}/activation`, connectForm(world));
  expect(r.status, r.text).toBe(200);
  return waitForQuiet(tenantId);
}

/** Runs sync invocations (following continuations) until the run completes or fails. */
export async function drainSync(testEnv: Env, tenantId: string, reason: SyncMessage["reason"] = "manual", clock: Clock = new TestClock()): Promise<SyncResult[]> {
  const results: SyncResult[] = [];
  let message: SyncMessage = { kind: "sync", tenantId, reason, requestedAt: new Date().toISOString() };
  for (let i = 0; i < 1000; i++) {
    const result = await runSync(testEnv, message, clock);
    results.push(result);
    const continuation = (testEnv.SYNC_QUEUE as unknown as CapturingQueue<SyncMessage>).take().find((m) => m.reason === "continuation");
    if (result !== "continued" || !continuation) return results;
    message = continuation;
  }
  throw new Error("sync did not finish in 1000 invocations");
}

let messageCounter = 0;
/** Feeds dispatch messages to the dispatch consumer as one batch; returns the queue's ack/retry record. */
export async function deliver(testEnv: Env, messages: DispatchMessage[], attempts = 1, clock: Clock = new TestClock()) {
  const batch = createMessageBatch<QueueMessage>(
    "cynet-dispatch",
    messages.map((body) => ({ id: `m${++messageCounter}`, timestamp: clock.now(), attempts, body })),
  );
  const ctx = createExecutionContext();
  await consumeDispatchBatch(batch, testEnv, ctx, clock);
  return { ids: batch.messages.map((m) => m.id), result: await getQueueResult(batch, ctx) };
}

/**
 * Plays the dispatch queue: delivers captured messages, feeds retried ones back (as the queue
 * would after their delay) along with newly captured ones, until none are left. Returns how
 * many deliveries were retried.
 */
export async function settle(testEnv: Env, queue: { take(): DispatchMessage[] }, maxRounds = 12, onBatch?: (messages: DispatchMessage[]) => void): Promise<number> {
  let retries = 0;
  let pending = queue.take();
  for (let round = 1; pending.length > 0; round++) {
    if (round > maxRounds) throw new Error(`dispatch did not settle in ${maxRounds} rounds`);
    const again: DispatchMessage[] = [];
    // In batches of the queue's max_batch_size, as the real queue hands them over.
    for (let i = 0; i < pending.length; i += DISPATCH_BATCH_SIZE) {
      const chunk = pending.slice(i, i + DISPATCH_BATCH_SIZE);
      onBatch?.(chunk);
      const { ids, result } = await deliver(testEnv, chunk, round);
      const retried = new Set(result.retryMessages.map((m) => m.msgId));
      retries += retried.size;
      again.push(...chunk.filter((_, j) => retried.has(ids[j]!)));
    }
    pending = [...again, ...queue.take()];
  }
  return retries;
}

/**
 * Plays the captured findings messages of `tenantId` through the findings consumer, one per
 * batch as the queue hands them over (max_batch_size 1), each expected to be acked; returns how
 * many there were. What the checks wrote waits on the dispatch capture.
 */
export async function runFindingChecks(testEnv: Env, queue: CapturingQueue<FindingsMessage>, tenantId: string, clock: Clock): Promise<number> {
  const mine = queue.take().filter((m) => m.tenantId === tenantId);
  for (const body of mine) {
    const batch = createMessageBatch<QueueMessage>("cynet-findings", [{ id: `f${++messageCounter}`, timestamp: clock.now(), attempts: 1, body }]);
    const ctx = createExecutionContext();
    await consumeFindingsBatch(batch, testEnv, ctx, clock);
    expect((await getQueueResult(batch, ctx)).explicitAcks, "the check message is acked").toHaveLength(1);
  }
  return mine.length;
}

/** Messages a dispatch invocation takes at most (wrangler.toml, max_batch_size of cynet-dispatch and cynet-correlate). */
export const DISPATCH_BATCH_SIZE = 25;

/** What the dev host recorded for a tenant. */
export async function hostRecords<T = Record<string, unknown>>(tenantId: string, what: "events" | "notes" | "ir-requests" | "scans"): Promise<T[]> {
  const r = await fetch(`https://host.test/__host/tenants/${tenantId}/${what}`);
  const body = (await r.json()) as Record<string, T[]>;
  const key = what === "ir-requests" ? "irRequests" : what;
  return body[key] ?? [];
}

/** Sets a fault rule at the dev host for a tenant. */
export async function hostFault(tenantId: string, rule: Record<string, unknown>) {
  const r = await fetch(`https://host.test/__host/tenants/${tenantId}/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(rule) });
  if (!r.ok) throw new Error(`host fault: ${r.status} ${await r.text()}`);
}
export async function clearHostFaults(tenantId: string) {
  await fetch(`https://host.test/__host/tenants/${tenantId}/faults`, { method: "DELETE" });
}


/** Pages read and alerts fetched by the tenant's latest run, from its row. */
export async function lastRunPaging(tenantId: string): Promise<{ pages: number; fetched: number } | undefined> {
  const [run] = await rows<{ pages: number; fetched: number }>("SELECT pages, fetched FROM sync_runs WHERE tenant_id = ? ORDER BY id DESC LIMIT 1", tenantId);
  return run;
}

/** Rows of a SQL query against the plugin's D1. */
export async function rows<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T[]> {
  return (await env.DB.prepare(sql).bind(...params).all<T>()).results;
}

export type HostEvent = { idempotencyKey: string; type: string; severity: string; details: { file: { sha256: string }; cynet: { alertId: number } } };

/** Asserts D1 holds exactly the expected detections and the host exactly one event for each. */
export async function expectExactlyOnce(tenantId: string, expected: Map<number, string>) {
  const stored = await rows<{ alert_id: number; sha256: string }>("SELECT alert_id, sha256 FROM detections WHERE tenant_id = ? ORDER BY alert_id", tenantId);
  expect(stored.length).toBe(expected.size);
  expect(new Map(stored.map((r) => [r.alert_id, r.sha256]))).toEqual(expected);
  const events = await hostRecords<HostEvent>(tenantId, "events");
  const byAlert = new Map<number, number>();
  for (const e of events) byAlert.set(e.details.cynet.alertId, (byAlert.get(e.details.cynet.alertId) ?? 0) + 1);
  expect([...byAlert.values()].filter((n) => n > 1), "alerts with more than one event at the host").toEqual([]);
  expect(new Set(byAlert.keys())).toEqual(new Set(expected.keys()));
  for (const e of events) {
    expect(e.type).toBe("Malicious File in Endpoint");
    expect(e.severity).toBe("high");
    expect(e.details.file.sha256).toBe(expected.get(e.details.cynet.alertId));
  }
}

/** A connected tenant whose first sync found nothing, and a world that then gains `count` alerts. */
export async function prepared(count: number, config: Omit<WorldSetup, "alertCount"> = {}) {
  const world = await new CynetWorld().setup({ alertCount: 0, ...config });
  const tenantId = uniqueTenant("s");
  await connectAndSettle(tenantId, world);
  await world.addAlerts({ count });
  const expected = expectedDetections(await world.alerts());
  expect(expected.size).toBeGreaterThan(count / 3);
  return { world, tenantId, expected, ...capturedEnv() };
}

/** Delivers everything captured on the dispatch queue, once. */
export async function deliverCaptured(c: Awaited<ReturnType<typeof prepared>>) {
  const messages = c.dispatch.take();
  if (messages.length) {
    const { result } = await deliver(c.env, messages);
    expect(result.retryMessages).toEqual([]);
  }
}

