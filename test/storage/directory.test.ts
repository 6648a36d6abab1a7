/**
 * Tenants spread over two D1 databases (storage/directory.ts): the Worker runs with
 * TENANT_DATABASES = "DB,DB_2", both real D1 databases with every migration applied
 * (vitest.config.ts, test/setup/apply-migrations.ts). Two tenants are enabled, connected to
 * their own simulated Cynet, synced and delivered to the dev host; then what each one's rows,
 * routes, verdicts, the cron and the sweeper show is checked against the database it was placed in.
 *
 * Storage is per test file, so both databases start empty here: the first tenant enabled goes
 * to DB (a tie goes to the first listed), the second to DB_2.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { ChannelStatus } from "../../src/activation/schemas";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import { DatabaseConfigError, TenantDatabasesSetting } from "../../src/storage/directory";
import { BOOKMARK_HEADER } from "../../src/storage/sessions";
import { fanOutSyncs, handleScheduled } from "../../src/sync/scheduled";
import { TENANT_TABLES } from "../hardening/harness";
import { runCapturedActions } from "../support/actions";
import { callJson, uniqueTenant } from "../support/plugin";
import { connectForm, CynetWorld } from "../support/standins";
import { capturedEnv, deliver, drainSync, expectedDetections, hostRecords, runFindingChecks, settle, type HostEvent } from "../support/sync";
import { TestClock } from "../support/clock";

const c = capturedEnv();
/** The Worker's env with its queues captured and tenants spread over DB and DB_2. */
const two = { ...c.env, TENANT_DATABASES: "DB,DB_2" } as Env;
const DATABASES = { DB: env.DB, DB_2: env.DB_2 } as const;
type Binding = keyof typeof DATABASES;
const BINDINGS = Object.keys(DATABASES) as Binding[];

type Verdicts = { results: Array<{ hash: string; malicious: boolean }> };

/** Rows of a query against one of the two databases. */
async function rowsIn<T = Record<string, unknown>>(binding: Binding, query: string, ...params: unknown[]): Promise<T[]> {
  return (await DATABASES[binding].prepare(query).bind(...params).all<T>()).results;
}

/** A signed call to the Worker running with `testEnv` (by default tenants over DB and DB_2). */
function call<T = Record<string, unknown>>(method: string, path: string, body?: unknown, headers?: Record<string, string>, testEnv: Env = two) {
  return callJson<T>(method, path, body, { env: testEnv, ...(headers ? { headers } : {}) });
}

/** Which binding the directory (in DB) placed the tenant in, if any. */
async function placement(tenantId: string): Promise<string | undefined> {
  const [row] = await rowsIn<{ binding: string }>("DB", "SELECT binding FROM tenant_databases WHERE tenant_id = ?", tenantId);
  return row?.binding;
}

/** A tenant enabled, connected to its own world and synced through the Worker running with `two`. */
async function connectAndSync(prefix: string, alertCount: number, seed: number) {
  const world = await new CynetWorld().setup({ alertCount, seed });
  const tenantId = uniqueTenant(prefix);
  const enabled = await call("PUT", `/v1/tenants/${tenantId}/enablement`, { enabled: true, bundles: ["endpoint-protection"] });
  expect(enabled.status, enabled.text).toBe(200);
  const connected = await call("POST", `/v1/tenants/${tenantId}/activation`, connectForm(world));
  expect(connected.status, connected.text).toBe(200);
  expect(await drainSync(two, tenantId, "activation")).toContain("completed");
  // A response action too, run to its end: its rows belong in the tenant's database like the rest.
  const [found] = await DATABASES[(await placement(tenantId)) as Binding].prepare("SELECT sha256, host_name FROM detections WHERE tenant_id = ? AND host_name IS NOT NULL LIMIT 1").bind(tenantId).all<{ sha256: string; host_name: string }>().then((r) => r.results);
  const asked = await call("POST", `/v1/tenants/${tenantId}/actions`, { action: "verify_file", sha256: found!.sha256, hosts: [found!.host_name], actor: { id: "dir-analyst" } });
  expect(asked.status, asked.text).toBe(202);
  await runCapturedActions(two, c.actions);
  expect((await call("GET", `/v1/tenants/${tenantId}/actions/${asked.body.id as string}`)).body).toMatchObject({ state: "done" });
  return { tenantId, world, expected: expectedDetections(await world.alerts()) };
}

