/**
 * What every bench section shares: the plugin's log lines read as events (its per-invocation
 * metering, the cron tick, miniflare's queue deliveries), the processes' CPU and memory from
 * /proc, the dev host, and a plugin Worker on a fresh local state (its own D1 file and queues).
 *
 * Only loopback: the plugin, the dev host and the Node Cynet listen on 127.0.0.1, and the
 * plugin's CYNET_ORIGIN_OVERRIDE sends every Cynet call to the Node Cynet.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { unstable_startWorker } from "wrangler";
import { z } from "zod";
import { callPlugin, type PluginAnswer } from "../lib/signed.ts";
import { migrateLocalD1, pluginD1File, root } from "../lib/stack.ts";
import { startStandin } from "../standins.ts";

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux: `getconf CLK_TCK`). */
const CLOCK_TICKS_PER_SECOND = 100;
/** Events kept at most: far above a run's (a 10,000-tenant tick is ~30,000); past it the oldest go, so memory stays bounded. */
const MAX_EVENTS_KEPT = 2_000_000;
/** Parents walked up from a process to find the bench among its ancestors: far deeper than wrangler's tree (bench → workerd). */
const MAX_ANCESTRY_DEPTH = 64;
/**
 * workerd processes wrangler runs per Worker: one at once, a second about half a second after
 * the Worker is ready (its runtime and its dev proxy). Both are counted to the Worker they serve.
 */
const WORKERD_PER_WORKER = 2;
/** Longest to wait for a Worker's processes to be there after it is ready. */
const WORKER_PROCESSES_TIMEOUT_MS = 10_000;
/** How long a D1 read from Node waits for the Worker's write lock. */
const D1_BUSY_TIMEOUT_MS = 10_000;

export const VERBOSE = !!process.env.BENCH_VERBOSE;
/** stdout as it was before the filter below: the report is printed whole. */
export const printReport = process.stdout.write.bind(process.stdout);
export const log = (...parts: unknown[]) => console.log("bench:", ...parts);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the plugin's log lines, as events

/** One invocation's cost, as src/observability/meter.ts logs it. */
export const MetricSchema = z.object({
  kind: z.string(),
  d1Queries: z.number(),
  d1RowsWritten: z.number(),
  d1RowsRead: z.number(),
  subrequests: z.number(),
  cynetCalls: z.number(),
  hostCalls: z.number(),
  wallMs: z.number(),
});
export type Metric = z.infer<typeof MetricSchema>;
const CronTickSchema = z.object({ msg: z.literal("cron tick"), syncsEnqueued: z.number().nullable(), outboxSwept: z.number().nullable() });

export type BenchEvent =
  | { type: "metrics"; at: number; metric: Metric }
  | { type: "cron"; at: number; syncsEnqueued: number; outboxSwept: number }
  /** One consumer batch as miniflare's queue broker logs it: `QUEUE <queue> <acked>/<total> (<ms>ms)`. */
  | { type: "queue"; at: number; queue: string; acked: number; total: number };

/** Every event since the process started (bounded by MAX_EVENTS_KEPT); read a section's with `eventsSince(mark)`. */
const events: BenchEvent[] = [];
let dropped = 0;
/** A position in the event log: what happens after it is `eventsSince(mark)`. */
export const eventMark = () => dropped + events.length;
export const eventsSince = (mark: number) => events.slice(Math.max(0, mark - dropped));

