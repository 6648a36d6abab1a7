/**
 * `npm run soak` (issue 6.4): the plugin, the Cynet simulator and the dev host running on
 * loopback exactly as `npm start` runs them (own process group, fresh state folder, free ports),
 * two tenants connected to simulated Cynets with a few thousand alerts each, faults injected on
 * both sides (Cynet: 500, 503, 429, a 401 mid-paging, a failing re-login, slow pages; host:
 * 503, 429, 500 on scan search, slow and permanently refused event batches, failing notes), new
 * alerts arriving, "sync now" and cron ticks firing, while autocannon puts a bounded load on
 * signed POST /verdicts and GET /status. Then the faults are cleared, failed deliveries retried,
 * and the stack left to settle.
 *
 * Figures: p50/p99 latency and error rate per route under load; then, per tenant, detections
 * expected from Cynet's alerts (the rule in docs/operations.md) = detections stored = events at
 * the host, IR requests and notes as expected, 0 duplicates, verdicts right, no unhandled
 * error in the plugin's log. Prints a table; exits non-zero on any mismatch.
 *
 * Options (environment): SOAK_SECONDS (60), SOAK_ALERTS (3000 per tenant), SOAK_CONNECTIONS
 * (3 per route), SOAK_SETTLE_SECONDS (960), SOAK_VERBOSE=1 (stream the stack's output),
 * SOAK_LOG_FILE (where the stack's output is written; test/artifacts/soak-stack.log).
 */
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { callPlugin, signedHeaders } from "./lib/signed.ts";
import { pluginD1File, root, startStack } from "./lib/stack.ts";
import { expectedDetections } from "../test/support/expected.ts";

const require = createRequire(import.meta.url);
// autocannon ships no types; only the result fields used below are relied on.
const autocannon = require("autocannon") as (opts: Record<string, unknown>) => Promise<CannonResult>;
interface CannonResult {
  requests: { total: number; average: number };
  latency: { p50: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
  duration: number;
}

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const ALERTS = Number(process.env.SOAK_ALERTS ?? 3000);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 3);
/** Longest the stack may take to settle after the load: past the sync lease (5 min) and the sweeper's grace (10 min), the plugin's own recovery windows. */
const SETTLE_SECONDS = Number(process.env.SOAK_SETTLE_SECONDS ?? 960);
const VERBOSE = !!process.env.SOAK_VERBOSE;
const CLIENT_ID = "123456";
const OPERATOR = { username: "operator@acme.example", password: "Operator-Pass-1" };
const BUNDLES = ["endpoint-protection"];

const log = (...parts: unknown[]) => console.log("soak:", ...parts);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the stack, as npm start runs it

let unhandledErrors = 0;
let alertLines = 0;
let metricLines = 0;
/** Set once the stack is up: a runtime reload of the plugin after that drops in-flight work (counted, reported). */
let ready = false;
let pluginReloads = 0;
let pending = "";
/** The stack's whole output, kept for a look after a failed run (test/artifacts is not committed). */
const logPath = process.env.SOAK_LOG_FILE ?? join(root, "test/artifacts/soak-stack.log");
mkdirSync(dirname(logPath), { recursive: true });
const logFile = createWriteStream(logPath);
/** Reads the plugin's log lines as they come (a line may arrive in two chunks). */
const onOutput = (text: string) => {
  logFile.write(text);
  const lines = (pending + text).split("\n");
  pending = lines.pop() ?? "";
  for (const line of lines) {
    if (line.includes('"msg":"unhandled error"')) unhandledErrors += 1;
    if (line.includes('"level":"alert"')) alertLines += 1;
    if (line.includes('"msg":"invocation metrics"')) metricLines += 1;
    if (ready && line.startsWith("[plugin]") && /Connection status updated|Reloading|Ready on|Local server updated/.test(line)) pluginReloads += 1;
  }
  if (VERBOSE) process.stdout.write(text);
};
const stack = await startStack("soak", onOutput, { verbose: true });
const { ports, persistTo } = stack;

function fail(message: string): never {
  console.log(`soak: FAILED ${message}\n--- npm start output (tail) ---\n${stack.tail(4000)}`);
  stack.stop();
  setTimeout(() => process.exit(1), 1500);
  throw new Error(message);
}

