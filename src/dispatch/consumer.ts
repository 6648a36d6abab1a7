/**
 * The dispatch queue's consumer and its dead-letter consumer. A message is acked only when
 * every row it stands for was delivered or recorded as permanently refused; otherwise it is
 * retried with backoff. Messages that exhaust their retries land in the dead-letter queue,
 * whose consumer records the rows as failed so they show in status and can be retried.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { Env } from "../env";
import { describeError } from "../http/errors";
import type { QueueMessage } from "../queues";
import { database } from "../storage/db";
import { outbox } from "../storage/schema";
import { deliverRow, dispatchDelaySeconds } from "./deliver";
import { DispatchMessage } from "./messages";

async function rowsOf(env: Env, message: DispatchMessage) {
  const db = database(env.DB);
  const rows = await db
    .select()
    .from(outbox)
    .where(and(eq(outbox.tenantId, message.tenantId), inArray(outbox.id, message.outboxIds)));
  return { db, rows };
}

/** Consumes a batch from the dispatch queue. */
export async function consumeDispatchBatch(batch: MessageBatch<QueueMessage>, env: Env, _ctx: ExecutionContext): Promise<void> {
  for (const message of batch.messages) {
    const parsed = DispatchMessage.safeParse(message.body);
    if (!parsed.success) {
      console.error(JSON.stringify({ level: "error", msg: "malformed dispatch message dropped", id: message.id }));
      message.ack();
      continue;
    }
    try {
      const { db, rows } = await rowsOf(env, parsed.data);
      let retryDelay: number | undefined;
      for (const row of rows) {
        if (row.state !== "pending") continue;
        const result = await deliverRow(env, db, row);
        if (result.outcome === "retry") retryDelay = Math.max(retryDelay ?? 0, result.delaySeconds);
      }
      if (retryDelay === undefined) message.ack();
      else message.retry({ delaySeconds: retryDelay });
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "dispatch failed; message retried", tenantId: parsed.data.tenantId, error: describeError(err) }));
      message.retry({ delaySeconds: dispatchDelaySeconds(message.attempts) });
    }
  }
}

/** Consumes the dead-letter queue: records what finally failed, so nothing vanishes silently. */
export async function consumeDeadLetterBatch(batch: MessageBatch<QueueMessage>, env: Env, _ctx: ExecutionContext): Promise<void> {
  for (const message of batch.messages) {
    const parsed = DispatchMessage.safeParse(message.body);
    if (!parsed.success) {
      // A sync message that kept failing: the cron starts the tenant's next run anyway.
      console.error(JSON.stringify({ level: "error", msg: "dead-lettered message", id: message.id, kind: (message.body as { kind?: unknown })?.kind ?? null }));
      message.ack();
      continue;
    }
    try {
      const { db, rows } = await rowsOf(env, parsed.data);
      for (const row of rows) {
        if (row.state === "delivered") continue;
        if (row.state === "pending") {
          const lastError = `gave up after ${row.attempts} attempts${row.lastError ? `: ${row.lastError}` : ""}`.slice(0, 500);
          await db.update(outbox).set({ state: "failed", lastError }).where(and(eq(outbox.id, row.id), eq(outbox.state, "pending")));
        }
        // One alert line per final failure: what an operator's log alerting keys on.
        console.error(JSON.stringify({ level: "alert", msg: "delivery to the host failed for good; retry it from the channel's failed deliveries", tenantId: row.tenantId, outboxId: row.id, kind: row.kind }));
      }
      message.ack();
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "dead-letter record failed; retried", error: describeError(err) }));
      message.retry();
    }
  }
}
