/**
 * Re-enqueues outbox rows whose dispatch message never came (a crash between the D1 write and
 * the send, or a lost retry). Delivery is idempotent, so a row enqueued twice is still
 * delivered once.
 */
import { countSubrequest } from "../observability/meter";
import { and, eq, inArray, lt } from "drizzle-orm";
import type { Env } from "../env";
import { database } from "../storage/db";
import { outbox } from "../storage/schema";
import { byQueue } from "./enqueue";

/** How long past its due time a pending row waits before it counts as orphaned: longer than a queue hop. */
export const SWEEP_GRACE_MS = 10 * 60_000;
/** Rows swept per tick; a bigger backlog drains over the next ticks. */
export const SWEEP_MAX_ROWS = 500;
/** Rows per send and update: under sendBatch's 100 messages and D1's 100 bound parameters. */
const SWEEP_CHUNK = 90;

/** Finds orphaned pending rows, pushes their due time forward and enqueues one message per row. */
export async function sweepOutbox(env: Env, now: Date): Promise<number> {
  const db = database(env.DB);
  const orphans = await db
    .select({ id: outbox.id, tenantId: outbox.tenantId, kind: outbox.kind })
    .from(outbox)
    .where(and(eq(outbox.state, "pending"), lt(outbox.nextAttemptAt, new Date(now.getTime() - SWEEP_GRACE_MS))))
    .limit(SWEEP_MAX_ROWS);
  if (orphans.length === 0) return 0;
  for (let i = 0; i < orphans.length; i += SWEEP_CHUNK) {
    const chunk = orphans.slice(i, i + SWEEP_CHUNK);
    for (const [queue, rows] of byQueue(env, chunk)) {
      countSubrequest("queue");
      await queue.sendBatch(rows.map((o) => ({ body: { kind: "dispatch" as const, tenantId: o.tenantId, outboxIds: [o.id] } })));
    }
    // Bump only after the send succeeded: a failed send leaves the rows for the next tick.
    await db
      .update(outbox)
      .set({ nextAttemptAt: now })
      .where(and(inArray(outbox.id, chunk.map((o) => o.id)), eq(outbox.state, "pending")));
  }
  return orphans.length;
}
