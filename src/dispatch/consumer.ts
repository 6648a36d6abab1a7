/**
 * The consumers of the dispatch and correlate queues, and of the dead-letter queue. A message
 * is acked only when every row it stands for was delivered or recorded as refused for good;
 * otherwise it is retried with backoff. A message that exhausts its queue retries lands in the
 * dead-letter queue, whose consumer puts its still-pending rows on the long schedule: a host
 * down for hours or days gets every delivery once it is back, with no admin call.
 */
import type { Env } from "../env";
import { logLine } from "../observability/log";
import type { QueueMessage } from "../queue-message";
import { systemClock, type Clock } from "../shared/clock";
import { eachConcurrently } from "../shared/concurrency";
import type { Database } from "../storage/db";
import { tenantDatabase } from "../storage/directory";
import { lookupBudgetFor } from "./correlate";
import { deliverGroup, dispatchDelaySeconds, loadEventDetections, markDelivered, type EventDetections } from "./deliver";
import { DispatchMessage } from "./messages";
import { parkOnLongSchedule, readRows, type OutboxRef, type OutboxRow } from "./outbox";

/** Host deliveries in flight at once from one batch: Workers allow six open connections per invocation. */
const DISPATCH_CONCURRENCY = 6;

/** The database of each tenant among `tenantIds` (storage/directory.ts), looked up once per tenant. */
async function databasesOf(env: Env, tenantIds: readonly string[]): Promise<(tenantId: string) => Database> {
  const distinct = [...new Set(tenantIds)];
  const placed = new Map(await Promise.all(distinct.map(async (id) => [id, (await tenantDatabase(env, id)).db] as const)));
  return (tenantId) => placed.get(tenantId)!;
}

/** Outbox ids are per database: a row is named across databases by its tenant (in one database only) and id. */
const rowKey = (row: Pick<OutboxRow, "tenantId" | "id">) => `${row.tenantId}:${row.id}`;

/** The members of `items` by the database `dbOf` gives each, in order. */
function byDatabase<T>(items: readonly T[], dbOf: (item: T) => Database): Map<Database, T[]> {
  const grouped = new Map<Database, T[]>();
  for (const item of items) {
    const db = dbOf(item);
    const group = grouped.get(db);
    if (group) group.push(item);
    else grouped.set(db, [item]);
  }
  return grouped;
}

/**
 * The outbox rows each message stands for, read with one statement per database. A message
 * only ever stands for rows of its own tenant; ids of another tenant's rows are ignored.
 */
async function rowsByMessage(dbOf: (tenantId: string) => Database, messages: DispatchMessage[]): Promise<OutboxRow[][]> {
  const found = new Map<string, OutboxRow>();
  for (const [db, mine] of byDatabase(messages, (m) => dbOf(m.tenantId))) {
    for (const row of await readRows(db, mine.flatMap((m) => m.outboxIds))) found.set(rowKey(row), row);
  }
  return messages.map((m) => [...new Set(m.outboxIds)].map((id) => found.get(rowKey({ tenantId: m.tenantId, id }))).filter((r): r is OutboxRow => r !== undefined));
}

/**
 * Consumes a batch from the dispatch queue. The pending rows of all its messages are
 * delivered together: "match" rows of one tenant as one group (one correlation), every other
 * row on its own. The rows, the detections of the events rows and the record of what was
 * delivered are one D1 statement each per database, however many rows the batch carries. A
 * message is acked when all its rows are delivered or recorded as refused, and retried with the
 * longest backoff any of its rows asked for otherwise.
 */
