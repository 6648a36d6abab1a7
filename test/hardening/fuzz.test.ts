/**
 * Fuzz (issue 6.1): thousands of generated bad inputs, property-based with fast-check, to every
 * host-facing route: each route of src/http/app.ts `tenantRoutes` (taken from the app itself, so
 * a new route is fuzzed without touching this file), /healthz, /v1/manifest, /v1/openapi.json, the manifest schema,
 * and the queue handler. Bad bodies (wrong types, huge strings, deep JSON, invalid UTF-8,
 * truncated, oversized), wrong content types and methods, odd query strings and odd tenant ids
 * (traversal, encodings, unicode, 65+ characters, empty), signed correctly so they reach the
 * handlers, plus unsigned and mis-signed ones.
 *
 * Figures: answers with status >= 500, and bodies showing a stack trace or internal file detail.
 * Both must be 0. Printed as one line: `FUZZ requests=… 5xx=0 stack_traces=0 …`.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { tenantRoutes } from "../../src/http/app";
import type { QueueMessage } from "../../src/queue-message";
import { handleQueue } from "../../src/queues";
import { uniqueTenant } from "../support/plugin";
import { connectForm, CynetWorld } from "../support/standins";
import { capturedEnv, drainSync, expectedDetections, settle } from "../support/sync";
import { anyMethod, badBody, badJsonValue, contentType, invalidUtf8, oddTenantId, queryString, signMode } from "./arbitraries";
import { callApp, isContractError, stackTraceMarks, pluginView, send, stringsOf, type Body, type RawAnswer, type RawCall } from "./harness";

/** Runs per signed tenant route; 18 routes × 150 = 2700 requests, plus the other properties. */
const RUNS_PER_ROUTE = 150;
const RUNS_PUBLIC = 60;
const RUNS_TENANT_IDS = 250;
const RUNS_UNSIGNED = 150;
const RUNS_RUNTIME = 120;
const RUNS_QUEUE = 150;
const RUNS_INVALID_UTF8 = 100;

/**
 * The run's seed, printed in the FUZZ line and with every offender. To replay a run, put its seed
 * in REPLAY_SEED (each property derives its own seed from it and its test's name, so a -t filter
 * replays the same inputs).
 */
const REPLAY_SEED: number | undefined = undefined;
const SEED = REPLAY_SEED ?? Math.floor(Math.random() * 2 ** 31);
function runs(numRuns: number): { numRuns: number; seed: number } {
  const name = expect.getState().currentTestName ?? "";
  let h = 0x811c9dc5;
  for (const ch of name) h = Math.imul(h ^ (ch.codePointAt(0) ?? 0), 0x01000193) >>> 0;
  return { numRuns, seed: (SEED ^ h) | 0 };
}

const figures = {
  requests: 0,
  fivexx: 0,
  stackTraces: 0,
  nonContractErrors: 0,
  unsignedAccepted: 0,
  invalidUtf8Accepted: 0,
  unsendable: 0,
  aliasesAccepted: 0,
  unhandledErrorLogs: 0,
  queueMessages: 0,
  queueCrashes: 0,
  statuses: {} as Record<number, number>,
};
/** Every offending answer (first 50), and the index where the running test's own start. */
const offenders: string[] = [];
let offendersFrom = 0;
const mine = () => offenders.slice(offendersFrom);

const c = capturedEnv();
const world = new CynetWorld();
const tenants = { unknown: uniqueTenant("fz-unknown"), enabled: uniqueTenant("fz-enabled"), active: uniqueTenant("fz-active") };
const logLines: string[] = [];

/** The signed actor a state-changing body may carry (host contract §2), so mutations reach it too. */
const ACTOR = { actor: { id: "fuzz-admin@acme.example", name: "Fuzz Admin" } };