const started = Date.now();
log(`starting the stack on 127.0.0.1 (plugin :${ports.plugin}, Cynet simulator :${ports.cynet}, dev host :${ports.host}), state in ${persistTo}`);
if (!(await stack.ready())) fail("timed out waiting for npm start to come up");
ready = true;
log(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s`);

const secret = stack.secret() ?? fail("no HOST_SIGNING_SECRET in .dev.vars");
const { plugin, cynet: sim, host } = stack.urls;

// ---------------------------------------------------------------- calls

/** A signed call to the plugin (scripts/lib/signed.ts). */
const call = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => callPlugin<T>(plugin, secret, method, path, body);

async function control(url: string, method = "GET", body?: unknown, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const r = await fetch(url, { method, headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  if (!r.ok) fail(`${method} ${url} → ${r.status}: ${text.slice(0, 300)}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}


// ---------------------------------------------------------------- two tenants, their worlds and scans

const stamp = Date.now().toString(36);
interface Tenant {
  id: string;
  label: string;
  seed: number;
  scans: Array<{ scanId: string; fileName: string; scannedAt: string; sha256?: string; md5?: string }>;
  /** (scanId, sha256) pairs that must get exactly one IR request and one note. */
  matches: Array<{ scanId: string; sha256: string }>;
  verdictBody: string;
}
const tenants: Tenant[] = [
  { id: `soak-a-${stamp}`, label: `soaka${stamp}`, seed: 1101, scans: [], matches: [], verdictBody: "" },
  { id: `soak-b-${stamp}`, label: `soakb${stamp}`, seed: 2202, scans: [], matches: [], verdictBody: "" },
];
const worldAlerts = async (t: Tenant) => ((await control(`${sim}/__sim/worlds/${t.label}/alerts`)) as { alerts: Record<string, unknown>[] }).alerts;

/** A file's MD5 as Cynet's /api/full/file answers it (logged in like the plugin is). */
async function md5Of(t: Tenant, sha256: string): Promise<string> {
  const headers = { "x-forwarded-host": `${t.label}.api.cynet.com` };
  const token = (await control(`${sim}/api/account/token`, "POST", { user_name: OPERATOR.username, password: OPERATOR.password }, headers)).access_token as string;
  const file = await control(`${sim}/api/full/file?sha256=${sha256}`, "GET", undefined, { ...headers, access_token: token, client_id: CLIENT_ID });
  return String(file.md5);
}

const randomHex = (chars: number) => randomBytes(chars / 2).toString("hex");
for (const t of tenants) {
  await control(`${sim}/__sim/worlds/${t.label}`, "PUT", { alertCount: ALERTS, seed: t.seed });
  const expected = expectedDetections(await worldAlerts(t));
  // Files of the earliest alerts: their scan matches (and MD5 lookups) happen in the first correlation.
  const byId = [...expected.entries()].sort((a, b) => a[0] - b[0]).map(([, sha]) => sha);
  const files = [...new Set(byId)].slice(0, 4);
  const md5 = await md5Of(t, files[3]!);
  t.scans = [
    ...files.slice(0, 3).map((sha256, i) => ({ scanId: `${t.id}-scan-${i}`, fileName: `file-${i}.exe`, scannedAt: "2026-11-01T10:00:00Z", sha256 })),
    { scanId: `${t.id}-scan-md5`, fileName: "by-md5.docm", scannedAt: "2026-11-01T11:00:00Z", md5: md5.toUpperCase() },
    { scanId: `${t.id}-scan-clean`, fileName: "clean.txt", scannedAt: "2026-11-01T12:00:00Z", sha256: randomHex(64) },
  ];
  t.matches = files.map((sha256, i) => ({ scanId: i < 3 ? `${t.id}-scan-${i}` : `${t.id}-scan-md5`, sha256 }));
  await control(`${host}/__host/tenants/${t.id}/scans`, "PUT", { scans: t.scans });
  // 100 hashes a verdict call: half this tenant's malicious files (known once synced), the rest unknown SHA-256 and MD5.
  const hashes = [...[...new Set(byId)].slice(0, 50), ...Array.from({ length: 25 }, () => randomHex(64)), ...Array.from({ length: 25 }, () => randomHex(32))];
  t.verdictBody = JSON.stringify({ hashes });
  log(`${t.id}: world ${t.label} with ${ALERTS} alerts (${expected.size} malicious files), ${t.scans.length} scans seeded at the host`);
}

// ---------------------------------------------------------------- faults on both sides, then Connect