export async function consumeDispatchBatch(batch: MessageBatch<QueueMessage>, env: Env, _ctx: ExecutionContext, clock: Clock = systemClock): Promise<void> {
  const valid: Array<{ message: Message<QueueMessage>; body: DispatchMessage }> = [];
  for (const message of batch.messages) {
    const parsed = DispatchMessage.safeParse(message.body);
    if (parsed.success) valid.push({ message, body: parsed.data });
    else {
      logLine("error", "malformed dispatch message dropped", { id: message.id });
      message.ack();
    }
  }
  if (valid.length === 0) return;
  // The rows of every message in one read per database; each message then takes those of its own tenant.
  let dbOf: (tenantId: string) => Database;
  let perMessage: OutboxRow[][];
  try {
    dbOf = await databasesOf(env, valid.map((v) => v.body.tenantId));
    perMessage = await rowsByMessage(dbOf, valid.map((v) => v.body));
  } catch (err) {
    logLine("error", "dispatch rows unreadable; batch retried", { error: err });
    for (const { message } of valid) message.retry({ delaySeconds: dispatchDelaySeconds(message.attempts) });
    return;
  }
  const work: Array<{ message: Message<QueueMessage>; keys: string[] }> = [];
  const pending = new Map<string, OutboxRow>();
  for (const [i, { message }] of valid.entries()) {
    const mine = perMessage[i]!.filter((r) => r.state === "pending");
    for (const row of mine) pending.set(rowKey(row), row);
    work.push({ message, keys: mine.map(rowKey) });
  }

  const groups = new Map<string, OutboxRow[]>();
  for (const row of pending.values()) {
    const key = row.kind === "match" ? `match:${row.tenantId}` : `row:${rowKey(row)}`;
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  const outcome = new Map<string, { retryDelay?: number; crashed?: boolean }>();
  // Matching first (its lookups take longest), then everything else, DISPATCH_CONCURRENCY at a time.
  const ordered = [...groups.values()].sort((a, b) => Number(b[0]!.kind === "match") - Number(a[0]!.kind === "match"));
  let eventDetections: EventDetections | undefined;
  try {
    // The detections of every events row in the batch, read once per database.
    eventDetections = new Map();
    for (const [db, rows] of byDatabase([...pending.values()], (r) => dbOf(r.tenantId))) {
      for (const [key, found] of await loadEventDetections(db, rows)) eventDetections.set(key, found);
    }
  } catch (err) {
    // Each events row then reads its own, and fails on its own if D1 is still unwell.
    logLine("error", "event detections unreadable in one read; read per row", { error: err });
  }
  // The batch's correlations share its file-lookup budget (one per tenant with match rows).
  const lookupBudget = lookupBudgetFor(ordered.filter((g) => g[0]!.kind === "match").length);
  const delivered: OutboxRow[] = [];
  const created: Array<{ tenantId: string; rows: OutboxRef[] }> = [];
  await eachConcurrently(ordered, DISPATCH_CONCURRENCY, async (group) => {
    try {
      const result = await deliverGroup(env, dbOf(group[0]!.tenantId), group, clock.now(), eventDetections, lookupBudget);
      if (result.outcome === "delivered") {
        delivered.push(...group);
        created.push({ tenantId: group[0]!.tenantId, rows: result.created });
      }
      for (const row of group) outcome.set(rowKey(row), result.outcome === "retry" ? { retryDelay: result.delaySeconds } : {});
    } catch (err) {
      logLine("error", "dispatch failed; message retried", { tenantId: group[0]!.tenantId, kind: group[0]!.kind, error: err });
      for (const row of group) outcome.set(rowKey(row), { crashed: true });
    }
  });
  for (const [db, rows] of byDatabase(delivered, (r) => dbOf(r.tenantId))) {
    const tenantsHere = new Set(rows.map((r) => r.tenantId));
    try {
      await markDelivered(env, db, rows.map((r) => r.id), created.filter((c) => tenantsHere.has(c.tenantId)), clock.now());
    } catch (err) {
      // Still pending: the retry resends them under the same keys, and the host answers from its record.
      logLine("error", "deliveries not recorded; their messages retried", { rows: rows.length, error: err });
      for (const row of rows) outcome.set(rowKey(row), { crashed: true });
    }
  }

  for (const { message, keys } of work) {
    const results = keys.map((key) => outcome.get(key) ?? {});
    const delays = results.map((r) => (r.crashed ? dispatchDelaySeconds(message.attempts) : r.retryDelay)).filter((d): d is number => d !== undefined);
    if (delays.length === 0) message.ack();
    else message.retry({ delaySeconds: Math.max(...delays) });
  }
}

/**
 * Consumes the dead-letter queue. Rows the host refused for good are already recorded as
 * failed (and raise the alert here, once); rows still pending are the host being busy or down
 * past the queue's retries: they go on the long schedule, and the sweeper sends them again.
 */
export async function consumeDeadLetterBatch(batch: MessageBatch<QueueMessage>, env: Env, _ctx: ExecutionContext, clock: Clock = systemClock): Promise<void> {
  for (const message of batch.messages) {
    const parsed = DispatchMessage.safeParse(message.body);
    if (!parsed.success) {
      // A sync message that kept failing: the cron starts the tenant's next run anyway.
      logLine("error", "dead-lettered message", { id: message.id, kind: (message.body as { kind?: unknown })?.kind ?? null });
      message.ack();
      continue;
    }
    try {
      const { db } = await tenantDatabase(env, parsed.data.tenantId);
      const [rows = []] = await rowsByMessage(() => db, [parsed.data]);
      const now = clock.now();
      for (const { row, dueAt } of await parkOnLongSchedule(db, rows, now)) {
        logLine("warn", "the host kept failing past the queue's retries; the delivery waits on the long schedule", {
          tenantId: row.tenantId,
          outboxId: row.id,
          kind: row.kind,
          failingSince: (row.failingSince ?? now).toISOString(),
          nextAttemptAt: dueAt.toISOString(),
        });
      }
      for (const row of rows.filter((r) => r.state === "failed")) {
        // One alert line per refusal: what an operator's log alerting keys on.
        logLine("alert", "the host refused a delivery for good; fix the cause and retry it from the channel's failed deliveries", { tenantId: row.tenantId, outboxId: row.id, kind: row.kind, lastError: row.lastError });
      }
      message.ack();
    } catch (err) {
      logLine("error", "dead-letter record failed; retried", { error: err });
      message.retry();
    }
  }
}
