/** Drives response actions step by step: the actions queue captured with its delays, played on an injected clock. */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { expect } from "vitest";
import { consumeActionBatch } from "../../src/actions/consumer";
import type { ActionMessage } from "../../src/actions/messages";
import type { Env } from "../../src/env";
import type { QueueMessage } from "../../src/queue-message";
import { TestClock } from "./clock";
import { callJson } from "./plugin";
import { capturedEnv } from "./sync";

/** The actions queue, captured: each message with when it is due on the test's clock. */
export class ActionsQueue {
  readonly sent: Array<{ body: ActionMessage; dueAt: number }> = [];
  constructor(private readonly clock: TestClock) {}
  async send(body: ActionMessage, options?: { delaySeconds?: number }): Promise<void> {
    this.sent.push({ body: structuredClone(body), dueAt: this.clock.now().getTime() + (options?.delaySeconds ?? 0) * 1000 });
  }
  async sendBatch(messages: Iterable<{ body: ActionMessage; delaySeconds?: number }>): Promise<void> {
    for (const m of messages) await this.send(m.body, { delaySeconds: m.delaySeconds });
  }
  /** The message due first, taken off the queue. */
  next(): { body: ActionMessage; dueAt: number } | undefined {
    this.sent.sort((a, b) => a.dueAt - b.dueAt);
    return this.sent.shift();
  }
}

/** The Worker's env with every queue captured, the actions queue on `clock`. */
export function actionsEnv(clock = new TestClock()) {
  const c = capturedEnv();
  const actions = new ActionsQueue(clock);
  const env = { ...c.env, ACTIONS_QUEUE: actions } as unknown as Env;
  return { ...c, env, actions, clock };
}

let counter = 0;
/** Delivers one action message as the queue would (one batch), returning whether it was acked or retried. */
export async function deliverAction(env: Env, body: ActionMessage, clock: TestClock, attempts = 1) {
  const batch = createMessageBatch<QueueMessage>("cynet-actions", [{ id: `a${++counter}`, timestamp: clock.now(), attempts, body }]);
  const ctx = createExecutionContext();
  await consumeActionBatch(batch, env, ctx, clock);
  const result = await getQueueResult(batch, ctx);
  return { acked: result.explicitAcks.length === 1, retry: result.retryMessages[0] };
}

/**
 * Plays the actions queue to its end: the message due first is delivered once the clock reaches
 * it (the clock moves on, nothing sleeps); a retried one comes back after its delay. Returns how
 * many steps ran.
 */
export async function playActions(e: ReturnType<typeof actionsEnv>, maxSteps = 200): Promise<number> {
  let steps = 0;
  const attempts = new Map<string, number>();
  for (let m = e.actions.next(); m; m = e.actions.next()) {
    if (++steps > maxSteps) throw new Error(`actions did not settle in ${maxSteps} steps`);
    e.clock.advanceTo(m.dueAt);
    const key = `${m.body.actionId}:${m.body.step}`;
    const tries = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, tries);
    const { acked, retry } = await deliverAction(e.env, m.body, e.clock, tries);
    if (!acked) e.actions.sent.push({ body: m.body, dueAt: e.clock.now().getTime() + (retry?.delaySeconds ?? 0) * 1000 });
  }
  return steps;
}

/** Asks for an action as the host does, through `env` (its queues captured). */
export async function requestAction(env: Env, tenantId: string, body: Record<string, unknown>, headers?: Record<string, string>) {
  return callJson<Record<string, unknown>>("POST", `/v1/tenants/${tenantId}/actions`, body, { env, headers });
}

/** The action as GET …/actions/{id} answers it. */
export async function readAction<T = ActionViewShape>(tenantId: string, id: string): Promise<T> {
  const r = await callJson<T>("GET", `/v1/tenants/${tenantId}/actions/${id}`);
  expect(r.status, r.text).toBe(200);
  return r.body;
}

/** The parts of an action's view the tests read. */
export interface ActionViewShape {
  id: string;
  state: string;
  summary: string;
  requestedBy: { id: string; name: string | null };
  results: Array<{ host: string; state: string; attempts: number; error: { code: string; message: string } | null; remediationItems: Array<{ id: number; status: number | null; statusInfo: string | null; final: boolean; polls: number; note: string | null }> }>;
}

/**
 * Runs what a plain capturing queue holds of the actions queue (no delays recorded), moving the
 * clock a minute on before each step, past any step's delay, until the chains end.
 */
export async function runCapturedActions(env: Env, queue: { take(): ActionMessage[] }, clock = new TestClock(), maxRounds = 60): Promise<void> {
  for (let round = 0; round < maxRounds; round++) {
    const steps = queue.take();
    if (steps.length === 0) return;
    for (const body of steps) {
      clock.advance(60_000);
      await deliverAction(env, body, clock);
    }
  }
  throw new Error(`actions did not settle in ${maxRounds} rounds`);
}