/** A valid body for each route with one (the base the near-valid mutations start from). */
function validBodyFor(path: string): Record<string, unknown> | undefined {
  if (path.endsWith("/enablement")) return { enabled: true, bundles: ["endpoint-protection"], ...ACTOR };
  if (path.endsWith("/activation")) return { ...connectForm(world), password: "Not-The-Password-1", ...ACTOR };
  if (path.endsWith("/sync")) return ACTOR;
  if (path.endsWith("/sync/backfill")) return { since: new Date(Date.now() - 86_400_000).toISOString(), ...ACTOR };
  if (path.endsWith("/sync/reset")) return { lookbackDays: 30, ...ACTOR };
  if (path.endsWith("/deliveries/retry")) return { ids: [1, 2, 3], ...ACTOR };
  if (path.endsWith("/verdicts")) return { hashes: ["a".repeat(64), "b".repeat(32)] };
  if (path.endsWith("/findings")) return { findings: [{ sha256: "c".repeat(64), scanId: "scan-fuzz", fileName: "a.exe", recipients: ["a@acme.example"], foundAt: new Date().toISOString() }], actor: { id: "fuzzer" } };
  if (path.endsWith("/actions")) return { action: "quarantine_file", sha256: "a".repeat(64), hosts: ["WS-1"], scanId: "scan-1", reason: "fuzz", actor: { id: "u-1", name: "Fuzz" } };
  return undefined;
}

const short = (s: string, n = 160) => (s.length > n ? `${s.slice(0, n)}…(${s.length})` : s);
const describeBody = (b: Body) => (b === undefined ? "-" : typeof b === "string" ? JSON.stringify(short(b, 120)) : `bytes[${b.byteLength}]`);

/** Sends one generated call and counts what the answer shows. */
async function probe(call: RawCall, opts: { tenantRoute: boolean; viaRuntime?: boolean }): Promise<RawAnswer> {
  const r = await send(call, opts.viaRuntime ? undefined : c.env);
  if (r.unsendable) {
    figures.unsendable += 1;
    return r;
  }
  figures.requests += 1;
  figures.statuses[r.status] = (figures.statuses[r.status] ?? 0) + 1;
  const method = call.method.toUpperCase();
  const url = new URL(`https://plugin.test${call.path.startsWith("/") ? "" : "/"}${call.path}`);
  let decodedPath = url.pathname;
  try {
    decodedPath = decodeURI(url.pathname);
  } catch {
    // keep the raw one
  }
  const bodyText = typeof call.body === "string" ? call.body : "";
  const requestText = [url.pathname, decodedPath, url.search, method, bodyText, stringsOf(bodyText)].join("\n");
  const problems: string[] = [];
  if (r.status >= 500) {
    figures.fivexx += 1;
    problems.push("5xx");
  }
  const marks = stackTraceMarks(r.text, requestText);
  if (marks.length > 0) {
    figures.stackTraces += 1;
    problems.push(`stack trace ${JSON.stringify(marks.slice(0, 3))}`);
  }
  if (method !== "HEAD" && r.status >= 400 && !isContractError(r.text)) {
    figures.nonContractErrors += 1;
    problems.push("error body not {error, message}");
  }
  const ok = r.status >= 200 && r.status < 300;
  if (opts.tenantRoute && ok && (call.sign ?? "valid") !== "valid") {
    figures.unsignedAccepted += 1;
    problems.push("accepted without a valid signature");
  }
  const bodySent = method !== "GET" && method !== "HEAD" && call.body !== undefined;
  if (opts.tenantRoute && ok && bodySent && pluginView(call.body) === null) {
    figures.invalidUtf8Accepted += 1;
    problems.push("accepted a body that is not UTF-8");
  }
  if (problems.length && offenders.length < 50) {
    offenders.push(`[seed ${SEED}] ${problems.join(", ")}: ${method} ${short(call.path)} ct=${JSON.stringify(call.contentType)} sign=${call.sign ?? "valid"} body=${describeBody(call.body)} → ${r.status} ${short(r.text, 300)}`);
  }
  // Keep the captured queues small: what the fuzzed routes enqueue is not delivered.
  if (c.sync.sent.length > 200) c.sync.take();
  if (c.dispatch.sent.length > 200) c.dispatch.take();
  if (c.findings.sent.length > 200) c.findings.take();
  return r;
}

/** Puts the active tenant back to active (a fuzzed DELETE or enablement may have changed it). */
async function reactivate() {
  await callApp(c.env, "PUT", `/v1/tenants/${tenants.active}/enablement`, { enabled: true, bundles: ["endpoint-protection"] });
  const r = await callApp(c.env, "POST", `/v1/tenants/${tenants.active}/activation`, connectForm(world));
  expect(r.status, r.text).toBe(200);
  c.sync.take();
}

