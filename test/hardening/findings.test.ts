/**
 * Regression tests for the two defects the hardening suites found (RELIABILITY.md, "Findings"):
 * a tenant id with several spellings, and runs left "running" after they were abandoned.
 */
import { describe, expect, it } from "vitest";
import { runSync } from "../../src/sync/run";
import type { SyncMessage } from "../../src/sync/messages";
import { uniqueTenant } from "../support/plugin";
import { connectForm } from "../support/standins";
import { capturedEnv, drainSync, prepared, rows } from "../support/sync";
import { callApp, send } from "./harness";

type Status = { status: string; sync: { inProgress: boolean; health: string; lastRun: { id: number; outcome: string; error: { code: string } | null } | null } | null };

const manual = (tenantId: string): SyncMessage => ({ kind: "sync", tenantId, reason: "manual", requestedAt: new Date().toISOString() });

/** A tenant whose run read its first 40 pages (one invocation) and handed the rest to a continuation not yet run. */
async function midRun() {
  const c = await prepared(4300);
  expect(await runSync(c.env, manual(c.tenantId))).toBe("continued");
  const [continuation] = c.sync.take();
  expect(continuation?.reason).toBe("continuation");
  const [run] = await rows<{ run_id: number }>("SELECT run_id FROM sync_state WHERE tenant_id = ?", c.tenantId);
  return { ...c, continuation: continuation!, runId: run!.run_id };
}

const outcomeOf = async (runId: number) => (await rows<{ outcome: string; error_code: string | null }>("SELECT outcome, error_code FROM sync_runs WHERE id = ?", runId))[0];

describe("finding 1: one spelling per tenant id", () => {
  // Found by fuzz.test.ts: tenantIdOf() checked the id after Hono percent-decoded the path
  // parameter, so /v1/tenants/%61cme/... was served as tenant "acme" (read and write), although
  // TenantId promises "no path tricks, no encodings". Not a forgery (the signature binds the exact
  // path), but every tenant had many spellings, which a host that authorizes, audits or
  // rate-limits by path would not expect.
  const encodedSpelling = (id: string) => `%${id.charCodeAt(0).toString(16).toUpperCase()}${id.slice(1)}`;

  it("refuses a percent-encoded spelling of a tenant id with 400 invalid_tenant_id, for reads and writes", async () => {
    const c = capturedEnv();
    const tenantId = uniqueTenant("enc");
    await callApp(c.env, "PUT", `/v1/tenants/${tenantId}/enablement`, { enabled: true, bundles: ["endpoint-protection"] });
    const read = await send({ method: "GET", path: `/v1/tenants/${encodedSpelling(tenantId)}/status` }, c.env);
    expect(read.status, read.text).toBe(400);
    expect(JSON.parse(read.text)).toMatchObject({ error: "invalid_tenant_id" });
    const other = uniqueTenant("enc");
    const write = await send({ method: "PUT", path: `/v1/tenants/${encodedSpelling(other)}/enablement`, body: JSON.stringify({ enabled: true, bundles: ["endpoint-protection"] }) }, c.env);
    expect(write.status, write.text).toBe(400);
    expect(await rows("SELECT id FROM tenants WHERE id = ?", other)).toEqual([]);
    // The plain spelling still works.
    expect((await callApp(c.env, "GET", `/v1/tenants/${tenantId}/status`)).body).toMatchObject({ tenantId, status: "inactive" });
  });
});

describe("finding 2: a run abandoned by deactivation, reconnect, backfill or reset is closed", () => {
  // Found while building isolation.test.ts: deactivation left sync_state.run_id set, so status
  // kept saying inProgress: true with the last run "running" for a channel that would never sync
  // again; a reconnect, backfill or reset dropped run_id without closing the run row, which then
  // showed as "running" in GET /sync/runs for good. The detections were right all along.
  it("a deactivated channel reports no sync in progress, and its abandoned run as failed (run_abandoned)", async () => {
    const c = await midRun();
    expect((await callApp(c.env, "DELETE", `/v1/tenants/${c.tenantId}/activation`)).status).toBe(200);
    expect(await runSync(c.env, c.continuation)).toBe("skipped");
    const s = (await callApp<Status>(c.env, "GET", `/v1/tenants/${c.tenantId}/status`)).body;
    expect(s.status).toBe("inactive");
    expect(s.sync!.inProgress).toBe(false);
    expect(s.sync!.lastRun).toMatchObject({ id: c.runId, outcome: "failed", error: { code: "run_abandoned" } });
  });

  const interruptions: Array<[string, (c: Awaited<ReturnType<typeof midRun>>) => Promise<{ status: number }>]> = [
    ["a backfill", (c) => callApp(c.env, "POST", `/v1/tenants/${c.tenantId}/sync/backfill`, { since: new Date(Date.now() - 2 * 86_400_000).toISOString() })],
    ["a reset", (c) => callApp(c.env, "POST", `/v1/tenants/${c.tenantId}/sync/reset`, { lookbackDays: 30 })],
    ["a reconnect", (c) => callApp(c.env, "POST", `/v1/tenants/${c.tenantId}/activation`, connectForm(c.world))],
  ];
  for (const [name, interrupt] of interruptions) {
    it(`no run is left 'running' after ${name} interrupted it and the next run completed; every detection stored once`, async () => {
      const c = await midRun();
      expect([200, 202]).toContain((await interrupt(c)).status);
      const [next] = c.sync.take();
      expect(await drainSync(c.env, c.tenantId, next?.reason ?? "manual")).toContain("completed");
      // The old run's continuation message still arrives: it starts a fresh run from the cursor, followed to its end.
      const late = await runSync(c.env, c.continuation);
      expect(late).not.toBe("failed");
      if (late === "continued") expect(await drainSync(c.env, c.tenantId, "continuation")).toContain("completed");
      expect(await outcomeOf(c.runId)).toEqual({ outcome: "failed", error_code: "run_abandoned" });
      expect(await rows("SELECT id FROM sync_runs WHERE tenant_id = ? AND outcome = 'running'", c.tenantId)).toEqual([]);
      const stored = await rows<{ alert_id: number; sha256: string }>("SELECT alert_id, sha256 FROM detections WHERE tenant_id = ?", c.tenantId);
      expect(new Map(stored.map((d) => [d.alert_id, d.sha256]))).toEqual(c.expected);
    });
  }
});
