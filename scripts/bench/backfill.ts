/**
 * Backfill, end to end, against the Node Cynet (./fast-cynet-server.ts): Connect → sync through
 * the real local queues → events, scan matching, IR requests and notes at the dev host, at each
 * size in BENCH_SIZES (10k, 100k and 1M alerts by default). Beside it the Node-to-Node paging
 * floor (the same world paged from Node, parsed, nothing stored) and raw SQLite inserting the
 * same detections. The plugin's cost per alert: its workerd's CPU, D1 queries, rows written,
 * host calls, and its peak memory, which must stay flat as the backlog grows.
 *
 * runBackfill is shared with the slow-Cynet section.
 */
import { DatabaseSync } from "node:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { generateAlerts } from "../../dev/cynet-sim/generate.ts";
import type { SimAlert } from "../../dev/cynet-sim/alert.ts";
import { detections } from "../../src/storage/schema.ts";
import { classifyAlert } from "../../src/sync/rule.ts";
import type { FastCynet } from "./fast-cynet.ts";
import {
  cpuSnapshot,
  cpuSpent,
  eventMark,
  eventsSince,
  json,
  log,
  memoryMb,
  queueOperations,
  resetPeakRss,
  sleep,
  summarize,
  VERBOSE,
  type Plugin,
} from "./harness.ts";
import { envNumber, int, table, times, type BenchContext, type Section } from "./section.ts";
import { applyMigrations, insertRows } from "./seed.ts";

const DEFAULT_SIZES = [10_000, 100_000, 1_000_000];
/** Progress polling interval while a backfill runs (read from the D1 file): fine enough to time a few seconds' work. */
export const PROGRESS_POLL_MS = 50;
/** Floor runs per size; the median is reported, so one noisy run does not set the bar. */
const FLOOR_RUNS = 3;
/** Past this many alerts one floor run is enough (the report says so). */
const SINGLE_FLOOR_RUN_ABOVE = 200_000;
/** Pages the floor may read past the world's size before it counts as runaway paging (it ends on an empty page). */
const FLOOR_EXTRA_PAGES = 10;
/**
 * A backfill for another tenant before the measured ones, so they run on a warmed-up isolate
 * (V8 has compiled the hot paths), as a deployed Worker serving many tenants does.
 */
const WARM_UP_ALERTS = 2000;
/** Longest a backfill may take before the bench gives up. */
const BACKFILL_TIMEOUT_MS = 30 * 60_000;
/** Scans seeded at the host sharing SHA-256 hashes with the alerts: enough IR requests and notes to exercise matching. */
const SCANS = 40;
/** Alerts classified at a time for raw SQLite: its rows stay small beside the million alerts themselves. */
const RAW_SLICE_ALERTS = 10_000;
/** Seed of the simulated worlds (dev/cynet-sim/generate.ts): the same alerts on every run. */
export const WORLD_SEED = 11;
/** The look-back the floor pages from: the plugin's first sync reads 30 days (plugin.manifest.json sync.initialLookbackDays). */
const FLOOR_LOOKBACK_MS = 30 * 86_400_000;
/** Page size the floor asks for: the plugin's (src/cynet/client.ts ALERTS_PAGE_LIMIT). */
const FLOOR_PAGE_LIMIT = 100;
export const CLIENT_ID = "123456";
/** The simulated world's operator (dev/cynet-sim/world.ts DEFAULT_USERS). */
export const OPERATOR = { username: "operator@acme.example", password: "Operator-Pass-1" };
export const BUNDLES = ["endpoint-protection"];

const StatusSchema = z.object({
  sync: z.object({ lastRun: z.object({ newDetections: z.number() }).nullable() }),
  deliveries: z.record(z.string(), z.object({ pending: z.number(), scheduled: z.number(), delivered: z.number(), failed: z.number() })),
});

/** A world's alerts, as the Node Cynet generated them: the same pure function of (seed, count, epoch). */
export function worldAlerts(count: number, epoch: string): SimAlert[] {
  return generateAlerts(WORLD_SEED, count, Date.parse(epoch)).alerts;
}