const ANSI = /\u001b\[[0-9;]*m/g;
const QUEUE_LINE = /\bQUEUE (\S+) (\d+)\/(\d+)/;

function record(event: BenchEvent) {
  events.push(event);
  if (events.length > MAX_EVENTS_KEPT) {
    events.shift();
    dropped += 1;
  }
}

/** Reads one output line; true when it was a measurement (kept out of the console). */
function take(line: string): boolean {
  const clean = line.replace(ANSI, "");
  const brace = clean.indexOf('{"level":"info","msg":"');
  if (brace >= 0) {
    let value: unknown;
    try {
      value = JSON.parse(clean.slice(brace).trim());
    } catch {
      // A line cut in two by the pipe: the rest of the run still counts.
      return false;
    }
    const metric = MetricSchema.safeParse(value);
    if (metric.success && clean.includes('"msg":"invocation metrics"')) {
      record({ type: "metrics", at: Date.now(), metric: metric.data });
      return true;
    }
    const cron = CronTickSchema.safeParse(value);
    if (cron.success) {
      record({ type: "cron", at: Date.now(), syncsEnqueued: cron.data.syncsEnqueued ?? 0, outboxSwept: cron.data.outboxSwept ?? 0 });
      return true;
    }
    return false;
  }
  const queue = QUEUE_LINE.exec(clean);
  if (queue) {
    record({ type: "queue", at: Date.now(), queue: queue[1]!, acked: Number(queue[2]), total: Number(queue[3]) });
    return true;
  }
  return false;
}

for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
  let partial = "";
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const lines = (partial + (typeof chunk === "string" ? chunk : Buffer.from(chunk).toString())).split("\n");
    partial = lines.pop() ?? "";
    let passthrough = "";
    for (const line of lines) {
      const measured = take(line);
      if (VERBOSE ? !measured || process.env.BENCH_VERBOSE === "all" : line.startsWith("bench")) passthrough += `${line}\n`;
    }
    return passthrough ? write(passthrough, ...rest) : true;
  }) as typeof stream.write;
}

/** What a set of events adds up to, in the units the sections report. */
export function summarize(evts: BenchEvent[]) {
  const metrics = evts.flatMap((e) => (e.type === "metrics" ? [e.metric] : []));
  const queue = evts.flatMap((e) => (e.type === "queue" ? [e] : []));
  const sum = (f: (m: Metric) => number, of = metrics) => of.reduce((n, m) => n + f(m), 0);
  const byKind = (kinds: (kind: string) => boolean) => metrics.filter((m) => kinds(m.kind));
  const max = (f: (m: Metric) => number, of = metrics) => of.reduce((n, m) => Math.max(n, f(m)), 0);
  return {
    metrics,
    invocations: metrics.length,
    invocationsOf: (kinds: (kind: string) => boolean) => byKind(kinds).length,
    d1Queries: sum((m) => m.d1Queries),
    d1RowsWritten: sum((m) => m.d1RowsWritten),
    d1RowsRead: sum((m) => m.d1RowsRead),
    hostCalls: sum((m) => m.hostCalls),
    cynetCalls: sum((m) => m.cynetCalls),
    /** Queue send and sendBatch calls: the subrequests that are neither Cynet nor the host (src/observability/meter.ts). */
    queueSendCalls: (kinds: (kind: string) => boolean = () => true) => sum((m) => m.subrequests - m.cynetCalls - m.hostCalls, byKind(kinds)),
    maxOf: (f: (m: Metric) => number, kinds: (kind: string) => boolean = () => true) => max(f, byKind(kinds)),
    wallMsOf: (kinds: (kind: string) => boolean) => byKind(kinds).map((m) => m.wallMs),
    /** Deliveries to consumers (Cloudflare's reads), acks (its deletes) and redeliveries after a retry. */
    queue: {
      batches: queue.length,
      reads: queue.reduce((n, q) => n + q.total, 0),
      deletes: queue.reduce((n, q) => n + q.acked, 0),
      retried: queue.reduce((n, q) => n + q.total - q.acked, 0),
    },
    syncsEnqueued: evts.reduce((n, e) => n + (e.type === "cron" ? e.syncsEnqueued : 0), 0),
  };
}

/**
 * Queue operations as Cloudflare bills them (queues/platform/pricing): one write, one read and
 * one delete per message under 64 KB, and one more read per retry. Writes are the messages the
 * consumers acked: each message sent in a drained window is acked once (a retried one is read
 * again, not written again), so this holds when nothing was dead-lettered.
 */
export function queueOperations(q: ReturnType<typeof summarize>["queue"]) {
  return { writes: q.deletes, reads: q.reads, deletes: q.deletes, total: q.deletes + q.reads + q.deletes };
}

// ---------------------------------------------------------------- processes (/proc)

