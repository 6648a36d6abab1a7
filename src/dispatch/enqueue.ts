/** Handing outbox rows to the dispatch queue. */
import { countSubrequest } from "../observability/meter";
import type { Env } from "../env";
import { describeError } from "../http/errors";

/** Sends one dispatch message. A failed send is logged, not thrown: the sweeper re-enqueues rows that never got one. */
export async function enqueueDispatch(env: Env, tenantId: string, outboxIds: number[]): Promise<void> {
  try {
    countSubrequest("queue");
    await env.DISPATCH_QUEUE.send({ kind: "dispatch", tenantId, outboxIds });
  } catch (err) {
    console.warn(JSON.stringify({ level: "warn", msg: "dispatch enqueue failed; the sweeper will retry", tenantId, outboxIds, error: describeError(err) }));
  }
}
