/**
 * Verdicts over VERDICT_ROWS stored detections of one tenant (1,000,000 by default): 1000 mixed
 * hashes through the Worker, beside raw SQLite running the Worker's own statement
 * (src/verdicts/lookup.ts) on the same database file. The store is seeded once (openVerdictStore)
 * and shared with the verdict-load section.
 */
import type { SQLInputValue } from "node:sqlite";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import { z } from "zod";
import { FoundHashes, verdictLookup } from "../../src/verdicts/lookup.ts";
import { eventMark, eventsSince, log, sleep, summarize, type Plugin } from "./harness.ts";
import { envNumber, int, table, times, type Section, type VerdictStore } from "./section.ts";
import { insertRows, seedDetections, seededHashes } from "./seed.ts";
import { tenants } from "../../src/storage/schema.ts";

/** Hashes per verdict call: the contract's maximum. */
const VERDICT_HASHES = 1000;
/** Timed repetitions of each lookup, after one warm-up; the median is reported. */
const VERDICT_REPEATS = 21;
/** The tenant whose detections are seeded. */
const VERDICT_TENANT = "bench-verdicts";
/** Time for the last calls' metering lines to arrive after the calls return. */
const METRICS_SETTLE_MS = 500;

/** Detections stored for the verdict sections (BENCH_VERDICT_ROWS). */
export const verdictRows = () => envNumber("BENCH_VERDICT_ROWS", 1_000_000);

/** Starts the plugin and stores the detections straight into its D1 file (see seed.ts). */
export async function openVerdictStore(start: (name: string) => Promise<Plugin>): Promise<VerdictStore> {
  const rows = verdictRows();
  const plugin = await start("verdicts");
  const db = plugin.openD1(true);
  try {
    const seedSeconds = seedDetections(db, VERDICT_TENANT, rows);
    // An enabled tenant, as the scanner's are: the Worker remembers where such a tenant's rows
    // are (storage/directory.ts), where a tenant it has never seen is looked up on every call.
    const now = new Date();
    insertRows(db, tenants, [{ id: VERDICT_TENANT, enabled: true, bundles: ["endpoint-protection"], state: "active", createdAt: now, updatedAt: now }]);
    db.exec("ANALYZE");
    // Bulk-loading wrote a WAL the size of the database; fold it in, as D1 itself would long since have.
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    log(`stored ${int(rows)} detections for the verdict sections in ${seedSeconds.toFixed(1)} s`);
    return { plugin, tenant: VERDICT_TENANT, rows, seedSeconds };
  } finally {
    db.close();
  }
}

const Results = z.object({ results: z.array(z.object({ hash: z.string(), malicious: z.boolean() })) });