function stat(pid: number): { comm: string; ppid: number; cpuTicks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { comm: text.slice(text.indexOf("(") + 1, text.lastIndexOf(")")), ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/**
 * The workerd processes this bench started (wrangler starts one per Worker, as a child of this
 * process): found by ancestry, so workerd processes of anything else on the machine never count.
 */
export function benchWorkerds(): number[] {
  const procs = new Map<number, { comm: string; ppid: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (s) procs.set(Number(entry), s);
  }
  const isOurs = (pid: number): boolean => {
    for (let p = procs.get(pid)?.ppid, hops = 0; p !== undefined && p > 1 && hops < MAX_ANCESTRY_DEPTH; p = procs.get(p)?.ppid, hops++) if (p === process.pid) return true;
    return false;
  };
  return [...procs].filter(([pid, p]) => p.comm === "workerd" && isOurs(pid)).map(([pid]) => pid);
}

/** The bench's workerd processes that were not there `before`, once a Worker's WORKERD_PER_WORKER are up (or the wait ran out). */
export async function newWorkerds(before: Set<number>): Promise<number[]> {
  const fresh = () => benchWorkerds().filter((p) => !before.has(p));
  const deadline = performance.now() + WORKER_PROCESSES_TIMEOUT_MS;
  while (fresh().length < WORKERD_PER_WORKER && performance.now() < deadline) await sleep(100);
  return fresh();
}

/** CPU seconds (user + system, all threads) a process has used so far; 0 once it is gone. */
export const cpuSecondsOf = (pid: number) => (stat(pid)?.cpuTicks ?? 0) / CLOCK_TICKS_PER_SECOND;

/** Per pid, so a process that appears between two snapshots counts from zero. */
export type CpuSnapshot = Map<number, number>;
export const cpuSnapshot = (pids: number[]): CpuSnapshot => new Map(pids.map((p) => [p, cpuSecondsOf(p)]));
export const cpuSpent = (from: CpuSnapshot, to: CpuSnapshot) => [...to].reduce((total, [pid, seconds]) => total + seconds - (from.get(pid) ?? 0), 0);

/** Resets a process's peak RSS (VmHWM) to its current RSS (Linux: `5` into /proc/<pid>/clear_refs); false when not allowed. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** A process's memory in MB: its resident set now (VmRSS) or at most since start or the last reset (VmHWM). */
export function memoryMb(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------- HTTP helpers

export async function json(url: string, init?: RequestInit): Promise<Record<string, unknown>> {
  const r = await fetch(url, init);
  const text = await r.text();
  if (!r.ok) throw new Error(`${init?.method ?? "GET"} ${url} → ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Polls `probe` every `everyMs` until it is true; throws `what` after `timeoutMs`. */
export async function waitFor(what: string, probe: () => boolean | Promise<boolean>, timeoutMs: number, everyMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await probe())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------- the dev host

export interface DevHost {
  url: string;
  pids: number[];
  dispose(): Promise<void>;
  /** How many records of a kind the host received for a tenant (counts only: `?limit=0`). */
  received(tenant: string, what: "events" | "ir-requests" | "notes"): Promise<number>;
  seedScans(tenant: string, scans: Array<{ scanId: string; fileName: string; scannedAt: string; sha256: string }>): Promise<void>;
}

export async function startDevHost(state: string): Promise<DevHost> {
  const before = new Set(benchWorkerds());
  const host = await startStandin("dev/host/wrangler.toml", 0, join(state, "dev-host"));
  // All of its processes, or the late one would be counted to the plugin.
  const pids = await newWorkerds(before);
  const url = host.standin.url;
  const total = z.object({ total: z.number() });
  return {
    url,
    pids,
    dispose: () => host.worker.dispose(),
    received: async (tenant, what) => total.parse(await json(`${url}/__host/tenants/${tenant}/${what}?limit=0`)).total,
    seedScans: async (tenant, scans) => void (await json(`${url}/__host/tenants/${tenant}/scans`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ scans }) })),
  };
}

// ---------------------------------------------------------------- the plugin, on a fresh state

export interface Plugin {
  url: string;
  /** The local state folder (wrangler's persist-to): its D1 file, its queues. */
  state: string;
  /** The HOST_SIGNING_SECRET the plugin verifies calls with. */
  secret: string;
  /** The CREDENTIALS_KEY it seals Cynet secrets with (the bench seals seeded tenants' secrets with it). */
  credentialsKey: string;
  /** The plugin's workerd processes: its runtime (the Worker, and locally D1 and the queues too) and wrangler's dev proxy in front of it. */
  pids(): number[];
  /** A signed call (scripts/lib/signed.ts); one retry when a kept-alive socket was closed under it. */
  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<PluginAnswer<T>>;
  /** The plugin's D1 file, opened from Node (read-only unless `write`). */
  openD1(write?: boolean): DatabaseSync;
  /** Fires the cron (wrangler dev's scheduled handler) as if it ran at `at`. */
  cronTick(at: Date): Promise<void>;
  dispose(): Promise<void>;
}

process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
process.env.WRANGLER_SEND_METRICS = "false";
// wrangler's local trace collector (a development aid: it records every span of every
// invocation to disk, on the thread the Worker runs on) is off, so the figures are the Worker's
// own work. Set X_LOCAL_OBSERVABILITY=true to measure with it.
process.env.X_LOCAL_OBSERVABILITY ??= "false";

let running: Plugin | undefined;

/**
 * Starts the plugin Worker on a fresh, migrated local state, pointed at the dev host and at
 * `cynetUrl` for every Cynet call. One at a time, so its processes are the bench's workerd
 * processes that are not the dev host's (whose both processes are known by then).
 */
export async function startPlugin(name: string, host: DevHost, cynetUrl: string): Promise<Plugin> {
  if (running) throw new Error("one plugin at a time: dispose the previous one first");
  const state = mkdtempSync(join(tmpdir(), `cynet-bench-${name}-`));
  const migrate = migrateLocalD1(state, false);
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}`);
  const secret = randomBytes(24).toString("hex");
  const credentialsKey = randomBytes(32).toString("base64");
  const worker = await unstable_startWorker({
    config: join(root, "wrangler.toml"),
    bindings: {
      HOST_API_URL: { type: "plain_text", value: host.url },
      CYNET_ORIGIN_OVERRIDE: { type: "plain_text", value: cynetUrl },
      HOST_API_TOKEN: { type: "plain_text", value: "dev-host-token" },
      HOST_SIGNING_SECRET: { type: "plain_text", value: secret },
      CREDENTIALS_KEY: { type: "plain_text", value: credentialsKey },
    },
    dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, logLevel: "log", persist: state, watch: false },
  } as Parameters<typeof unstable_startWorker>[0]);
  await worker.ready;
  const url = (await worker.url).origin;
  const before = new Set(host.pids);
  await newWorkerds(before);
  const hostPids = before;
  const plugin: Plugin = {
    url,
    state,
    secret,
    credentialsKey,
    pids: () => benchWorkerds().filter((p) => !hostPids.has(p)),
    call: async (method, path, body) => {
      try {
        return await callPlugin(url, secret, method, path, body);
      } catch {
        return callPlugin(url, secret, method, path, body);
      }
    },
    openD1: (write = false) => {
      const db = new DatabaseSync(pluginD1File(state), { readOnly: !write });
      db.exec(`PRAGMA busy_timeout = ${D1_BUSY_TIMEOUT_MS}`);
      return db;
    },
    cronTick: async (at) => {
      // wrangler dev serves the scheduled handler here (miniflare's trigger handlers); `time` is in ms.
      const r = await fetch(`${url}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent("*/5 * * * *")}&time=${at.getTime()}`);
      const text = await r.text();
      if (!r.ok) throw new Error(`cron tick → ${r.status} ${text.slice(0, 200)}`);
    },
    dispose: async () => {
      running = undefined;
      await worker.dispose();
      // The local state (a million-row D1 file among it) is only the benchmark's.
      rmSync(state, { recursive: true, force: true });
    },
  };
  running = plugin;
  return plugin;
}

/** Disposes the plugin a failed section left running, if any. */
export async function disposeRunningPlugin(): Promise<void> {
  await running?.dispose().catch(() => undefined);
}
