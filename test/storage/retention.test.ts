import { env } from "cloudflare:workers";
import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { database } from "../../src/storage/db";
import { DEFAULT_RETENTION_DAYS, pruneDatabase, pruneTenantDatabases, retentionDays } from "../../src/storage/retention";
import { handleScheduled } from "../../src/sync/scheduled";
import { TestClock } from "../support/clock";
import { callJson } from "../support/plugin";
import { deliverCaptured, drainSync, expectExactlyOnce, prepared, rows } from "../support/sync";

const DAY = 86_400_000;

type Verdicts = { verdicts: Array<{ hash: string; verdict: string; firstSeen?: string; endpoints?: number }> };
type DetectionRow = { alert_id: number; sha256: string; file_name: string | null; path: string | null; user_name: string | null; host_name: string | null; detected_at: number; stored_at: number };

const detectionRows = (tenantId: string) =>
  rows<DetectionRow>("SELECT alert_id, sha256, file_name, path, user_name, host_name, detected_at, stored_at FROM detections WHERE tenant_id = ? ORDER BY alert_id", tenantId);

async function verdictsOf(tenantId: string, hashes: string[]) {
  const r = await callJson<Verdicts>("POST", `/v1/tenants/${tenantId}/verdicts`, { hashes });
  expect(r.status, r.text).toBe(200);
  return r.body.verdicts;
}

/** A tenant with detections stored now, and more stored 100 days on (an injected clock). */
async function twoAges() {
  const c = await prepared(200);
  expect(await drainSync(c.env, c.tenantId)).toEqual(["completed"]);
  await deliverCaptured(c);
  const old = await detectionRows(c.tenantId);
  await c.world.addAlerts({ count: 60 });
  const later = new TestClock(100 * DAY);
  expect(await drainSync(c.env, c.tenantId, "manual", later)).toEqual(["completed"]);
  await deliverCaptured(c);
  const all = await detectionRows(c.tenantId);
  const recent = all.filter((d) => !old.some((o) => o.alert_id === d.alert_id));
  expect(recent.length).toBeGreaterThan(0);
  return { c, old, recent };
}

