/**
 * Enablement, Connect, deactivation and status (host contract §2): what the host's Settings >
 * Bundles and Channels page calls for a tenant's Cynet channel.
 */
import { verifyCredentials } from "./connect";
import { ActivationRequest, ChannelStatus, EnablementRequest } from "./schemas";
import { loadChannelStatus } from "./status";
import { cacheTokenStatement, PASSWORD_PURPOSE, sealToken } from "../cynet/session";
import { cynetTarget } from "../cynet/transport";
import { ApiError, ErrorBody } from "../http/errors";
import type { AppContext, Route } from "../http/context";
import { SIGNED_ERRORS, tenantRoute, type DeclaredRequest } from "../http/routes";
import { CHANNEL_BUNDLE_IDS, manifest } from "../manifest";
import { closeOpenRunsStatement, LEASE_RELEASED, resetSyncStateStatement, RUN_CLEARED } from "../sync/state";
import { placeTenant, tenantDatabase } from "../storage/directory";
import { loadKeyRing, seal } from "../storage/secrets";
import { appendHistory, deleteSecret, findTenant, saveEnablementStatements, upsertSecret } from "../storage/tenants";
import { namedBatch } from "../storage/batch";
import { ActorOnlyRequest, actorInRawBody } from "../audit/actor";
import { auditRefusals, auditStatement } from "../audit/trail";
import { syncState, tenants } from "../storage/schema";
import { eq } from "drizzle-orm";
import { requestSync } from "../sync/enqueue";

async function status(c: AppContext, { tenantId }: DeclaredRequest): Promise<Response> {
  const { db } = await tenantDatabase(c.env, tenantId);
  return c.json(await loadChannelStatus(db, tenantId), 200);
}

async function putEnablement(c: AppContext, request: DeclaredRequest<typeof EnablementRequest>): Promise<Response> {
  const { tenantId } = request;
  const body = request.body();
  const bundles = [...new Set(body.bundles)];
  if (body.enabled && !bundles.some((b) => CHANNEL_BUNDLE_IDS.has(b))) {
    throw new ApiError(400, "invalid_request", `Enabling the channel needs at least one assigned bundle that includes Cynet (${[...CHANNEL_BUNDLE_IDS].join(", ")}).`, "bundles");
  }
  const now = new Date();
  // First sight of a tenant places it in one of the databases; its rows live there from now on.
  const { db } = await placeTenant(c.env, tenantId, now);
  const before = await findTenant(db, tenantId);
  const previous = before ? { enabled: before.enabled, bundles: before.bundles } : null;
  const changed = previous === null || previous.enabled !== body.enabled || previous.bundles.join(",") !== bundles.join(",");
  await namedBatch(db, {
    enablement: saveEnablementStatements(db, tenantId, body.enabled, bundles, now),
    audit: [
      auditStatement(db, {
        tenantId,
        actor: body.actor,
        action: "enablement_changed",
        outcome: "succeeded",
        subject: body.enabled ? `enabled (${bundles.join(", ")})` : "disabled",
        detail: { enabled: body.enabled, bundles, previous, changed },
        at: now,
      }),
    ],
  });
  return c.json(await loadChannelStatus(db, tenantId), 200);
}

async function postActivation(c: AppContext, request: DeclaredRequest<typeof ActivationRequest>): Promise<Response> {
  const { tenantId } = request;
  const { db } = await tenantDatabase(c.env, tenantId);
  const row = await findTenant(db, tenantId);
  // A tenant the host never told us about has no trail to write to.
  if (!row) throw notEnabled();
  const now = new Date();
  const actor = actorInRawBody(c.get("rawBody"));
  // Refusals are recorded with what the admin typed that is not secret, once it was read: never the password.
  let typed: { orgUrl: string; clientId: string; username: string } | undefined;
  const refusal = () => ({ tenantId, actor, action: "connect_refused" as const, subject: typed?.orgUrl ?? null, detail: typed ?? {}, at: now });
  return auditRefusals(db, refusal, async () => {
    if (!row.enabled) throw notEnabled();
    const input = request.body();
    const settings = { orgUrl: input.orgUrl, clientId: input.clientId, username: input.username };
    typed = settings;
    const ring = await loadKeyRing(c.env.CREDENTIALS_KEY).catch(() => {
      throw new ApiError(503, "not_configured", "The Cynet channel cannot store credentials: its CREDENTIALS_KEY is missing or invalid. Ask the operator to set it.");
    });
    const session = await verifyCredentials(cynetTarget(c.env, input.orgUrl), input, now);

    const sealedPassword = await seal(ring, tenantId, PASSWORD_PURPOSE, input.password);
    const sealedToken = await sealToken(ring, tenantId, session.accessToken);
    const reconnect = row.state !== "inactive";
    // Another Cynet organization or site means another alert stream: start it from the lookback.
    const sameSource = row.orgUrl === input.orgUrl && row.clientId === input.clientId;
    // Credentials, cached token, channel state, history and the audit entry land together or not at all.
    await namedBatch(db, {
      connect: [
        upsertSecret(db, tenantId, "password", sealedPassword, now, null),
        cacheTokenStatement(db, tenantId, sealedToken, now),
        db
          .update(tenants)
          .set({ ...settings, state: "active", activatedAt: now, errorCode: null, errorMessage: null, errorAt: null, updatedAt: now })
          .where(eq(tenants.id, tenantId)),
        appendHistory(db, { tenantId, action: reconnect ? "reconnected" : "connected", ...settings, at: now }),
        closeOpenRunsStatement(db, tenantId, "the channel was connected again", now),
        resetSyncStateStatement(db, tenantId, manifest.sync.initialLookbackDays, now, !sameSource),
      ],
      audit: [
        auditStatement(db, {
          tenantId,
          actor: input.actor,
          // Connect on a channel already connected (or stopped in error) replaces its credentials.
          action: reconnect ? "credentials_rotated" : "connected",
          outcome: "succeeded",
          subject: input.orgUrl,
          detail: { ...settings, previousState: row.state, sourceChanged: reconnect && !sameSource },
          at: now,
        }),
      ],
    });
    await requestSync(c.env, tenantId, "activation", now);
    return c.json(await loadChannelStatus(db, tenantId), 200);
  });
}

