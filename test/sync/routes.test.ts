/**
 * The admin's handles on the sync, as the host calls them: sync now, backfill from a date, reset
 * the cursor, and the paged lists of runs and detections (their query parameters declared, so
 * checked and documented by one declaration).
 *
 * The worlds' first alerts were seen over the 20 days before their epoch. A world whose epoch is
 * 40 days ago holds only alerts older than the 30-day look-back of a first sync: Connect stores
 * none of them, and what a backfill or reset then stores shows exactly which window it read.
 * Calls that queue a sync go through captured queues (callApp), and the test runs the sync.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { SyncMessage } from "../../src/sync/messages";
import { MAX_LOOKBACK_DAYS } from "../../src/manifest/schema";
import { MAX_LIST_LIMIT } from "../../src/sync/routes";
import { callApp } from "../hardening/harness";
import { callJson, enable, uniqueTenant } from "../support/plugin";
import { CynetWorld } from "../support/standins";
import { capturedEnv, connectAndSettle, drainSync, expectedDetections, expectExactlyOnce, rows, settle, status } from "../support/sync";

const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY);

type Run = { id: number; tenantId: string; reason: string; outcome: string; lastSeenFrom: string; fetched: number; newDetections: number; duplicates: number };
type DetectionsPage = { detections: Array<{ alertId: number; sha256: string }>; nextBefore: number | null };
type ErrorAnswer = { error: string; message: string; field?: string };

/** A tenant connected to a world of `alertCount` alerts whose epoch is `epochDaysAgo` days ago; later calls through captured queues. */
async function connected(epochDaysAgo: number, alertCount = 300) {
  // The simulator takes an epoch (dev/cynet-sim/world.ts) that WorldSetup does not list yet.
  const setup = { alertCount, seed: 4242, epoch: daysAgo(epochDaysAgo).toISOString() };
  const world = await new CynetWorld().setup(setup);
  const tenantId = uniqueTenant("sr");
  await connectAndSettle(tenantId, world);
  const alerts = await world.alerts();
  const c = capturedEnv();
  const call = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => callApp<T>(c.env, method, `/v1/tenants/${tenantId}${path}`, body);
  return { ...c, world, tenantId, alerts, call };
}
type Connected = Awaited<ReturnType<typeof connected>>;

/** The malicious files among the world's alerts seen at or after `from`. */
function seenSince(c: Connected, from: Date): Map<number, string> {
  return expectedDetections(c.alerts.filter((a) => Date.parse(String(a.LastSeenUtc)) >= from.getTime()));
}

/** Runs the sync the route queued (one message, of `reason`), delivers what it found. */
async function runQueued(c: Connected, reason: SyncMessage["reason"]) {
  expect(c.sync.take().map((m) => [m.tenantId, m.reason])).toEqual([[c.tenantId, reason]]);
  expect(await drainSync(c.env, c.tenantId, reason)).toContain("completed");
  expect(await settle(c.env, c.dispatch), "deliveries that needed a retry").toBe(0);
  return (await c.call<{ runs: Run[] }>("GET", "/sync/runs?limit=1")).body.runs[0]!;
}

const cursorOf = async (tenantId: string) => (await status(tenantId)).sync!.cursor;

/** Asserts the answer is the contract's 400 naming `field`, with a message that names it too. */
function expectInvalid(answer: { status: number; body: unknown; text: string }, field: string, message?: RegExp) {
  expect(answer.status, answer.text).toBe(400);
  const body = answer.body as ErrorAnswer;
  expect(body).toMatchObject({ error: "invalid_request", field });
  expect(body.message).toContain(`"${field}"`);
  if (message) expect(body.message).toMatch(message);
}