const [A, B] = tenants as [Tenant, Tenant];
const simFaults: Record<string, Array<Record<string, unknown>>> = {
  [A.label]: [
    { endpoint: "alerts", status: 500, afterCalls: 4, times: 2 },
    { endpoint: "alerts", status: 401, afterCalls: 12, times: 1 },
    { endpoint: "alerts", status: 429, retryAfterSeconds: 1, afterCalls: 20, times: 1 },
    { endpoint: "alerts", delayMs: 2_000, afterCalls: 25, times: 3 },
  ],
  [B.label]: [
    { endpoint: "alerts", status: 503, afterCalls: 3, times: 1 },
    { endpoint: "alerts", status: 401, afterCalls: 8, times: 1 },
    { endpoint: "token", status: 500, afterCalls: 1, times: 1 },
    { endpoint: "alerts", malformed: true, afterCalls: 16, times: 1 },
    { endpoint: "file", status: 500, afterCalls: 60, times: 5 },
  ],
};
const hostFaults: Record<string, Array<Record<string, unknown>>> = {
  [A.id]: [
    { endpoint: "events/batch", status: 503, times: 3 },
    { endpoint: "ir-requests", status: 429, retryAfterSeconds: 2, times: 2 },
    { endpoint: "scans/search", status: 500, times: 2 },
  ],
  [B.id]: [
    { endpoint: "events/batch", status: 400, afterCalls: 2, times: 1 },
    { endpoint: "events/batch", delayMs: 2_000, times: 2 },
    { endpoint: "notes", status: 503, times: 2 },
  ],
};
for (const [label, rules] of Object.entries(simFaults)) for (const rule of rules) await control(`${sim}/__sim/worlds/${label}/faults`, "POST", rule);
for (const [tenant, rules] of Object.entries(hostFaults)) for (const rule of rules) await control(`${host}/__host/tenants/${tenant}/faults`, "POST", rule);
const faultCount = Object.values(simFaults).flat().length + Object.values(hostFaults).flat().length;
log(`${faultCount} fault rules injected (Cynet and host)`);

for (const t of tenants) {
  const enabled = await call("PUT", `/v1/tenants/${t.id}/enablement`, { enabled: true, bundles: BUNDLES });
  if (enabled.status !== 200) fail(`enablement of ${t.id}: ${enabled.status} ${enabled.text}`);
  const connected = await call("POST", `/v1/tenants/${t.id}/activation`, { orgUrl: `${t.label}.cynet.com`, clientId: CLIENT_ID, ...OPERATOR });
  if (connected.status !== 200) fail(`activation of ${t.id}: ${connected.status} ${connected.text}`);
}
log("both tenants connected; the first syncs run through the real local queues");

// ---------------------------------------------------------------- load, with syncs and new alerts meanwhile

let loadRunning = true;
let syncsAsked = 0;
let cronTicks = 0;
let alertsAdded = 0;
const background = (async () => {
  for (let tick = 0; loadRunning; tick++) {
    await sleep(5_000);
    if (!loadRunning) break;
    for (const t of tenants) {
      const r = await call("POST", `/v1/tenants/${t.id}/sync`).catch(() => undefined);
      if (r?.status === 202) syncsAsked += 1;
      if (tick % 2 === 1) {
        await control(`${sim}/__sim/worlds/${t.label}/alerts`, "POST", { count: 100 });
        alertsAdded += 100;
      }
    }
    if (tick % 2 === 0) {
      const r = await fetch(`${plugin}/__scheduled?cron=*/5+*+*+*+*`).catch(() => undefined);
      if (r?.ok) cronTicks += 1;
    }
  }
})();

function load(title: string, requests: Array<{ method: string; path: string; body?: string }>) {
  return autocannon({
    title,
    url: plugin,
    connections: CONNECTIONS,
    duration: SECONDS,
    timeout: 30,
    requests: requests.map((r) => ({
      method: r.method,
      path: r.path,
      // Signed per request: signatures expire after 300 s and bind method, path and body.
      setupRequest: (req: Record<string, unknown>) => ({ ...req, body: r.body, headers: signedHeaders(secret, r.method, r.path, r.body ?? "") }),
    })),
  });
}
log(`load: ${SECONDS} s of signed POST /verdicts (100 hashes) and GET /status, ${CONNECTIONS} connections each, both tenants`);
const [verdicts, status] = await Promise.all([
  load("verdicts", tenants.map((t) => ({ method: "POST", path: `/v1/tenants/${t.id}/verdicts`, body: t.verdictBody }))),
  load("status", tenants.map((t) => ({ method: "GET", path: `/v1/tenants/${t.id}/status` }))),
]);
loadRunning = false;
await background;
log(`load done: ${syncsAsked} sync-now calls, ${cronTicks} cron ticks, ${alertsAdded} alerts added meanwhile`);

