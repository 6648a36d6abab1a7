/** Asking for a sync: one message on the sync queue. */
import { logLine } from "../observability/log";
import { countSubrequest } from "../observability/meter";
import type { Env } from "../env";
import type { SyncMessage } from "./messages";

/** Enqueues a sync of one tenant. A failed send is logged, not thrown: the next cron tick picks the tenant up. */
export async function requestSync(env: Env, tenantId: string, reason: SyncMessage["reason"], now: Date): Promise<boolean> {
  try {
    countSubrequest("queue");
    await env.SYNC_QUEUE.send({ kind: "sync", tenantId, reason, requestedAt: now.toISOString() });
    return true;
  } catch (err) {
    logLine("warn", "sync enqueue failed", { tenantId, reason, error: err });
    return false;
  }
}