describe("POST /v1/tenants/:id/sync/backfill", () => {
  it("reads Cynet again from the date given: stores what was seen since then, and nothing twice when a wider backfill reads it again", async () => {
    const c = await connected(40);
    expect(await rows("SELECT 1 FROM detections WHERE tenant_id = ?", c.tenantId)).toEqual([]);

    const since = daysAgo(50);
    const window = seenSince(c, since);
    const all = seenSince(c, daysAgo(61));
    expect(window.size).toBeGreaterThan(0);
    expect(window.size).toBeLessThan(all.size);

    const r = await c.call("POST", "/sync/backfill", { since: since.toISOString() });
    expect(r.status, r.text).toBe(202);
    expect(r.body).toEqual({ tenantId: c.tenantId, queued: true, reason: "backfill" });
    expect(await cursorOf(c.tenantId)).toBe(since.toISOString());
    const first = await runQueued(c, "backfill");
    expect(first).toMatchObject({ reason: "backfill", outcome: "succeeded", lastSeenFrom: since.toISOString(), newDetections: window.size });
    await expectExactlyOnce(c.tenantId, window);

    // Further back, with an offset: the first window is read again, only the older files are new.
    const further = new Date(daysAgo(61).getTime() - (daysAgo(61).getTime() % 60_000));
    const withOffset = further.toISOString().replace(/\.\d{3}Z$/, "+00:00");
    expect((await c.call("POST", "/sync/backfill", { since: withOffset })).status).toBe(202);
    const second = await runQueued(c, "backfill");
    expect(second).toMatchObject({ outcome: "succeeded", lastSeenFrom: further.toISOString(), newDetections: all.size - window.size });
    expect(second.duplicates).toBeGreaterThanOrEqual(window.size);
    await expectExactlyOnce(c.tenantId, all);
  });

  it("refuses a since that is not an ISO date-time, is missing, in the future or more than 365 days ago, with 400 naming since, and moves nothing", async () => {
    const c = await connected(0, 0);
    const cursor = await cursorOf(c.tenantId);
    expect(cursor).not.toBeNull();
    const refused: Array<[unknown, RegExp | undefined]> = [
      [{ since: "yesterday" }, undefined],
      [{ since: "2026-13-45T00:00:00Z" }, undefined],
      [{ since: daysAgo(3).toISOString().slice(0, 10) }, undefined],
      [{ since: daysAgo(3).getTime() }, undefined],
      [{}, undefined],
      [{ since: new Date(Date.now() + 3_600_000).toISOString() }, /is in the future/],
      [{ since: daysAgo(MAX_LOOKBACK_DAYS + 1).toISOString() }, /more than 365 days ago/],
    ];
    for (const [body, message] of refused) expectInvalid(await c.call("POST", "/sync/backfill", body), "since", message);
    expect(await cursorOf(c.tenantId)).toBe(cursor);
    expect(c.sync.take()).toEqual([]);
    // Just inside the year is taken.
    expect((await c.call("POST", "/sync/backfill", { since: daysAgo(MAX_LOOKBACK_DAYS - 1).toISOString() })).status).toBe(202);
  });

  it("refuses other fields and a body that is not JSON", async () => {
    const c = await connected(0, 0);
    const extra = await c.call<ErrorAnswer>("POST", "/sync/backfill", { since: daysAgo(1).toISOString(), until: daysAgo(0).toISOString() });
    expect(extra.status).toBe(400);
    expect(extra.body.message).toMatch(/until/);
    expect((await c.call<ErrorAnswer>("POST", "/sync/backfill", "{since:")).body).toMatchObject({ error: "invalid_json" });
    expect(c.sync.take()).toEqual([]);
  });

  it("answers 409 for a channel that is not connected or not enabled, before looking at the body", async () => {
    const { env: testEnv, sync } = capturedEnv();
    const enabledOnly = uniqueTenant("sr-off");
    await enable(enabledOnly);
    for (const body of [{ since: daysAgo(1).toISOString() }, { since: "yesterday" }]) {
      const r = await callApp<ErrorAnswer>(testEnv, "POST", `/v1/tenants/${enabledOnly}/sync/backfill`, body);
      expect(r.status, r.text).toBe(409);
      expect(r.body).toEqual({ error: "channel_not_active", message: "Connect the Cynet channel first." });
    }
    const never = await callApp<ErrorAnswer>(testEnv, "POST", `/v1/tenants/${uniqueTenant("sr-none")}/sync/backfill`, { since: daysAgo(1).toISOString() });
    expect(never.status).toBe(409);
    expect(never.body.error).toBe("channel_not_enabled");
    expect(sync.take()).toEqual([]);
  });
});

