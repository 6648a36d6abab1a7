/**
 * Isolation (issue 6.3): tenants A and B, each connected to its own Cynet and synced, A with
 * detections, learned file hashes, runs, and deliveries in every state (delivered, failed,
 * pending). Every tenant route is called for B, also with A's data ids (outbox ids, run ids,
 * alert ids as `before`, hashes, MD5/SHA-1), B's signature is tried on A's paths and A's on
 * B's, queue messages naming B carry A's outbox ids, and ids that differ from A's only in case
 * or encoding are tried. A's D1 rows and A's records at the host are compared before and after.
 *
 * Figure: cross-tenant reads or writes that succeed, 0. Printed as `ISOLATION attempts=… succeeded=0`.
 */
import { createExecutionContext, createMessageBatch, createScheduledController } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { consumeDispatchBatch } from "../../src/dispatch/consumer";
import { consumeFindingsBatch } from "../../src/findings/consumer";
import { tenantRoutes } from "../../src/http/app";
import type { Env } from "../../src/env";
import type { QueueMessage } from "../../src/queue-message";
import { handleScheduled } from "../../src/sync/scheduled";
import { uniqueTenant } from "../support/plugin";
import { connectForm, CynetWorld } from "../support/standins";
import { capturedEnv, drainSync, expectedDetections, hostFault, hostRecords, rows, runFindingChecks, settle, clearHostFaults } from "../support/sync";
import { TestClock } from "../support/clock";
import { callApp, send, tenantSnapshot } from "./harness";

afterEach(() => {
  vi.restoreAllMocks();
});

type Detection = { alertId: number; sha256: string };
type Delivery = { id: number };
type Verdicts = { results: Array<{ hash: string; malicious: boolean }> };

/** Enables, connects and syncs a tenant to its own world, with scans at the host that match two of its files. */
async function connected(c: ReturnType<typeof capturedEnv>, prefix: string, alertCount: number, seed: number) {
  const world = await new CynetWorld().setup({ alertCount, seed });
  const tenantId = uniqueTenant(prefix);
  const expected = expectedDetections(await world.alerts());
  const files = [...new Set(expected.values())].slice(0, 2);
  const scans = files.map((sha256, i) => ({ scanId: `${prefix}-scan-${i}`, fileName: `${prefix}-${i}.exe`, scannedAt: "2026-11-01T10:00:00Z", sha256 }));
  expect((await fetch(`https://host.test/__host/tenants/${tenantId}/scans`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ scans }) })).ok).toBe(true);
  expect((await callApp(c.env, "PUT", `/v1/tenants/${tenantId}/enablement`, { enabled: true, bundles: ["endpoint-protection"] })).status).toBe(200);
  const r = await callApp(c.env, "POST", `/v1/tenants/${tenantId}/activation`, connectForm(world));
  expect(r.status, r.text).toBe(200);
  expect(await drainSync(c.env, tenantId, "activation")).toContain("completed");
  return { world, tenantId, expected, files };
}

