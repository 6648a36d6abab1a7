/**
 * The audit trail (host contract §2, "audit"): every state-changing call the host makes is
 * recorded with the actor named in its signed body, when, what, and how it ended, and read back
 * newest first from GET /audit. Calls go through captured queues (callApp): what a call queues is
 * checked, and no sync runs behind the test's back.
 */
import { describe, expect, it } from "vitest";
import { callApp } from "../hardening/harness";
import { uniqueTenant } from "../support/plugin";
import { connectForm, CynetWorld, OPERATOR } from "../support/standins";
import { capturedEnv, rows } from "../support/sync";

type Entry = {
  id: number;
  at: string;
  actor: { id: string; name: string | null } | null;
  action: string;
  outcome: string;
  subject: string | null;
  detail: Record<string, unknown>;
};
type AuditPage = { entries: Entry[]; nextBefore: number | null };

const ANA = { id: "ana@acme.example", name: "Ana Admin" };
const BEN = { id: "u-4711" };
const WRONG_PASSWORD = "Typo-In-The-Password-7";
const HOUR = 3_600_000;

/** A tenant, its captured env, and calls addressed to it. */
function tenant(prefix = "au") {
  const tenantId = uniqueTenant(prefix);
  const c = capturedEnv();
  const call = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => callApp<T>(c.env, method, `/v1/tenants/${tenantId}${path}`, body);
  const audit = async (query = "") => {
    const r = await call<AuditPage>("GET", `/audit${query}`);
    expect(r.status, r.text).toBe(200);
    return r.body;
  };
  return { ...c, tenantId, call, audit };
}

/** The trail newest first, as (action, outcome, actor id) triples. */
const summary = (page: AuditPage) => page.entries.map((e) => [e.action, e.outcome, e.actor?.id ?? null]);