// ---------------------------------------------------------------- clear faults, settle

type Counts = { pending: number; scheduled: number; delivered: number; failed: number };
type Status = { status: string; sync: { inProgress: boolean; consecutiveFailures: number; lastRun: { outcome: string } | null } | null; deliveries: Record<string, Counts> };
const firedBefore: string[] = [];
for (const t of tenants) {
  const simState = (await control(`${sim}/__sim/worlds/${t.label}/faults`)) as { faults: Array<{ rule: { endpoint: string; status?: number }; fired: number }> };
  const hostState = (await control(`${host}/__host/tenants/${t.id}/faults`)) as { faults: Array<{ rule: { endpoint: string; status?: number }; fired: number }> };
  for (const f of [...simState.faults.map((x) => ({ ...x, side: "cynet" })), ...hostState.faults.map((x) => ({ ...x, side: "host" }))]) {
    firedBefore.push(`${t.id.slice(0, 6)} ${f.side} ${f.rule.endpoint} ${f.rule.status ?? (("malformed" in f.rule && "malformed") || "delay")}: fired ${f.fired}`);
  }
  await control(`${sim}/__sim/worlds/${t.label}/faults`, "DELETE");
  await control(`${host}/__host/tenants/${t.id}/faults`, "DELETE");
}
log("faults cleared; settling (sync now, cron ticks, retry of failed deliveries)");

async function detectionsOf(t: Tenant): Promise<Array<{ alertId: number; sha256: string }>> {
  const out: Array<{ alertId: number; sha256: string }> = [];
  let before: number | null = null;
  for (;;) {
    const page: { body: { detections: Array<{ alertId: number; sha256: string }>; nextBefore: number | null } } = await call("GET", `/v1/tenants/${t.id}/detections?limit=200${before ? `&before=${before}` : ""}`);
    out.push(...page.body.detections);
    before = page.body.nextBefore;
    if (!before) return out;
  }
}
const hostList = async <T>(t: Tenant, what: "events" | "notes" | "ir-requests") => {
  const body = (await control(`${host}/__host/tenants/${t.id}/${what}`)) as Record<string, unknown>;
  return { records: (body[what === "ir-requests" ? "irRequests" : what] ?? []) as T[], duplicatesRefused: Number(body.duplicatesRefused ?? 0) };
};

const settleStarted = Date.now();
let settled = false;
for (let round = 0; Date.now() - settleStarted < SETTLE_SECONDS * 1000; round++) {
  let quiet = true;
  for (const t of tenants) {
    const s = (await call<Status>("GET", `/v1/tenants/${t.id}/status`)).body;
    const expected = expectedDetections(await worldAlerts(t));
    const stored = (await detectionsOf(t)).length;
    const events = (await hostList(t, "events")).records.length;
    const d = s.deliveries;
    const waiting = ["events", "notes", "irRequests"].reduce((n, k) => n + d[k]!.pending + d[k]!.scheduled, 0) + d.scanSearches!.pending;
    const failedRows = Object.values(d).reduce((n, k) => n + k.failed, 0);
    const runDone = s.sync && !s.sync.inProgress && s.sync.lastRun?.outcome === "succeeded" && s.sync.consecutiveFailures === 0;
    if (failedRows > 0) await call("POST", `/v1/tenants/${t.id}/deliveries/retry`);
    if (!runDone || stored < expected.size) await call("POST", `/v1/tenants/${t.id}/sync`);
    if (!(runDone && stored === expected.size && events === expected.size && waiting === 0 && failedRows === 0)) quiet = false;
    if (round % 6 === 0) log(`  ${t.id}: expected ${expected.size}, stored ${stored}, events ${events}, waiting deliveries ${waiting}, failed ${failedRows}, run ${s.sync?.lastRun?.outcome ?? "-"}${s.sync?.inProgress ? " (in progress)" : ""}`);
  }
  if (quiet) {
    settled = true;
    break;
  }
  if (round % 3 === 0) await fetch(`${plugin}/__scheduled?cron=*/5+*+*+*+*`).catch(() => undefined);
  await sleep(5_000);
}
const settleSeconds = (Date.now() - settleStarted) / 1000;
log(settled ? `settled in ${settleSeconds.toFixed(0)} s` : `did not settle in ${SETTLE_SECONDS} s; comparing anyway`);
if (pluginReloads > 0) log(`the plugin's runtime reloaded ${pluginReloads} time(s) during the run (in-flight invocations and the local queues' delayed retries are lost; the lease expiry and the sweeper recover them)`);