describe("tenant isolation", () => {
  it("B's routes, signatures and queue messages neither read nor change anything of A's", async () => {
    const c = capturedEnv();
    const A = await connected(c, "iso-a", 500, 4242);
    // A's deliveries: one refused for good (failed), the rest delivered; then a new sync left pending.
    await hostFault(A.tenantId, { endpoint: "ir-requests", status: 400, times: 1 });
    await settle(c.env, c.dispatch);
    c.deadLetter.take();
    await clearHostFaults(A.tenantId);
    // A's finding: one of its files in its scan, found on its endpoints by a check (events and note delivered).
    const aFound = await callApp(c.env, "POST", `/v1/tenants/${A.tenantId}/findings`, { findings: [{ sha256: A.files[0], scanId: "iso-a-scan-0", foundAt: new Date().toISOString() }] });
    expect(aFound.status, aFound.text).toBe(202);
    expect(await runFindingChecks(c.env, c.findings, A.tenantId, new TestClock())).toBe(1);
    await settle(c.env, c.dispatch);
    const aFindingIds = (await rows<{ id: number }>("SELECT id FROM findings WHERE tenant_id = ?", A.tenantId)).map((r) => r.id);
    expect((await rows("SELECT id FROM finding_endpoints WHERE tenant_id = ?", A.tenantId)).length).toBeGreaterThan(0);
    await A.world.addAlerts({ count: 150 });
    expect(await drainSync(c.env, A.tenantId, "manual")).toContain("completed");
    const aPendingMessages = c.dispatch.take();
    expect(aPendingMessages.length).toBeGreaterThan(0);

    const B = await connected(c, "iso-b", 200, 777);
    await settle(c.env, c.dispatch);

    const aOutbox = await rows<{ id: number; state: string }>("SELECT id, state FROM outbox WHERE tenant_id = ?", A.tenantId);
    const aFailed = aOutbox.filter((o) => o.state === "failed").map((o) => o.id);
    const aPending = aOutbox.filter((o) => o.state === "pending").map((o) => o.id);
    expect(aFailed.length).toBeGreaterThan(0);
    expect(aPending.length).toBeGreaterThan(0);
    expect(aOutbox.some((o) => o.state === "delivered")).toBe(true);
    const aDetections = await rows<{ alert_id: number; sha256: string }>("SELECT alert_id, sha256 FROM detections WHERE tenant_id = ?", A.tenantId);
    const aKeys = new Set(aDetections.map((d) => `${d.alert_id}:${d.sha256}`));
    const aShas = [...new Set(aDetections.map((d) => d.sha256))];
    const aHashes = await rows<{ md5: string | null; sha1: string | null }>("SELECT md5, sha1 FROM file_hashes WHERE tenant_id = ? AND state = 'known'", A.tenantId);
    const aRuns = (await rows<{ id: number }>("SELECT id FROM sync_runs WHERE tenant_id = ?", A.tenantId)).map((r) => r.id);
    const bShas = new Set((await rows<{ sha256: string }>("SELECT sha256 FROM detections WHERE tenant_id = ?", B.tenantId)).map((d) => d.sha256));
    const aOnlyHashes = [...aShas.filter((h) => !bShas.has(h)), ...aHashes.flatMap((h) => [h.md5, h.sha1]).filter((h): h is string => !!h)];
    expect(aOnlyHashes.length).toBeGreaterThan(50);
    const maxAlert = Math.max(...aDetections.map((d) => d.alert_id));

    // A response action of A's (queued; its message is captured, not run).
    const [aFile] = await rows<{ sha256: string; host_name: string }>("SELECT sha256, host_name FROM detections WHERE tenant_id = ? AND host_name IS NOT NULL LIMIT 1", A.tenantId);
    const aAction = await callApp<{ id: string }>(c.env, "POST", `/v1/tenants/${A.tenantId}/actions`, { action: "verify_file", sha256: aFile!.sha256, hosts: [aFile!.host_name], actor: { id: "a-analyst" } });
    expect(aAction.status, aAction.text).toBe(202);
    c.actions.take();

    const aBefore = await tenantSnapshot(A.tenantId);
    const aHostBefore = await Promise.all((["events", "notes", "ir-requests", "scans"] as const).map((k) => hostRecords(A.tenantId, k)));
    const aIdentity = [A.tenantId, A.world.label, A.world.orgUrl];

    let attempts = 0;
    const breaches: string[] = [];
    const attempt = (what: string, succeeded: boolean) => {
      attempts += 1;
      if (succeeded) breaches.push(what);
    };
    const covered = new Set<string>();
    const asB = (method: string, path: string, body?: unknown, testEnv: Env = c.env) => {
      covered.add(`${method} ${path.split("?")[0]}`);
      return callApp(testEnv, method, `/v1/tenants/${B.tenantId}${path}`, body);
    };
    const showsA = (text: string) => aIdentity.some((s) => text.includes(s));

    // ---- reads
    const status = await asB("GET", "/status");
    attempt("B's status shows A's identity", showsA(status.text));
    for (const query of ["", "?limit=200", `?before=${maxAlert + 1}&limit=200`, `?before=${maxAlert}`, "?before=9007199254740991&limit=200"]) {
      let before: string | null = query;
      for (let page = 0; page < 10 && before !== null; page++) {
        const r = await asB("GET", `/detections${before}`);
        const body = r.body as { detections: Detection[]; nextBefore: number | null };
        const leaked = (body.detections ?? []).filter((d) => aKeys.has(`${d.alertId}:${d.sha256}`) && !bShas.has(d.sha256));
        attempt(`B's detections${before} list A's detections`, leaked.length > 0 || showsA(r.text));
        before = body.nextBefore ? `?before=${body.nextBefore}&limit=200` : null;
      }
    }
    for (const query of ["", `?before=${Math.max(...aRuns) + 1}&limit=200`, "?limit=200"]) {
      const r = await asB("GET", `/sync/runs${query}`);
      const runs = (r.body as { runs: Array<{ id: number; tenantId: string }> }).runs;
      attempt(`B's sync/runs${query} list A's runs`, runs.some((x) => aRuns.includes(x.id) || x.tenantId !== B.tenantId) || showsA(r.text));
    }
    for (const state of ["failed", "pending", "delivered"]) {
      const r = await asB("GET", `/deliveries?state=${state}`);
      const ids = (r.body as { deliveries: Delivery[] }).deliveries.map((d) => d.id);
      attempt(`B's deliveries?state=${state} list A's rows`, ids.some((id) => aOutbox.some((o) => o.id === id)));
    }
    for (let i = 0; i < aOnlyHashes.length; i += 500) {
      const chunk = aOnlyHashes.slice(i, i + 500);
      const r = await asB("POST", "/verdicts", { hashes: chunk });
      expect(r.status).toBe(200);
      const malicious = (r.body as Verdicts).results.filter((v) => v.malicious);
      attempt(`B's verdicts call A's ${chunk.length} hashes malicious`, malicious.length > 0);
    }
    const bFindings = await asB("GET", "/findings?limit=100");
    attempt("B's findings list A's", (bFindings.body as { findings: unknown[] }).findings.length > 0 || showsA(bFindings.text) || bFindings.text.includes(A.files[0]!));
    const actionsList = await asB("GET", "/actions?limit=100");
    attempt("B's actions list A's action", actionsList.text.includes(aAction.body.id) || showsA(actionsList.text));
    const aActionAsB = await asB("GET", `/actions/${aAction.body.id}`);
    covered.add("GET /actions/:id");
    attempt("B reads A's action by its id", aActionAsB.status !== 404 || aActionAsB.text.includes(aFile!.sha256));
    const bAction = await asB("POST", "/actions", { action: "quarantine_file", sha256: aFile!.sha256, hosts: [aFile!.host_name], actor: { id: "b-analyst" } });
    expect(bAction.status, bAction.text).toBeLessThan(500);
    attempt("B's action request queues work for A", c.actions.take().some((m) => m.tenantId === A.tenantId));
    // The same hashes are malicious for A: the check above is not vacuous.
    const control = await callApp<Verdicts>(c.env, "POST", `/v1/tenants/${A.tenantId}/verdicts`, { hashes: aShas.slice(0, 50) });
    expect(control.body.results.every((v) => v.malicious)).toBe(true);

    // ---- writes
    const retryIds = await asB("POST", "/deliveries/retry", { ids: aFailed.slice(0, 90) });
    attempt("B's retry of A's failed ids requeues them", (retryIds.body as { requeued: number }).requeued !== 0 || c.dispatch.sent.some((m) => m.outboxIds.some((id) => aFailed.includes(id))));
    const retryAll = await asB("POST", "/deliveries/retry");
    attempt("B's retry-all requeues A's rows", c.dispatch.sent.some((m) => m.tenantId !== B.tenantId || m.outboxIds.some((id) => aOutbox.some((o) => o.id === id))));
    expect(retryAll.status).toBe(202);
    // B sends A's finding (A's file, A's scan id) as its own: a new finding of B's, checked in B's Cynet only.
    const bFinding = await asB("POST", "/findings", { findings: [{ sha256: A.files[0], scanId: "iso-a-scan-0", foundAt: new Date().toISOString() }] });
    expect(bFinding.status, bFinding.text).toBe(202);
    attempt("B's finding of A's file and scan counts as A's duplicate", (bFinding.body as { new: number }).new !== 1);
    attempt("B's finding sends a check for A", c.findings.sent.some((m) => m.tenantId === A.tenantId));
    expect(await runFindingChecks(c.env, c.findings, B.tenantId, new TestClock())).toBe(1);
    // A findings message naming B with A's finding ids, once they are due again: B's checks only.
    const checkCtx = createExecutionContext();
    const later = new TestClock(2 * 60 * 60_000);
    const checks = createMessageBatch<QueueMessage>("cynet-findings", [{ id: "f1", timestamp: later.now(), attempts: 1, body: { kind: "finding_checks", tenantId: B.tenantId, findingIds: aFindingIds } }]);
    await consumeFindingsBatch(checks, c.env, checkCtx, later);
    attempt("a findings message naming B checks A's findings", c.dispatch.sent.some((m) => m.tenantId === A.tenantId));
    for (const [method, path, body] of [
      ["POST", "/sync", undefined],
      ["POST", "/sync/backfill", { since: new Date(Date.now() - 3 * 86_400_000).toISOString() }],
      ["POST", "/sync/reset", { lookbackDays: 7 }],
      ["PUT", "/enablement", { enabled: false, bundles: [] }],
      ["PUT", "/enablement", { enabled: true, bundles: ["endpoint-protection"] }],
      ["POST", "/activation", connectForm(B.world)],
      ["DELETE", "/activation", undefined],
    ] as const) {
      const r = await asB(method, path, body);
      expect(r.status, `${method} ${path}: ${r.text}`).toBeLessThan(500);
      attempt(`B's ${method} ${path} touches A`, c.sync.sent.some((m) => m.tenantId === A.tenantId) || showsA(r.text));
    }
    // B's sync messages run: only B's data moves.
    for (const m of c.sync.take()) await drainSync(c.env, m.tenantId, m.reason);
    attempt("B's syncs enqueue work for A", c.dispatch.sent.some((m) => m.tenantId === A.tenantId));
    c.dispatch.take();

    // ---- the audit trail, now that B's calls above wrote entries of B's own
    const aAudit = (await rows<{ id: number }>("SELECT id FROM audit_log WHERE tenant_id = ?", A.tenantId)).map((r) => r.id);
    expect(aAudit.length).toBeGreaterThan(0);
    for (const query of ["", "?limit=200", `?before=${Math.max(...aAudit) + 1}&limit=200`, "?action=connected", "?action=enablement_changed&limit=200"]) {
      const r = await asB("GET", `/audit${query}`);
      expect(r.status, r.text).toBe(200);
      const entries = (r.body as { entries: Array<{ id: number }> }).entries;
      attempt(`B's audit${query} lists A's entries`, entries.some((e) => aAudit.includes(e.id)) || showsA(r.text));
    }
    expect(((await asB("GET", "/audit?limit=200")).body as { entries: unknown[] }).entries.length, "B's own entries").toBeGreaterThan(5);

    // ---- B's signature on A's paths, A's on B's
    for (const path of ["/status", "/detections", "/deliveries?state=failed"]) {
      const { hmacHex, signingInput } = await import("../../src/http/signature");
      const { env } = await import("cloudflare:workers");
      const ts = String(Math.floor(Date.now() / 1000));
      const bSig = await hmacHex(env.HOST_SIGNING_SECRET, signingInput(ts, "GET", `/v1/tenants/${B.tenantId}${path}`, ""));
      const onA = await send({ method: "GET", path: `/v1/tenants/${A.tenantId}${path}`, sign: "none", headers: { "x-host-timestamp": ts, "x-host-signature": `v1=${bSig}` } }, c.env);
      attempt(`B's signature opens A's ${path}`, onA.status !== 401);
      const aSig = await hmacHex(env.HOST_SIGNING_SECRET, signingInput(ts, "POST", `/v1/tenants/${A.tenantId}/deliveries/retry`, ""));
      const onB = await send({ method: "POST", path: `/v1/tenants/${B.tenantId}/deliveries/retry`, sign: "none", headers: { "x-host-timestamp": ts, "x-host-signature": `v1=${aSig}` } }, c.env);
      attempt("A's signature accepted on B's path", onB.status !== 401);
    }

    // ---- ids that only look like A's
    const lookalikes = [A.tenantId.toUpperCase(), `${A.tenantId}%00`, `${A.tenantId}%20`, `${A.tenantId}/`, ` ${A.tenantId}`, `${A.tenantId}.`, `${A.tenantId}%2F..`, `..%2F${A.tenantId}`, `${B.tenantId}%2F..%2F${A.tenantId}`, `${A.tenantId};`];
    for (const id of lookalikes) {
      for (const [method, path, body] of [
        ["GET", "/status", undefined],
        ["GET", "/detections?limit=200", undefined],
        ["POST", "/deliveries/retry", { ids: aFailed.slice(0, 90) }],
        ["DELETE", "/activation", undefined],
      ] as const) {
        const r = await send({ method, path: `/v1/tenants/${id}${path}`, body: body === undefined ? undefined : JSON.stringify(body) }, c.env);
        const leaked = r.status >= 200 && r.status < 300 && (r.text.includes(A.world.orgUrl) || /"requeued":[1-9]/.test(r.text) || aDetections.slice(0, 50).some((d) => r.text.includes(d.sha256)));
        attempt(`look-alike id ${JSON.stringify(id)} ${method} ${path} reaches A`, leaked);
      }
    }

    // ---- queue messages that name B but carry A's rows
    const ctx = createExecutionContext();
    const batch = createMessageBatch<QueueMessage>("cynet-dispatch", [
      { id: "x1", timestamp: new Date(), attempts: 1, body: { kind: "dispatch", tenantId: B.tenantId, outboxIds: aPending.slice(0, 90) } },
      { id: "x2", timestamp: new Date(), attempts: 1, body: { kind: "dispatch", tenantId: B.tenantId, outboxIds: aFailed.slice(0, 90) } },
    ]);
    await consumeDispatchBatch(batch, c.env, ctx);
    attempt("a dispatch message naming B delivers A's rows", (await hostRecords(B.tenantId, "events")).some((e) => aShas.includes((e as { details: { file: { sha256: string } } }).details.file.sha256)));

    // ---- A after all that: the same rows, the same records at the host
    const aAfter = await tenantSnapshot(A.tenantId);
    for (const table of Object.keys(aBefore)) {
      attempt(`A's ${table} rows changed`, JSON.stringify(aAfter[table]) !== JSON.stringify(aBefore[table]));
      expect(aAfter[table], table).toEqual(aBefore[table]);
    }
    const aHostAfter = await Promise.all((["events", "notes", "ir-requests", "scans"] as const).map((k) => hostRecords(A.tenantId, k)));
    attempt("A's records at the host changed", JSON.stringify(aHostAfter) !== JSON.stringify(aHostBefore));
    // Last (it moves A's due times, as it should): the cron and its sweeper run over both tenants; A's rows are only ever sent as A's.
    await handleScheduled(createScheduledController({ scheduledTime: Date.now() + 11 * 60_000, cron: "*/5 * * * *" }), c.env, createExecutionContext());
    const swept = c.dispatch.take();
    attempt("the sweeper files A's rows under another tenant", swept.some((m) => m.tenantId !== A.tenantId && m.outboxIds.some((id) => aOutbox.some((o) => o.id === id))));
    c.sync.take();
    // B's own data was reachable all along (the attempts above ran against a live tenant).
    expect((await hostRecords(B.tenantId, "events")).length).toBe(B.expected.size);

    // Every tenant route of the app was called for B.
    const routes = tenantRoutes.map((r) => `${r.spec.method.toUpperCase()} ${r.spec.path.replace("/v1/tenants/:tenantId", "")}`);
    expect(routes.filter((r) => !covered.has(r))).toEqual([]);
    console.log(`ISOLATION attempts=${attempts} succeeded=${breaches.length} tenants=2 routes=${routes.length} a_rows=${Object.values(aBefore).reduce((n, t) => n + t.length, 0)} a_host_records=${aHostBefore.reduce((n, r) => n + r.length, 0)}`);
    expect(breaches, breaches.join("\n")).toEqual([]);
  }, 180_000);
});
