/**
 * The findings queue's consumer: each message names findings of one tenant to check at Cynet
 * (./check.ts). What a check finds is stored with its outbox rows before the message is acked,
 * and those rows go to the dispatch queue; a check Cynet could not answer is recorded on the
 * finding with its backoff, so the message is acked and the cron sends it again when due. Only a
 * failure to read or write D1 retries the message.
 */
import type { Env } from "../env";
import { enqueueDispatch } from "../dispatch/enqueue";
import { logLine } from "../observability/log";
import type { QueueMessage } from "../queue-message";
import { systemClock, type Clock } from "../shared/clock";
import { tenantDatabase } from "../storage/directory";
import { checkFindings, MAX_FILE_CHECKS_PER_INVOCATION } from "./check";
import { FindingsMessage } from "./messages";
import { checkMessages, sendChecks } from "./schedule";

/** Delay before a message whose check hit an unexpected error is tried again. */
const CHECK_RETRY_DELAY_SECONDS = 60;

/** Consumes a batch of check messages, at most MAX_FILE_CHECKS_PER_INVOCATION file lookups in all. */
export async function consumeFindingsBatch(batch: MessageBatch<QueueMessage>, env: Env, _ctx: ExecutionContext, clock: Clock = systemClock): Promise<void> {
  let budget = MAX_FILE_CHECKS_PER_INVOCATION;
  for (const message of batch.messages) {
    const parsed = FindingsMessage.safeParse(message.body);
    if (!parsed.success) {
      logLine("error", "malformed finding check message dropped", { id: message.id });
      message.ack();
      continue;
    }
    const { tenantId, findingIds } = parsed.data;
    try {
      const { db } = await tenantDatabase(env, tenantId);
      const result = await checkFindings(env, db, tenantId, findingIds, clock, budget);
      budget -= result.filesChecked;
      await enqueueDispatch(env, tenantId, result.created);
      // Past this invocation's budget: a message of their own, so they do not wait for the lease.
      if (result.leftOver.length) await sendChecks(env, checkMessages(tenantId, result.leftOver));
      message.ack();
    } catch (err) {
      logLine("error", "finding check failed; message retried", { tenantId, error: err });
      message.retry({ delaySeconds: CHECK_RETRY_DELAY_SECONDS });
    }
  }
}