// ---------------------------------------------------------------- compare

type Row = Record<string, string | number>;
const table: Row[] = [];
const mismatches: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) mismatches.push(what);
};
for (const t of tenants) {
  const other = tenants.find((x) => x !== t)!;
  const expected = expectedDetections(await worldAlerts(t));
  const stored = await detectionsOf(t);
  const storedKeys = new Map<number, number>();
  for (const d of stored) storedKeys.set(d.alertId, (storedKeys.get(d.alertId) ?? 0) + 1);
  const storedDuplicates = [...storedKeys.values()].filter((n) => n > 1).length;
  const storedWrong = stored.filter((d) => expected.get(d.alertId) !== d.sha256).length;
  const events = await hostList<{ details: { cynet: { alertId: number }; file: { sha256: string } } }>(t, "events");
  const perAlert = new Map<number, number>();
  for (const e of events.records) perAlert.set(e.details.cynet.alertId, (perAlert.get(e.details.cynet.alertId) ?? 0) + 1);
  const eventDuplicates = [...perAlert.values()].filter((n) => n > 1).length;
  const eventsWrong = events.records.filter((e) => expected.get(e.details.cynet.alertId) !== e.details.file.sha256).length;
  const ir = await hostList<{ scanId: string; evidence: { file: { sha256: string } } }>(t, "ir-requests");
  const notes = await hostList<{ scanId: string }>(t, "notes");
  const irKeys = ir.records.map((r) => `${r.scanId}|${r.evidence.file.sha256}`);
  const expectedIr = t.matches.map((m) => `${m.scanId}|${m.sha256}`);
  const irDuplicates = irKeys.length - new Set(irKeys).size;
  const notesPerScan = new Map<string, number>();
  for (const n of notes.records) notesPerScan.set(n.scanId, (notesPerScan.get(n.scanId) ?? 0) + 1);
  const s = (await call<Status>("GET", `/v1/tenants/${t.id}/status`)).body;
  const own = [...new Set(expected.values())].slice(0, 200);
  const otherShas = new Set(expectedDetections(await worldAlerts(other)).values());
  const foreign = [...otherShas].filter((h) => !own.includes(h)).slice(0, 200);
  const v = (await call<{ results: Array<{ hash: string; malicious: boolean }> }>("POST", `/v1/tenants/${t.id}/verdicts`, { hashes: [...own, ...foreign] })).body.results;
  const verdictsWrong = v.filter((r) => r.malicious !== own.includes(r.hash)).length;

  check(stored.length === expected.size, `${t.id}: ${stored.length} detections stored, ${expected.size} expected`);
  check(storedWrong === 0, `${t.id}: ${storedWrong} stored detections not in Cynet's malicious files (or with another hash)`);
  check(events.records.length === expected.size, `${t.id}: ${events.records.length} events at the host, ${expected.size} expected`);
  check(eventDuplicates === 0 && storedDuplicates === 0, `${t.id}: duplicates (events ${eventDuplicates}, detections ${storedDuplicates})`);
  check(eventsWrong === 0, `${t.id}: ${eventsWrong} events for alerts that are not Cynet's malicious files`);
  check(JSON.stringify([...irKeys].sort()) === JSON.stringify([...expectedIr].sort()), `${t.id}: IR requests ${JSON.stringify(irKeys)} ≠ expected ${JSON.stringify(expectedIr)}`);
  check(t.matches.every((m) => notesPerScan.get(m.scanId) === 1) && notes.records.length === t.matches.length, `${t.id}: notes per scan ${JSON.stringify(Object.fromEntries(notesPerScan))}, expected one on each of ${t.matches.length} matched scans`);
  check(verdictsWrong === 0, `${t.id}: ${verdictsWrong} wrong verdicts of ${v.length}`);
  check(s.status === "active" && Object.values(s.deliveries).every((d) => d.failed === 0), `${t.id}: status ${s.status}, failed deliveries ${JSON.stringify(s.deliveries)}`);
  table.push({
    tenant: t.id,
    "alerts in Cynet": (await worldAlerts(t)).length,
    "expected detections": expected.size,
    "stored": stored.length,
    "events at host": events.records.length,
    "duplicates (events/detections/IR)": `${eventDuplicates}/${storedDuplicates}/${irDuplicates}`,
    "IR requests (expected)": `${ir.records.length} (${expectedIr.length})`,
    "notes (expected)": `${notes.records.length} (${t.matches.length})`,
    "replays the host answered": events.duplicatesRefused + ir.duplicatesRefused + notes.duplicatesRefused,
    "wrong verdicts": `${verdictsWrong}/${v.length}`,
  });
}

