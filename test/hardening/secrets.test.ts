/**
 * Secret leaks (issue 6.2): the whole flow (enablement, a refused and an accepted Connect,
 * syncs through Cynet faults: a 401 mid-paging, a 500, a token call that echoes the password, a
 * file lookup that echoes the token; deliveries through host faults: a 503, a 502 and a 400 that
 * echo the bearer token; dead-lettering and the retry call; a response action through remediation
 * and status calls that echo the access token; a rotation of the Cynet password;
 * a CREDENTIALS_KEY rotation (v2 added, v1 dropped, and a key rotated out too early);
 * deactivation), with everything captured: every answer body, every console line, every queue
 * message, every D1 row (all tables, after each phase), every record and request body at the
 * host. Searched for every password typed, every Cynet access token issued, both
 * CREDENTIALS_KEYs, HOST_SIGNING_SECRET and HOST_API_TOKEN, in each form they could travel in.
 *
 * Figure: occurrences, 0. Printed as `SECRETS occurrences=0 …`.
 */
import { createExecutionContext, createMessageBatch, createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { consumeDeadLetterBatch } from "../../src/dispatch/consumer";
import type { Env } from "../../src/env";
import type { QueueMessage } from "../../src/queue-message";
import { handleScheduled } from "../../src/sync/scheduled";
import { TestClock } from "../support/clock";
import { uniqueTenant } from "../support/plugin";
import { CLIENT_ID, connectForm, CynetWorld, OPERATOR, VIEWER } from "../support/standins";
import { capturedEnv, clearHostFaults, drainSync, expectedDetections, hostFault, hostRecords, rows, runFindingChecks, settle } from "../support/sync";
import { callApp, dumpD1, occurrences, recordQueue, secretForms } from "./harness";
import { deliverAction } from "../support/actions";

afterEach(() => {
  vi.restoreAllMocks();
});

/** A second key for the rotation: 32 ASCII bytes, so its raw form is searchable too. */
const NEW_KEY_RAW = "rotated-credentials-key-v2-7Qx9!";
const NEW_KEY = btoa(NEW_KEY_RAW);
const NEW_PASSWORD = "Rotated-Operator-Pass-2";
const TYPED_WRONG_PASSWORD = "Typo-Operator-Pass-9";

interface Interceptor {
  what: string;
  match: (url: URL) => boolean;
  respond: (request: Request, body: string) => Response;
  times: number;
}

describe("secret leaks", () => {
  it("no password, Cynet token, CREDENTIALS_KEY, signing secret or host token in any answer, log line, queue message, D1 row or host record, across the whole flow", async () => {
    expect(NEW_KEY_RAW.length).toBe(32);
    const tenantId = uniqueTenant("sec");
    const world = await new CynetWorld().setup({ alertCount: 0 });
    const c = capturedEnv();

    // ---- capture everything
    const responses: string[] = [];
    const logs: string[] = [];
    const queued: unknown[] = [];
    const d1Dumps: string[] = [];
    const hostBodies: string[] = [];
    const tokens = new Set<string>();
    for (const q of [c.sync, c.dispatch, c.deadLetter, c.findings, c.actions]) recordQueue(q as { send(b: unknown): Promise<void> }, queued);
    for (const level of ["log", "info", "warn", "error", "debug", "trace"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        logs.push(args.map((a) => (typeof a === "string" ? a : a instanceof Error ? `${a.stack}` : JSON.stringify(a))).join(" "));
      });
    }
    const interceptors: Interceptor[] = [];
    const intercepted: string[] = [];
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input as RequestInfo, init);
      const url = new URL(request.url);
      const body = request.method === "GET" || request.method === "HEAD" ? "" : await request.clone().text();
      if (url.hostname === "host.test" && url.pathname.startsWith("/v1/")) hostBodies.push(body);
      const hit = interceptors.find((i) => i.times > 0 && i.match(url));
      if (hit) {
        hit.times -= 1;
        intercepted.push(hit.what);
        return hit.respond(request, body);
      }
      const response = await realFetch(request);
      if (url.pathname === "/api/account/token" && response.ok) {
        const token = ((await response.clone().json()) as { access_token?: string }).access_token;
        if (token) tokens.add(token);
      }
      return response;
    });
    const call = async (testEnv: Env, method: string, path: string, body?: unknown) => {
      const r = await callApp(testEnv, method, `/v1/tenants/${tenantId}${path}`, body);
      responses.push(r.text);
      return r;
    };
    const snapshot = async () => d1Dumps.push(JSON.stringify(await dumpD1()));
    const everyRead = async (testEnv: Env) => {
      for (const path of ["/status", "/detections?limit=200", "/sync/runs", "/audit?limit=200", "/deliveries?state=failed", "/deliveries?state=delivered", "/deliveries?state=pending", "/findings"]) {
        expect((await call(testEnv, "GET", path)).status).toBe(200);
      }
    };
    const keyV2 = { ...c.env, CREDENTIALS_KEY: `v2:${NEW_KEY},v1:${env.CREDENTIALS_KEY}` } as Env;
    const onlyV2 = { ...c.env, CREDENTIALS_KEY: `v2:${NEW_KEY}` } as Env;
    const onlyV1 = { ...c.env, CREDENTIALS_KEY: env.CREDENTIALS_KEY } as Env;

    // ---- activation: refused, then accepted
    expect((await call(c.env, "PUT", "/enablement", { enabled: true, bundles: ["endpoint-protection"] })).status).toBe(200);
    const refused = await call(c.env, "POST", "/activation", connectForm(world, { password: TYPED_WRONG_PASSWORD }));
    expect(refused.status).toBe(422);
    expect((await call(c.env, "POST", "/activation", connectForm(world, { username: VIEWER.username, password: VIEWER.password }))).status).toBe(422);
    expect((await call(c.env, "POST", "/activation", connectForm(world))).status).toBe(200);
    expect(await drainSync(c.env, tenantId, "activation")).toContain("completed");
    await snapshot();

    // ---- syncs with Cynet failures
    await world.addAlerts({ count: 450 });
    const expected = expectedDetections(await world.alerts());
    const [fileA, fileB] = [...new Set(expected.values())];
    const scans = [
      { scanId: "sec-scan-1", fileName: "a.exe", scannedAt: "2026-11-01T10:00:00Z", sha256: fileA },
      { scanId: "sec-scan-2", fileName: "b.exe", scannedAt: "2026-11-01T11:00:00Z", sha256: fileB },
    ];
    const seeded = await fetch(`https://host.test/__host/tenants/${tenantId}/scans`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ scans }) });
    expect(seeded.ok).toBe(true);
    await world.fault({ endpoint: "alerts", status: 401, afterCalls: 1, times: 1 });
    // Every page from the fourth call on fails (read-ahead may spend a single failure on a page it then asks again).
    await world.fault({ endpoint: "alerts", status: 500, afterCalls: 3 });
    const tokenCallsBefore = (await world.state()).counters.token ?? 0;
    expect(await drainSync(c.env, tenantId, "manual")).toEqual(["failed"]);
    expect((await world.state()).counters.token).toBe(tokenCallsBefore + 1);
    await world.clearFaults();
    // A token call that echoes the request (and so the password) in its error body.
    await world.expireTokens();
    interceptors.push({
      what: "token call echoing the password",
      match: (u) => u.pathname === "/api/account/token",
      respond: (_r, body) => new Response(JSON.stringify({ error: "upstream", echo: body, raw: body }), { status: 500, headers: { "content-type": "application/json" } }),
      times: 1,
    });
    expect(await drainSync(c.env, tenantId, "manual")).toEqual(["failed"]);
    await everyRead(c.env);
    // A file lookup that echoes the access token; then the run completes.
    interceptors.push({
      what: "file lookup echoing the access token",
      match: (u) => u.pathname === "/api/full/file",
      respond: (r) => new Response(`bad request, headers were: ${JSON.stringify([...r.headers])}`, { status: 500 }),
      times: 3,
    });
    expect(await drainSync(c.env, tenantId, "manual")).toContain("completed");
    await snapshot();

    // ---- deliveries through host failures, two of them echoing the bearer token
    await hostFault(tenantId, { endpoint: "events/batch", status: 503, times: 1 });
    interceptors.push({
      what: "notes answering 502 with the request headers",
      match: (u) => u.hostname === "host.test" && u.pathname.endsWith("/notes"),
      respond: (r) => new Response(`proxy error; request was ${r.method} ${r.url} authorization=${r.headers.get("authorization")}`, { status: 502 }),
      times: 1,
    });
    interceptors.push({
      what: "IR request refused with 400 echoing the headers",
      match: (u) => u.hostname === "host.test" && u.pathname.endsWith("/ir-requests"),
      respond: (r) => Response.json({ error: "bad_request", message: `unexpected header Authorization: ${r.headers.get("authorization")}` }, { status: 400 }),
      times: 1,
    });
    expect(await settle(c.env, c.dispatch)).toBeGreaterThan(0);
    const dead = c.deadLetter.take();
    expect(dead.length).toBeGreaterThan(0);
    const ctx = createExecutionContext();
    await consumeDeadLetterBatch(createMessageBatch<QueueMessage>("cynet-dead-letter", dead.map((body, i) => ({ id: `dl${i}`, timestamp: new Date(), attempts: 1, body }))), c.env, ctx);
    const failed = await call(c.env, "GET", "/deliveries?state=failed");
    expect(failed.text).toContain("[redacted]");
    await clearHostFaults(tenantId);
    expect((await call(c.env, "POST", "/deliveries/retry", {})).status).toBe(202);
    await settle(c.env, c.dispatch);
    expect((await hostRecords(tenantId, "ir-requests")).length).toBe(2);
    expect((await call(c.env, "POST", "/verdicts", { hashes: [fileA, fileB, "0".repeat(64)] })).status).toBe(200);
    await everyRead(c.env);
    await snapshot();

    // ---- the host's findings: a check whose file lookups echo the access token, then one that succeeds after a re-login
    const clock = new TestClock();
    interceptors.push({
      what: "finding check echoing the access token",
      match: (u) => u.pathname === "/api/full/file",
      respond: (r) => new Response(`upstream busy, headers were: ${JSON.stringify([...r.headers])}`, { status: 503 }),
      times: 3,
    });
    const finding = { sha256: fileA, scanId: "sec-scan-1", fileName: "a.exe", recipients: ["alice@acme.example"], foundAt: new Date().toISOString() };
    expect((await call(c.env, "POST", "/findings", { findings: [finding], actor: { id: "admin-1", name: "Alice Admin" } })).status).toBe(202);
    expect(await runFindingChecks(c.env, c.findings, tenantId, clock)).toBe(1);
    expect((await call(c.env, "GET", "/findings")).text).toContain("Cynet answered HTTP 503");
    await world.expireTokens();
    clock.advance(60 * 60_000);
    await handleScheduled(createScheduledController({ scheduledTime: clock.now().getTime(), cron: "*/5 * * * *" }), c.env, createExecutionContext());
    expect(await runFindingChecks(c.env, c.findings, tenantId, clock)).toBe(1);
    await settle(c.env, c.dispatch);
    expect((await hostRecords<{ type: string }>(tenantId, "events")).filter((e) => e.type === "Malicious Attachment on Endpoint").length).toBeGreaterThan(0);
    c.sync.take();
    await everyRead(c.env);
    // ---- a response action, through a Cynet whose remediation and status calls echo the access token
    const [onHost] = await rows<{ host_name: string }>("SELECT host_name FROM detections WHERE tenant_id = ? AND sha256 = ? AND host_name IS NOT NULL LIMIT 1", tenantId, fileA);
    interceptors.push({
      what: "remediation echoing the access token",
      match: (u) => u.pathname === "/api/file/remediation/quarantine",
      respond: (r) => new Response(`busy; token was ${r.headers.get("access_token")}`, { status: 503 }),
      times: 1,
    });
    interceptors.push({
      what: "remediation status echoing the access token",
      match: (u) => u.pathname.startsWith("/api/file/remediation/") && /\d+$/.test(u.pathname),
      respond: (r) => new Response(`oops ${JSON.stringify([...r.headers])}`, { status: 500 }),
      times: 1,
    });
    const asked = await call(c.env, "POST", "/actions", { action: "quarantine_file", sha256: fileA, hosts: [onHost!.host_name], scanId: "sec-scan-1", reason: "secrets test", actor: { id: "u-sec", name: "Sec Analyst" } });
    expect(asked.status, asked.text).toBe(202);
    const actionClock = new TestClock();
    for (let round = 0; round < 60; round++) {
      const steps = c.actions.take();
      if (steps.length === 0) break;
      for (const body of steps) {
        // Past any step's delay (a retry's 30 s, a poll's 15 s).
        actionClock.advance(60_000);
        await deliverAction(c.env, body, actionClock);
      }
    }
    await settle(c.env, c.dispatch);
    const actionId = (asked.body as { id: string }).id;
    expect((await call(c.env, "GET", `/actions/${actionId}`)).body).toMatchObject({ state: "done" });
    expect((await call(c.env, "GET", "/actions")).status).toBe(200);
    await snapshot();

    // ---- the Cynet password is rotated: the sync stops in error until Connect with the new one
    const users = [{ ...OPERATOR, password: NEW_PASSWORD, apiPermission: true }, { ...VIEWER, apiPermission: false }];
    const reset = await fetch(`${world.orgUrl}/__sim/worlds/${world.label}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ alertCount: 60, users, clientId: CLIENT_ID }) });
    expect(reset.ok).toBe(true);
    expect(await drainSync(c.env, tenantId, "manual")).toEqual(["failed"]);
    const stopped = await call(c.env, "GET", "/status");
    expect(stopped.body).toMatchObject({ status: "error", error: { code: "invalid_credentials" } });
    expect((await call(c.env, "POST", "/sync")).status).toBe(409);
    expect((await call(c.env, "POST", "/activation", connectForm(world))).status).toBe(422);
    expect((await call(c.env, "POST", "/activation", connectForm(world, { password: NEW_PASSWORD }))).status).toBe(200);
    expect(await drainSync(c.env, tenantId, "activation")).toContain("completed");
    await settle(c.env, c.dispatch);
    await snapshot();

    // ---- CREDENTIALS_KEY rotation: "v2:<new>,v1:<old>", then v1 dropped
    await world.expireTokens();
    expect(await drainSync(keyV2, tenantId, "manual")).toContain("completed");
    let sealed = await rows<{ kind: string; key_version: number }>("SELECT kind, key_version FROM secrets WHERE tenant_id = ? ORDER BY kind", tenantId);
    // A token refresh re-seals the token under v2; the password stays v1 until it is written again (Connect).
    expect(sealed).toEqual([{ kind: "password", key_version: 1 }, { kind: "token", key_version: 2 }]);
    expect((await call(keyV2, "POST", "/activation", connectForm(world, { password: NEW_PASSWORD }))).status).toBe(200);
    sealed = await rows("SELECT kind, key_version FROM secrets WHERE tenant_id = ? ORDER BY kind", tenantId);
    expect(sealed).toEqual([{ kind: "password", key_version: 2 }, { kind: "token", key_version: 2 }]);
    await world.expireTokens();
    expect(await drainSync(onlyV2, tenantId, "activation")).toContain("completed");
    await settle(onlyV2, c.dispatch);
    await everyRead(onlyV2);
    await snapshot();
    // A deployment that went back to the old key alone: the channel stops with a message, no secret in it.
    await world.expireTokens();
    expect(await drainSync(onlyV1, tenantId, "manual")).toEqual(["failed"]);
    expect((await call(onlyV1, "GET", "/status")).body).toMatchObject({ status: "error", error: { code: "credentials_unreadable" } });
    expect((await call(onlyV2, "POST", "/activation", connectForm(world, { password: NEW_PASSWORD }))).status).toBe(200);
    expect(await drainSync(onlyV2, tenantId, "activation")).toContain("completed");
    await settle(onlyV2, c.dispatch);
    await snapshot();

    // ---- deactivation
    const off = await call(onlyV2, "DELETE", "/activation");
    expect(off.body).toMatchObject({ status: "inactive", settings: null });
    expect(await rows("SELECT * FROM secrets WHERE tenant_id = ?", tenantId)).toEqual([]);
    await everyRead(onlyV2);
    await snapshot();
    vi.restoreAllMocks();

    // ---- what the host holds
    const host: string[] = [];
    for (const kind of ["events", "notes", "ir-requests", "scans"] as const) host.push(JSON.stringify(await hostRecords(tenantId, kind)));
    host.push(...hostBodies);

    // ---- the search
    const needles: Record<string, string[]> = {
      passwords: [OPERATOR.password, NEW_PASSWORD, TYPED_WRONG_PASSWORD, VIEWER.password],
      cynet_tokens: [...tokens],
      credentials_keys: [env.CREDENTIALS_KEY, atob(env.CREDENTIALS_KEY), NEW_KEY, NEW_KEY_RAW],
      signing_secret: [env.HOST_SIGNING_SECRET],
      host_token: [env.HOST_API_TOKEN],
    };
    const channels: Record<string, string[]> = { responses, logs, queue: queued.map((m) => JSON.stringify(m)), d1: d1Dumps, host };
    const found: string[] = [];
    let total = 0;
    for (const [kind, secrets] of Object.entries(needles)) {
      for (const secret of secrets) {
        for (const form of secretForms(secret)) {
          for (const [channel, texts] of Object.entries(channels)) {
            const n = texts.reduce((sum, t) => sum + occurrences(t, form), 0);
            if (n > 0) found.push(`${kind} (${form.slice(0, 4)}…) ×${n} in ${channel}`);
            total += n;
          }
        }
      }
    }

    // The capture saw what it should have: otherwise a 0 would mean nothing.
    expect(tokens.size, "Cynet tokens issued to the plugin").toBeGreaterThanOrEqual(5);
    expect(intercepted).toEqual(
      expect.arrayContaining(["token call echoing the password", "file lookup echoing the access token", "notes answering 502 with the request headers", "IR request refused with 400 echoing the headers", "remediation echoing the access token", "remediation status echoing the access token"]),
    );
    expect(logs.some((l) => l.includes("sync failed"))).toBe(true);
    expect(logs.some((l) => l.includes('"level":"alert"'))).toBe(true);
    expect(logs.some((l) => l.includes("invocation metrics"))).toBe(true);
    expect(queued.length).toBeGreaterThan(5);
    expect(d1Dumps.every((d) => d.includes(tenantId))).toBe(true);
    expect(d1Dumps.some((d) => d.includes('"ciphertext"'))).toBe(true);
    expect(host.join("").length).toBeGreaterThan(1000);
    // The search finds a secret where one is: a planted copy in a copy of the logs.
    expect(occurrences([...logs, `planted ${NEW_PASSWORD}`].join("\n"), NEW_PASSWORD)).toBe(1);

    const d1Rows = d1Dumps.reduce((n, d) => n + Object.values(JSON.parse(d) as Record<string, unknown[]>).reduce((m, t) => m + t.length, 0), 0);
    console.log(
      `SECRETS occurrences=${total} needles=${Object.values(needles).flat().length} (passwords=${needles.passwords!.length} cynet_tokens=${tokens.size} credentials_keys=2 signing_secret=1 host_token=1; each in raw/JSON/URL/base64/hex form)` +
        ` responses=${responses.length} log_lines=${logs.length} queue_messages=${queued.length} d1_rows=${d1Rows} (${d1Dumps.length} dumps of every table) host_records_and_bodies=${host.length} faults_echoing_secrets=${intercepted.length}`,
    );
    expect(found, found.join("\n")).toEqual([]);
    expect(total).toBe(0);
  }, 180_000);
});
