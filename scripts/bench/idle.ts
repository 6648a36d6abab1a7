/**
 * What an idle tenant costs: N tenants (200 by default) connected through Connect and fully
 * synced, then cron ticks where Cynet has nothing new. Per tenant per idle tick, in the units
 * Cloudflare bills: queue operations, Worker invocations, CPU, D1 rows read and written, D1
 * queries. tickUnits is shared with the 10,000-tenant section.
 */
import { z } from "zod";
import type { FastCynet, FastCynetStats } from "./fast-cynet.ts";
import { cpuSnapshot, cpuSpent, eventMark, eventsSince, log, queueOperations, summarize, waitFor, type BenchEvent, type Plugin } from "./harness.ts";
import { BUNDLES, CLIENT_ID, OPERATOR, WORLD_SEED } from "./backfill.ts";
import { envNumber, int, table, type Section } from "./section.ts";

/** Alerts in an idle tenant's Cynet: a first sync with something to store, then nothing new. */
const IDLE_WORLD_ALERTS = 20;
/** How far before now the idle world's alerts end: past the cursor's 5-minute overlap, so a tick finds nothing to re-read. */
const IDLE_WORLD_AGE_MS = 86_400_000;
/** Connect calls in flight at once while the tenants are connected: quick, and far under the plugin's capacity. */
const CONNECT_CONCURRENCY = 8;
/** Longest connecting and first-syncing the tenants may take. */
const SETTLE_TIMEOUT_MS = 10 * 60_000;
/** Longest the syncs of one tick may take to drain (10,000 tenants, one consumer batch at a time locally). */
export const DRAIN_TIMEOUT_MS = 30 * 60_000;
/** No new event for this long means the queues have gone quiet (every consumer batch logs one): longer than the correlate queue's 3-second batching wait (wrangler.toml). */
const QUIET_MS = 4000;
/** Progress polling interval while waiting. */
const POLL_MS = 250;
/** How often a long drain reports its progress. */
const PROGRESS_LOG_MS = 30_000;
/** How far after now a tick is fired: past the next 5-minute boundary, where every synced tenant is due (sync/schedule.ts nextTick). */
const TICK_AHEAD_MS = 5 * 60_000 + 1000;

/** An idle world's options: a few alerts, all seen a day ago. */
export const idleWorld = () => ({ alertCount: IDLE_WORLD_ALERTS, seed: WORLD_SEED, epoch: new Date(Date.now() - IDLE_WORLD_AGE_MS).toISOString() });

/** Waits until `n` sync consumer invocations have logged since `mark`, then until the queues are quiet. */
export async function drainSyncs(mark: number, n: number, timeoutMs: number, onProgress?: (done: number) => void): Promise<void> {
  const done = () => eventsSince(mark).filter((e) => e.type === "metrics" && e.metric.kind === "queue:cynet-sync").length;
  let lastReport = performance.now();
  await waitFor(
    `${n} sync invocations`,
    () => {
      if (onProgress && performance.now() - lastReport > PROGRESS_LOG_MS) {
        lastReport = performance.now();
        onProgress(done());
      }
      return done() >= n;
    },
    timeoutMs,
    POLL_MS,
  );
  await waitQuiet(mark, timeoutMs);
}

/** Waits until no event has arrived for QUIET_MS (bounded by `timeoutMs`). */
async function waitQuiet(mark: number, timeoutMs: number): Promise<void> {
  let seen = -1;
  let since = performance.now();
  await waitFor(
    "the queues to go quiet",
    () => {
      const now = eventsSince(mark).length;
      if (now !== seen) {
        seen = now;
        since = performance.now();
      }
      return performance.now() - since >= QUIET_MS;
    },
    timeoutMs,
    POLL_MS,
  );
}

/** Idle units per tenant per tick, from the events and CPU of the tick windows. */
export function tickUnits(evts: BenchEvent[], tenantTicks: number, cpuSeconds: number, cynet: { before: FastCynetStats; after: FastCynetStats }) {
  const s = summarize(evts);
  const ops = queueOperations(s.queue);
  const per = (n: number) => n / tenantTicks;
  const cron = s.invocationsOf((k) => k === "cron");
  const consumers = s.invocationsOf((k) => k.startsWith("queue:"));
  return {
    tenantTicks,
    queueWrites: per(ops.writes),
    queueReads: per(ops.reads),
    queueDeletes: per(ops.deletes),
    queueOperations: per(ops.total),
    queueRetries: s.queue.retried,
    cronInvocations: per(cron),
    consumerInvocations: per(consumers),
    invocations: per(cron + consumers + s.invocationsOf((k) => k === "http")),
    cpuMs: per(cpuSeconds * 1000),
    d1RowsRead: per(s.d1RowsRead),
    d1RowsWritten: per(s.d1RowsWritten),
    d1Queries: per(s.d1Queries),
    cynetCalls: per(cynet.after.calls.all - cynet.before.calls.all),
    cynetTokenCalls: per(cynet.after.calls.token - cynet.before.calls.token),
  };
}
export type TickUnits = ReturnType<typeof tickUnits>;

/** A row of the idle table. */
export function unitsRow(what: string, u: TickUnits) {
  return {
    "tenants × ticks": what,
    "queue operations (write + read + delete)": `${u.queueOperations.toFixed(2)} (${u.queueWrites.toFixed(2)} + ${u.queueReads.toFixed(2)} + ${u.queueDeletes.toFixed(2)})`,
    "Worker invocations (cron + queue consumer)": `${u.invocations.toFixed(3)} (${u.cronInvocations.toFixed(4)} + ${u.consumerInvocations.toFixed(3)})`,
    "CPU ms (upper bound)": u.cpuMs.toFixed(2),
    "D1 rows read": u.d1RowsRead.toFixed(2),
    "D1 rows written": u.d1RowsWritten.toFixed(2),
    "D1 queries": u.d1Queries.toFixed(2),
    "Cynet calls (of them token)": `${u.cynetCalls.toFixed(2)} (${u.cynetTokenCalls.toFixed(3)})`,
  };
}

