/** The sync queue's consumer: one invocation of runSync per message. */
import type { Env } from "../env";
import { describeError } from "../http/errors";
import type { QueueMessage } from "../queues";
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
        console.error(JSON.stringify({ level: "error", msg: "malformed sync message dropped", id: message.id }));
        message.ack();
        return;
      }
      try {
        const result = await runSync(env, parsed.data);
        console.log(JSON.stringify({ level: "info", msg: "sync invocation", tenantId: parsed.data.tenantId, reason: parsed.data.reason, result }));
        message.ack();
      } catch (err) {
        // Failures runSync understands are recorded by it; reaching here means D1 itself failed.
        console.error(JSON.stringify({ level: "error", msg: "sync invocation crashed; retried", tenantId: parsed.data.tenantId, error: describeError(err) }));
        message.retry({ delaySeconds: CRASH_RETRY_SECONDS });
      }
    }),
  );
}
