/** Handing outbox rows to the queues that deliver them. */
import type { Env } from "../env";
import { logLine } from "../observability/log";
import { countSubrequest } from "../observability/meter";
import { QUEUE_SEND_BATCH_MAX } from "../queue-limits";
import type { DispatchMessage } from "./messages";
import type { OutboxRef } from "./outbox";

/**
 * Outbox ids per dispatch message. A dispatch invocation takes up to 25 messages
 * (wrangler.toml max_batch_size); at 10 rows each, with at most two D1 reads and one host
 * call per note or IR request, it stays under Workers' 1000 D1 queries and 1000 subrequests
 * however many rows a correlation created. Match rows of one tenant are correlated together,
 * so 250 of them (up to 100,000 alerts) is the most one correlation takes.
 */
export const OUTBOX_IDS_PER_MESSAGE = 10;

/**
 * The queue a row travels on. Scan matching (Cynet file lookups, scans/search) has a queue of
 * its own, so events, notes and IR requests are never delivered behind a slow correlation.
 */
export function queueFor(env: Env, kind: OutboxRef["kind"]): Env["DISPATCH_QUEUE"] {
  return kind === "match" ? env.CORRELATE_QUEUE : env.DISPATCH_QUEUE;
}

/** Rows by the queue they travel on (see queueFor). */
export function byQueue<T extends Pick<OutboxRef, "kind">>(env: Env, rows: readonly T[]): Map<Env["DISPATCH_QUEUE"], T[]> {
  const grouped = new Map<Env["DISPATCH_QUEUE"], T[]>();
  for (const row of rows) {
    const queue = queueFor(env, row.kind);
    const group = grouped.get(queue);
    if (group) group.push(row);
    else grouped.set(queue, [row]);
  }
  return grouped;
}

/** Sends messages for outbox rows, each on its kind's queue. A failed send is logged, not thrown: the sweeper re-enqueues rows that never got one. */
export async function enqueueDispatch(env: Env, tenantId: string, rows: readonly OutboxRef[]): Promise<void> {
  for (const [queue, queued] of byQueue(env, rows)) {
    const messages: Array<{ body: DispatchMessage }> = [];
    for (let i = 0; i < queued.length; i += OUTBOX_IDS_PER_MESSAGE) {
      messages.push({ body: { kind: "dispatch", tenantId, outboxIds: queued.slice(i, i + OUTBOX_IDS_PER_MESSAGE).map((r) => r.id) } });
    }
    for (let i = 0; i < messages.length; i += QUEUE_SEND_BATCH_MAX) {
      const chunk = messages.slice(i, i + QUEUE_SEND_BATCH_MAX);
      try {
        countSubrequest("queue");
        await queue.sendBatch(chunk);
      } catch (err) {
        logLine("warn", "dispatch enqueue failed; the sweeper will retry", { tenantId, outboxIds: chunk.flatMap((m) => m.body.outboxIds), error: err });
      }
    }
  }
}