let A: Awaited<ReturnType<typeof connectAndSync>>;
let B: Awaited<ReturnType<typeof connectAndSync>>;
const home = (t: { tenantId: string }): Binding => (t === A ? "DB" : "DB_2");
const away = (t: { tenantId: string }): Binding => (t === A ? "DB_2" : "DB");

beforeAll(async () => {
  for (const binding of BINDINGS) expect(await rowsIn(binding, "SELECT 1 FROM tenants"), `${binding} is empty at the start`).toEqual([]);
  A = await connectAndSync("dir-a", 300, 101);
  B = await connectAndSync("dir-b", 200, 202);
  // Each tenant's scanner convicted one of its own files, in a scan at the host: its findings,
  // the endpoints Cynet has the file on and their events and note are the tenant's database's too.
  for (const t of [A, B]) {
    const sha256 = [...t.expected.values()][0]!;
    const scan = { scanId: `${t.tenantId}-scan`, fileName: "attachment.exe", scannedAt: new Date().toISOString(), sha256 };
    expect((await fetch(`https://host.test/__host/tenants/${t.tenantId}/scans`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ scans: [scan] }) })).ok).toBe(true);
    const found = await call("POST", `/v1/tenants/${t.tenantId}/findings`, { findings: [{ sha256, scanId: scan.scanId, foundAt: scan.scannedAt }] });
    expect(found.status, found.text).toBe(202);
    expect(await runFindingChecks(two, c.findings, t.tenantId, new TestClock())).toBe(1);
  }
  // Both tenants' deliveries, played through the dispatch consumer in shared batches.
  await settle(two, c.dispatch);
  c.sync.take();
});