/** Node paging the Node Cynet as the plugin does (Limit 100, Offset by what came, the window ends on an empty page), parsing each page and storing nothing. */
export async function nodeFloor(cynet: FastCynet, label: string, expected: number): Promise<number> {
  const headers = { "x-forwarded-host": `${label}.api.cynet.com`, "content-type": "application/json" };
  const token = z.object({ access_token: z.string() }).parse(await json(`${cynet.url}/api/account/token`, { method: "POST", headers, body: JSON.stringify({ user_name: OPERATOR.username, password: OPERATOR.password }) })).access_token;
  const lastSeen = new Date(Date.now() - FLOOR_LOOKBACK_MS).toISOString().replace(/\.\d{3}Z$/, "Z");
  const page = z.object({ Entities: z.array(z.unknown()) });
  const t0 = performance.now();
  let seen = 0;
  for (let offset = 0, pages = 0; ; pages++) {
    if (pages > expected / FLOOR_PAGE_LIMIT + FLOOR_EXTRA_PAGES) throw new Error(`the floor read ${pages} pages for ${expected} alerts`);
    const { Entities } = page.parse(await json(`${cynet.url}/api/alerts/bulk?LastSeen=${lastSeen}&Limit=${FLOOR_PAGE_LIMIT}&Offset=${offset}`, { headers: { ...headers, access_token: token, client_id: CLIENT_ID } }));
    seen += Entities.length;
    offset += Entities.length;
    if (Entities.length === 0) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (seen !== expected) throw new Error(`the floor read ${seen} alerts, expected ${expected}`);
  return seen / seconds;
}

/** Raw SQLite: the plugin's rule applied in Node, the detections inserted in one transaction into the plugin's schema. Alerts per second of the inserts (the rule's time left out). */
function rawSqlite(alerts: SimAlert[]): number {
  const now = new Date();
  const dir = mkdtempSync(join(tmpdir(), "cynet-raw-"));
  try {
    const db = new DatabaseSync(join(dir, "raw.sqlite"));
    applyMigrations(db);
    let inserting = 0;
    const timed = (f: () => void) => {
      const t = performance.now();
      f();
      inserting += performance.now() - t;
    };
    timed(() => db.exec("BEGIN"));
    // In slices, so a million alerts' detections are never all held at once.
    for (let i = 0; i < alerts.length; i += RAW_SLICE_ALERTS) {
      const rows = alerts.slice(i, i + RAW_SLICE_ALERTS).flatMap((a) => {
        const c = classifyAlert(a, now);
        return c.kind === "detection" ? [{ ...c.detection, tenantId: "raw", runId: 1, storedAt: now }] : [];
      });
      timed(() => insertRows(db, detections, rows));
    }
    timed(() => db.exec("COMMIT"));
    db.close();
    return alerts.length / (inserting / 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface BackfillOptions {
  size: number;
  label: string;
  tenant: string;
  /** Added to every alerts call by the Node Cynet. */
  latencyMs?: number;
  /** Seed scans at the host so matching has IR requests and notes to make. */
  scans: boolean;
  /** Measure the floor and raw SQLite beside the backfill. */
  baselines: boolean;
}

/** What one backfill measured. */
export interface BackfillRun {
  size: number;
  stored: number;
  events: number;
  irRequests: number;
  notes: number;
  floor: number;
  raw: number;
  /** Seconds from Connect to: the run succeeded, every event delivered, nothing left pending. */
  syncedSeconds: number;
  eventsSeconds: number;
  doneSeconds: number;
  cpuSeconds: { plugin: number; cynet: number; host: number; bench: number };
  peakRssMb: number;
  deferred: number;
  summary: ReturnType<typeof summarize>;
  cynetStats: Awaited<ReturnType<FastCynet["stats"]>>;
  /** Bytes the plugin's D1 file grew by (page count × page size). */
  d1Bytes: number;
}

/** One backfill for a fresh tenant of a fresh world; throws if the host did not get every event. */
export async function runBackfill(ctx: BenchContext, plugin: Plugin, o: BackfillOptions): Promise<BackfillRun> {
  const { cynet, host } = ctx;
  const { epoch } = await cynet.putWorld(o.label, { alertCount: o.size, seed: WORLD_SEED, latencyMs: o.latencyMs ?? 0 });
  let floor = NaN;
  let raw = NaN;
  {
    // The same alerts the Node Cynet serves, generated here; dropped before the backfill so the bench holds nothing meanwhile.
    const alerts = worldAlerts(o.size, epoch);
    if (o.scans) {
      const hashes = [...new Set(alerts.map((a) => a.Sha256 ?? a.Sha256Hex).filter((h): h is string => typeof h === "string" && /^[0-9a-fA-F]{64}$/.test(h)))].slice(0, SCANS);
      await host.seedScans(o.tenant, hashes.map((h, i) => ({ scanId: `bench-scan-${i}`, fileName: `file-${i}.exe`, scannedAt: new Date().toISOString(), sha256: h.toLowerCase() })));
    }
    if (o.baselines) {
      const floors: number[] = [];
      for (let r = 0; r < (o.size > SINGLE_FLOOR_RUN_ABOVE ? 1 : FLOOR_RUNS); r++) floors.push(await nodeFloor(cynet, o.label, alerts.length));
      floor = floors.sort((a, b) => a - b)[Math.floor(floors.length / 2)]!;
      if (VERBOSE) log(`floor runs: ${floors.map(Math.round).join(", ")} alerts/s`);
      raw = rawSqlite(alerts);
    }
  }
  await cynet.resetStats(o.label);

  const parts = { plugin: plugin.pids, cynet: () => [cynet.pid], host: () => host.pids, bench: () => [process.pid] };
  const snapshot = () => Object.fromEntries(Object.entries(parts).map(([k, pids]) => [k, cpuSnapshot(pids())])) as Record<keyof typeof parts, Map<number, number>>;
  const rssReset = plugin.pids().every(resetPeakRss);
  let sampledRss = 0;
  const progress = plugin.openD1();
  const pageBytes = () => {
    const count = (progress.prepare("PRAGMA page_count").get() as { page_count: number }).page_count;
    return count * (progress.prepare("PRAGMA page_size").get() as { page_size: number }).page_size;
  };
  const bytesBefore = pageBytes();
  const mark = eventMark();
  const before = snapshot();
  const t0 = performance.now();
  const enabled = await plugin.call("PUT", `/v1/tenants/${o.tenant}/enablement`, { enabled: true, bundles: BUNDLES });
  if (enabled.status !== 200) throw new Error(enabled.text);
  const connected = await plugin.call("POST", `/v1/tenants/${o.tenant}/activation`, { orgUrl: `https://${o.label}.api.cynet.com`, clientId: CLIENT_ID, ...OPERATOR });
  if (connected.status !== 200) throw new Error(connected.text);
  // Progress is read from the plugin's D1 file, not through its status route: polling the Worker
  // would spend the very process being measured. The figures are the ones status reports.
  const probe = {
    run: progress.prepare(
      "SELECT r.outcome, r.new_detections AS newDetections, s.run_id AS runId FROM sync_state s LEFT JOIN sync_runs r ON r.id = (SELECT max(id) FROM sync_runs WHERE tenant_id = s.tenant_id) WHERE s.tenant_id = ?",
    ),
    eventsDelivered: progress.prepare("SELECT count(*) AS n FROM detections d JOIN outbox o ON o.tenant_id = d.tenant_id AND o.kind = 'events' AND o.state = 'delivered' AND d.alert_id IN (SELECT value FROM json_each(o.alert_ids)) WHERE d.tenant_id = ?"),
    due: progress.prepare("SELECT count(*) AS n FROM outbox WHERE tenant_id = ? AND state = 'pending' AND next_attempt_at <= ?"),
  };
  let syncedAt = 0;
  let eventsAt = 0;
  for (;;) {
    const run = probe.run.get(o.tenant) as { outcome: string | null; newDetections: number | null; runId: number | null } | undefined;
    const synced = run?.outcome === "succeeded" && run.runId === null;
    if (!syncedAt && synced) syncedAt = performance.now();
    if (!eventsAt && synced && (probe.eventsDelivered.get(o.tenant) as { n: number }).n === run.newDetections) eventsAt = performance.now();
    if (synced && eventsAt && (probe.due.get(o.tenant, Date.now()) as { n: number }).n === 0) break;
    if (performance.now() - t0 > BACKFILL_TIMEOUT_MS) throw new Error(`backfill of ${o.size} did not finish`);
    for (const pid of plugin.pids()) sampledRss = Math.max(sampledRss, memoryMb(pid, "VmRSS"));
    await sleep(PROGRESS_POLL_MS);
  }
  const after = snapshot();
  const doneAt = performance.now();
  const d1Bytes = pageBytes() - bytesBefore;
  progress.close();
  // The last invocations' metering lines are written as they end: a moment for them to arrive.
  await sleep(PROGRESS_POLL_MS * 4);
  const summary = summarize(eventsSince(mark));
  const status = StatusSchema.parse((await plugin.call("GET", `/v1/tenants/${o.tenant}/status`)).body);
  const stored = status.sync.lastRun?.newDetections ?? 0;
  const [events, irRequests, notes] = [await host.received(o.tenant, "events"), await host.received(o.tenant, "ir-requests"), await host.received(o.tenant, "notes")];
  if (events !== stored) throw new Error(`host received ${events} events for ${stored} detections`);
  const peaks = plugin.pids().map((p) => memoryMb(p, "VmHWM"));
  const seconds = (at: number) => (at - t0) / 1000;
  const run: BackfillRun = {
    size: o.size,
    stored,
    events,
    irRequests,
    notes,
    floor,
    raw,
    syncedSeconds: seconds(syncedAt),
    eventsSeconds: seconds(eventsAt),
    doneSeconds: seconds(doneAt),
    cpuSeconds: { plugin: cpuSpent(before.plugin, after.plugin), cynet: cpuSpent(before.cynet, after.cynet), host: cpuSpent(before.host, after.host), bench: cpuSpent(before.bench, after.bench) },
    peakRssMb: rssReset && peaks.length ? Math.max(...peaks) : sampledRss,
    deferred: status.deliveries.scanSearches?.scheduled ?? 0,
    summary,
    cynetStats: await cynet.stats(o.label),
    d1Bytes,
  };
  // A million-alert world is about 2 GB of the Node Cynet's memory: it goes once read.
  await cynet.deleteWorld(o.label);
  if (VERBOSE) for (const m of summary.metrics) log(`${m.kind} wall=${m.wallMs}ms d1=${m.d1Queries} rows=${m.d1RowsWritten} sub=${m.subrequests} cynet=${m.cynetCalls} host=${m.hostCalls}`);
  return run;
}

/** The figures the cost table reads, per size. */
export const BackfillData = z.object({
  sizes: z.array(
    z.object({
      alerts: z.number(),
      stored: z.number(),
      invocations: z.number(),
      pluginCpuSeconds: z.number(),
      d1RowsRead: z.number(),
      d1RowsWritten: z.number(),
      queueOperations: z.number(),
      /** Bytes the plugin's D1 file grew by over the backfill. */
      d1Bytes: z.number().optional(),
    }),
  ),
});
export type BackfillData = z.infer<typeof BackfillData>;

const notWorker = (kind: string) => kind !== "http";

export const backfillSection: Section = {
  name: "backfill",
  title: "Backfill, end to end (against a Node Cynet)",
  env: ["BENCH_SIZES"],
  async run(ctx) {
    const sizes = process.env.BENCH_SIZES ? process.env.BENCH_SIZES.split(",").map(Number).filter((n) => n > 0) : DEFAULT_SIZES;
    const runs: BackfillRun[] = [];
    // A fresh plugin per size (its own D1 file and queues, warmed up first), so each size's peak memory is its own.
    for (const size of sizes) {
      const plugin = await ctx.startPlugin(`backfill-${size}`);
      try {
        const warm = await runBackfill(ctx, plugin, { size: WARM_UP_ALERTS, label: `warmup${size}`, tenant: `warmup-${size}`, scans: true, baselines: false });
        log(`warm-up: ${WARM_UP_ALERTS} alerts for another tenant in ${warm.doneSeconds.toFixed(1)} s`);
        const run = await runBackfill(ctx, plugin, { size, label: `bench${size}`, tenant: `bench-${size}`, scans: true, baselines: true });
        runs.push(run);
        log(`backfill ${size}: synced in ${run.syncedSeconds.toFixed(1)} s, done in ${run.doneSeconds.toFixed(1)} s, plugin ${run.cpuSeconds.plugin.toFixed(1)} CPU s, peak RSS ${run.peakRssMb.toFixed(0)} MB`);
      } finally {
        await plugin.dispose();
      }
    }
    const rate = (r: BackfillRun, s: number) => `${int(r.size / s)} (${Math.round((100 * r.size) / s / r.floor)}%)`;
    const perAlert = (r: BackfillRun) => ({
      cpuUs: (r.cpuSeconds.plugin * 1e6) / r.size,
      queries: r.summary.d1Queries / r.size,
      written: r.summary.d1RowsWritten / r.size,
    });
    const rows = runs.map((r) => {
      const work = r.summary;
      const p = perAlert(r);
      return {
        alerts: int(r.size),
        "malicious files": int(r.stored),
        "events / IR requests / notes at host": `${int(r.events)} / ${r.irRequests} / ${r.notes}`,
        "Node-to-Node floor alerts/s": int(r.floor),
        "synced: alerts/s (% of floor)": rate(r, r.syncedSeconds),
        "events at host: alerts/s (% of floor)": rate(r, r.eventsSeconds),
        "with matching, IR requests, notes: seconds, alerts/s (% of floor)": `${r.doneSeconds.toFixed(1)} s, ${rate(r, r.doneSeconds)}`,
        "raw SQLite alerts/s (1 txn)": int(r.raw),
        "plugin CPU µs / alert": p.cpuUs.toFixed(0),
        "D1 queries / alert": p.queries.toFixed(3),
        "D1 rows written / alert": p.written.toFixed(3),
        "host calls / alert": (work.hostCalls / r.size).toFixed(4),
        "max subrequests in one invocation": work.maxOf((m) => m.subrequests, notWorker),
        "max D1 queries in one invocation": work.maxOf((m) => m.d1Queries, notWorker),
        invocations: int(work.invocationsOf(notWorker)),
        "deferred lookup rows": r.deferred,
        "plugin peak RSS MB": r.peakRssMb.toFixed(0),
        "D1 file bytes / detection": (r.d1Bytes / Math.max(1, r.stored)).toFixed(0),
        "CPU seconds: plugin / Node Cynet / dev host / bench": [r.cpuSeconds.plugin, r.cpuSeconds.cynet, r.cpuSeconds.host, r.cpuSeconds.bench].map((s) => s.toFixed(1)).join(" / "),
      };
    });
    const first = runs[0];
    const last = runs.at(-1);
    const flat =
      first && last && runs.length > 1
        ? `Flatness, ${int(last.size)} alerts against ${int(first.size)} (one run): CPU µs per alert ${times(perAlert(last).cpuUs / perAlert(first).cpuUs)}, D1 queries per alert ${times(perAlert(last).queries / perAlert(first).queries)}, rows written per alert ${times(perAlert(last).written / perAlert(first).written)}, peak RSS ${times(last.peakRssMb / first.peakRssMb)}.`
        : "Flatness needs two sizes or more (BENCH_SIZES).";
    const body = `Connect → sync through the real local queues → events, scan matching, IR requests and notes at the dev host, for a fresh tenant per size, each on a fresh plugin (its own local D1 and queues). Cynet is a plain Node HTTP server (scripts/bench/fast-cynet-server.ts) serving the simulator's own world generator with the simulator's paging and auth, so what is measured is the plugin, not the workerd simulator in front of it. ${SCANS} scans at the host share SHA-256 hashes with the alerts. Times are taken from Connect: "synced" (the run succeeded: every detection stored), "events at host" (every detection's event delivered), "with matching" (nothing pending on any queue: IR requests and notes delivered too). The Node-to-Node floor pages the same world from the bench's Node process as the plugin pages it (Limit 100, the window ending on an empty page) and parses each page, storing nothing (median of ${FLOOR_RUNS} runs; one run past ${int(SINGLE_FLOOR_RUN_ABOVE)} alerts). Raw SQLite applies the plugin's rule (src/sync/rule.ts) in Node and inserts the detections in one transaction into the plugin's schema (multi-row INSERTs; the rule's own time left out). Each measured backfill follows a warm-up backfill of ${int(WARM_UP_ALERTS)} alerts for another tenant on the same plugin, so it runs on a warmed-up isolate as a deployed Worker serving many tenants does.

Plugin CPU is the user + system CPU of the plugin's workerd processes (its runtime and wrangler's dev proxy) over the backfill ÷ alerts; locally D1 and the queues run in that runtime process, so it is the Worker's CPU plus local D1's and the queues'. D1 queries and rows written come from the Worker's own metering (\`invocation metrics\` lines, src/observability/meter.ts: rows written as D1's \`meta.rows_written\` counts them, indexes included). Peak RSS is the high-water mark of the plugin's larger workerd process (its runtime) during the measured backfill (reset after the warm-up). The D1 file's growth is its page count × page size, all tables and indexes.

${table(rows)}

${flat}

The Node-to-Node floor only pages and parses; it is shown for scale, and the sync (classify, store, queue, deliver) is judged on its own cost per alert. Targets: per-alert CPU, D1 queries and rows written flat (the largest size within 1.25× of the smallest); peak RSS flat or near it (within 1.5×); ≤ 4 D1 rows written and ≤ 0.03 host calls per alert; no invocation above 500 subrequests or 500 D1 queries.`;
    const data: BackfillData = {
      sizes: runs.map((r) => ({
        alerts: r.size,
        stored: r.stored,
        // Every invocation, Connect's two calls among them.
        invocations: r.summary.invocations,
        pluginCpuSeconds: r.cpuSeconds.plugin,
        d1RowsRead: r.summary.d1RowsRead,
        d1RowsWritten: r.summary.d1RowsWritten,
        queueOperations: queueOperations(r.summary.queue).total,
        d1Bytes: r.d1Bytes,
      })),
    };
    return { body, data };
  },
};