const routeMethod = (method: string) => method.toUpperCase();
const tenantChoice = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(tenants.active, tenants.enabled, tenants.unknown) },
  { weight: 1, arbitrary: oddTenantId },
);

beforeAll(async () => {
  // The Worker logs a JSON line per call; keep them (unhandled errors are counted) instead of printing thousands.
  for (const level of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      const line = args.map((a) => (typeof a === "string" ? a : String(a))).join(" ");
      if (line.includes("unhandled error")) figures.unhandledErrorLogs += 1;
      if (logLines.length < 5000) logLines.push(line);
    });
  }
  await world.setup({ alertCount: 120, seed: 99 });
  await callApp(c.env, "PUT", `/v1/tenants/${tenants.enabled}/enablement`, { enabled: true, bundles: ["endpoint-protection"] });
  await callApp(c.env, "PUT", `/v1/tenants/${tenants.active}/enablement`, { enabled: true, bundles: ["endpoint-protection"] });
  const connected = await callApp(c.env, "POST", `/v1/tenants/${tenants.active}/activation`, connectForm(world));
  expect(connected.status, connected.text).toBe(200);
  expect(await drainSync(c.env, tenants.active, "activation")).toContain("completed");
  await settle(c.env, c.dispatch);
  expect(expectedDetections(await world.alerts()).size).toBeGreaterThan(0);
}, 120_000);

beforeEach(() => {
  offendersFrom = offenders.length;
});

afterAll(() => {
  vi.restoreAllMocks();
});

describe("fuzz: every signed tenant route", () => {
  for (const route of tenantRoutes) {
    const label = `${route.spec.method.toUpperCase()} ${route.spec.path}`;
    it(`${label}: ${RUNS_PER_ROUTE} generated bad inputs, no 5xx, no stack trace, contract errors only`, async () => {
      await reactivate();
      const before = { ...figures };
      const valid = validBodyFor(route.spec.path);
      const hasQuery = route.spec.method === "get";
      await fc.assert(
        fc.asyncProperty(
          tenantChoice,
          fc.oneof({ weight: 5, arbitrary: fc.constant(routeMethod(route.spec.method)) }, { weight: 1, arbitrary: anyMethod }),
          hasQuery ? queryString : fc.oneof({ weight: 4, arbitrary: fc.constant("") }, { weight: 1, arbitrary: queryString }),
          badBody(valid),
          contentType,
          signMode,
          async (tenant, method, query, body, type, sign) => {
            const path = route.spec.path.replace(":tenantId", tenant) + query;
            await probe({ method, path, body, contentType: type, sign }, { tenantRoute: true });
            return true;
          },
        ),
        runs(RUNS_PER_ROUTE),
      );
      expect(mine(), mine().join("\n")).toEqual([]);
      expect(figures.fivexx - before.fivexx).toBe(0);
      expect(figures.stackTraces - before.stackTraces).toBe(0);
    }, 120_000);
  }
});

describe("fuzz: public routes", () => {
  for (const path of ["/healthz", "/v1/manifest", "/v1/openapi.json", "/v1/docs/plugin.manifest.schema.json"]) {
    it(`${path}: any method, query, body and content type, never 5xx`, async () => {
      await fc.assert(
        fc.asyncProperty(anyMethod, queryString, badBody(undefined), contentType, signMode, async (method, query, body, type, sign) => {
          const r = await probe({ method, path: path + query, body, contentType: type, sign }, { tenantRoute: false });
          if (method.toUpperCase() === "GET") expect(r.status).toBe(200);
          return true;
        }),
        runs(RUNS_PUBLIC),
      );
      expect(mine(), mine().join("\n")).toEqual([]);
    }, 120_000);
  }
});

