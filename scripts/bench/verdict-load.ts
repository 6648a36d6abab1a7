/**
 * Verdicts under load: autocannon against the running plugin over the verdict section's stored
 * detections. 1–5-hash verdict calls (SHA-256, MD5 and SHA-1 mixed, some found, some not), each
 * signed, at LOAD_CONNECTIONS connections for LOAD_SECONDS; then /healthz under the same load
 * (same connections, same duration), one after the other, the order alternating when there are
 * more rounds. Latency percentiles are computed from every response's own time (autocannon's
 * histogram keeps whole milliseconds).
 */
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type { EventEmitter } from "node:events";
import { signedHeaders } from "../lib/signed.ts";
import { cpuSnapshot, cpuSpent, eventMark, eventsSince, log, sleep, summarize, type Plugin } from "./harness.ts";
import { envNumber, int, table, times, type Section } from "./section.ts";
import { seededHashes } from "./seed.ts";

const require = createRequire(import.meta.url);
/** autocannon's result, as far as this section reads it (it ships no types). */
interface CannonResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
type Cannon = EventEmitter & PromiseLike<CannonResult>;
const autocannon = require("autocannon") as (opts: Record<string, unknown>) => Cannon;

/** Connections held open at once: the load the issue asks for. */
const LOAD_CONNECTIONS = 50;
/** Seconds each target is loaded: long enough for a stable p99 (tens of thousands of calls), bounded. */
const DEFAULT_LOAD_SECONDS = 20;
/** Rounds of the two loads, the order alternating: on a shared machine one order alone would favour one target. */
const DEFAULT_LOAD_ROUNDS = 2;
/** Signed verdict requests autocannon cycles through: signatures carry a timestamp (300 s window) and no nonce, so one pool serves a run. */
const REQUEST_POOL = 1000;
/** Most hashes in one call of the pool (1 to this many). */
const MAX_HASHES_PER_CALL = 5;
/** Longest autocannon waits for one answer before counting a timeout. */
const REQUEST_TIMEOUT_SECONDS = 10;
/** Response times kept at most per target: far above 20 s of calls at any local rate. */
const MAX_SAMPLES = 2_000_000;
/** Time for the last calls' metering lines to arrive. */
const METRICS_SETTLE_MS = 1000;

/** The pool of verdict calls: half the hashes found (stored SHA-256s, MD5 and SHA-1 of looked-up files), half unknown, some upper case. */
function verdictRequests(plugin: Plugin, tenant: string, rows: number) {
  const path = `/v1/tenants/${tenant}/verdicts`;
  const knownFiles = Math.max(1, Math.floor(rows / 10));
  return Array.from({ length: REQUEST_POOL }, (_, i) => {
    const hashes = Array.from({ length: (i % MAX_HASHES_PER_CALL) + 1 }, (_, j) => {
      const n = i * MAX_HASHES_PER_CALL + j;
      const found = n % 2 === 0;
      const k = (n * 7919) % knownFiles;
      const hash = [found ? seededHashes.sha256(k) : randomBytes(32).toString("hex"), found ? seededHashes.md5(k) : randomBytes(16).toString("hex"), found ? seededHashes.sha1(k) : randomBytes(20).toString("hex")][n % 3]!;
      return n % 4 === 0 ? hash.toUpperCase() : hash;
    });
    const body = JSON.stringify({ hashes });
    return { method: "POST", path, headers: signedHeaders(plugin.secret, "POST", path, body), body };
  });
}

interface Load {
  target: string;
  calls: number;
  perSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  cpuSeconds: number;
  d1RowsRead: number;
  d1Queries: number;
}

async function load(plugin: Plugin, target: string, requests: Array<Record<string, unknown>>, seconds: number): Promise<Load> {
  const samples: number[] = [];
  let non2xx = 0;
  const mark = eventMark();
  const before = cpuSnapshot(plugin.pids());
  const run = autocannon({ url: plugin.url, connections: LOAD_CONNECTIONS, duration: seconds, timeout: REQUEST_TIMEOUT_SECONDS, requests });
  run.on("response", (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode < 200 || statusCode >= 300) non2xx += 1;
    else if (samples.length < MAX_SAMPLES) samples.push(responseTime);
  });
  const result = await run;
  const cpuSeconds = cpuSpent(before, cpuSnapshot(plugin.pids()));
  await sleep(METRICS_SETTLE_MS);
  const http = summarize(eventsSince(mark)).metrics.filter((m) => m.kind === "http");
  samples.sort((a, b) => a - b);
  const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))] ?? NaN;
  const calls = samples.length + non2xx;
  return {
    target,
    calls,
    perSecond: calls / seconds,
    p50: pct(50),
    p99: pct(99),
    non2xx: Math.max(non2xx, result.non2xx),
    errors: result.errors,
    timeouts: result.timeouts,
    cpuSeconds,
    d1RowsRead: http.reduce((n, m) => n + m.d1RowsRead, 0),
    d1Queries: http.reduce((n, m) => n + m.d1Queries, 0),
  };
}

