/** Routes each queue batch to its consumer by queue name. */
import { logLine } from "./observability/log";
import type { Env } from "./env";
import type { QueueMessage } from "./queue-message";
import { consumeSyncBatch } from "./sync/consumer";
import { consumeDispatchBatch, consumeDeadLetterBatch } from "./dispatch/consumer";
import { consumeFindingsBatch } from "./findings/consumer";
import { consumeActionBatch } from "./actions/consumer";

export type { QueueMessage };

/** Queue names as wrangler.toml declares them. */
export const QUEUES = { sync: "cynet-sync", dispatch: "cynet-dispatch", correlate: "cynet-correlate", findings: "cynet-findings", actions: "cynet-actions", deadLetter: "cynet-dead-letter" } as const;

/** The Worker's queue handler. */
export async function handleQueue(batch: MessageBatch<QueueMessage>, env: Env, ctx: ExecutionContext): Promise<void> {
  switch (batch.queue) {
    case QUEUES.sync:
      return consumeSyncBatch(batch, env, ctx);
    case QUEUES.dispatch:
    case QUEUES.correlate:
      return consumeDispatchBatch(batch, env, ctx);
    case QUEUES.findings:
      return consumeFindingsBatch(batch, env, ctx);
    case QUEUES.actions:
      return consumeActionBatch(batch, env, ctx);
    case QUEUES.deadLetter:
      return consumeDeadLetterBatch(batch, env, ctx);
    default:
      logLine("error", "message from an unknown queue left for retry", { queue: batch.queue });
      batch.retryAll();
  }
}