describe("audit trail", () => {
  it("records each state-changing call with its actor, time and outcome, newest first, and never the password", async () => {
    const world = await new CynetWorld().setup({ alertCount: 0 });
    const t = tenant();
    const started = Date.now();

    expect((await t.call("PUT", "/enablement", { enabled: true, bundles: ["endpoint-protection"], actor: ANA })).status).toBe(200);
    const refused = await t.call("POST", "/activation", { ...connectForm(world, { password: WRONG_PASSWORD }), actor: ANA });
    expect(refused.status).toBe(422);
    expect((await t.call("POST", "/activation", { ...connectForm(world), actor: ANA })).status).toBe(200);
    expect((await t.call("POST", "/activation", { ...connectForm(world), actor: BEN })).status).toBe(200);
    expect((await t.call("POST", "/sync", { actor: BEN })).status).toBe(202);
    const since = new Date(Date.now() - 2 * 24 * HOUR).toISOString();
    expect((await t.call("POST", "/sync/backfill", { since, actor: ANA })).status).toBe(202);
    // No actor: the host acted on its own.
    expect((await t.call("POST", "/sync/reset", { lookbackDays: 7 })).status).toBe(202);
    expect((await t.call("POST", "/deliveries/retry", { actor: BEN })).status).toBe(202);
    expect((await t.call("DELETE", "/activation", { actor: ANA })).status).toBe(200);
    const afterDeactivation = await t.call("POST", "/sync", { actor: BEN });
    expect(afterDeactivation.status).toBe(409);
    expect((await t.call("PUT", "/enablement", { enabled: false, bundles: [], actor: ANA })).status).toBe(200);

    const page = await t.audit();
    expect(summary(page)).toEqual([
      ["enablement_changed", "succeeded", ANA.id],
      ["sync_requested", "refused", BEN.id],
      ["deactivated", "succeeded", ANA.id],
      ["delivery_retried", "succeeded", BEN.id],
      ["reset_requested", "accepted", null],
      ["backfill_requested", "accepted", ANA.id],
      ["sync_requested", "accepted", BEN.id],
      ["credentials_rotated", "succeeded", BEN.id],
      ["connected", "succeeded", ANA.id],
      ["connect_refused", "refused", ANA.id],
      ["enablement_changed", "succeeded", ANA.id],
    ]);
    expect(page.nextBefore).toBeNull();
    const ids = page.entries.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    for (const e of page.entries) {
      expect(Date.parse(e.at)).toBeGreaterThanOrEqual(started - 1000);
      expect(Date.parse(e.at)).toBeLessThanOrEqual(Date.now());
    }
    const byAction = (action: string, outcome?: string) => page.entries.find((e) => e.action === action && (outcome === undefined || e.outcome === outcome))!;

    // What each entry says, in words and facts an admin reads.
    expect(page.entries.at(-1)).toMatchObject({ actor: { id: ANA.id, name: ANA.name }, subject: "enabled (endpoint-protection)", detail: { enabled: true, bundles: ["endpoint-protection"], previous: null, changed: true } });
    expect(page.entries[0]).toMatchObject({ subject: "disabled", detail: { enabled: false, bundles: [], previous: { enabled: true, bundles: ["endpoint-protection"] }, changed: true } });
    expect(byAction("connect_refused")).toMatchObject({
      subject: world.orgUrl,
      detail: { orgUrl: world.orgUrl, clientId: "123456", username: OPERATOR.username, error: "invalid_credentials", status: 422, field: "password" },
    });
    expect(byAction("connected")).toMatchObject({ subject: world.orgUrl, detail: { orgUrl: world.orgUrl, username: OPERATOR.username, previousState: "inactive", sourceChanged: false } });
    expect(byAction("credentials_rotated")).toMatchObject({ actor: { id: BEN.id, name: null }, detail: { previousState: "active", sourceChanged: false } });
    expect(byAction("backfill_requested")).toMatchObject({ subject: `since ${since}`, detail: { since } });
    expect(byAction("reset_requested")).toMatchObject({ actor: null, subject: "lookback 7 days", detail: { lookbackDays: 7 } });
    expect(byAction("delivery_retried")).toMatchObject({ subject: "no failed delivery", detail: { asked: "all failed", requeued: [] } });
    expect(byAction("deactivated")).toMatchObject({ subject: world.orgUrl, detail: { orgUrl: world.orgUrl, username: OPERATOR.username, previousState: "active" } });
    expect(byAction("sync_requested", "refused")).toMatchObject({ detail: { error: "channel_not_active", status: 409, message: (afterDeactivation.body as { message: string }).message } });

    // What the calls queued: the two Connects' first syncs, sync now, backfill and reset.
    expect(t.sync.take().map((m) => m.reason)).toEqual(["activation", "activation", "manual", "backfill", "manual"]);

    // The password typed, right or wrong, is in no entry: not in the answer, not in the rows.
    const stored = JSON.stringify(await rows("SELECT * FROM audit_log WHERE tenant_id = ?", t.tenantId));
    expect(stored).toContain(OPERATOR.username);
    for (const text of [stored, JSON.stringify(page)]) {
      expect(text).not.toContain(OPERATOR.password);
      expect(text).not.toContain(WRONG_PASSWORD);
    }
  });

  it("pages newest first with ?limit=&before=, filters by ?action=, and keeps each tenant's trail to itself", async () => {
    const t = tenant();
    const other = tenant();
    for (let i = 0; i < 5; i++) {
      // Ids and names are trimmed; a blank name is no name.
      expect((await t.call("PUT", "/enablement", { enabled: true, bundles: ["endpoint-protection"], actor: { id: ` admin-${i} `, name: "  " } })).status).toBe(200);
    }
    expect((await t.call("POST", "/deliveries/retry", {})).status).toBe(202);
    expect((await other.call("PUT", "/enablement", { enabled: true, bundles: ["endpoint-protection"], actor: { id: "someone-else" } })).status).toBe(200);

    const first = await t.audit("?limit=2");
    expect(summary(first)).toEqual([
      ["delivery_retried", "succeeded", null],
      ["enablement_changed", "succeeded", "admin-4"],
    ]);
    expect(first.nextBefore).toBe(first.entries[1]!.id);
    expect(first.entries[1]!.actor).toEqual({ id: "admin-4", name: null });
    const second = await t.audit(`?limit=2&before=${first.nextBefore}`);
    expect(second.entries.map((e) => e.actor?.id)).toEqual(["admin-3", "admin-2"]);
    const last = await t.audit(`?limit=2&before=${second.nextBefore}`);
    expect(last.entries.map((e) => e.actor?.id)).toEqual(["admin-1", "admin-0"]);
    expect(last.nextBefore).toBeNull();
    // The same enablement again is recorded, and says it changed nothing.
    expect(second.entries[0]!.detail).toMatchObject({ changed: false, previous: { enabled: true, bundles: ["endpoint-protection"] } });

    const enablements = await t.audit("?action=enablement_changed&limit=10");
    expect(enablements.entries.map((e) => e.actor?.id)).toEqual(["admin-4", "admin-3", "admin-2", "admin-1", "admin-0"]);
    expect(summary(await other.audit())).toEqual([["enablement_changed", "succeeded", "someone-else"]]);

    for (const [query, field] of [
      ["?limit=0", "limit"],
      ["?limit=201", "limit"],
      ["?before=abc", "before"],
      ["?action=everything", "action"],
    ] as const) {
      const r = await t.call<{ error: string; field: string; message: string }>("GET", `/audit${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body).toMatchObject({ error: "invalid_request", field });
    }
  });

  it("refuses a malformed actor with 400 naming it, and records nothing for a call it refused as malformed", async () => {
    const world = await new CynetWorld().setup({ alertCount: 0 });
    const t = tenant();
    expect((await t.call("PUT", "/enablement", { enabled: true, bundles: ["endpoint-protection"] })).status).toBe(200);
    const cases: Array<[string, string, unknown, string]> = [
      ["PUT", "/enablement", { enabled: true, bundles: ["endpoint-protection"], actor: { id: "" } }, "actor.id"],
      ["PUT", "/enablement", { enabled: true, bundles: ["endpoint-protection"], actor: { id: "x".repeat(257) } }, "actor.id"],
      ["POST", "/activation", { ...connectForm(world), actor: { id: "ana", role: "owner" } }, "actor"],
      ["DELETE", "/activation", { actor: "ana" }, "actor"],
      ["DELETE", "/activation", { actor: { name: "Ana" } }, "actor.id"],
      ["POST", "/deliveries/retry", { actor: { id: 7 } }, "actor.id"],
    ];
    for (const [method, path, body, field] of cases) {
      const r = await t.call<{ error: string; field: string }>(method, path, body);
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body).toMatchObject({ error: "invalid_request", field });
    }
    // Only the one enablement that was taken; the refused Connect above never reached Cynet.
    expect(summary(await t.audit())).toEqual([["enablement_changed", "succeeded", null]]);
    const [state] = await rows<{ state: string }>("SELECT state FROM tenants WHERE id = ?", t.tenantId);
    expect(state!.state).toBe("inactive");
  });

  it("records refusals that come before the form is read with the signed body's actor, and nothing for a tenant never enabled", async () => {
    const world = await new CynetWorld().setup({ alertCount: 0 });
    const stranger = tenant();
    expect((await stranger.call("POST", "/sync", { actor: ANA })).status).toBe(409);
    expect((await stranger.call("POST", "/activation", { ...connectForm(world), actor: ANA })).status).toBe(409);
    expect((await stranger.call("POST", "/deliveries/retry", { actor: ANA })).status).toBe(202);
    expect(await stranger.audit()).toEqual({ entries: [], nextBefore: null });
    expect(await rows("SELECT * FROM audit_log WHERE tenant_id = ?", stranger.tenantId)).toEqual([]);

    const t = tenant();
    expect((await t.call("PUT", "/enablement", { enabled: false, bundles: [] })).status).toBe(200);
    const r = await t.call("POST", "/activation", { ...connectForm(world), actor: ANA });
    expect(r.status).toBe(409);
    const [entry] = (await t.audit()).entries;
    // The form was never read: the entry names who asked and why it was refused, not what they typed.
    expect(entry).toMatchObject({ action: "connect_refused", outcome: "refused", actor: ANA, subject: null, detail: { error: "channel_not_enabled", status: 409 } });
    expect(entry!.detail).not.toHaveProperty("username");
  });

  it("records a sync that could not be queued as failed, and a move of the cursor refused while a sync runs", async () => {
    const world = await new CynetWorld().setup({ alertCount: 0 });
    const t = tenant();
    expect((await t.call("PUT", "/enablement", { enabled: true, bundles: ["endpoint-protection"] })).status).toBe(200);
    expect((await t.call("POST", "/activation", connectForm(world))).status).toBe(200);
    t.sync.take();

    t.sync.failSends = 1;
    const queued = await t.call("POST", "/sync", { actor: BEN });
    expect(queued.status).toBe(503);
    // Another invocation holds the lease: the cursor cannot move under it.
    await rows("UPDATE sync_state SET lease_id = 'held-by-another', lease_expires_at = ? WHERE tenant_id = ?", Date.now() + HOUR, t.tenantId);
    const moved = await t.call("POST", "/sync/reset", { actor: ANA });
    expect(moved.status).toBe(409);

    const page = await t.audit();
    // Exactly one entry per call: the refused move wrote no "accepted" entry beside its refusal.
    expect(summary(page)).toEqual([
      ["reset_requested", "refused", ANA.id],
      ["sync_requested", "failed", BEN.id],
      ["connected", "succeeded", null],
      ["enablement_changed", "succeeded", null],
    ]);
    const [reset, sync] = page.entries;
    expect(sync).toMatchObject({ action: "sync_requested", outcome: "failed", actor: { id: BEN.id }, detail: { error: "queue_unavailable", status: 503 } });
    expect(reset).toMatchObject({ action: "reset_requested", outcome: "refused", actor: ANA, detail: { error: "sync_in_progress", status: 409 } });
    expect(t.sync.take()).toEqual([]);
  });

  it("records a retry of failed deliveries with the rows it set pending again, in the batch that requeues them", async () => {
    const t = tenant();
    expect((await t.call("PUT", "/enablement", { enabled: true, bundles: ["endpoint-protection"] })).status).toBe(200);
    const now = Date.now();
    for (const [key, state] of [["k-1", "failed"], ["k-2", "failed"], ["k-3", "delivered"]] as const) {
      await rows(
        "INSERT INTO outbox (tenant_id, kind, alert_ids, idempotency_key, state, attempts, next_attempt_at, last_error, created_at) VALUES (?, 'events', '[1]', ?, ?, 3, ?, 'host answered HTTP 400', ?)",
        t.tenantId,
        `au-${t.tenantId}-${key}`,
        state,
        now,
        now,
      );
    }
    const outboxRows = await rows<{ id: number; state: string }>("SELECT id, state FROM outbox WHERE tenant_id = ? ORDER BY id", t.tenantId);
    const [failedA, failedB, delivered] = outboxRows.map((r) => r.id);

    const one = await t.call<{ requeued: number }>("POST", "/deliveries/retry", { ids: [failedB, delivered], actor: ANA });
    expect(one.body.requeued).toBe(1);
    const all = await t.call<{ requeued: number }>("POST", "/deliveries/retry", { actor: BEN });
    expect(all.body.requeued).toBe(1);
    expect(t.dispatch.take().flatMap((m) => m.outboxIds)).toEqual([failedB, failedA]);

    const [everything, some] = (await t.audit()).entries;
    expect(some).toMatchObject({ action: "delivery_retried", outcome: "accepted", actor: ANA, subject: `deliveries ${failedB}`, detail: { asked: [failedB, delivered], requeued: [failedB] } });
    expect(everything).toMatchObject({ action: "delivery_retried", outcome: "accepted", actor: { id: BEN.id }, subject: `deliveries ${failedA}`, detail: { asked: "all failed", requeued: [failedA] } });
    expect((await rows<{ state: string }>("SELECT state FROM outbox WHERE tenant_id = ? ORDER BY id", t.tenantId)).map((r) => r.state)).toEqual(["pending", "pending", "delivered"]);
  });
});
