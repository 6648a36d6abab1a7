/** Handing outbox rows to the queues that deliver them. */
import { countSubrequest } from "../observability/meter";
import type { Env } from "../env";
import { describeError } from "../http/errors";
import type { OUTBOX_KINDS } from "../storage/schema";

/** Outbox ids per dispatch message (the message schema allows 100; D1 reads them as one JSON parameter). */
export const OUTBOX_IDS_PER_MESSAGE = 90;

type OutboxKind = (typeof OUTBOX_KINDS)[number];

/**
 * The queue a row travels on. Scan matching (Cynet file lookups, scans/search) has a queue of
 * its own, so events, notes and IR requests are never delivered behind a slow correlation.
 */
export function queueFor(env: Env, kind: OutboxKind): Env["DISPATCH_QUEUE"] {
  return kind === "match" ? env.CORRELATE_QUEUE : env.DISPATCH_QUEUE;
}

/** Sends messages for outbox rows, each on its kind's queue. A failed send is logged, not thrown: the sweeper re-enqueues rows that never got one. */
export async function enqueueDispatch(env: Env, tenantId: string, rows: Array<{ id: number; kind: OutboxKind }>): Promise<void> {
  const byQueue = new Map<Env["DISPATCH_QUEUE"], number[]>();
  for (const row of rows) {
    const queue = queueFor(env, row.kind);
    byQueue.set(queue, [...(byQueue.get(queue) ?? []), row.id]);
  }
  for (const [queue, outboxIds] of byQueue) {
    for (let i = 0; i < outboxIds.length; i += OUTBOX_IDS_PER_MESSAGE) {
      const ids = outboxIds.slice(i, i + OUTBOX_IDS_PER_MESSAGE);
      try {
        countSubrequest("queue");
        await queue.send({ kind: "dispatch", tenantId, outboxIds: ids });
      } catch (err) {
        console.warn(JSON.stringify({ level: "warn", msg: "dispatch enqueue failed; the sweeper will retry", tenantId, outboxIds: ids, error: describeError(err) }));
      }
    }
  }
}
