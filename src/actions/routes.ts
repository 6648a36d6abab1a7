/**
 * The IR team acts in Cynet (host contract §2, "actions"): POST …/actions asks for one response
 * action on named hosts, GET …/actions and …/actions/{id} tell where each stands. The request is
 * checked here (the hosts must be ones Cynet has seen, never "everywhere"); the work runs on the
 * actions queue (./consumer.ts).
 */
import { z } from "zod";
import { Actor } from "../audit/actor";
import { auditStatement, auditStatementIf } from "../audit/trail";
import { keyDigest } from "../dispatch/keys";
import { ApiError, ErrorBody } from "../http/errors";
import type { AppContext, Route } from "../http/context";
import { SIGNED_ERRORS, tenantRoute, type DeclaredRequest } from "../http/routes";
import { MAX_SCAN_ID_LENGTH } from "../host/schemas";
import { namedBatch } from "../storage/batch";
import type { Database } from "../storage/db";
import { tenantDatabase } from "../storage/directory";
import { ACTION_KINDS, type ActionRow } from "../storage/schema";
import { requireActiveChannel } from "../sync/routes";
import { RESPONSE_ACTIONS } from "./catalog";
import { MAX_HOSTS_PER_ACTION } from "./limits";
import { sendStep } from "./consumer";
import { ActionId } from "./messages";
import { actionExists, findAction, findByClientKey, insertActionStatements, listActions, partsOf } from "./store";
import { hostKey, resolveHosts } from "./targets";
import { actionView, ActionView } from "./view";

export { MAX_HOSTS_PER_ACTION };
/** Longest host name: a DNS name's limit. */
export const MAX_HOST_NAME_LENGTH = 253;
/** Longest reason kept: a sentence or two for the audit trail and the note. */
export const MAX_REASON_LENGTH = 1000;
/** Longest IR request id: as long as a scan id. */
const MAX_IR_REQUEST_ID_LENGTH = MAX_SCAN_ID_LENGTH;
/** Longest Idempotency-Key taken: a UUID or a request id, with room. */
export const MAX_CLIENT_KEY_LENGTH = 200;
/** Largest page of actions one call returns, and the default. */
export const MAX_ACTIONS_PAGE = 100;
const DEFAULT_ACTIONS_PAGE = 20;

/** Names that mean "every host": refused, Cynet's `host: null` is never sent. */
const EVERYWHERE = new Set(["*", "all", "any", "everywhere", "all hosts", "all endpoints", "null", "none"]);

const HostName = z
  .string()
  .trim()
  .min(1, "a host name is empty")
  .max(MAX_HOST_NAME_LENGTH)
  .refine((h) => !EVERYWHERE.has(h.toLowerCase()) && !/[*?%]/.test(h), "name one host; an action never runs everywhere")
  .refine((h) => !/[\u0000-\u001f\u007f]/.test(h), "a host name has no control characters");

export const ActionRequest = z
  .object({
    action: z.enum(ACTION_KINDS, { error: `one of ${ACTION_KINDS.join(", ")}` }),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, "a SHA-256 is 64 hex characters")
      .transform((s) => s.toLowerCase())
      .optional()
      .describe("The file: required for file actions, refused for host actions"),
    hosts: z
      .array(HostName, { error: "a list of host names" })
      .min(1, "name at least one host; an action never runs everywhere")
      .max(MAX_HOSTS_PER_ACTION, `at most ${MAX_HOSTS_PER_ACTION} hosts per action`),
    scanId: z.string().min(1).max(MAX_SCAN_ID_LENGTH).optional().describe("The scan the action is about: its outcome is noted there"),
    irRequestId: z.string().min(1).max(MAX_IR_REQUEST_ID_LENGTH).optional(),
    reason: z.string().trim().max(MAX_REASON_LENGTH).optional(),
    actor: Actor.describe("Who asks: required for actions"),
  })
  .strict()
  .superRefine((body, ctx) => {
    const seen = new Set<string>();
    body.hosts.forEach((h, i) => {
      if (seen.has(hostKey(h))) ctx.addIssue({ code: "custom", path: ["hosts", i], message: `host "${h}" is named twice` });
      seen.add(hostKey(h));
    });
  })
  .meta({ id: "ActionRequest" });