export const verdictsSection: Section = {
  name: "verdicts",
  title: "Verdicts: 1000 hashes over stored detections",
  env: ["BENCH_VERDICT_ROWS"],
  async run(ctx) {
    const store = await ctx.verdictStore();
    const { plugin, tenant, rows } = store;
    const db = plugin.openD1();
    // 1000 mixed hashes: SHA-256 (half stored), MD5 and SHA-1 of stored files, upper case mixed in.
    const asked: string[] = [];
    for (let i = 0; i < VERDICT_HASHES; i++) {
      const k = (i * 7919) % Math.max(1, Math.floor(rows / 10));
      asked.push(i % 3 === 0 ? seededHashes.md5(k) : i % 3 === 1 ? seededHashes.sha1(k).toUpperCase() : seededHashes.sha256(i % 2 ? k : rows + i));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const malicious = (body: unknown) => Results.parse(body).results.filter((v) => v.malicious).map((v) => v.hash);

    // Raw SQLite runs the Worker's own statement (src/verdicts/lookup.ts) on the same file.
    const lower = [...new Set(asked.map((h) => h.toLowerCase()))];
    const query = new SQLiteSyncDialect().sqlToQuery(verdictLookup(tenant, { sha256: lower.filter((h) => h.length === 64), md5: lower.filter((h) => h.length === 32), sha1: lower.filter((h) => h.length === 40) }));
    const params = query.params as SQLInputValue[];
    const lookup = db.prepare(query.sql);
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${query.sql}`).all(...params) as Array<{ detail: string }>;

    // Worker and raw calls alternate, so both see the same machine; the first of each warms caches.
    const httpTimes: number[] = [];
    const rawTimes: number[] = [];
    let workerFound: string[] = [];
    let rawFound: string[] = [];
    const mark = eventMark();
    for (let r = 0; r <= VERDICT_REPEATS; r++) {
      let t = performance.now();
      const res = await plugin.call("POST", `/v1/tenants/${tenant}/verdicts`, { hashes: asked });
      if (r > 0) httpTimes.push(performance.now() - t);
      if (res.status !== 200) throw new Error(res.text);
      workerFound = malicious(res.body);
      t = performance.now();
      const row = lookup.get(...params) as { found: string };
      if (r > 0) rawTimes.push(performance.now() - t);
      // Malicious: a hash with a live detection (its first detection is set).
      rawFound = FoundHashes.parse(JSON.parse(row.found))
        .filter(([, first]) => first !== null)
        .map(([h]) => h);
    }
    if (rawFound.sort().join() !== workerFound.sort().join()) throw new Error(`raw SQLite found ${rawFound.length} malicious hashes, the Worker ${workerFound.length}`);
    await sleep(METRICS_SETTLE_MS);
    const calls = summarize(eventsSince(mark)).metrics.filter((m) => m.kind === "http").slice(1);
    const inWorker = median(calls.map((m) => m.wallMs));

    // What any signed call costs from Node through wrangler's local dev proxy: a verdict of one unknown hash.
    const fixed: number[] = [];
    for (let r = 0; r <= VERDICT_REPEATS; r++) {
      const t = performance.now();
      const res = await plugin.call("POST", `/v1/tenants/${tenant}/verdicts`, { hashes: ["0".repeat(64)] });
      if (r > 0) fixed.push(performance.now() - t);
      if (res.status !== 200) throw new Error(res.text);
    }
    db.close();
    const rawMs = median(rawTimes);
    const row = {
      "stored detections": int(rows),
      "hashes asked": VERDICT_HASHES,
      "found malicious": workerFound.length,
      "in the Worker p50 ms": inWorker.toFixed(1),
      "raw SQLite p50 ms": rawMs.toFixed(1),
      ratio: times(inWorker / rawMs),
      "HTTP p50 ms (signed, via the dev proxy)": median(httpTimes).toFixed(1),
      "HTTP p50 ms of a 1-hash call": median(fixed).toFixed(1),
      "D1 queries per call": Math.max(...calls.map((m) => m.d1Queries)),
      "detections index used": plan.map((p) => p.detail).find((d) => d.includes("detections")) ?? "none",
    };
    const body = `${VERDICT_HASHES} mixed hashes (SHA-256, MD5 and SHA-1, some upper case, half of the SHA-256 stored) over ${int(rows)} detections of one tenant, stored straight into the plugin's D1 file from Node (scripts/bench/seed.ts: each SHA-256 twice, a tenth of them with MD5 and SHA-1 known, text columns from detections of generated alerts so rows are as wide as real ones; seeding took ${store.seedSeconds.toFixed(0)} s). p50 of ${VERDICT_REPEATS} calls after one warm-up, Worker and raw calls alternating. Raw SQLite runs the Worker's own statement (src/verdicts/lookup.ts) on the same database file from Node, and must find the same hashes. Compared on the Worker's own time (request in to response out, from its metering); the HTTP round trip through wrangler's local dev proxy is shown beside it, with the same round trip for a 1-hash call.

${table([row])}

Target: within 2× of raw SQLite.`;
    return { body, data: { rows, inWorkerMs: inWorker, rawMs } };
  },
};