describe("POST /v1/tenants/:id/sync/reset", () => {
  it("clears the cursor: the next run reads the look-back window, and an empty body keeps the look-back and reads it again", async () => {
    const c = await connected(40);
    expect(await cursorOf(c.tenantId)).not.toBeNull();

    const r = await c.call("POST", "/sync/reset", { lookbackDays: 50 });
    expect(r.status, r.text).toBe(202);
    expect(r.body).toEqual({ tenantId: c.tenantId, queued: true, reason: "manual" });
    expect((await status(c.tenantId)).sync).toMatchObject({ cursor: null, lookbackDays: 50 });
    const before = Date.now();
    const run = await runQueued(c, "manual");
    const from = Date.parse(run.lastSeenFrom);
    expect(from).toBeGreaterThanOrEqual(before - 50 * DAY);
    expect(from).toBeLessThanOrEqual(Date.now() - 50 * DAY);
    const window = seenSince(c, new Date(from));
    expect(window.size).toBeGreaterThan(0);
    expect(run.newDetections).toBe(window.size);
    await expectExactlyOnce(c.tenantId, window);
    expect(await cursorOf(c.tenantId)).not.toBeNull();

    // No body at all: the cursor goes, the look-back stays 50 days; the window is read again, nothing stored twice.
    const empty = await c.call("POST", "/sync/reset");
    expect(empty.status, empty.text).toBe(202);
    expect((await status(c.tenantId)).sync).toMatchObject({ cursor: null, lookbackDays: 50 });
    // Nothing new: the sync is counted as quiet, and the newest run row is still the one before.
    const again = await runQueued(c, "manual");
    expect(again.id).toBe(run.id);
    expect((await status(c.tenantId)).sync).toMatchObject({ quietRunsSinceLastRun: 1, lastRun: { id: run.id } });
    await expectExactlyOnce(c.tenantId, window);

    // An empty JSON object is the same request.
    expect((await c.call("POST", "/sync/reset", {})).status).toBe(202);
    expect((await status(c.tenantId)).sync).toMatchObject({ cursor: null, lookbackDays: 50 });
  });

  it("refuses a lookbackDays that is not 1 to 365 whole days, with 400 naming lookbackDays, and moves nothing", async () => {
    const c = await connected(0, 0);
    const before = (await status(c.tenantId)).sync!;
    for (const lookbackDays of [0, MAX_LOOKBACK_DAYS + 1, 1.5, -7, "7", null]) expectInvalid(await c.call("POST", "/sync/reset", { lookbackDays }), "lookbackDays");
    expect((await c.call("POST", "/sync/reset", { lookback: 7 })).status).toBe(400);
    expect((await status(c.tenantId)).sync).toMatchObject({ cursor: before.cursor, lookbackDays: before.lookbackDays });
    expect(c.sync.take()).toEqual([]);
  });

  it("answers 409 for a channel that is not connected, before looking at the body", async () => {
    const { env: testEnv } = capturedEnv();
    const tenantId = uniqueTenant("sr-off");
    await enable(tenantId);
    for (const body of [undefined, { lookbackDays: 7 }, { lookbackDays: 0 }]) {
      const r = await callApp<ErrorAnswer>(testEnv, "POST", `/v1/tenants/${tenantId}/sync/reset`, body);
      expect(r.status, r.text).toBe(409);
      expect(r.body.error).toBe("channel_not_active");
    }
  });
});

