/**
 * Cynet's later decisions (host contract §3.3): alerts set to Ignored or re-opened in Cynet, and
 * whitelisted files, reach the verdicts, the detections list and the scans the file was matched
 * in. Real local D1 and queues; Cynet and the host are the stand-ins.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { applyStatusChangesStatements } from "../../src/decisions/apply";
import { insertDecisionNotesStatement } from "../../src/dispatch/outbox";
import { database } from "../../src/storage/db";
import { namedBatch } from "../../src/storage/batch";
import { CHANGES_REPROBE_MS } from "../../src/sync/schedule";
import { callJson, uniqueTenant } from "../support/plugin";
import { CynetWorld, type FaultRule } from "../support/standins";
import { TestClock } from "../support/clock";
import { capturedEnv, connectAndSettle, drainSync, hostRecords, rows, settle, status } from "../support/sync";

interface NoteRecord {
  scanId: string;
  text: string;
}
interface Verdict {
  hash: string;
  malicious: boolean;
  endpoints?: number;
  revoked?: { at: string; reason: string; alertId: number | null };
}
interface DetectionView {
  alertId: number;
  cynetStatus: string | null;
  counts: boolean;
  revoked: { at: string; reason: string } | null;
  history: Array<{ from: string | null; to: string | null; changedAt: string }>;
}

const FILE_X = "ab".repeat(32);
const FILE_Y = "cd".repeat(32);

const alertOn = (sha256: string, host: string) => ({ AlertType: 0, Status: 0, Severity: 4, Sha256: sha256, HostName: host, HostIp: "10.1.1.1", Path: `C:\\Users\\x\\${host}.exe` });

/**
 * A connected tenant whose Cynet found file X on PC-1 and PC-2 and file Y on PC-3, synced and
 * delivered, with X in scans scan-1 and scan-2 and Y in scan-3.
 */
async function decided(setup: Parameters<CynetWorld["setup"]>[0] = {}) {
  const world = await new CynetWorld().setup({ alertCount: 0, ...setup });
  const tenantId = uniqueTenant("decide");
  await connectAndSettle(tenantId, world);
  const c = { tenantId, world, ...capturedEnv() };
  const scans = [
    { scanId: "scan-1", fileName: "invoice.exe", scannedAt: "2026-11-20T10:00:00Z", sha256: FILE_X },
    { scanId: "scan-2", fileName: "invoice.exe", scannedAt: "2026-11-21T10:00:00Z", sha256: FILE_X },
    { scanId: "scan-3", fileName: "other.exe", scannedAt: "2026-11-22T10:00:00Z", sha256: FILE_Y },
  ];
  const seeded = await fetch(`https://host.test/__host/tenants/${tenantId}/scans`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ scans }) });
  expect(seeded.ok).toBe(true);
  const added = (await world.addAlerts({ alerts: [alertOn(FILE_X, "PC-1"), alertOn(FILE_X, "PC-2"), alertOn(FILE_Y, "PC-3")] })) as { alerts: Array<{ ClientDbId: number }> };
  const [a1, a2, a3] = added.alerts.map((a) => a.ClientDbId) as [number, number, number];
  expect(await drainSync(c.env, tenantId)).toEqual(["completed"]);
  expect(await settle(c.env, c.dispatch)).toBe(0);
  expect((await hostRecords(tenantId, "ir-requests")).length).toBe(3);
  expect((await notes(tenantId)).length).toBe(3);
  return { ...c, a1, a2, a3 };
}

async function notes(tenantId: string): Promise<NoteRecord[]> {
  return hostRecords<NoteRecord>(tenantId, "notes");
}

async function verdicts(tenantId: string, hashes: string[]): Promise<Map<string, Verdict>> {
  const r = await callJson<{ results: Verdict[] }>("POST", `/v1/tenants/${tenantId}/verdicts`, { hashes });
  expect(r.status).toBe(200);
  return new Map(r.body.results.map((v) => [v.hash, v]));
}

async function detection(tenantId: string, alertId: number): Promise<DetectionView> {
  const r = await callJson<{ detections: DetectionView[] }>("GET", `/v1/tenants/${tenantId}/detections?limit=1&before=${alertId + 1}`);
  expect(r.status).toBe(200);
  return r.body.detections.find((d) => d.alertId === alertId)!;
}

