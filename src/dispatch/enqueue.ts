/** Handing outbox rows to the queues that deliver them. */
import { logLine } from "../observability/log";
import { countSubrequest } from "../observability/meter";
import type { Env } from "../env";
import type { outbox } from "../storage/schema";

/** Outbox ids per dispatch message (the message schema allows 100; D1 reads them as one JSON parameter). */
export const OUTBOX_IDS_PER_MESSAGE = 90;

/** An outbox row as the queues need it: which row, and so which queue. */
export type OutboxRef = Pick<typeof outbox.$inferSelect, "id" | "kind">;

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
    for (let i = 0; i < queued.length; i += OUTBOX_IDS_PER_MESSAGE) {
      const ids = queued.slice(i, i + OUTBOX_IDS_PER_MESSAGE).map((r) => r.id);
      try {
        countSubrequest("queue");
        await queue.send({ kind: "dispatch", tenantId, outboxIds: ids });
      } catch (err) {
        logLine("warn", "dispatch enqueue failed; the sweeper will retry", { tenantId, outboxIds: ids, error: err });
      }
    }
  }
}
