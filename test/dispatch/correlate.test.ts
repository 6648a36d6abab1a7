import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { handleScheduled } from "../../src/sync/scheduled";
import { callJson, uniqueTenant } from "../support/plugin";
import { capturedEnv, clearHostFaults, connectAndSettle, drainSync, settle, expectExactlyOnce, hostFault, hostRecords, prepared, rows, waitForQuiet } from "../support/sync";
import { CynetWorld } from "../support/standins";

type IrRecord = { scanId: string; subject: string; description: string; priority: string; evidence: { file: { sha256: string; md5: string | null }; endpoints: unknown[]; matchedBy: { hashType: string } } };
type NoteRecord = { scanId: string; author: string; text: string };

/** A synced tenant with scans seeded at the host: A and D by SHA-256 of one file, B by MD5 only of another, C unrelated. */
async function withScans(count = 300) {
  const c = await prepared(count);
  // Pick two distinct detected files, each seen on a single endpoint so far.
  const bySha = new Map<string, number[]>();
  for (const [id, sha] of c.expected) bySha.set(sha, [...(bySha.get(sha) ?? []), id]);
  const [f1, f2] = [...bySha.keys()];
  const f2File = await c.world.fileRecord(f2!);
  expect(f2File.md5).toMatch(/^[0-9a-f]{32}$/);
  const scans = [
    { scanId: "scan-A", fileName: "invoice.pdf.exe", scannedAt: "2026-11-01T10:00:00Z", sha256: f1!.toUpperCase() },
    { scanId: "scan-B", fileName: "payload.docm", scannedAt: "2026-11-02T10:00:00Z", md5: f2File.md5.toUpperCase() },
    { scanId: "scan-C", fileName: "clean.txt", scannedAt: "2026-11-03T10:00:00Z", sha256: "e".repeat(64) },
    { scanId: "scan-D", fileName: "invoice.pdf.exe", scannedAt: "2026-11-04T10:00:00Z", sha256: f1! },
  ];
  const seeded = await fetch(`https://host.test/__host/tenants/${c.tenantId}/scans`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ scans }) });
  expect(seeded.ok).toBe(true);
  return { ...c, f1: f1!, f2: f2!, f2File };
}

/** Delivers captured dispatch messages until nothing new is captured, with no retries expected. */
async function deliverUntilDone(c: Awaited<ReturnType<typeof withScans>>) {
  expect(await settle(c.env, c.dispatch), "deliveries that needed a retry").toBe(0);
}

