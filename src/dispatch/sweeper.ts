/**
 * Re-enqueues pending outbox rows whose message never came (a crash between the D1 write and
 * the send, a lost retry) or that wait on the long schedule after the queue gave up on them
 * (a host down for hours). Delivery is idempotent, so a row enqueued twice is still delivered
 * once.
 */
import type { Env } from "../env";
import { countSubrequest } from "../observability/meter";
import type { Database } from "../storage/db";
import { inEveryTenantDatabase } from "../storage/directory";
import { byQueue } from "./enqueue";
import { duePendingRows, markSwept } from "./outbox";

/** How long past its due time a pending row waits before it counts as orphaned: longer than a queue hop. */
export const SWEEP_GRACE_MS = 10 * 60_000;
/** Rows swept per tick and database, oldest-due first; a bigger backlog drains over the next ticks (144,000 a day each). */
export const SWEEP_MAX_ROWS = 500;
/** Rows per send and update: under sendBatch's 100 messages and D1's 100 bound parameters. */
const SWEEP_CHUNK = 90;

/** Finds orphaned or due pending rows in every database, enqueues one message per row and marks them just sent. */
export async function sweepOutbox(env: Env, now: Date): Promise<number> {
  // One database after another, and one that fails does not keep the others' rows waiting.
  const swept = await inEveryTenantDatabase(env, "outbox sweep", ({ db }) => sweepDatabase(env, db, now));
  return swept.reduce((a, b) => a + b, 0);
}

async function sweepDatabase(env: Env, db: Database, now: Date): Promise<number> {
  const orphans = await duePendingRows(db, new Date(now.getTime() - SWEEP_GRACE_MS), SWEEP_MAX_ROWS);
  for (let i = 0; i < orphans.length; i += SWEEP_CHUNK) {
    const chunk = orphans.slice(i, i + SWEEP_CHUNK);
    for (const [queue, rows] of byQueue(env, chunk)) {
      countSubrequest("queue");
      await queue.sendBatch(rows.map((o) => ({ body: { kind: "dispatch" as const, tenantId: o.tenantId, outboxIds: [o.id] } })));
    }
    // Marked only after the send succeeded: a failed send leaves the rows for the next tick.
    await markSwept(db, chunk.map((o) => o.id), now);
  }
  return orphans.length;
}
