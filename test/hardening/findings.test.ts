/**
 * Defects the hardening suites found, each pinned by the test that failed before its fix:
 * percent-encoded tenant ids served as the decoded tenant, and runs left "running" after a
 * deactivation, reconnect, backfill or reset.
 */
import { describe, expect, it } from "vitest";
import { runSync } from "../../src/sync/run";
import type { SyncMessage } from "../../src/sync/messages";
import { uniqueTenant } from "../support/plugin";
import { connectForm } from "../support/standins";
import { capturedEnv, drainSync, prepared, rows } from "../support/sync";
import { callApp, send } from "./harness";

type Status = { status: string; sync: { inProgress: boolean; health: string; lastRun: { id: number; outcome: string } | null } | null };

const manual = (tenantId: string): SyncMessage => ({ kind: "sync", tenantId, reason: "manual", requestedAt: new Date().toISOString() });

/** A tenant whose run read its first 40 pages (one invocation) and handed the rest to a continuation not yet run. */
async function midRun() {
  const c = await prepared(4300);
  expect(await runSync(c.env, manual(c.tenantId))).toBe("continued");
  const [continuation] = c.sync.take();
  expect(continuation?.reason).toBe("continuation");
  return { ...c, continuation: continuation! };
}

describe("finding 1: a tenant id has one spelling", () => {
  // The router hands tenantIdOf() the id percent-decoded; it must also be spelled that way in the
  // path, so a host that authorizes, audits or rate-limits by path sees the tenant the plugin serves.
  const encodedSpelling = (id: string) => `%${id.charCodeAt(0).toString(16).toUpperCase()}${id.slice(1)}`;

  it("refuses a percent-encoded spelling of a tenant id with 400 invalid_tenant_id", async () => {
    const c = capturedEnv();
    const tenantId = uniqueTenant("enc");
    await callApp(c.env, "PUT", `/v1/tenants/${tenantId}/enablement`, { enabled: true, bundles: ["endpoint-protection"] });
    const r = await send({ method: "GET", path: `/v1/tenants/${encodedSpelling(tenantId)}/status` }, c.env);
    expect(r.status, r.text).toBe(400);
    expect(JSON.parse(r.text)).toMatchObject({ error: "invalid_tenant_id" });
  });
});

describe("finding 2: a run abandoned by deactivation, reconnect, backfill or reset is closed", () => {
  // Each of these drops the run in progress; its row is closed in the same step, so status and
  // GET /sync/runs never show a run that will not finish. Dedup and the cursor cover the re-read.
  it("a deactivated channel does not report a sync in progress", async () => {
    const c = await midRun();
    expect((await callApp(c.env, "DELETE", `/v1/tenants/${c.tenantId}/activation`)).status).toBe(200);
    expect(await runSync(c.env, c.continuation)).toBe("skipped");
    const s = (await callApp<Status>(c.env, "GET", `/v1/tenants/${c.tenantId}/status`)).body;
    expect(s.status).toBe("inactive");
    expect(s.sync!.inProgress).toBe(false);
    expect(s.sync!.lastRun!.outcome).not.toBe("running");
  });

  it("no run is left 'running' after a backfill interrupted it and the next run completed", async () => {
    const c = await midRun();
    const since = new Date(Date.now() - 2 * 86_400_000).toISOString();
    expect((await callApp(c.env, "POST", `/v1/tenants/${c.tenantId}/sync/backfill`, { since })).status).toBe(202);
    c.sync.take();
    expect(await drainSync(c.env, c.tenantId, "backfill")).toContain("completed");
    const running = await rows("SELECT id FROM sync_runs WHERE tenant_id = ? AND outcome = 'running'", c.tenantId);
    expect(running).toEqual([]);
  });
});