describe("scan correlation", () => {
  it("asks the IR team once per (scan, hash) and notes the scan, matching by SHA-256 and by MD5 learned from Cynet", async () => {
    const c = await withScans();
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    await deliverUntilDone(c);
    await expectExactlyOnce(c.tenantId, c.expected);

    const ir = await hostRecords<IrRecord>(c.tenantId, "ir-requests");
    expect(ir.map((r) => r.scanId).sort()).toEqual(["scan-A", "scan-B", "scan-D"]);
    const b = ir.find((r) => r.scanId === "scan-B")!;
    expect(b.evidence.matchedBy.hashType).toBe("md5");
    expect(b.evidence.file).toMatchObject({ sha256: c.f2, md5: c.f2File.md5.toLowerCase() });
    for (const r of ir) {
      expect(["high", "critical"]).toContain(r.priority);
      expect(r.description).toMatch(/investigate this scan and mitigate the threat/i);
      expect(r.description).toContain(r.evidence.file.sha256);
      expect(r.description).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}/);
      expect(r.description).toMatch(/detected \d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC/);
      expect(r.evidence.endpoints.length).toBeGreaterThan(0);
      expect(r.subject).toContain(r.scanId);
    }
    const notes = await hostRecords<NoteRecord>(c.tenantId, "notes");
    // One note per (scan, hash), naming every endpoint known when it matched.
    expect(notes.map((n) => n.scanId).sort()).toEqual(["scan-A", "scan-B", "scan-D"]);
    for (const n of notes) {
      expect(n.author).toBe("Cynet");
      // A time people read, with its zone; the machine value is in the structured details.
      expect(n.text).toMatch(/^Cynet found this file malicious on endpoint .+ at \d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC\./);
      expect(n.text).not.toMatch(/\d{4}-\d{2}-\d{2}T/);
    }
    const scans = await hostRecords<{ scanId: string; notes: NoteRecord[] }>(c.tenantId, "scans");
    expect(scans.find((s) => s.scanId === "scan-C")!.notes).toEqual([]);
    const status = await callJson<{ deliveries: Record<string, { delivered: number; failed: number; pending: number }> }>("GET", `/v1/tenants/${c.tenantId}/status`);
    expect(status.body.deliveries.irRequests).toEqual({ pending: 0, scheduled: 0, delivered: 3, failed: 0 });
    expect(status.body.deliveries.notes!.delivered).toBe(notes.length);

    // A full re-read of Cynet changes nothing at the host.
    expect((await callJson("POST", `/v1/tenants/${c.tenantId}/sync/reset`, { lookbackDays: 30 })).status).toBe(202);
    await waitForQuiet(c.tenantId);
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    await deliverUntilDone(c);
    expect((await hostRecords(c.tenantId, "ir-requests")).length).toBe(3);
    expect((await hostRecords(c.tenantId, "notes")).length).toBe(notes.length);
    await expectExactlyOnce(c.tenantId, c.expected);
  });

  it("adds a note, but no second IR request, when the matched file turns up on another endpoint", async () => {
    const c = await withScans(200);
    await drainSync(c.env, c.tenantId);
    await deliverUntilDone(c);
    const notesBefore = (await hostRecords<NoteRecord>(c.tenantId, "notes")).filter((n) => n.scanId === "scan-A").length;
    await c.world.addAlerts({ alerts: [{ AlertType: 0, Status: 0, Sha256: c.f1, HostName: "LAPTOP-NEW-42", HostIp: "10.9.9.9", Path: "C:\\Users\\x\\invoice.pdf.exe" }] });
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    await deliverUntilDone(c);
    const ir = await hostRecords<IrRecord>(c.tenantId, "ir-requests");
    expect(ir.filter((r) => r.scanId === "scan-A")).toHaveLength(1);
    const notesA = (await hostRecords<NoteRecord>(c.tenantId, "notes")).filter((n) => n.scanId === "scan-A");
    expect(notesBefore).toBe(1);
    expect(notesA.length).toBe(2);
    expect(notesA[1]!.text).toMatch(/^Cynet found this file malicious on endpoint LAPTOP-NEW-42 at /);
    expect(notesA[1]!.text).toContain("already open");
  });

  it("keeps the SHA-256 path going when Cynet's file lookup fails, and matches by MD5 once a later lookup succeeds", async () => {
    const c = await withScans(200);
    await c.world.fault({ endpoint: "file", status: 500 });
    await drainSync(c.env, c.tenantId);
    await deliverUntilDone(c);
    let ir = await hostRecords<IrRecord>(c.tenantId, "ir-requests");
    expect(ir.map((r) => r.scanId).sort()).toEqual(["scan-A", "scan-D"]);
    await c.world.clearFaults();
    // The failed lookups wait FILE_LOOKUP_DEFER_MS, then the sweeper's grace: a tick 16 minutes on sends them.
    await handleScheduled(createScheduledController({ scheduledTime: Date.now() + 16 * 60_000, cron: "*/5 * * * *" }), c.env, createExecutionContext());
    await deliverUntilDone(c);
    ir = await hostRecords<IrRecord>(c.tenantId, "ir-requests");
    expect(ir.map((r) => r.scanId).sort()).toEqual(["scan-A", "scan-B", "scan-D"]);
  });

  const hostFaults: Array<[string, string, Record<string, unknown>]> = [
    ["scans/search answering 500", "scans/search", { status: 500, times: 2 }],
    ["scans/search timing out", "scans/search", { delayMs: 20_000, times: 1 }],
    ["ir-requests answering 429", "ir-requests", { status: 429, retryAfterSeconds: 30, times: 2 }],
    ["notes answering 503", "notes", { status: 503, times: 3 }],
  ];
  for (const [name, endpoint, rule] of hostFaults) {
    it(`delivers each IR request and note exactly once through ${name}`, async () => {
      const c = await withScans(150);
      await hostFault(c.tenantId, { endpoint, ...rule });
      await drainSync(c.env, c.tenantId);
      // Retried messages are fed again, as the queue would after their delay.
      await settle(c.env, c.dispatch);
      const ir = await hostRecords<IrRecord>(c.tenantId, "ir-requests");
      expect(ir.map((r) => r.scanId).sort()).toEqual(["scan-A", "scan-B", "scan-D"]);
      const notes = await hostRecords<NoteRecord>(c.tenantId, "notes");
      const perScan = new Map<string, number>();
      for (const n of notes) perScan.set(n.scanId, (perScan.get(n.scanId) ?? 0) + 1);
      expect([...perScan.keys()].sort()).toEqual(["scan-A", "scan-B", "scan-D"]);
      const outbox = await rows<{ kind: string; state: string }>("SELECT kind, state FROM outbox WHERE tenant_id = ? AND kind IN ('note','ir_request')", c.tenantId);
      expect(outbox.every((o) => o.state === "delivered")).toBe(true);
      expect(outbox.filter((o) => o.kind === "note").length).toBe(notes.length);
      await clearHostFaults(c.tenantId);
    }, 60_000);
  }

  it("records a permanent 4xx on an IR request as failed, and the retry call delivers it once after the host is fixed", async () => {
    const c = await withScans(150);
    await hostFault(c.tenantId, { endpoint: "ir-requests", status: 403 });
    await drainSync(c.env, c.tenantId);
    await deliverUntilDone(c);
    expect(await hostRecords(c.tenantId, "ir-requests")).toEqual([]);
    const failed = await callJson<{ deliveries: Array<{ kind: string; lastError: string }> }>("GET", `/v1/tenants/${c.tenantId}/deliveries?state=failed`);
    expect(failed.body.deliveries.map((d) => d.kind)).toEqual(["ir_request", "ir_request", "ir_request"]);
    expect(failed.body.deliveries[0]!.lastError).toMatch(/HTTP 403/);
    await clearHostFaults(c.tenantId);
    expect((await callJson("POST", `/v1/tenants/${c.tenantId}/deliveries/retry`)).status).toBe(202);
    await waitForQuiet(c.tenantId);
    const ir = await hostRecords<IrRecord>(c.tenantId, "ir-requests");
    expect(ir.map((r) => r.scanId).sort()).toEqual(["scan-A", "scan-B", "scan-D"]);
  });

  it("asks the host afresh when a file detected before any scan is seen again after the host scanned it: one IR request and one note", async () => {
    const world = await new CynetWorld().setup({ alertCount: 0 });
    const tenantId = uniqueTenant("rescan");
    await connectAndSettle(tenantId, world);
    const c = { tenantId, world, ...capturedEnv() };
    const sha = "ab".repeat(32);
    const alertOn = (host: string) => ({ AlertType: 0, Status: 0, Sha256: sha.toUpperCase(), HostName: host, HostIp: "10.1.1.1", Path: "C:\\Users\\x\\invoice.exe" });
    // 1. Cynet finds the file; the host has never scanned it.
    await world.addAlerts({ alerts: [alertOn("PC-FIRST")] });
    expect(await drainSync(c.env, tenantId)).toContain("completed");
    expect(await settle(c.env, c.dispatch)).toBe(0);
    expect(await hostRecords(tenantId, "ir-requests")).toEqual([]);
    // 2. The host scans an email carrying it.
    const seeded = await fetch(`https://host.test/__host/tenants/${tenantId}/scans`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ scans: [{ scanId: "scan-rescan", fileName: "invoice.exe", scannedAt: "2026-11-20T10:00:00Z", sha256: sha }] }) });
    expect(seeded.ok).toBe(true);
    // 3. Cynet sees the file again, on another endpoint: the same hashes are searched again, under a key of their own.
    await world.addAlerts({ alerts: [alertOn("PC-SECOND")] });
    expect(await drainSync(c.env, tenantId)).toContain("completed");
    expect(await settle(c.env, c.dispatch)).toBe(0);
    const ir = await hostRecords<IrRecord>(tenantId, "ir-requests");
    expect(ir.map((r) => r.scanId)).toEqual(["scan-rescan"]);
    const notes = await hostRecords<NoteRecord>(tenantId, "notes");
    expect(notes.map((n) => n.scanId)).toEqual(["scan-rescan"]);
    expect(notes[0]!.text).toContain("PC-SECOND");
  });

  it("writes the effects of one file on 3,000 scans in a few statements, and delivers them with every invocation under D1's 1,000 queries", async () => {
    const c = await prepared(120);
    const [sha] = [...new Set(c.expected.values())];
    const scans = Array.from({ length: 3000 }, (_, i) => ({ scanId: `scan-wide-${i}`, fileName: "spread.exe", scannedAt: "2026-11-10T10:00:00Z", sha256: sha! }));
    const seeded = await fetch(`https://host.test/__host/tenants/${c.tenantId}/scans`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ scans }) });
    expect(seeded.ok).toBe(true);
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");

    // Every D1 statement of the Worker under test counted, per dispatch invocation.
    let queries = 0;
    const perInvocation: number[] = [];
    const counting = { ...c.env.DB, batch: c.env.DB.batch.bind(c.env.DB), prepare: (q: string) => (queries++, c.env.DB.prepare(q)) } as D1Database;
    const countingEnv = { ...c.env, DB: counting };
    const retries = await settle(countingEnv, c.dispatch, 12, () => {
      perInvocation.push(queries);
      queries = 0;
    });
    perInvocation.push(queries);
    expect(retries).toBe(0);
    expect(Math.max(...perInvocation)).toBeLessThan(1000);

    const ir = await hostRecords<IrRecord>(c.tenantId, "ir-requests");
    expect(ir.filter((r) => r.evidence.file.sha256 === sha).length).toBe(3000);
    expect(new Set(ir.map((r) => r.scanId)).size).toBe(ir.length);
    const notes = await hostRecords<NoteRecord>(c.tenantId, "notes");
    expect(notes.filter((n) => n.scanId.startsWith("scan-wide-")).length).toBe(3000);
    await expectExactlyOnce(c.tenantId, c.expected);
  }, 180_000);
});