describe("POST /v1/tenants/:id/sync", () => {
  it("queues a sync at once (202) that picks up what Cynet found since the last run", async () => {
    const c = await connected(0, 0);
    await c.world.addAlerts({ count: 120 });
    const expected = expectedDetections(await c.world.alerts());
    expect(expected.size).toBeGreaterThan(0);
    const r = await c.call("POST", "/sync");
    expect(r.status, r.text).toBe(202);
    expect(r.body).toEqual({ tenantId: c.tenantId, queued: true, reason: "manual" });
    expect(await runQueued(c, "manual")).toMatchObject({ reason: "manual", outcome: "succeeded", newDetections: expected.size });
    await expectExactlyOnce(c.tenantId, expected);
  });

  it("answers 503 when the sync cannot be queued, and 409 for a channel that is not connected", async () => {
    const c = await connected(0, 0);
    c.sync.failSends = 1;
    const down = await c.call<ErrorAnswer>("POST", "/sync");
    expect(down.status).toBe(503);
    expect(down.body.error).toBe("queue_unavailable");
    expect(down.body.message).toMatch(/next scheduled sync will run as usual/);

    const tenantId = uniqueTenant("sr-off");
    await enable(tenantId);
    const off = await callApp<ErrorAnswer>(c.env, "POST", `/v1/tenants/${tenantId}/sync`);
    expect(off.status).toBe(409);
    expect(off.body.error).toBe("channel_not_active");
    expect(c.sync.take()).toEqual([]);
  });
});

describe("GET /v1/tenants/:id/sync/runs and /detections", () => {
  it("lists runs newest first, paged with limit and before; quiet syncs are counted beside them, not listed", async () => {
    const c = await connected(0, 0);
    // The first sync of an empty Cynet found nothing: no run row, one quiet sync.
    expect(await c.call("GET", "/sync/runs")).toMatchObject({ status: 200, body: { runs: [], quietRunsSinceNewest: 1 } });
    for (let i = 0; i < 4; i++) {
      await c.world.addAlerts({ count: 20 });
      expect((await c.call("POST", "/sync")).status).toBe(202);
      await runQueued(c, "manual");
    }
    // And one more with nothing new.
    expect((await c.call("POST", "/sync")).status).toBe(202);
    await runQueued(c, "manual");
    const listed = (await c.call<{ runs: Run[]; quietRunsSinceNewest: number }>("GET", "/sync/runs")).body;
    expect(listed.quietRunsSinceNewest).toBe(1);
    const all = listed.runs;
    expect(all.map((r) => r.reason)).toEqual(["manual", "manual", "manual", "manual"]);
    expect(all.every((r) => r.outcome === "succeeded" && r.newDetections > 0)).toBe(true);
    expect(all.every((r) => r.tenantId === c.tenantId)).toBe(true);
    const ids = all.map((r) => r.id);
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);

    const firstPage = (await c.call<{ runs: Run[] }>("GET", "/sync/runs?limit=2")).body.runs;
    expect(firstPage.map((r) => r.id)).toEqual(ids.slice(0, 2));
    const secondPage = (await c.call<{ runs: Run[] }>("GET", `/sync/runs?limit=2&before=${ids[1]}`)).body.runs;
    expect(secondPage.map((r) => r.id)).toEqual(ids.slice(2, 4));
    expect((await c.call<{ runs: Run[] }>("GET", `/sync/runs?before=${ids[3]}`)).body.runs).toEqual([]);
  });

  it("pages the detections newest first by alert id: following nextBefore lists each once, the last page says there is no more", async () => {
    const c = await connected(0);
    const expected = seenSince(c, daysAgo(30));
    expect(expected.size).toBeGreaterThan(60);
    await expectExactlyOnce(c.tenantId, expected);

    const seen: number[] = [];
    let path = "/detections?limit=25";
    for (let page = 0; page < 100; page++) {
      const r = await c.call<DetectionsPage>("GET", path);
      expect(r.status, r.text).toBe(200);
      expect(r.body.detections.length).toBeLessThanOrEqual(25);
      for (const d of r.body.detections) expect(d.sha256).toBe(expected.get(d.alertId));
      seen.push(...r.body.detections.map((d) => d.alertId));
      if (r.body.nextBefore === null) break;
      expect(r.body.nextBefore).toBe(r.body.detections.at(-1)!.alertId);
      path = `/detections?limit=25&before=${r.body.nextBefore}`;
    }
    expect(seen).toEqual([...expected.keys()].sort((a, b) => b - a));

    // The default page is 50; the largest page takes them all.
    const first = (await c.call<DetectionsPage>("GET", "/detections")).body;
    expect(first.detections.map((d) => d.alertId)).toEqual(seen.slice(0, 50));
    expect(first.nextBefore).toBe(seen[49]);
    // A page that holds exactly what is left is the last; one short of it is not.
    expect(seen.length).toBeLessThanOrEqual(MAX_LIST_LIMIT);
    const whole = (await c.call<DetectionsPage>("GET", `/detections?limit=${seen.length}`)).body;
    expect(whole.detections.map((d) => d.alertId)).toEqual(seen);
    expect(whole.nextBefore).toBeNull();
    const allButOne = (await c.call<DetectionsPage>("GET", `/detections?limit=${seen.length - 1}`)).body;
    expect(allButOne.nextBefore).toBe(seen.at(-2));
    expect((await c.call<DetectionsPage>("GET", `/detections?before=${seen.at(-2)}`)).body).toEqual({ detections: [expect.objectContaining({ alertId: seen.at(-1) })], nextBefore: null });
  });

  const badQueries: Array<[string, string]> = [
    ["limit=0", "limit"],
    [`limit=${MAX_LIST_LIMIT + 1}`, "limit"],
    ["limit=ten", "limit"],
    ["limit=2.5", "limit"],
    ["limit=", "limit"],
    ["before=0", "before"],
    ["before=-4", "before"],
    ["before=abc", "before"],
    ["limit=10&before=1.5", "before"],
  ];
  for (const [list, id] of [
    ["/sync/runs", "a run id"],
    ["/detections", "an alert id"],
  ] as const) {
    it(`refuses ${list} with a limit outside 1 to ${MAX_LIST_LIMIT} or a before that is not ${id}, with 400 naming the parameter`, async () => {
      const { env: testEnv } = capturedEnv();
      const tenantId = uniqueTenant("sr-q");
      await enable(tenantId);
      for (const [query, field] of badQueries) {
        const r = await callApp(testEnv, "GET", `/v1/tenants/${tenantId}${list}?${query}`);
        expectInvalid(r, field);
        expect((r.body as ErrorAnswer).message, query).toBe(`"${field}" is invalid: limit is 1 to ${MAX_LIST_LIMIT}, before ${id}.`);
      }
      expect((await callApp(testEnv, "GET", `/v1/tenants/${tenantId}${list}?limit=${MAX_LIST_LIMIT}&before=1`)).status).toBe(200);
    });
  }
});