/** The figures the cost table reads. */
export const IdleData = z.object({
  tenants: z.number(),
  ticks: z.number(),
  units: z.object({ invocations: z.number(), cpuMs: z.number(), d1RowsRead: z.number(), d1RowsWritten: z.number(), queueOperations: z.number() }),
});

/** The text shared by the idle tables: what each unit is and how it was counted. */
export const UNITS_TEXT = `Queue operations are counted from miniflare's queue broker, which logs every consumer batch (\`QUEUE <queue> <acked>/<total>\`): a delivered message is one read, an acked one one delete, and, each message being acked once, the acks are also the writes (a retry would add a read; the retries column says how many there were). Worker invocations are the cron's and the queue consumers' metering lines. CPU is the user + system CPU of the plugin's workerd processes over the ticks ÷ tenant-ticks: locally D1 and the queues run in its runtime process too, so it is an upper bound on the Worker's. D1 rows and queries come from the \`invocation metrics\` lines (src/observability/meter.ts). Cynet calls are counted by the Node Cynet.`;

/** Connects `ids` (enablement, then Connect) a few at a time. */
async function connectAll(plugin: Plugin, ids: string[], label: string): Promise<void> {
  const queue = [...ids];
  const worker = async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      const enabled = await plugin.call("PUT", `/v1/tenants/${id}/enablement`, { enabled: true, bundles: BUNDLES });
      if (enabled.status !== 200) throw new Error(`enablement of ${id}: ${enabled.status} ${enabled.text}`);
      const connected = await plugin.call("POST", `/v1/tenants/${id}/activation`, { orgUrl: `https://${label}.api.cynet.com`, clientId: CLIENT_ID, ...OPERATOR });
      if (connected.status !== 200) throw new Error(`Connect of ${id}: ${connected.status} ${connected.text}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
}

/** Fires `ticks` idle cron ticks, each drained before the next; returns the units per tenant-tick. */
export async function idleTicks(plugin: Plugin, cynet: FastCynet, label: string, tenants: number, ticks: number): Promise<TickUnits> {
  const evts: BenchEvent[] = [];
  let cpu = 0;
  const cynetBefore = await cynet.stats(label);
  for (let k = 1; k <= ticks; k++) {
    const mark = eventMark();
    const before = cpuSnapshot(plugin.pids());
    await plugin.cronTick(new Date(Date.now() + TICK_AHEAD_MS));
    await drainSyncs(mark, tenants, DRAIN_TIMEOUT_MS);
    cpu += cpuSpent(before, cpuSnapshot(plugin.pids()));
    for (const e of eventsSince(mark)) evts.push(e);
    log(`idle tick ${k}/${ticks}: ${tenants} tenants synced`);
  }
  return tickUnits(evts, tenants * ticks, cpu, { before: cynetBefore, after: await cynet.stats(label) });
}

export const idleSection: Section = {
  name: "idle",
  title: "Idle cost: one idle cron tick per tenant",
  env: ["BENCH_IDLE_TENANTS", "BENCH_IDLE_TICKS"],
  async run(ctx) {
    const tenants = envNumber("BENCH_IDLE_TENANTS", 200);
    const ticks = Math.max(1, envNumber("BENCH_IDLE_TICKS", 3));
    const label = "idle";
    await ctx.cynet.putWorld(label, idleWorld());
    const plugin = await ctx.startPlugin("idle");
    let units: TickUnits;
    try {
      const ids = Array.from({ length: tenants }, (_, i) => `idle-${i}`);
      const mark = eventMark();
      await connectAll(plugin, ids, label);
      // Connect enqueues each tenant's first sync; it is done once every tenant has a cursor and nothing is left to deliver.
      const db = plugin.openD1();
      const synced = db.prepare("SELECT count(*) AS n FROM sync_state WHERE tenant_id LIKE 'idle-%' AND cursor IS NOT NULL AND run_id IS NULL AND lease_id IS NULL");
      const pending = db.prepare("SELECT count(*) AS n FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?");
      await waitFor("the idle tenants' first syncs", () => (synced.get() as { n: number }).n === tenants && (pending.get(Date.now()) as { n: number }).n === 0, SETTLE_TIMEOUT_MS, POLL_MS);
      db.close();
      await drainSyncs(mark, tenants, SETTLE_TIMEOUT_MS);
      log(`${tenants} tenants connected and synced`);
      units = await idleTicks(plugin, ctx.cynet, label, tenants, ticks);
    } finally {
      await plugin.dispose();
      await ctx.cynet.deleteWorld(label);
    }
    const body = `${int(tenants)} tenants connected through Connect (enablement, then activation) to one Node Cynet organization of ${IDLE_WORLD_ALERTS} alerts, all seen a day ago, and fully synced (every first sync done, every delivery made). Then ${ticks} cron ticks through wrangler dev's scheduled handler, each fired as if at the next 5-minute boundary (so every tenant is due) and drained before the next: every sync finds nothing new. Figures are per tenant per idle tick.

${UNITS_TEXT}

${table([unitsRow(`${int(tenants)} × ${ticks}`, units)])}

Target: ≤ 2 D1 rows written per tenant per idle tick.`;
    return { body, data: { tenants, ticks, units } satisfies z.infer<typeof IdleData> };
  },
};