const rate = (r: CannonResult) => (r.requests.total ? (100 * (r.errors + r.non2xx)) / r.requests.total : 0);
const loadRows = [verdicts, status].map((r, i) => ({
  route: i === 0 ? "POST /verdicts (100 hashes)" : "GET /status",
  requests: r.requests.total,
  "req/s": Math.round(r.requests.average),
  "p50 ms": r.latency.p50,
  "p99 ms": r.latency.p99,
  "max ms": r.latency.max,
  "errors+non2xx": `${r.errors}+${r.non2xx}`,
  "error rate %": rate(r).toFixed(2),
  statuses: JSON.stringify(Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, x]) => [k, x.count]))),
}));
for (const r of [verdicts, status]) check(r.errors + r.non2xx === 0, `load: ${r.errors} errors and ${r.non2xx} non-2xx answers`);
check(unhandledErrors === 0, `${unhandledErrors} unhandled errors in the plugin's log`);
// The log is really read: every plugin invocation ends with a metrics line.
check(metricLines > verdicts.requests.total, `only ${metricLines} invocation-metrics lines read from the plugin's log`);
check(settled, `the stack did not settle in ${SETTLE_SECONDS} s`);

console.log("\nSOAK load (while syncs ran with faults on both sides)");
console.table(loadRows);
console.log("SOAK consistency after settling");
console.table(table);
console.log(`faults fired: ${firedBefore.join("; ")}`);
console.log(
  `SOAK seconds=${SECONDS} connections=${CONNECTIONS}x2 verdicts_p50_ms=${verdicts.latency.p50} verdicts_p99_ms=${verdicts.latency.p99} status_p50_ms=${status.latency.p50} status_p99_ms=${status.latency.p99}` +
    ` error_rate_pct=${(((verdicts.errors + verdicts.non2xx + status.errors + status.non2xx) * 100) / Math.max(1, verdicts.requests.total + status.requests.total)).toFixed(2)}` +
    ` settle_s=${settleSeconds.toFixed(0)} unhandled_errors=${unhandledErrors} plugin_reloads=${pluginReloads} alert_log_lines=${alertLines} metric_log_lines=${metricLines} mismatches=${mismatches.length}`,
);
stack.stop();
await sleep(2500);
if (mismatches.length) {
  // What the plugin's D1 says about the stuck work: leases, runs in progress, undelivered rows.
  try {
    const db = new DatabaseSync(pluginD1File(persistTo), { readOnly: true });
    const iso = (ms: unknown) => (typeof ms === "number" ? new Date(ms).toISOString() : ms);
    for (const r of db.prepare("SELECT tenant_id, lease_id, lease_expires_at, run_id, run_offset, consecutive_failures, backoff_until FROM sync_state").all()) {
      console.log(`soak: sync_state ${JSON.stringify({ ...r, lease_expires_at: iso(r.lease_expires_at), backoff_until: iso(r.backoff_until) })}`);
    }
    for (const r of db.prepare("SELECT tenant_id, kind, state, count(*) AS n, max(attempts) AS attempts, min(next_attempt_at) AS due_from, max(next_attempt_at) AS due_to, max(last_error) AS last_error FROM outbox WHERE state != 'delivered' GROUP BY 1, 2, 3").all()) {
      console.log(`soak: outbox ${JSON.stringify({ ...r, due_from: iso(r.due_from), due_to: iso(r.due_to) })}`);
    }
    db.close();
  } catch (err) {
    console.log(`soak: could not read the plugin's D1 for diagnostics: ${String(err)}`);
  }
  console.log(`soak: the stack's state is kept in ${persistTo}`);
} else {
  rmSync(persistTo, { recursive: true, force: true });
}
if (mismatches.length) {
  console.log(`soak: FAILED\n  ${mismatches.join("\n  ")}\nthe stack's output: ${logPath}`);
  process.exit(1);
}
console.log("soak: passed");
process.exit(0);
