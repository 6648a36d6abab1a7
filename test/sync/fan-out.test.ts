/** The cron's fan-out over many tenants: oldest-due first, so every tenant is scheduled within two ticks. */
import { env } from "cloudflare:workers";
import { afterAll, describe, expect, it } from "vitest";
import { fanOutSyncs, MAX_TENANTS_PER_TICK } from "../../src/sync/scheduled";
import { SYNC_INTERVAL_MS, nextTick } from "../../src/sync/schedule";
import { capturedEnv } from "../support/sync";

/** Active tenants in this test: more than one tick takes. */
const TENANTS = 12_000;
const PREFIX = "fan-";

afterAll(async () => {
  await env.DB.batch([
    env.DB.prepare("DELETE FROM sync_state WHERE tenant_id LIKE 'fan-%'"),
    env.DB.prepare("DELETE FROM tenants WHERE id LIKE 'fan-%'"),
  ]);
});

describe("the cron fan-out", () => {
  it("schedules each of 12,000 active tenants within two ticks, oldest-due first", async () => {
    expect(TENANTS).toBeGreaterThan(MAX_TENANTS_PER_TICK);
    const tick1 = nextTick(new Date());
    // Due over the last day, in an order unrelated to their ids (or row order).
    await env.DB.batch([
      env.DB.prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO tenants (id, enabled, bundles, state, org_url, client_id, username, created_at, updated_at)
         SELECT ? || printf('%05d', i), 1, '[]', 'active', 'https://x.api.cynet.com', '1', 'u', ?, ? FROM n`,
      ).bind(TENANTS, PREFIX, tick1.getTime(), tick1.getTime()),
      env.DB.prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO sync_state (tenant_id, lookback_days, run_offset, consecutive_failures, next_run_at)
         SELECT ? || printf('%05d', i), 30, 0, 0, ? - ((i * 7919) % 86400) * 1000 FROM n`,
      ).bind(TENANTS, PREFIX, tick1.getTime()),
    ]);
    const c = capturedEnv();
    const mine = () => c.sync.take().map((m) => m.tenantId).filter((id) => id.startsWith(PREFIX));

    await fanOutSyncs(c.env, tick1);
    const first = mine();
    expect(first.length).toBe(MAX_TENANTS_PER_TICK);
    // Oldest-due first: nothing left out was due earlier than anything sent.
    const due = new Map((await env.DB.prepare("SELECT tenant_id, next_run_at FROM sync_state WHERE tenant_id LIKE 'fan-%'").all<{ tenant_id: string; next_run_at: number }>()).results.map((r) => [r.tenant_id, r.next_run_at]));
    const sent = new Set(first);
    const latestSent = Math.max(...first.map((id) => due.get(id)!));
    const earliestLeft = Math.min(...[...due].filter(([id]) => !sent.has(id)).map(([, at]) => at));
    expect(earliestLeft).toBeGreaterThanOrEqual(latestSent);

    // The tenants sent synced and are next due at the following tick, as a completed run leaves them.
    await env.DB.prepare("UPDATE sync_state SET next_run_at = ? WHERE tenant_id IN (SELECT value FROM json_each(?))").bind(tick1.getTime() + SYNC_INTERVAL_MS, JSON.stringify(first)).run();
    await fanOutSyncs(c.env, new Date(tick1.getTime() + SYNC_INTERVAL_MS));
    const second = mine();
    expect(new Set([...first, ...second]).size).toBe(TENANTS);
  }, 120_000);
});