describe("fuzz: tenant ids", () => {
  it(`${RUNS_TENANT_IDS} odd tenant ids on every route: 400 invalid_tenant_id or 404, never 5xx; a 2xx only for a valid id spelled as it is`, async () => {
    await fc.assert(
      fc.asyncProperty(oddTenantId, fc.constantFrom(...tenantRoutes), async (tenant, route) => {
        const valid = validBodyFor(route.spec.path);
        const path = route.spec.path.replace(":tenantId", tenant);
        const r = await probe({ method: route.spec.method, path, body: valid ? JSON.stringify(valid) : undefined }, { tenantRoute: true });
        if (r.status >= 200 && r.status < 300) {
          // Only an id the TenantId pattern accepts, spelled as it is (no percent-encoded aliases: finding 1), gets through.
          const segment = new URL(`https://plugin.test${path}`).pathname.split("/")[3] ?? "";
          if (segment !== decodeURIComponent(segment)) figures.aliasesAccepted += 1;
          expect(segment).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/);
        } else if (r.status !== 409 && r.status !== 422 && r.status !== 502) {
          expect([400, 401, 404, 413, 415]).toContain(r.status);
        }
        return true;
      }),
      runs(RUNS_TENANT_IDS),
    );
    expect(mine(), mine().join("\n")).toEqual([]);
  }, 120_000);
});

describe("fuzz: signatures and encodings", () => {
  it(`${RUNS_UNSIGNED} unsigned or mis-signed calls to every route: 401 (or 400 for a body that is not UTF-8), never 2xx`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...tenantRoutes),
        fc.constantFrom(tenants.active, tenants.enabled, tenants.unknown),
        fc.constantFrom("none", "garbage", "stale", "future", "wrong-secret", "wrong-path") as fc.Arbitrary<RawCall["sign"]>,
        fc.option(badJsonValue, { nil: undefined }),
        async (route, tenant, sign, body) => {
          const r = await probe({ method: route.spec.method, path: route.spec.path.replace(":tenantId", tenant), body, sign }, { tenantRoute: true });
          expect([400, 401, 413]).toContain(r.status);
          if (r.status !== 401) expect(r.text).toMatch(/invalid_encoding|body_too_large|invalid_tenant_id/);
          return true;
        },
      ),
      runs(RUNS_UNSIGNED),
    );
    expect(mine(), mine().join("\n")).toEqual([]);
  }, 120_000);

  it("invalid UTF-8 bodies, signed over what can be signed or unsigned: 400 invalid_encoding (413 when oversized) on every body route", async () => {
    const bodyRoutes = tenantRoutes.filter((r) => r.spec.method !== "get");
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...bodyRoutes), invalidUtf8, fc.constantFrom("valid", "none") as fc.Arbitrary<RawCall["sign"]>, async (route, bytes, sign) => {
        const r = await probe({ method: route.spec.method, path: route.spec.path.replace(":tenantId", tenants.active), body: bytes, sign }, { tenantRoute: true });
        expect(r.status, r.text).toBe(400);
        expect(JSON.parse(r.text)).toMatchObject({ error: "invalid_encoding" });
        return true;
      }),
      runs(RUNS_INVALID_UTF8),
    );
    expect(mine(), mine().join("\n")).toEqual([]);
  }, 120_000);

  it(`${RUNS_RUNTIME} bad calls through the runtime (exports.default.fetch, as the host calls) to fresh tenants: no 5xx, no stack trace`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...tenantRoutes), badBody({ hashes: ["a".repeat(64)] }), contentType, signMode, queryString, async (route, body, type, sign, query) => {
        const path = route.spec.path.replace(":tenantId", uniqueTenant("fzr")) + (route.spec.method === "get" ? query : "");
        await probe({ method: route.spec.method, path, body, contentType: type, sign }, { tenantRoute: true, viaRuntime: true });
        return true;
      }),
      runs(RUNS_RUNTIME),
    );
    expect(mine(), mine().join("\n")).toEqual([]);
  }, 120_000);
});