export type ActionRequest = z.infer<typeof ActionRequest>;

const ActionHeaders = z.object({
  "idempotency-key": z
    .string()
    .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces")
    .max(MAX_CLIENT_KEY_LENGTH)
    .optional()
    .describe("The same key answers the same action again instead of asking Cynet twice; a key names one request"),
});

const ActionsQuery = z.object({
  limit: z.coerce.number({ error: `limit is 1 to ${MAX_ACTIONS_PAGE}` }).int().min(1).max(MAX_ACTIONS_PAGE).default(DEFAULT_ACTIONS_PAGE),
  before: ActionId.optional().describe("Only actions older than this one (the previous page's nextBefore)"),
});
const ActionsPage = z.object({ actions: z.array(ActionView), nextBefore: z.string().nullable() }).meta({ id: "ActionsPage" });

/** The audit entry of a request the plugin refused after reading it (the actor is known then). */
async function auditRefusal(db: Database, tenantId: string, body: ActionRequest, err: ApiError, now: Date): Promise<void> {
  await namedBatch(db, {
    audit: [
      auditStatement(db, {
        tenantId,
        actor: body.actor,
        action: "action_requested",
        outcome: err.status === 400 ? "refused" : "failed",
        subject: `${body.action} on ${body.hosts.join(", ")}`,
        detail: { action: body.action, sha256: body.sha256 ?? null, hosts: body.hosts, scanId: body.scanId ?? null, error: err.code, field: err.field ?? null, message: err.message },
        at: now,
      }),
    ],
  });
}

/** What an answer shows of a stored action. */
async function viewOf(db: Database, action: ActionRow): Promise<ActionView> {
  const parts = await partsOf(db, action.tenantId, [action.id]);
  return actionView(action, parts.hosts, parts.items);
}

async function requestAction(c: AppContext, request: DeclaredRequest<typeof ActionRequest, undefined, typeof ActionHeaders>): Promise<Response> {
  const { tenantId } = request;
  const { db } = await tenantDatabase(c.env, tenantId);
  const tenant = await requireActiveChannel(db, tenantId);
  const body = request.body();
  const clientKey = request.headers()["idempotency-key"];
  const digest = await keyDigest(JSON.stringify(body));
  if (clientKey !== undefined) {
    const earlier = await findByClientKey(db, tenantId, clientKey);
    if (earlier) return replay(c, db, earlier, digest);
  }
  const now = new Date();
  let hosts: string[];
  try {
    const targets = RESPONSE_ACTIONS[body.action].targets;
    if (targets === "file" && body.sha256 === undefined) throw new ApiError(400, "invalid_request", `"sha256" is required for ${body.action}: name the file to act on.`, "sha256");
    if (targets === "host" && body.sha256 !== undefined) throw new ApiError(400, "invalid_request", `"sha256" is not taken by ${body.action}, which acts on the hosts themselves.`, "sha256");
    hosts = await resolveHosts(c.env, db, tenant, body.hosts, body.sha256 ?? null, now);
  } catch (err) {
    if (err instanceof ApiError) await auditRefusal(db, tenantId, body, err, now);
    throw err;
  }
  const id = crypto.randomUUID();
  const action = {
    id,
    tenantId,
    action: body.action,
    sha256: body.sha256 ?? null,
    hosts,
    scanId: body.scanId ?? null,
    irRequestId: body.irRequestId ?? null,
    reason: body.reason || null,
    actorId: body.actor.id,
    actorName: body.actor.name || null,
    clientKey: clientKey ?? null,
    requestDigest: digest,
    nextRunAt: now,
    createdAt: now,
  };
  // The audit entry lands with the action (a key taken meanwhile by an identical request is answered as that one, below).
  await namedBatch(db, {
    action: insertActionStatements(db, action, now),
    audit: [
      auditStatementIf(db, {
        tenantId,
        actor: body.actor,
        action: "action_requested",
        outcome: "accepted",
        subject: `action ${id}: ${body.action} on ${hosts.join(", ")}`,
        detail: { actionId: id, action: body.action, sha256: action.sha256, hosts, scanId: action.scanId, irRequestId: action.irRequestId, reason: action.reason, idempotencyKey: clientKey ?? null },
        at: now,
      }, actionExists(tenantId, id)),
    ],
  });
  const stored = await findAction(db, tenantId, id);
  if (!stored) {
    // Another request with this key won the race: this one is answered as that one.
    const winner = clientKey === undefined ? undefined : await findByClientKey(db, tenantId, clientKey);
    if (winner) return replay(c, db, winner, digest);
    throw new Error("action not stored");
  }
  await sendStep(c.env, { kind: "action", tenantId, actionId: id, step: 0 });
  return c.json(await viewOf(db, stored), 202);
}

