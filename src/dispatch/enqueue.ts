/** Handing outbox rows to the dispatch queue. */
import { countSubrequest } from "../observability/meter";
import type { Env } from "../env";
import { describeError } from "../http/errors";

/** Outbox ids per dispatch message (the message schema allows 100; D1 reads them as one JSON parameter). */
export const OUTBOX_IDS_PER_MESSAGE = 90;

/** Sends dispatch messages for `outboxIds`. A failed send is logged, not thrown: the sweeper re-enqueues rows that never got one. */
export async function enqueueDispatch(env: Env, tenantId: string, outboxIds: number[]): Promise<void> {
  for (let i = 0; i < outboxIds.length; i += OUTBOX_IDS_PER_MESSAGE) {
    const ids = outboxIds.slice(i, i + OUTBOX_IDS_PER_MESSAGE);
    try {
      countSubrequest("queue");
      await env.DISPATCH_QUEUE.send({ kind: "dispatch", tenantId, outboxIds: ids });
    } catch (err) {
      console.warn(JSON.stringify({ level: "warn", msg: "dispatch enqueue failed; the sweeper will retry", tenantId, outboxIds: ids, error: describeError(err) }));
    }
  }
}