/** Syncs (following continuations) and delivers what it queued. */
async function syncAndDeliver(c: Awaited<ReturnType<typeof decided>>, clock = new TestClock()) {
  const results = await drainSync(c.env, c.tenantId, "manual", clock);
  await settle(c.env, c.dispatch);
  return results;
}

const decisionNotes = (all: NoteRecord[]) => all.filter((n) => /no longer considers|malicious again/.test(n.text));

describe("later decisions", () => {
  it("revokes a file once its last live detection is Ignored: not malicious with when and why, one note on each matched scan, the history shown; re-opened, malicious again once", async () => {
    const c = await decided();

    // One of X's two alerts Ignored: X is still on PC-2, so it stays malicious, and no scan hears of it.
    await c.world.setStatus([c.a1], 2);
    expect(await syncAndDeliver(c)).toEqual(["completed"]);
    let v = await verdicts(c.tenantId, [FILE_X, FILE_Y]);
    expect(v.get(FILE_X)).toMatchObject({ malicious: true, endpoints: 1 });
    expect(decisionNotes(await notes(c.tenantId))).toEqual([]);
    const ignored = await detection(c.tenantId, c.a1);
    expect(ignored).toMatchObject({ cynetStatus: "Ignored", counts: false, revoked: { reason: "ignored" } });
    expect(ignored.history).toMatchObject([{ from: "Open", to: "Ignored" }]);

    // The other Ignored too: X is revoked; scan-1 and scan-2 each get one note; Y and scan-3 are untouched.
    await c.world.setStatus([c.a2], 2);
    expect(await syncAndDeliver(c)).toEqual(["completed"]);
    v = await verdicts(c.tenantId, [FILE_X, FILE_Y]);
    expect(v.get(FILE_X)).toMatchObject({ malicious: false, revoked: { reason: "ignored", alertId: c.a2 } });
    expect(Date.parse(v.get(FILE_X)!.revoked!.at)).toBeGreaterThan(Date.now() - 5 * 60_000);
    expect(v.get(FILE_Y)).toMatchObject({ malicious: true, endpoints: 1 });
    let decided1 = decisionNotes(await notes(c.tenantId));
    expect(decided1.map((n) => n.scanId).sort()).toEqual(["scan-1", "scan-2"]);
    for (const n of decided1) {
      expect(n.text).toContain(`Cynet alert ${c.a2} was set to Ignored`);
      expect(n.text).toContain("not malicious");
      expect(n.text).not.toMatch(/\d{4}-\d{2}-\d{2}T/);
    }

    // Nothing changes in Cynet: the overlap reads the same changes again, and nothing new is sent.
    expect(await syncAndDeliver(c)).toEqual(["completed"]);
    expect(decisionNotes(await notes(c.tenantId)).length).toBe(2);
    expect((await rows("SELECT * FROM detection_status_changes WHERE tenant_id = ?", c.tenantId)).length).toBe(2);

    // Re-opened: malicious again, one note per scan, once.
    await c.world.setStatus([c.a1], 0);
    expect(await syncAndDeliver(c)).toEqual(["completed"]);
    expect(await syncAndDeliver(c)).toEqual(["completed"]);
    v = await verdicts(c.tenantId, [FILE_X]);
    expect(v.get(FILE_X)).toMatchObject({ malicious: true, endpoints: 1 });
    expect(v.get(FILE_X)!.revoked).toBeUndefined();
    decided1 = decisionNotes(await notes(c.tenantId));
    expect(decided1.filter((n) => n.text.includes("malicious again")).map((n) => n.scanId).sort()).toEqual(["scan-1", "scan-2"]);
    expect(decided1.length).toBe(4);
    const reopened = await detection(c.tenantId, c.a1);
    expect(reopened).toMatchObject({ cynetStatus: "Open", counts: true, revoked: null });
    expect(reopened.history.map((h) => `${h.from}>${h.to}`)).toEqual(["Open>Ignored", "Ignored>Open"]);
    // No IR request was opened again for the file.
    expect((await hostRecords(c.tenantId, "ir-requests")).length).toBe(3);
    const changes = await rows<{ seq: number; malicious: number; reason: string | null }>("SELECT seq, malicious, reason FROM verdict_changes WHERE tenant_id = ? AND sha256 = ? ORDER BY seq", c.tenantId, FILE_X);
    expect(changes).toEqual([
      { seq: 1, malicious: 0, reason: "ignored" },
      { seq: 2, malicious: 1, reason: null },
    ]);
  });

  it("applies two decisions in one window as one verdict change, named by the later one, and keeps a Closed alert counting", async () => {
    const c = await decided();
    await c.world.setStatus([c.a1], 2);
    await c.world.setStatus([c.a2], 2);
    await c.world.setStatus([c.a3], 3);
    expect(await syncAndDeliver(c)).toEqual(["completed"]);
    const v = await verdicts(c.tenantId, [FILE_X, FILE_Y]);
    expect(v.get(FILE_X)).toMatchObject({ malicious: false, revoked: { reason: "ignored" } });
    expect([c.a1, c.a2]).toContain(v.get(FILE_X)!.revoked!.alertId);
    // Closed: handled in Cynet, still malicious.
    expect(v.get(FILE_Y)).toMatchObject({ malicious: true });
    expect(await detection(c.tenantId, c.a3)).toMatchObject({ cynetStatus: "Closed", counts: true });
    expect(decisionNotes(await notes(c.tenantId)).map((n) => n.scanId).sort()).toEqual(["scan-1", "scan-2"]);
    expect((await rows("SELECT * FROM verdict_changes WHERE tenant_id = ?", c.tenantId)).length).toBe(1);

    // An ignored false positive closed to tidy up stays cleared.
    await c.world.setStatus([c.a1, c.a2], 3);
    expect(await syncAndDeliver(c)).toEqual(["completed"]);
    expect((await verdicts(c.tenantId, [FILE_X])).get(FILE_X)).toMatchObject({ malicious: false });
    expect(await detection(c.tenantId, c.a1)).toMatchObject({ cynetStatus: "Closed", counts: false, revoked: { reason: "ignored" } });
    expect(decisionNotes(await notes(c.tenantId)).length).toBe(2);
  });

  it("never lets a change made earlier override one made later, whatever order they are read in", async () => {
    const tenantId = uniqueTenant("order");
    const db = database(env.DB);
    await env.DB.prepare(
      "INSERT INTO detections (tenant_id, alert_id, sha256, cynet_status, status_changed_at, detected_at, run_id, stored_at) VALUES (?, 1, ?, 0, 1000, 1000, 1, 1000)",
    )
      .bind(tenantId, FILE_X)
      .run();
    const later = { alertId: 1, sha256: FILE_X, status: 2, changedAt: new Date(3000) };
    const earlier = { alertId: 1, sha256: FILE_X, status: 0, changedAt: new Date(2000) };
    // In one batch, read in either order: the later decision stands.
    await namedBatch(db, { s: applyStatusChangesStatements(db, tenantId, [later, earlier], new Date()) });
    // Read again, alone, in a later window: still no override.
    await namedBatch(db, { s: applyStatusChangesStatements(db, tenantId, [earlier], new Date()) });
    const [row] = await rows<{ cynet_status: number; status_changed_at: number; revoked_reason: string }>("SELECT cynet_status, status_changed_at, revoked_reason FROM detections WHERE tenant_id = ?", tenantId);
    expect(row).toEqual({ cynet_status: 2, status_changed_at: 3000, revoked_reason: "ignored" });
    expect((await rows("SELECT * FROM detection_status_changes WHERE tenant_id = ?", tenantId)).length).toBe(1);
  });

  it("honours a file Cynet lists as whitelisted when it is looked up: not malicious, no IR request, its event still sent", async () => {
    const world = await new CynetWorld().setup({ alertCount: 0 });
    const tenantId = uniqueTenant("white");
    await connectAndSettle(tenantId, world);
    const c = { tenantId, world, ...capturedEnv() };
    const seeded = await fetch(`https://host.test/__host/tenants/${tenantId}/scans`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ scans: [{ scanId: "scan-w", fileName: "tool.exe", scannedAt: "2026-11-20T10:00:00Z", sha256: FILE_X }] }),
    });
    expect(seeded.ok).toBe(true);
    const added = (await world.addAlerts({ alerts: [alertOn(FILE_X, "PC-W")] })) as { alerts: Array<{ ClientDbId: number }> };
    await world.whitelist([FILE_X]);
    expect(await drainSync(c.env, tenantId)).toEqual(["completed"]);
    expect(await settle(c.env, c.dispatch)).toBe(0);
    const v = await verdicts(tenantId, [FILE_X]);
    expect(v.get(FILE_X)).toMatchObject({ malicious: false, revoked: { reason: "whitelisted" } });
    expect(await detection(tenantId, added.alerts[0]!.ClientDbId)).toMatchObject({ counts: false, revoked: { reason: "whitelisted" } });
    expect(await hostRecords(tenantId, "ir-requests")).toEqual([]);
    expect(await notes(tenantId)).toEqual([]);
    expect((await hostRecords(tenantId, "events")).length).toBe(1);

    // A new alert on the listed file: stored not counting, the file looked up again, still listed.
    const lookups = async () => (await world.state()).counters.file ?? 0;
    const before = await lookups();
    await world.addAlerts({ alerts: [alertOn(FILE_X, "PC-W2")] });
    expect(await drainSync(c.env, tenantId)).toEqual(["completed"]);
    expect(await settle(c.env, c.dispatch)).toBe(0);
    expect(await lookups()).toBe(before + 1);
    expect((await verdicts(tenantId, [FILE_X])).get(FILE_X)).toMatchObject({ malicious: false, revoked: { reason: "whitelisted" } });
    expect(await hostRecords(tenantId, "ir-requests")).toEqual([]);
    expect((await hostRecords(tenantId, "events")).length).toBe(2);

    // Cynet takes it off the list; the next alert has it looked up again: malicious, and matched now.
    await world.whitelist([FILE_X], false);
    await world.addAlerts({ alerts: [alertOn(FILE_X, "PC-W3")] });
    expect(await drainSync(c.env, tenantId)).toEqual(["completed"]);
    expect(await settle(c.env, c.dispatch)).toBe(0);
    expect((await verdicts(tenantId, [FILE_X])).get(FILE_X)).toMatchObject({ malicious: true, endpoints: 3 });
    expect((await hostRecords<{ scanId: string }>(tenantId, "ir-requests")).map((r) => r.scanId)).toEqual(["scan-w"]);
  });

  it("finds the rows a decision touches by key, never by walking the tenant's detections or IR requests", async () => {
    const db = database(env.DB);
    const plan = async (q: { toSQL(): { sql: string; params: unknown[] } }) => {
      const { sql, params } = q.toSQL();
      const r = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
      return r.results.map((x) => x.detail).join("\n");
    };
    const changes = [{ alertId: 1, sha256: FILE_X, status: 2, changedAt: new Date() }];
    const [history, update] = applyStatusChangesStatements(db, "acme", changes, new Date()) as unknown as Array<{ toSQL(): { sql: string; params: unknown[] } }>;
    for (const q of [history!, update!]) expect(await plan(q)).toMatch(/SEARCH detections USING (INDEX|PRIMARY KEY|COVERING INDEX) sqlite_autoindex_detections_1 \(tenant_id=\? AND alert_id=\?\)/);
    expect(await plan(insertDecisionNotesStatement(db, "acme", [FILE_X], new Date()))).toMatch(/outbox_ir_request_sha256 \(tenant_id=\? AND <expr>=\?\)/);
  });

  it("goes on without changes when Cynet answers 404 for them: new detections still sync, the status says so, and Cynet is asked again a day later", async () => {
    const world = await new CynetWorld().setup({ alertCount: 0, changedAlertsUnavailable: true });
    const tenantId = uniqueTenant("nochg");
    await connectAndSettle(tenantId, world);
    const c = { tenantId, world, ...capturedEnv() };
    expect((await status(tenantId)).sync!.changes).toMatchObject({ available: false });
    await world.addAlerts({ alerts: [alertOn(FILE_X, "PC-1"), alertOn(FILE_Y, "PC-2")] });
    const clock = new TestClock();
    const calls = async () => (await world.state()).counters.changes ?? 0;
    const before = await calls();
    expect(await drainSync(c.env, tenantId, "manual", clock)).toEqual(["completed"]);
    expect(await calls()).toBe(before);
    const s = await status(tenantId);
    expect(s.sync).toMatchObject({ health: "ok", lastRun: { outcome: "succeeded", newDetections: 2 } });
    expect(s.sync!.changes).toMatchObject({ available: false, message: expect.stringContaining("does not offer changed alerts") });
    expect((await verdicts(tenantId, [FILE_X])).get(FILE_X)).toMatchObject({ malicious: true });

    // A day on, asked again: still 404, still fine.
    clock.advance(CHANGES_REPROBE_MS);
    expect(await drainSync(c.env, tenantId, "manual", clock)).toEqual(["completed"]);
    expect(await calls()).toBe(before + 1);
    expect((await status(tenantId)).sync).toMatchObject({ health: "ok", consecutiveFailures: 0 });
  });

  const faults: Array<[string, FaultRule]> = [
    ["a 500 once (tried again in place)", { endpoint: "changes", status: 500, times: 1 }],
    ["a 429 with Retry-After", { endpoint: "changes", status: 429, retryAfterSeconds: 1, times: 1 }],
    ["a 503 that outlasts the in-place tries", { endpoint: "changes", status: 503, times: 5 }],
    ["malformed JSON", { endpoint: "changes", malformed: true, times: 1 }],
    ["a refused token (logs in again)", { endpoint: "changes", status: 401, times: 1 }],
  ];
  for (const [what, rule] of faults) {
    it(`applies a decision exactly once when the change read meets ${what}`, async () => {
      const c = await decided();
      await c.world.setStatus([c.a1, c.a2], 2);
      await c.world.fault(rule);
      const clock = new TestClock();
      for (let i = 0; i < 4; i++) {
        const results = await drainSync(c.env, c.tenantId, "manual", clock);
        await settle(c.env, c.dispatch);
        if (results.at(-1) === "completed") break;
        clock.advance(60 * 60_000);
      }
      await c.world.clearFaults();
      expect(await syncAndDeliver(c, clock)).toEqual(["completed"]);
      expect((await verdicts(c.tenantId, [FILE_X])).get(FILE_X)).toMatchObject({ malicious: false, revoked: { reason: "ignored" } });
      expect(decisionNotes(await notes(c.tenantId)).map((n) => n.scanId).sort()).toEqual(["scan-1", "scan-2"]);
      expect((await rows("SELECT * FROM detection_status_changes WHERE tenant_id = ?", c.tenantId)).length).toBe(2);
      expect((await status(c.tenantId)).sync).toMatchObject({ health: "ok", consecutiveFailures: 0 });
    });
  }

  it("pages a window of many changes: every one applied, and an alert first read while Ignored becomes a detection with its event once re-opened", async () => {
    const world = await new CynetWorld().setup({ alertCount: 0 });
    const tenantId = uniqueTenant("many");
    await connectAndSettle(tenantId, world);
    const c = { tenantId, world, ...capturedEnv() };
    const files = Array.from({ length: 250 }, (_, i) => i.toString(16).padStart(64, "e"));
    const added = (await world.addAlerts({ alerts: files.map((h, i) => ({ ...alertOn(h, `PC-${i}`), Status: i === 0 ? 2 : 0 })) })) as { alerts: Array<{ ClientDbId: number }> };
    const ids = added.alerts.map((a) => a.ClientDbId);
    expect(await drainSync(c.env, tenantId)).toEqual(["completed"]);
    await settle(c.env, c.dispatch);
    // The first was Ignored when read: no detection, no event.
    expect((await rows("SELECT * FROM detections WHERE tenant_id = ?", tenantId)).length).toBe(249);
    expect((await hostRecords(tenantId, "events")).length).toBe(249);

    await world.setStatus(ids.slice(1), 2);
    await world.setStatus([ids[0]!], 0);
    expect(await drainSync(c.env, tenantId)).toEqual(["completed"]);
    await settle(c.env, c.dispatch);
    const revoked = await rows<{ n: number }>("SELECT count(*) AS n FROM detections WHERE tenant_id = ? AND revoked_at IS NOT NULL", tenantId);
    expect(revoked[0]!.n).toBe(249);
    expect((await rows("SELECT * FROM detection_status_changes WHERE tenant_id = ?", tenantId)).length).toBe(249);
    // Re-opened, the first is a detection now, with its one event.
    expect(await detection(tenantId, ids[0]!)).toMatchObject({ cynetStatus: "Open", counts: true });
    const events = await hostRecords<{ details: { cynet: { alertId: number } } }>(tenantId, "events");
    expect(events.length).toBe(250);
    expect(events.filter((e) => e.details.cynet.alertId === ids[0]).length).toBe(1);
    const v = await verdicts(tenantId, [files[0]!, files[1]!]);
    expect(v.get(files[0]!)).toMatchObject({ malicious: true });
    expect(v.get(files[1]!)).toMatchObject({ malicious: false, revoked: { reason: "ignored" } });
  });
});