describe("tenants over two databases", () => {
  it("places the first tenant in DB and the second in DB_2 (the emptiest, ties to the first listed), once", async () => {
    expect(await placement(A.tenantId)).toBe("DB");
    expect(await placement(B.tenantId)).toBe("DB_2");
    // The directory is kept in DB only.
    expect(await rowsIn("DB_2", "SELECT * FROM tenant_databases")).toEqual([]);

    // A placement does not move: A disabled and enabled again stays in DB, with one directory row.
    for (const enabled of [false, true]) expect((await call("PUT", `/v1/tenants/${A.tenantId}/enablement`, { enabled, bundles: ["endpoint-protection"] })).status).toBe(200);
    expect(await rowsIn("DB", "SELECT binding FROM tenant_databases WHERE tenant_id = ?", A.tenantId)).toEqual([{ binding: "DB" }]);
    expect(await rowsIn("DB_2", "SELECT id FROM tenants WHERE id = ?", A.tenantId)).toEqual([]);

    // Tenants DB held before the directory existed stay there and count as DB's: with two of
    // them DB holds three tenants and DB_2 one, so the next new tenant goes to DB_2.
    const legacy = [uniqueTenant("dir-old"), uniqueTenant("dir-old")];
    const at = Date.now();
    for (const id of legacy) await env.DB.prepare("INSERT INTO tenants (id, enabled, bundles, state, created_at, updated_at) VALUES (?, 1, '[\"endpoint-protection\"]', 'inactive', ?, ?)").bind(id, at, at).run();
    const fresh = uniqueTenant("dir-c");
    expect((await call("PUT", `/v1/tenants/${fresh}/enablement`, { enabled: true, bundles: ["endpoint-protection"] })).status).toBe(200);
    expect(await placement(fresh)).toBe("DB_2");
    expect(await rowsIn("DB_2", "SELECT id, enabled FROM tenants WHERE id = ?", fresh)).toEqual([{ id: fresh, enabled: 1 }]);
    expect(await rowsIn("DB", "SELECT id FROM tenants WHERE id = ?", fresh)).toEqual([]);

    const old = await call<ChannelStatus>("PUT", `/v1/tenants/${legacy[0]}/enablement`, { enabled: false, bundles: [] });
    expect(old.status).toBe(200);
    expect(old.body).toMatchObject({ tenantId: legacy[0], status: "not_enabled", enabled: false });
    expect(await rowsIn("DB", "SELECT enabled FROM tenants WHERE id = ?", legacy[0])).toEqual([{ enabled: 0 }]);
    expect(await rowsIn("DB_2", "SELECT id FROM tenants WHERE id = ?", legacy[0])).toEqual([]);
  });

  /** Tables this flow may leave without rows: lookups it did not need, and decisions Cynet did not make. */
  const MAY_BE_EMPTY = new Set(["file_hashes", "detection_status_changes", "verdict_changes"]);

  it("keeps each tenant's activation, sync, detections and deliveries in its own database only", async () => {
    for (const t of [A, B]) {
      for (const [table, column] of Object.entries(TENANT_TABLES)) {
        const mine = await rowsIn<{ n: number }>(home(t), `SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`, t.tenantId);
        const elsewhere = await rowsIn<{ n: number }>(away(t), `SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`, t.tenantId);
        expect(elsewhere[0]!.n, `${t.tenantId}'s ${table} rows in ${away(t)}`).toBe(0);
        if (!MAY_BE_EMPTY.has(table)) expect(mine[0]!.n, `${t.tenantId}'s ${table} rows in ${home(t)}`).toBeGreaterThan(0);
      }
      const stored = await rowsIn<{ alert_id: number; sha256: string }>(home(t), "SELECT alert_id, sha256 FROM detections WHERE tenant_id = ?", t.tenantId);
      expect(new Map(stored.map((r) => [r.alert_id, r.sha256]))).toEqual(t.expected);
      expect(await rowsIn(home(t), "SELECT id FROM outbox WHERE tenant_id = ? AND state != 'delivered'", t.tenantId)).toEqual([]);

      // The host received one event per detection of this tenant, each once, and its finding's.
      const received = await hostRecords<HostEvent>(t.tenantId, "events");
      const events = received.filter((e) => e.type === "Malicious File in Endpoint");
      expect(events.map((e) => e.details.cynet.alertId).sort((x, y) => x - y)).toEqual([...t.expected.keys()].sort((x, y) => x - y));
      const attachmentEvents = received.filter((e) => e.type === "Malicious Attachment on Endpoint");
      const endpoints = await rowsIn(home(t), "SELECT id FROM finding_endpoints WHERE tenant_id = ?", t.tenantId);
      expect(attachmentEvents.length).toBe(endpoints.length);

      const status = await call<ChannelStatus>("GET", `/v1/tenants/${t.tenantId}/status`);
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({ status: "active", sync: { health: "ok", lastRun: { outcome: "succeeded" } } });
      expect(status.body.deliveries.events).toMatchObject({ delivered: t.expected.size + attachmentEvents.length, pending: 0, failed: 0 });

      const listed = await call<{ detections: unknown[] }>("GET", `/v1/tenants/${t.tenantId}/detections?limit=200`);
      expect(listed.body.detections.length).toBe(Math.min(200, t.expected.size));
    }
    // Outbox ids are per database, so both started at 1: the same ids named different rows.
    const ids = (t: typeof A) => rowsIn<{ id: number }>(home(t), "SELECT id FROM outbox WHERE tenant_id = ?", t.tenantId).then((r) => new Set(r.map((x) => x.id)));
    const [aIds, bIds] = [await ids(A), await ids(B)];
    expect([...aIds].some((id) => bIds.has(id))).toBe(true);
  });

  it("answers each tenant's verdicts from its own database, never the other's", async () => {
    const shas = (t: typeof A) => new Set(t.expected.values());
    const onlyA = [...shas(A)].filter((h) => !shas(B).has(h)).slice(0, 20);
    const onlyB = [...shas(B)].filter((h) => !shas(A).has(h)).slice(0, 20);
    expect(onlyA.length && onlyB.length).toBeGreaterThan(0);
    const verdicts = (t: typeof A, hashes: string[]) => call<Verdicts>("POST", `/v1/tenants/${t.tenantId}/verdicts`, { hashes });
    expect((await verdicts(A, onlyA)).body.results.every((v) => v.malicious)).toBe(true);
    expect((await verdicts(B, onlyB)).body.results.every((v) => v.malicious)).toBe(true);
    expect((await verdicts(A, onlyB)).body.results.some((v) => v.malicious)).toBe(false);
    expect((await verdicts(B, onlyA)).body.results.some((v) => v.malicious)).toBe(false);

    // A detection of B's written to the wrong database (DB) is never B's verdict; in DB_2 it is.
    const planted = { wrong: "ab".repeat(32), right: "cd".repeat(32) };
    const insert = "INSERT INTO detections (tenant_id, alert_id, sha256, detected_at, run_id, stored_at) VALUES (?, ?, ?, ?, 0, ?)";
    await env.DB.prepare(insert).bind(B.tenantId, 9_000_001, planted.wrong, Date.now(), Date.now()).run();
    await env.DB_2.prepare(insert).bind(B.tenantId, 9_000_002, planted.right, Date.now(), Date.now()).run();
    const answer = await verdicts(B, [planted.wrong, planted.right]);
    expect(answer.status).toBe(200);
    expect(answer.body.results.map((v) => [v.hash, v.malicious])).toEqual([
      [planted.wrong, false],
      [planted.right, true],
    ]);
    // The answer carries DB_2's bookmark, and sending it back reads DB_2 again.
    const bookmark = answer.headers.get(BOOKMARK_HEADER);
    expect(bookmark).toMatch(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/);
    const again = await call<Verdicts>("POST", `/v1/tenants/${B.tenantId}/verdicts`, { hashes: [planted.right] }, { [BOOKMARK_HEADER]: bookmark! });
    expect(again.status).toBe(200);
    expect(again.body.results).toEqual([{ hash: planted.right, hashType: "sha256", malicious: true, firstDetectedAt: expect.any(String), endpoints: 1 }]);
    await env.DB.prepare("DELETE FROM detections WHERE alert_id = 9000001").run();
    await env.DB_2.prepare("DELETE FROM detections WHERE alert_id = 9000002").run();
  });

  it("fans out both tenants in one cron tick, and the sweeper re-sends a due pending row in DB_2 as B's", async () => {
    const now = new Date();
    const due = now.getTime() - 60_000;
    await env.DB.prepare("UPDATE sync_state SET next_run_at = ? WHERE tenant_id = ?").bind(due, A.tenantId).run();
    await env.DB_2.prepare("UPDATE sync_state SET next_run_at = ? WHERE tenant_id = ?").bind(due, B.tenantId).run();
    // A delivery of B's whose message was lost an hour ago; A has a row with the same id in DB.
    const [alertId] = [...B.expected.keys()];
    const [row] = await rowsIn<{ id: number }>(
      "DB_2",
      "INSERT INTO outbox (tenant_id, kind, alert_ids, idempotency_key, state, attempts, next_attempt_at, created_at) VALUES (?, 'events', ?, ?, 'pending', 0, ?, ?) RETURNING id",
      B.tenantId,
      JSON.stringify([alertId]),
      `test-swept:${B.tenantId}`,
      now.getTime() - 3_600_000,
      now.getTime() - 3_600_000,
    );
    await env.DB.prepare(
      "INSERT INTO outbox (id, tenant_id, kind, alert_ids, idempotency_key, state, attempts, next_attempt_at, created_at) VALUES (?, ?, 'events', '[]', ?, 'delivered', 1, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
      .bind(row!.id, A.tenantId, `test-twin:${A.tenantId}`, now.getTime(), now.getTime())
      .run();
    const twinBefore = await rowsIn("DB", "SELECT * FROM outbox WHERE id = ?", row!.id);
    const eventsBefore = (await hostRecords(B.tenantId, "events")).length;

    const ctx = createExecutionContext();
    await handleScheduled(createScheduledController({ scheduledTime: now.getTime(), cron: "*/5 * * * *" }), two, ctx);
    await waitOnExecutionContext(ctx);

    const synced = c.sync.take();
    expect(synced.filter((m) => m.tenantId === A.tenantId || m.tenantId === B.tenantId).map((m) => [m.tenantId, m.reason]).sort()).toEqual(
      [
        [A.tenantId, "cron"],
        [B.tenantId, "cron"],
      ].sort(),
    );
    const swept = c.dispatch.take();
    expect(swept).toEqual([{ kind: "dispatch", tenantId: B.tenantId, outboxIds: [row!.id] }]);

    const { result } = await deliver(two, swept);
    expect(result.retryMessages).toEqual([]);
    expect(await rowsIn("DB_2", "SELECT state FROM outbox WHERE id = ?", row!.id)).toEqual([{ state: "delivered" }]);
    // The host had B's event already, under the same key: it answered the resend, nothing new recorded.
    expect((await hostRecords(B.tenantId, "events")).length).toBe(eventsBefore);
    expect(await rowsIn("DB", "SELECT * FROM outbox WHERE id = ?", row!.id)).toEqual(twinBefore);
  });

  it("fans out oldest-due first across both databases, up to the bound, whichever database each tenant is in", async () => {
    // Long ago, so that only these tenants are due; interleaved across the two databases.
    const base = Date.UTC(2020, 0, 1);
    const seeded = Array.from({ length: 8 }, (_, i) => ({ tenantId: uniqueTenant(`dir-due${i}`), binding: (i % 2 === 0 ? "DB" : "DB_2") as Binding, dueAt: base + i * 60_000 }));
    // DB's newest-due first in row order, so neither the row order nor the ids decide.
    for (const t of [...seeded].reverse()) {
      await DATABASES[t.binding].batch([
        DATABASES[t.binding]
          .prepare("INSERT INTO tenants (id, enabled, bundles, state, org_url, client_id, username, created_at, updated_at) VALUES (?, 1, '[]', 'active', 'https://x.api.cynet.com', '1', 'u', ?, ?)")
          .bind(t.tenantId, base, base),
        DATABASES[t.binding].prepare("INSERT INTO sync_state (tenant_id, lookback_days, run_offset, consecutive_failures, next_run_at) VALUES (?, 30, 0, 0, ?)").bind(t.tenantId, t.dueAt),
      ]);
    }
    const BOUND = 5;
    c.sync.take();
    expect(await fanOutSyncs(two, new Date(base + 10 * 60_000), BOUND)).toBe(BOUND);
    const first = c.sync.take().map((m) => m.tenantId);
    expect(first).toEqual(seeded.slice(0, BOUND).map((t) => t.tenantId));
    expect(new Set(seeded.slice(0, BOUND).map((t) => t.binding))).toEqual(new Set(BINDINGS));

    // Those synced and are next due later: the next tick sends the rest, from both databases.
    for (const t of seeded.slice(0, BOUND)) await DATABASES[t.binding].prepare("UPDATE sync_state SET next_run_at = ? WHERE tenant_id = ?").bind(base + 60 * 60_000, t.tenantId).run();
    await fanOutSyncs(two, new Date(base + 10 * 60_000), BOUND);
    expect(c.sync.take().map((m) => m.tenantId)).toEqual(seeded.slice(BOUND).map((t) => t.tenantId));
  });

  it("refuses a configuration it cannot serve: 503 not_configured, never a 500, and the cron fails loudly", async () => {
    expect(TenantDatabasesSetting.parse(undefined)).toEqual(["DB"]);
    expect(TenantDatabasesSetting.parse(" ")).toEqual(["DB"]);
    expect(TenantDatabasesSetting.parse(" DB , DB_2 ")).toEqual(["DB", "DB_2"]);
    for (const wrong of ["DB,DB_3", "DB_2", "DB;DB_2", "DB,DB", "DB,,DB_2", "DB,SYNC_QUEUE"]) {
      const misconfigured = { ...two, TENANT_DATABASES: wrong } as Env;
      const r = await call("GET", `/v1/tenants/${A.tenantId}/status`, undefined, undefined, misconfigured);
      expect(r.status, wrong).toBe(503);
      expect(r.body, wrong).toMatchObject({ error: "not_configured" });
      expect(String(r.body.message), wrong).toContain("TENANT_DATABASES");
      await expect(fanOutSyncs(misconfigured, new Date()), wrong).rejects.toBeInstanceOf(DatabaseConfigError);
    }
    // B is placed in DB_2: a Worker whose list leaves DB_2 out refuses B rather than answer from DB.
    const withoutDb2 = { ...c.env } as Env;
    const refused = await call("GET", `/v1/tenants/${B.tenantId}/status`, undefined, undefined, withoutDb2);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: "not_configured" });
    expect((await call("GET", `/v1/tenants/${A.tenantId}/status`, undefined, undefined, withoutDb2)).status).toBe(200);
    // The public routes keep answering.
    const health = await worker.fetch(new Request("https://plugin.test/healthz") as Parameters<typeof worker.fetch>[0], { ...two, TENANT_DATABASES: "DB_3" } as Env, createExecutionContext());
    expect(health.status).toBe(200);
  });
});
