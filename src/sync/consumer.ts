/** The sync queue's consumer: one invocation of runSync per message. */
import { logLine } from "../observability/log";
import type { Env } from "../env";
import type { QueueMessage } from "../queue-message";
import { SyncMessage } from "./messages";
import { runSync } from "./run";

/** Delay before a sync message whose invocation crashed is tried again. */
const CRASH_RETRY_SECONDS = 30;

/** Consumes a batch from the sync queue; tenants in one batch sync in parallel. */
export async function consumeSyncBatch(batch: MessageBatch<QueueMessage>, env: Env, _ctx: ExecutionContext): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      const parsed = SyncMessage.safeParse(message.body);
      if (!parsed.success) {
        logLine("error", "malformed sync message dropped", { id: message.id });
        message.ack();
        return;
      }
      try {
        const result = await runSync(env, parsed.data);
        logLine("info", "sync invocation", { tenantId: parsed.data.tenantId, reason: parsed.data.reason, result });
        message.ack();
      } catch (err) {
        // Failures runSync understands are recorded by it; reaching here means D1 itself failed.
        logLine("error", "sync invocation crashed; retried", { tenantId: parsed.data.tenantId, error: err });
        message.retry({ delaySeconds: CRASH_RETRY_SECONDS });
      }
    }),
  );
}