describe("retention", () => {
  it("drops old alert detail after the retention period and keeps what verdicts and deduplication need; newer detections are untouched", async () => {
    const { c, old, recent } = await twoAges();
    const hashes = [...new Set([...old, ...recent].map((d) => d.sha256))];
    const before = await verdictsOf(c.tenantId, hashes);
    const outboxBefore = await rows<{ kind: string; state: string; created_at: number }>("SELECT kind, state, created_at FROM outbox WHERE tenant_id = ?", c.tenantId);
    expect(outboxBefore.filter((r) => r.state === "delivered").length).toBeGreaterThan(0);

    // The cron tick 181 days on (the default retention is 180): the first detections are old, the later ones 81 days.
    const tick = Date.now() + (DEFAULT_RETENTION_DAYS + 1) * DAY;
    await handleScheduled(createScheduledController({ scheduledTime: tick, cron: "*/5 * * * *" }), c.env, createExecutionContext());
    // What the tick's sweeper re-sent (nothing of this tenant's is pending) is not this test's.
    c.dispatch.take();

    const after = await detectionRows(c.tenantId);
    expect(after.length).toBe(old.length + recent.length);
    for (const d of after) {
      const wasOld = old.find((o) => o.alert_id === d.alert_id);
      if (wasOld) {
        expect(d).toMatchObject({ file_name: null, path: null, user_name: null, sha256: wasOld.sha256, host_name: wasOld.host_name, detected_at: wasOld.detected_at });
      } else {
        expect(d).toEqual(recent.find((r) => r.alert_id === d.alert_id));
      }
    }
    expect(old.some((o) => o.file_name !== null || o.path !== null)).toBe(true);
    // Verdicts answer exactly as before: first detection and endpoints per hash are kept.
    expect(await verdictsOf(c.tenantId, hashes)).toEqual(before);

    // Delivered events and match rows of the old batch are gone; the later ones stay.
    const outboxAfter = await rows<{ kind: string; created_at: number }>("SELECT kind, created_at FROM outbox WHERE tenant_id = ?", c.tenantId);
    const cutoff = tick - DEFAULT_RETENTION_DAYS * DAY;
    expect(outboxAfter.filter((r) => r.created_at < cutoff && (r.kind === "events" || r.kind === "match"))).toEqual([]);
    expect(outboxAfter.length).toBe(outboxBefore.filter((r) => r.created_at >= cutoff || !["events", "match"].includes(r.kind)).length);
    // So are the old sync runs.
    const runs = await rows<{ started_at: number }>("SELECT started_at FROM sync_runs WHERE tenant_id = ?", c.tenantId);
    expect(runs.length).toBe(1);
    expect(runs[0]!.started_at).toBeGreaterThan(cutoff);

    // Cynet shows every alert again (a look-back over all of them): nothing pruned is a new detection or a new event.
    await env.DB.prepare("UPDATE sync_state SET cursor = NULL, lookback_days = 400 WHERE tenant_id = ?").bind(c.tenantId).run();
    expect(await drainSync(c.env, c.tenantId, "manual", new TestClock(tick - Date.now()))).toEqual(["completed"]);
    expect(c.dispatch.take()).toEqual([]);
    await expectExactlyOnce(c.tenantId, new Map([...old, ...recent].map((d) => [d.alert_id, d.sha256])));
  });

  it("walks a bounded window a tick from where it stopped, and reads almost nothing when nothing is old", async () => {
    const { c, old, recent } = await twoAges();
    const db = database(env.DB);
    // Past the retention of every row, the ones stored 100 days on included (rows are pruned as a prefix in the order they were written).
    const future = new Date(Date.now() + (100 + DEFAULT_RETENTION_DAYS + 1) * DAY);
    // Other tests' tenants share the database: prune everything old there first, so this tenant's rows are what is left to walk.
    await env.DB.prepare("DELETE FROM retention_cursors").run();
    const detail = async () => (await detectionRows(c.tenantId)).filter((d) => d.path !== null || d.file_name !== null || d.user_name !== null).length;
    const withDetail = await detail();
    let passes = 0;
    for (let pruned = -1; pruned !== 0; passes++) {
      const result = await pruneDatabase(db, DEFAULT_RETENTION_DAYS, future, 25);
      expect(result["detections.detail"]).toBeLessThanOrEqual(25);
      pruned = result["detections.detail"];
      expect(passes).toBeLessThan(10_000);
    }
    expect(passes).toBeGreaterThan(Math.ceil((old.length + recent.length) / 25));
    expect(withDetail).toBeGreaterThan(0);
    expect(await detail()).toBe(0);
    const [cursor] = await rows<{ last_row_id: number }>("SELECT last_row_id FROM retention_cursors WHERE table_name = 'detections.detail'");
    expect(cursor!.last_row_id).toBeGreaterThan(0);
    // Nothing old any more: another pass prunes nothing, and the cursor stays.
    expect(await pruneDatabase(db, DEFAULT_RETENTION_DAYS, future, 25)).toEqual({ "detections.detail": 0, "outbox.delivered": 0, "sync_runs.finished": 0 });
    const [again] = await rows<{ last_row_id: number }>("SELECT last_row_id FROM retention_cursors WHERE table_name = 'detections.detail'");
    expect(again).toEqual(cursor);
  });

  it("prunes every tenant database, each with its own cursor", async () => {
    const twoDatabases = { ...env, TENANT_DATABASES: "DB,DB_2" } as unknown as Env;
    const stored = Date.now() - (DEFAULT_RETENTION_DAYS + 5) * DAY;
    const insert = "INSERT INTO detections (tenant_id, alert_id, sha256, file_name, path, host_name, detected_at, run_id, stored_at) VALUES (?, ?, ?, 'evil.exe', 'C:\\\\evil.exe', 'pc-1', ?, 1, ?)";
    const tenantId = `ret-db2-${crypto.randomUUID()}`;
    await env.DB_2.prepare(insert).bind(tenantId, 1, "a".repeat(64), stored, stored).run();
    expect(await pruneTenantDatabases(twoDatabases, new Date())).toBeGreaterThan(0);
    const [row] = (await env.DB_2.prepare("SELECT sha256, file_name, path, host_name FROM detections WHERE tenant_id = ?").bind(tenantId).all()).results;
    expect(row).toEqual({ sha256: "a".repeat(64), file_name: null, path: null, host_name: "pc-1" });
    const cursors = (await env.DB_2.prepare("SELECT table_name FROM retention_cursors").all()).results;
    expect(cursors).toContainEqual({ table_name: "detections.detail" });
  });

  it("never walks past a delivery still pending: it holds the walk until it is delivered, then goes with the rest", async () => {
    const db = database(env.DB_2);
    const old = Date.now() - (DEFAULT_RETENTION_DAYS + 5) * DAY;
    const tenantId = `ret-held-${crypto.randomUUID()}`;
    const insert = "INSERT INTO outbox (tenant_id, kind, alert_ids, idempotency_key, state, attempts, next_attempt_at, created_at) VALUES (?, 'events', '[1]', ?, ?, 1, ?, ?) RETURNING id";
    const ids: number[] = [];
    for (const state of ["delivered", "pending", "delivered"]) {
      const row = await env.DB_2.prepare(insert).bind(tenantId, `${tenantId}:${ids.length}`, state, old, old).first<{ id: number }>();
      ids.push(row!.id);
    }
    const left = async () => (await env.DB_2.prepare("SELECT id FROM outbox WHERE tenant_id = ? ORDER BY id").bind(tenantId).all<{ id: number }>()).results.map((r) => r.id);
    expect((await pruneDatabase(db, DEFAULT_RETENTION_DAYS, new Date()))["outbox.delivered"]).toBe(1);
    expect(await left()).toEqual([ids[1], ids[2]]);
    // Delivered at last: the next tick takes it and the row behind it.
    await env.DB_2.prepare("UPDATE outbox SET state = 'delivered' WHERE id = ?").bind(ids[1]).run();
    expect((await pruneDatabase(db, DEFAULT_RETENTION_DAYS, new Date()))["outbox.delivered"]).toBe(2);
    expect(await left()).toEqual([]);
  });

  it("refuses a retention setting out of bounds by name, and the tick's other work still runs", async () => {
    expect(retentionDays({})).toBe(DEFAULT_RETENTION_DAYS);
    expect(retentionDays({ DETECTION_RETENTION_DAYS: "365" })).toBe(365);
    for (const bad of ["7", "ten", "90.5", "99999"]) expect(() => retentionDays({ DETECTION_RETENTION_DAYS: bad })).toThrow(/DETECTION_RETENTION_DAYS/);
    const c = await prepared(20);
    const badEnv = { ...c.env, DETECTION_RETENTION_DAYS: "7" } as Env;
    await env.DB.prepare("UPDATE sync_state SET next_run_at = 0 WHERE tenant_id = ?").bind(c.tenantId).run();
    // The tick reports the failed step, and the fan-out went out all the same.
    await expect(handleScheduled(createScheduledController({ scheduledTime: Date.now(), cron: "*/5 * * * *" }), badEnv, createExecutionContext())).resolves.toBeUndefined();
    expect(c.sync.take().map((m) => m.tenantId)).toContain(c.tenantId);
  });
});