describe("the admin lists' query parameters", () => {
  type Parameter = { name: string; in: string; required: boolean; schema: Record<string, unknown> };
  async function parametersOf(path: string): Promise<Parameter[]> {
    const doc = (await (await exports.default.fetch(new Request("https://plugin.test/v1/openapi.json"))).json()) as { paths: Record<string, { get: { parameters: Parameter[] } }> };
    return doc.paths[path]!.get.parameters.filter((p) => p.in === "query");
  }

  it("are in /v1/openapi.json as declared: optional, with their bounds and default", async () => {
    for (const path of ["/v1/tenants/{tenantId}/sync/runs", "/v1/tenants/{tenantId}/detections"]) {
      const params = await parametersOf(path);
      expect(params.map((p) => [p.name, p.required])).toEqual([
        ["limit", false],
        ["before", false],
      ]);
      expect(params[0]!.schema).toMatchObject({ minimum: 1, maximum: MAX_LIST_LIMIT, default: 50 });
    }
    const [state, ...others] = await parametersOf("/v1/tenants/{tenantId}/deliveries");
    expect(others).toEqual([]);
    expect(state).toMatchObject({ name: "state", required: false, schema: { enum: ["pending", "delivered", "failed"], default: "failed" } });
  });

  it("deliveries?state is checked by that declaration: 400 naming state, the states in the message", async () => {
    const tenantId = uniqueTenant("sr-d");
    await enable(tenantId);
    for (const state of ["bogus", "", "FAILED"]) {
      const r = await callJson<ErrorAnswer>("GET", `/v1/tenants/${tenantId}/deliveries?state=${state}`);
      expectInvalid(r, "state", /pending, delivered, failed/);
    }
    expect((await callJson("GET", `/v1/tenants/${tenantId}/deliveries`)).body).toEqual({ deliveries: [] });
  });
});