/** The answer to a repeated Idempotency-Key: the action it made, or a 422 when the key came with another request. */
async function replay(c: AppContext, db: Database, earlier: ActionRow, digest: string): Promise<Response> {
  if (earlier.requestDigest !== digest) {
    throw new ApiError(422, "idempotency_key_reused", `This Idempotency-Key was used for another request (action ${earlier.id}); send a new key for a new action.`, "idempotency-key");
  }
  c.header("idempotent-replayed", "true");
  return c.json(await viewOf(db, earlier), 202);
}

async function listTenantActions(c: AppContext, request: DeclaredRequest<undefined, typeof ActionsQuery>): Promise<Response> {
  const { tenantId } = request;
  const { limit, before } = request.query();
  const { db } = await tenantDatabase(c.env, tenantId);
  const cursor = before ? await findAction(db, tenantId, before) : undefined;
  if (before && !cursor) throw new ApiError(400, "invalid_request", `"before" names no action of this organization.`, "before");
  const rows = await listActions(db, tenantId, limit, cursor);
  const page = rows.slice(0, limit);
  const parts = await partsOf(db, tenantId, page.map((a) => a.id));
  return c.json({ actions: page.map((a) => actionView(a, parts.hosts, parts.items)), nextBefore: rows.length > limit ? (page.at(-1)?.id ?? null) : null }, 200);
}

async function getAction(c: AppContext, request: DeclaredRequest): Promise<Response> {
  const { tenantId } = request;
  const id = ActionId.safeParse(c.req.param("id"));
  if (!id.success) throw new ApiError(400, "invalid_request", "The action id in the path is not one this plugin issues.", "id");
  const { db } = await tenantDatabase(c.env, tenantId);
  const action = await findAction(db, tenantId, id.data);
  if (!action) throw new ApiError(404, "action_not_found", "There is no action with this id for this organization.", "id");
  return c.json(await viewOf(db, action), 200);
}

/** The routes of this module. */
export const actionRoutes: Route[] = [
  tenantRoute(
    {
      method: "post",
      path: "/v1/tenants/:tenantId/actions",
      summary: "Ask Cynet for a response action on named hosts (quarantine, kill, delete, restore, verify a file; isolate, release a host)",
      signed: true,
      body: ActionRequest,
      bodyName: "The action request",
      headers: ActionHeaders,
      responses: {
        202: { description: "Accepted: the action, queued (or, for a repeated Idempotency-Key, the action that key made, with `idempotent-replayed: true`)", schema: ActionView },
        ...SIGNED_ERRORS,
        409: { description: "channel_not_enabled or channel_not_active", schema: ErrorBody },
        422: { description: "idempotency_key_reused: the key came with another request", schema: ErrorBody },
        502: { description: "Cynet could not be asked which endpoints have the file", schema: ErrorBody },
      },
    },
    requestAction,
  ),
  tenantRoute(
    {
      method: "get",
      path: "/v1/tenants/:tenantId/actions",
      summary: "Response actions, newest first, paged with ?limit=&before=",
      signed: true,
      query: ActionsQuery,
      responses: { 200: { description: "A page of actions", schema: ActionsPage }, ...SIGNED_ERRORS },
    },
    listTenantActions,
  ),
  tenantRoute(
    {
      method: "get",
      path: "/v1/tenants/:tenantId/actions/:id",
      summary: "One response action: who asked, its state, each host's remediation items with Cynet's status and words",
      signed: true,
      responses: { 200: { description: "The action", schema: ActionView }, ...SIGNED_ERRORS, 404: { description: "action_not_found", schema: ErrorBody } },
    },
    getAction,
  ),
];
