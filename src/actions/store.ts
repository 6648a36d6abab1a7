/**
 * Every query on the response-action tables (actions, action_hosts, remediation_items): this
 * module owns their rows and states. The consumer and the routes only call these.
 *
 * @example
 * const claimed = await claimHost(db, host, crypto.randomUUID(), now);
 * if (claimed) await namedBatch(db, { sent: recordSentStatements(db, host, claim, [13592], now) });
 */
import { and, asc, desc, eq, getTableColumns, inArray, lt, or, sql, type SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../storage/db";
import { jsonList } from "../storage/json-list";
import { actionHosts, actions, remediationItems, type ActionHostRow, type ActionRow, type RemediationItemRow } from "../storage/schema";

/** A new action's row. */
export type NewAction = typeof actions.$inferInsert;

/** Statements writing a new action and its hosts (one pending request per host); nothing when its client key exists. */
export function insertActionStatements(db: Database, action: NewAction & { id: string; tenantId: string; hosts: string[] }, now: Date): BatchItem<"sqlite">[] {
  const insertAction = db.insert(actions).values(action).onConflictDoNothing();
  // The hosts land only with their action: a request whose key was taken meanwhile adds none.
  const mine = db.select({ one: sql`1` }).from(actions).where(and(eq(actions.id, action.id), eq(actions.tenantId, action.tenantId)));
  const row: Record<keyof ActionHostRow, SQL> = {
    tenantId: sql`${action.tenantId}`,
    actionId: sql`${action.id}`,
    host: sql`h.value`,
    state: sql`'pending'`,
    attempts: sql`0`,
    nextAttemptAt: sql`${now.getTime()}`,
    claim: sql`null`,
    claimedAt: sql`null`,
    errorCode: sql`null`,
    error: sql`null`,
    sentAt: sql`null`,
  };
  // Every column in the table's order (Drizzle refuses an INSERT … SELECT otherwise).
  const ordered = Object.fromEntries(Object.keys(getTableColumns(actionHosts)).map((key) => [key, row[key as keyof ActionHostRow]]));
  const insertHosts = db
    .insert(actionHosts)
    .select(db.select(ordered).from(sql`json_each(${JSON.stringify(action.hosts)}) as h`).where(sql`exists ${mine}`) as never);
  return [insertAction, insertHosts];
}

/** SQL that holds when the tenant's action `id` is stored (for an audit entry that must land only with it). */
export function actionExists(tenantId: string, id: string) {
  return sql`exists (select 1 from ${actions} where ${actions.tenantId} = ${tenantId} and ${actions.id} = ${id})`;
}

/** The tenant's action with this id. */
export async function findAction(db: Database, tenantId: string, id: string): Promise<ActionRow | undefined> {
  return db.query.actions.findFirst({ where: and(eq(actions.tenantId, tenantId), eq(actions.id, id)) });
}

/** The tenant's action made under this Idempotency-Key. */
export async function findByClientKey(db: Database, tenantId: string, clientKey: string): Promise<ActionRow | undefined> {
  return db.query.actions.findFirst({ where: and(eq(actions.tenantId, tenantId), eq(actions.clientKey, clientKey)) });
}

/** A page of the tenant's actions, newest first, after the action `before` (its id) when given; one more than `limit` tells a next page. */
export async function listActions(db: Database, tenantId: string, limit: number, before: ActionRow | undefined): Promise<ActionRow[]> {
  const after = before ? or(lt(actions.createdAt, before.createdAt), and(eq(actions.createdAt, before.createdAt), lt(actions.id, before.id))) : undefined;
  return db
    .select()
    .from(actions)
    .where(and(eq(actions.tenantId, tenantId), after))
    .orderBy(desc(actions.createdAt), desc(actions.id))
    .limit(limit + 1);
}

/** The hosts and remediation items of these actions of one tenant, in two reads. */
export async function partsOf(db: Database, tenantId: string, actionIds: string[]): Promise<{ hosts: ActionHostRow[]; items: RemediationItemRow[] }> {
  if (actionIds.length === 0) return { hosts: [], items: [] };
  const [hosts, items] = await Promise.all([
    db.select().from(actionHosts).where(and(eq(actionHosts.tenantId, tenantId), inArray(actionHosts.actionId, jsonList(actionIds)))),
    db
      .select()
      .from(remediationItems)
      .where(and(eq(remediationItems.tenantId, tenantId), inArray(remediationItems.actionId, jsonList(actionIds))))
      .orderBy(asc(remediationItems.itemId)),
  ]);
  return { hosts, items };
}

const hostKey = (h: Pick<ActionHostRow, "tenantId" | "actionId" | "host">) =>
  and(eq(actionHosts.tenantId, h.tenantId), eq(actionHosts.actionId, h.actionId), eq(actionHosts.host, h.host));

/**
 * Claims a pending host's request for this invocation ("sending"), counting the attempt: the
 * claim is written before Cynet is called, so a retried message finds it and never calls again.
 * Returns the claimed row, or undefined when another invocation has it or it is no longer pending.
 */
export async function claimHost(db: Database, host: ActionHostRow, claim: string, now: Date): Promise<ActionHostRow | undefined> {
  const [row] = await db
    .update(actionHosts)
    .set({ state: "sending", claim, claimedAt: now, attempts: sql`${actionHosts.attempts} + 1` })
    .where(and(hostKey(host), eq(actionHosts.state, "pending")))
    .returning();
  return row;
}

/** Statements recording Cynet's answer to a claimed request: sent, with its remediation items to poll. */
export function recordSentStatements(db: Database, host: ActionHostRow, claim: string, itemIds: number[], now: Date): BatchItem<"sqlite">[] {
  const sent = db
    .update(actionHosts)
    .set({ state: "sent", sentAt: now, claim: null, errorCode: null, error: null })
    .where(and(hostKey(host), eq(actionHosts.claim, claim)));
  const items = [...new Set(itemIds)].map((itemId) =>
    db.insert(remediationItems).values({ tenantId: host.tenantId, actionId: host.actionId, host: host.host, itemId, createdAt: now }).onConflictDoNothing(),
  );
  return [sent, ...items];
}

/** Statement ending a claimed (or still pending) request without a send: failed or unknown, with its reason. */
export function recordEndedStatement(db: Database, host: ActionHostRow, state: "failed" | "unknown", errorCode: string, error: string) {
  return db
    .update(actionHosts)
    .set({ state, claim: null, errorCode, error })
    .where(and(hostKey(host), inArray(actionHosts.state, ["pending", "sending"])));
}

/** Statement putting a claimed request back to pending, due again at `dueAt` (Cynet said "not now"). */
export function recordRetryStatement(db: Database, host: ActionHostRow, claim: string, dueAt: Date, errorCode: string, error: string) {
  return db
    .update(actionHosts)
    .set({ state: "pending", claim: null, nextAttemptAt: dueAt, errorCode, error })
    .where(and(hostKey(host), eq(actionHosts.claim, claim)));
}

/** What one poll learned about an item. */
export type ItemUpdate = Pick<RemediationItemRow, "status" | "statusInfo" | "samePolls" | "polls" | "final" | "note" | "lastPolledAt">;

/** Statement storing one poll's result for an item. */
export function recordPollStatement(db: Database, item: RemediationItemRow, update: ItemUpdate) {
  return db
    .update(remediationItems)
    .set(update)
    .where(and(eq(remediationItems.tenantId, item.tenantId), eq(remediationItems.actionId, item.actionId), eq(remediationItems.itemId, item.itemId), eq(remediationItems.final, false)));
}

/** Statement moving the action's chain from `step` to the next, due at `nextRunAt`; changes nothing when another invocation moved it. */
export function advanceStatement(db: Database, action: ActionRow, step: number, nextRunAt: Date) {
  return db
    .update(actions)
    .set({ step: step + 1, nextRunAt, state: "running" })
    .where(and(eq(actions.tenantId, action.tenantId), eq(actions.id, action.id), eq(actions.step, step), inArray(actions.state, ["queued", "running"])))
    .returning({ step: actions.step });
}

/** Statement ending the action (done or failed) at `step`; changes nothing when another invocation moved it. */
export function finishStatement(db: Database, action: ActionRow, step: number, state: "done" | "failed", now: Date) {
  return db
    .update(actions)
    .set({ step: step + 1, state, finishedAt: now })
    .where(and(eq(actions.tenantId, action.tenantId), eq(actions.id, action.id), eq(actions.step, step), inArray(actions.state, ["queued", "running"])))
    .returning({ step: actions.step });
}

/** SQL that holds once the action is ended by the invocation that finished it at `now` (for its audit entry, in the same batch). */
export function finishedAt(action: ActionRow, step: number, now: Date) {
  return sql`exists (select 1 from ${actions} where ${actions.tenantId} = ${action.tenantId} and ${actions.id} = ${action.id}
    and ${actions.step} = ${step + 1} and ${actions.finishedAt} = ${now.getTime()})`;
}

/** Open actions whose next message is overdue before `before`, oldest-due first, at most `limit`: what the cron sends again. */
export async function overdueActions(db: Database, before: Date, limit: number) {
  return db
    .select({ tenantId: actions.tenantId, id: actions.id, step: actions.step })
    .from(actions)
    // Spelled as the partial index's condition, so SQLite reads the index (bound values would not prove it).
    .where(and(sql`${actions.state} in ('queued', 'running')`, lt(actions.nextRunAt, before)))
    .orderBy(asc(actions.nextRunAt))
    .limit(limit);
}

/** Marks swept actions as just sent, so the next tick does not send them again. */
export async function markActionsSwept(db: Database, ids: string[], now: Date): Promise<void> {
  if (ids.length === 0) return;
  await db.update(actions).set({ nextRunAt: now }).where(and(inArray(actions.id, jsonList(ids)), inArray(actions.state, ["queued", "running"])));
}