export const verdictLoadSection: Section = {
  name: "verdict-load",
  title: "Verdicts under load (autocannon, 50 connections)",
  env: ["BENCH_VERDICT_ROWS", "BENCH_LOAD_SECONDS", "BENCH_LOAD_ROUNDS"],
  async run(ctx) {
    const seconds = envNumber("BENCH_LOAD_SECONDS", DEFAULT_LOAD_SECONDS);
    const rounds = Math.max(1, envNumber("BENCH_LOAD_ROUNDS", DEFAULT_LOAD_ROUNDS));
    const { plugin, tenant, rows } = await ctx.verdictStore();
    const results: Array<{ round: number; verdicts: Load; healthz: Load }> = [];
    for (let round = 1; round <= rounds; round++) {
      // Signed afresh each round: a signature is good for 300 s around its timestamp.
      const verdict = () => load(plugin, "verdicts", verdictRequests(plugin, tenant, rows), seconds);
      const healthz = () => load(plugin, "/healthz", [{ method: "GET", path: "/healthz" }], seconds);
      const [first, second] = round % 2 === 1 ? [await verdict(), await healthz()] : [await healthz(), await verdict()];
      const pair = first.target === "verdicts" ? { verdicts: first, healthz: second } : { verdicts: second, healthz: first };
      results.push({ round, ...pair });
      log(`load round ${round}: verdicts p99 ${pair.verdicts.p99.toFixed(1)} ms at ${Math.round(pair.verdicts.perSecond)}/s, /healthz p99 ${pair.healthz.p99.toFixed(1)} ms at ${Math.round(pair.healthz.perSecond)}/s`);
    }
    const rowsOut = results.flatMap(({ round, verdicts, healthz }) =>
      [verdicts, healthz].map((l) => ({
        round: `${round} (${round % 2 === 1 ? "verdicts first" : "/healthz first"})`,
        calls: l.target === "verdicts" ? `verdicts, 1–${MAX_HASHES_PER_CALL} hashes (signed)` : "GET /healthz",
        "calls/s": int(l.perSecond),
        "p50 ms": l.p50.toFixed(1),
        "p99 ms": l.p99.toFixed(1),
        "non-2xx": l.non2xx,
        "errors / timeouts": `${l.errors} / ${l.timeouts}`,
        "plugin CPU ms / call": ((l.cpuSeconds * 1000) / Math.max(1, l.calls)).toFixed(2),
        "D1 queries / call": (l.d1Queries / Math.max(1, l.calls)).toFixed(2),
        "verdict p99 ÷ /healthz p99": l.target === "verdicts" ? times(verdicts.p99 / healthz.p99) : "",
      })),
    );
    const worst = Math.max(...results.map((r) => r.verdicts.p99 / r.healthz.p99));
    const failures = results.reduce((n, r) => n + r.verdicts.non2xx + r.healthz.non2xx + r.verdicts.errors + r.healthz.errors, 0);
    const body = `autocannon (in the bench's Node process) against the plugin over the ${int(rows)} detections of the verdict section, on 127.0.0.1 only: ${LOAD_CONNECTIONS} connections for ${seconds} s per target. Verdict calls cycle through a pool of ${REQUEST_POOL} requests, each signed (host contract §2: the signature carries a timestamp, no nonce, so a pool signed at the start of a round stays valid for it), of 1 to ${MAX_HASHES_PER_CALL} hashes: SHA-256, MD5 and SHA-1 in turn, half of them found, a quarter upper case. Then GET /healthz (unsigned, no D1) under the same load, one after the other${rounds > 1 ? ", the order alternating by round" : ""}. Percentiles are of each answer's own time (2xx only; other answers are counted as non-2xx). Plugin CPU is its workerd processes' over the load ÷ calls: it includes local D1 and wrangler's dev proxy, so it is an upper bound on the Worker's. The worst verdict p99 ÷ /healthz p99 of the run: ${times(worst)}; non-2xx and errors in all: ${failures}.

${table(rowsOut)}

Targets: 0 non-2xx and 0 errors; verdict p99 ≤ 1.5× /healthz p99 under the same load.`;
    // The cost table prices verdict calls from every round's.
    const all = (f: (l: Load) => number) => results.reduce((n, r) => n + f(r.verdicts), 0);
    return { body, data: { rows, calls: all((l) => l.calls), cpuSeconds: all((l) => l.cpuSeconds), d1RowsRead: all((l) => l.d1RowsRead), d1Queries: all((l) => l.d1Queries), worstP99Ratio: worst, failures } };
  },
};