describe("fuzz: queue messages", () => {
  it(`${RUNS_QUEUE} malformed or hostile queue batches: the handler never throws, every message is acked or retried`, async () => {
    const message = fc.oneof(
      { weight: 3, arbitrary: fc.anything({ maxDepth: 3 }) },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constantFrom("dispatch", "sync", "finding_checks", "action", "other"),
          actionId: fc.oneof(fc.uuid(), fc.string()),
          step: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.anything({ maxDepth: 0 })),
          tenantId: fc.oneof(fc.constantFrom(tenants.active, tenants.unknown), oddTenantId),
          outboxIds: fc.oneof(fc.array(fc.integer({ min: -5, max: 100_000 }), { maxLength: 120 }), fc.anything({ maxDepth: 1 })),
          findingIds: fc.oneof(fc.array(fc.integer({ min: -5, max: 100_000 }), { maxLength: 60 }), fc.anything({ maxDepth: 1 })),
          reason: fc.constantFrom("cron", "manual", "continuation", "bogus"),
          requestedAt: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string()),
        }),
      },
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("cynet-sync", "cynet-dispatch", "cynet-correlate", "cynet-findings", "cynet-actions", "cynet-dead-letter", "some-other-queue"), fc.array(message, { minLength: 1, maxLength: 5 }), async (queue, bodies) => {
        const batch = createMessageBatch<QueueMessage>(queue, bodies.map((body, i) => ({ id: `fz${i}`, timestamp: new Date(), attempts: 1, body: body as QueueMessage })));
        const ctx = createExecutionContext();
        figures.queueMessages += bodies.length;
        try {
          await handleQueue(batch, c.env, ctx);
        } catch (err) {
          figures.queueCrashes += 1;
          if (offenders.length < 50) offenders.push(`queue ${queue} threw ${String(err)} for ${short(JSON.stringify(bodies) ?? "", 300)}`);
          return true;
        }
        const result = await getQueueResult(batch, ctx);
        const settled = result.explicitAcks.length + result.retryMessages.length + (result.ackAll ? bodies.length : 0) + (result.retryBatch.retry ? bodies.length : 0);
        expect(settled).toBeGreaterThanOrEqual(bodies.length);
        c.sync.take();
        c.dispatch.take();
        c.deadLetter.take();
        return true;
      }),
      runs(RUNS_QUEUE),
    );
    expect(mine(), mine().join("\n")).toEqual([]);
  }, 120_000);
});

describe("fuzz controls", () => {
  it("the detectors work: a real stack is flagged, an echoed one is not, and a crashing handler answers a generic 500 without one", async () => {
    expect(stackTraceMarks(String(new Error("boom").stack)).length).toBeGreaterThan(0);
    expect(stackTraceMarks('{"error":"not_found","message":"No route for GET /v1/x/TypeError:/y."}', "/v1/x/TypeError:/y")).toEqual([]);
    const down = () => {
      throw new Error("D1 is down (injected)");
    };
    const broken = { ...c.env, DB: { prepare: down, batch: down, exec: down, withSession: down, dump: down } } as unknown as typeof c.env;
    const logged = figures.unhandledErrorLogs;
    const r = await send({ method: "GET", path: `/v1/tenants/${tenants.active}/status` }, broken);
    // The crash is logged for the operator (and counted by the log watch), then taken out of the figure: it was injected.
    expect(figures.unhandledErrorLogs).toBe(logged + 1);
    figures.unhandledErrorLogs = logged;
    expect(r.threw).toBeUndefined();
    expect(r.status).toBe(500);
    expect(isContractError(r.text)).toBe(true);
    expect(stackTraceMarks(r.text)).toEqual([]);
    expect(r.text).not.toContain("D1 is down");
  });
});

describe("fuzz figures", () => {
  it("prints and holds the figures: 0 answers >= 500, 0 bodies with stack traces", () => {
    vi.restoreAllMocks();
    const line = [
      `FUZZ seed=${SEED} requests=${figures.requests}`,
      `5xx=${figures.fivexx}`,
      `stack_traces=${figures.stackTraces}`,
      `non_contract_errors=${figures.nonContractErrors}`,
      `unsigned_accepted=${figures.unsignedAccepted}`,
      `invalid_utf8_accepted=${figures.invalidUtf8Accepted}`,
      `unhandled_error_logs=${figures.unhandledErrorLogs}`,
      `queue_messages=${figures.queueMessages}`,
      `queue_crashes=${figures.queueCrashes}`,
      `encoded_tenant_aliases_accepted=${figures.aliasesAccepted}`,
      `unsendable=${figures.unsendable}`,
      `statuses=${JSON.stringify(figures.statuses)}`,
    ].join(" ");
    console.log(line);
    expect(figures.requests).toBeGreaterThanOrEqual(1000);
    expect(figures.fivexx).toBe(0);
    expect(figures.stackTraces).toBe(0);
    expect(figures.nonContractErrors).toBe(0);
    expect(figures.unsignedAccepted).toBe(0);
    expect(figures.invalidUtf8Accepted).toBe(0);
    expect(figures.unhandledErrorLogs).toBe(0);
    expect(figures.queueCrashes).toBe(0);
    expect(figures.aliasesAccepted).toBe(0);
  });
});