function notEnabled(): ApiError {
  return new ApiError(409, "channel_not_enabled", "The Cynet channel is not enabled for this organization: assign a bundle that includes Cynet first.");
}

async function deleteActivation(c: AppContext, request: DeclaredRequest<typeof ActorOnlyRequest>): Promise<Response> {
  const { tenantId } = request;
  const { db } = await tenantDatabase(c.env, tenantId);
  const row = await findTenant(db, tenantId);
  if (!row) throw new ApiError(404, "unknown_tenant", "The Cynet channel was never enabled for this organization.");
  const { actor } = request.body();
  const now = new Date();
  const settings = { orgUrl: row.orgUrl, clientId: row.clientId, username: row.username };
  await namedBatch(db, {
    deactivate: [
      deleteSecret(db, tenantId, "password"),
      deleteSecret(db, tenantId, "token"),
      db
        .update(tenants)
        .set({ state: "inactive", username: null, errorCode: null, errorMessage: null, errorAt: null, updatedAt: now })
        .where(eq(tenants.id, tenantId)),
      appendHistory(db, { tenantId, action: "deactivated", ...settings, at: now }),
      closeOpenRunsStatement(db, tenantId, "the channel was deactivated", now),
      // The run in progress and its lease go; the cursor stays for a reconnect to the same source.
      db
        .update(syncState)
        .set({ ...RUN_CLEARED, ...LEASE_RELEASED })
        .where(eq(syncState.tenantId, tenantId)),
    ],
    audit: [auditStatement(db, { tenantId, actor, action: "deactivated", outcome: "succeeded", subject: row.orgUrl, detail: { ...settings, previousState: row.state }, at: now })],
  });
  return c.json(await loadChannelStatus(db, tenantId), 200);
}

const statusAnswer = { description: "The channel's status; never the password.", schema: ChannelStatus };

/** The routes of this module. */
export const activationRoutes: Route[] = [
  tenantRoute({ method: "get", path: "/v1/tenants/:tenantId/status", summary: "Channel status for the Enabled Channels row", signed: true, responses: { 200: statusAnswer, ...SIGNED_ERRORS } }, status),
  tenantRoute(
    {
      method: "put",
      path: "/v1/tenants/:tenantId/enablement",
      summary: "A bundle including Cynet was assigned or unassigned",
      signed: true,
      body: EnablementRequest,
      responses: { 200: statusAnswer, ...SIGNED_ERRORS },
    },
    putEnablement,
  ),
  tenantRoute(
    {
      method: "post",
      path: "/v1/tenants/:tenantId/activation",
      summary: "Connect: check the credentials against Cynet, store them encrypted, set the channel Active",
      signed: true,
      body: ActivationRequest,
      bodyName: "The activation form",
      // The Cynet Activation dialog shows the manifest's labels; a refusal speaks of what the admin saw.
      fieldLabels: Object.fromEntries(manifest.activation.fields.map((f) => [f.name, f.label])),
      responses: {
        200: statusAnswer,
        ...SIGNED_ERRORS,
        409: { description: "channel_not_enabled: no assigned bundle includes Cynet.", schema: ErrorBody },
        422: { description: "Cynet refused the credentials: invalid_credentials (password), missing_api_permission (username) or invalid_client_id (clientId).", schema: ErrorBody },
        502: { description: "cynet_unreachable or cynet_unavailable: Cynet could not be reached at that URL or is failing.", schema: ErrorBody },
        503: { description: "not_configured: the plugin cannot store credentials (CREDENTIALS_KEY).", schema: ErrorBody },
      },
    },
    postActivation,
  ),
  tenantRoute(
    {
      method: "delete",
      path: "/v1/tenants/:tenantId/activation",
      summary: "Deactivate: destroy the credentials and cached token, stop syncing, keep history",
      signed: true,
      body: ActorOnlyRequest,
      responses: { 200: statusAnswer, ...SIGNED_ERRORS, 404: { description: "unknown_tenant", schema: ErrorBody } },
    },
    deleteActivation,
  ),
];
