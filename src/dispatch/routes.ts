/** The admin's view of deliveries to the host: what failed and why, and a retry. */
import { z } from "zod";
import type { AppContext, Route } from "../http/context";
import { SIGNED_ERRORS, tenantRoute, type DeclaredRequest } from "../http/routes";
import { tenantDatabase } from "../storage/directory";
import { OUTBOX_KINDS, OUTBOX_STATES } from "../storage/schema";
import { failedRowIds, listRows, requeueFailedStatement, type OutboxRef } from "./outbox";
import { WithActor } from "../audit/actor";
import { auditStatement } from "../audit/trail";
import { namedBatch, rowsOf } from "../storage/batch";
import { findTenant } from "../storage/tenants";
import { enqueueDispatch } from "./enqueue";

/** Most rows one listing or one retry call handles; the rest wait for the next call. */
export const MAX_DELIVERY_ROWS = 90;

const Delivery = z
  .object({
    id: z.number().int(),
    kind: z.enum(OUTBOX_KINDS),
    state: z.enum(OUTBOX_STATES),
    items: z.number().int().describe("Events in an events or attachment_events row; 1 for a note or IR request"),
    attempts: z.number().int(),
    lastError: z.string().nullable().describe("The host's reason for the last failure"),
    createdAt: z.iso.datetime(),
    deliveredAt: z.iso.datetime().nullable(),
  })
  .meta({ id: "Delivery" });

export const RetryRequest = z
  .object({ ids: z.array(z.number().int().positive()).min(1).max(MAX_DELIVERY_ROWS).optional(), ...WithActor.shape })
  .strict()
  .meta({ id: "RetryDeliveriesRequest" });

const DeliveriesQuery = z.object({
  state: z
    .enum(OUTBOX_STATES, { error: `must be one of ${OUTBOX_STATES.join(", ")}` })
    .default("failed")
    .describe("The state of the deliveries listed"),
});

async function listDeliveries(c: AppContext, request: DeclaredRequest<undefined, typeof DeliveriesQuery>): Promise<Response> {
  const { tenantId } = request;
  const { state } = request.query();
  const { db } = await tenantDatabase(c.env, tenantId);
  const rows = await listRows(db, tenantId, state, MAX_DELIVERY_ROWS);
  return c.json({
    deliveries: rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      state: r.state,
      items: r.kind === "events" || r.kind === "attachment_events" ? r.alertIds.length : 1,
      attempts: r.attempts,
      lastError: r.lastError,
      createdAt: r.createdAt.toISOString(),
      deliveredAt: r.deliveredAt?.toISOString() ?? null,
    })),
  });
}

async function retryDeliveries(c: AppContext, request: DeclaredRequest<typeof RetryRequest>): Promise<Response> {
  const { tenantId } = request;
  const { ids, actor } = request.body();
  const { db } = await tenantDatabase(c.env, tenantId);
  // A tenant the host never told us about has no deliveries, and no trail to write to.
  if (!(await findTenant(db, tenantId))) return c.json({ tenantId, requeued: 0 }, 202);
  const now = new Date();
  const failed = await failedRowIds(db, tenantId, ids, MAX_DELIVERY_ROWS);
  const audit = auditStatement(db, {
    tenantId,
    actor,
    action: "delivery_retried",
    outcome: failed.length > 0 ? "accepted" : "succeeded",
    subject: failed.length > 0 ? `deliveries ${failed.join(", ")}` : "no failed delivery",
    detail: { asked: ids ?? "all failed", requeued: failed },
    at: now,
  });
  // The rows go pending and the entry is written together: a retry is never without its record.
  const done = await namedBatch(db, { requeue: failed.length > 0 ? [requeueFailedStatement(db, tenantId, failed, now)] : [], audit: [audit] });
  const requeued = done.requeue.flatMap((result) => rowsOf<OutboxRef>(result));
  if (requeued.length > 0) await enqueueDispatch(c.env, tenantId, requeued);
  return c.json({ tenantId, requeued: requeued.length }, 202);
}

/** The routes of this module. */
export const dispatchRoutes: Route[] = [
  tenantRoute(
    {
      method: "get",
      path: "/v1/tenants/:tenantId/deliveries",
      summary: "Deliveries to the host in one state (?state=failed by default), newest first, with the host's reason",
      signed: true,
      query: DeliveriesQuery,
      responses: { 200: { description: "Deliveries", schema: z.object({ deliveries: z.array(Delivery) }) }, ...SIGNED_ERRORS },
    },
    listDeliveries,
  ),
  tenantRoute(
    {
      method: "post",
      path: "/v1/tenants/:tenantId/deliveries/retry",
      summary: "Send failed deliveries again (all, or the ids given); the host receives each once",
      signed: true,
      body: RetryRequest,
      responses: { 202: { description: "Requeued", schema: z.object({ tenantId: z.string(), requeued: z.number().int() }) }, ...SIGNED_ERRORS },
    },
    retryDeliveries,
  ),
];
