/** GET /v1/tenants/{tenantId}/audit: who changed what and when, newest first (host contract §2). */
import { z } from "zod";
import type { AppContext, Route } from "../http/context";
import { pagedListQuery } from "../http/paging";
import { SIGNED_ERRORS, tenantRoute, type DeclaredRequest } from "../http/routes";
import { tenantDatabase } from "../storage/directory";
import { AUDIT_ACTIONS, AUDIT_OUTCOMES } from "../storage/schema";
import { listAuditEntries } from "./trail";

const AuditQuery = pagedListQuery("an entry id", "Only entries with a smaller id than this (the previous page's nextBefore)").extend({
  action: z
    .enum(AUDIT_ACTIONS, { error: `must be one of ${AUDIT_ACTIONS.join(", ")}` })
    .optional()
    .describe("Only entries of this action"),
});

/** One entry of the trail as the host shows it. */
export const AuditEntry = z
  .object({
    id: z.number().int(),
    at: z.iso.datetime(),
    actor: z.object({ id: z.string(), name: z.string().nullable() }).nullable().describe("Who the host named in the signed body; null when the host acted on its own"),
    action: z.enum(AUDIT_ACTIONS),
    outcome: z.enum(AUDIT_OUTCOMES).describe("accepted: taken for later work; succeeded: done; refused: turned down by the plugin or Cynet; failed: could not be carried out"),
    subject: z.string().nullable().describe("What the call acted on, in words an admin reads"),
    detail: z.record(z.string(), z.unknown()).describe("The call's non-secret facts: settings, ids, Cynet's answer"),
  })
  .meta({ id: "AuditEntry" });
const AuditPage = z.object({ entries: z.array(AuditEntry), nextBefore: z.number().int().nullable() }).meta({ id: "AuditPage" });

async function listAudit(c: AppContext, request: DeclaredRequest<undefined, typeof AuditQuery>): Promise<Response> {
  const { tenantId } = request;
  const query = request.query();
  const { db } = await tenantDatabase(c.env, tenantId);
  const { entries, nextBefore } = await listAuditEntries(db, tenantId, query);
  const page: z.infer<typeof AuditPage> = {
    entries: entries.map((e) => ({
      id: e.id,
      at: e.at.toISOString(),
      actor: e.actorId === null ? null : { id: e.actorId, name: e.actorName },
      action: e.action,
      outcome: e.outcome,
      subject: e.subject,
      detail: e.detail,
    })),
    nextBefore,
  };
  return c.json(page, 200);
}

/** The routes of this module. */
export const auditRoutes: Route[] = [
  tenantRoute(
    {
      method: "get",
      path: "/v1/tenants/:tenantId/audit",
      summary: "Who changed what and when: every state-changing call, newest first, paged with ?limit=&before= (optionally ?action=); never a secret",
      signed: true,
      query: AuditQuery,
      responses: { 200: { description: "A page of the audit trail", schema: AuditPage }, ...SIGNED_ERRORS },
    },
    listAudit,
  ),
];
