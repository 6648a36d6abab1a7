/**
 * 10,000 tenants: seeded straight into the plugin's D1 file as connected and fully synced (their
 * rows, sync state due now, sealed password and cached token; scripts/bench/seed.ts), all at one
 * Node Cynet organization with nothing new. One cron tick fans out their syncs; the section
 * reports the fan-out, the queue sends, the most any invocation used, how long the 10,000 idle
 * syncs took to drain, and the idle units per tenant of that tick.
 */
import { z } from "zod";
import { CLIENT_ID, OPERATOR } from "./backfill.ts";
import { cpuSnapshot, cpuSpent, eventMark, eventsSince, json, log, summarize } from "./harness.ts";
import { DRAIN_TIMEOUT_MS, drainSyncs, idleWorld, tickUnits, UNITS_TEXT, unitsRow } from "./idle.ts";
import { pluginInternals } from "./plugin-internals.ts";
import { envNumber, int, table, type Section } from "./section.ts";
import { seedTenants } from "./seed.ts";

/** The look-back a seeded tenant keeps (plugin.manifest.json sync.initialLookbackDays); unused once it has a cursor. */
const LOOKBACK_DAYS = 30;
/** Where a seeded tenant's cursor stands: as a finished sync leaves it, SyncTimeUtc less the 5-minute overlap (sync/run.ts CURSOR_OVERLAP_MS). */
const CURSOR_AGE_MS = 5 * 60_000;
/** How long ago a seeded tenant fell due: it is due at the tick. */
const DUE_AGO_MS = 60_000;

export const tenants10kSection: Section = {
  name: "tenants-10k",
  title: "10,000 tenants: one cron tick",
  env: ["BENCH_TENANTS"],
  async run(ctx) {
    const count = envNumber("BENCH_TENANTS", 10_000);
    const { scheduled, queueLimits } = await pluginInternals();
    const label = "idle10k";
    await ctx.cynet.putWorld(label, idleWorld());
    const plugin = await ctx.startPlugin("tenants-10k");
    let result;
    try {
      // One token for the organization, cached (sealed) for every tenant as a recent sync would have left it.
      const headers = { "x-forwarded-host": `${label}.api.cynet.com`, "content-type": "application/json" };
      const token = z.object({ access_token: z.string() }).parse(await json(`${ctx.cynet.url}/api/account/token`, { method: "POST", headers, body: JSON.stringify({ user_name: OPERATOR.username, password: OPERATOR.password }) })).access_token;
      const now = new Date();
      const ids = Array.from({ length: count }, (_, i) => `t10k-${String(i).padStart(5, "0")}`);
      const db = plugin.openD1(true);
      const t0 = performance.now();
      await seedTenants(db, {
        ids,
        orgUrl: `https://${label}.api.cynet.com`,
        clientId: CLIENT_ID,
        username: OPERATOR.username,
        password: OPERATOR.password,
        accessToken: token,
        credentialsKey: plugin.credentialsKey,
        cursor: new Date(now.getTime() - CURSOR_AGE_MS),
        nextRunAt: new Date(now.getTime() - DUE_AGO_MS),
        lookbackDays: LOOKBACK_DAYS,
      });
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      db.close();
      log(`seeded ${int(count)} tenants in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

      const cynetBefore = await ctx.cynet.stats(label);
      const mark = eventMark();
      const before = cpuSnapshot(plugin.pids());
      const tickAt = Date.now();
      await plugin.cronTick(new Date());
      await drainSyncs(mark, count, DRAIN_TIMEOUT_MS, (done) => log(`tenants-10k: ${int(done)} of ${int(count)} syncs done`));
      const evts = eventsSince(mark);
      const lastSync = evts.filter((e) => e.type === "metrics" && e.metric.kind === "queue:cynet-sync").at(-1)!.at;
      const cpuSeconds = cpuSpent(before, cpuSnapshot(plugin.pids()));
      const s = summarize(evts);
      const isCron = (k: string) => k === "cron";
      const isSync = (k: string) => k === "queue:cynet-sync";
      result = {
        count,
        fanOutMs: Math.max(0, ...s.wallMsOf(isCron)),
        enqueued: s.syncsEnqueued,
        sendBatchCalls: s.queueSendCalls(isCron),
        cronD1Queries: s.maxOf((m) => m.d1Queries, isCron),
        cronSubrequests: s.maxOf((m) => m.subrequests, isCron),
        syncD1Queries: s.maxOf((m) => m.d1Queries, isSync),
        syncSubrequests: s.maxOf((m) => m.subrequests, isSync),
        syncInvocations: s.invocationsOf(isSync),
        otherInvocations: s.invocationsOf((k) => !isSync(k) && !isCron(k)),
        drainSeconds: (lastSync - tickAt) / 1000,
        units: tickUnits(evts, count, cpuSeconds, { before: cynetBefore, after: await ctx.cynet.stats(label) }),
      };
    } finally {
      await plugin.dispose();
      await ctx.cynet.deleteWorld(label);
    }
    const r = result;
    const row = {
      tenants: int(r.count),
      "fan-out: the cron invocation's ms": int(r.fanOutMs),
      "messages enqueued": int(r.enqueued),
      "queue sendBatch calls (cron)": r.sendBatchCalls,
      "most D1 queries / subrequests: cron": `${r.cronD1Queries} / ${r.cronSubrequests}`,
      "most D1 queries / subrequests: one sync consumer": `${r.syncD1Queries} / ${r.syncSubrequests}`,
      "sync invocations (other invocations)": `${int(r.syncInvocations)} (${r.otherInvocations})`,
      "all idle syncs drained: seconds from the tick": r.drainSeconds.toFixed(1),
    };
    const body = `${int(r.count)} active tenants written straight into the plugin's local D1 file from Node (tenants, sync_state with a cursor and next_run_at due, and their password and a cached access token sealed as src/storage/secrets.ts seals them, with the plugin's CREDENTIALS_KEY), all at one Node Cynet organization whose alerts are a day old. One cron tick (wrangler dev's scheduled handler) fans out their syncs: at most MAX_TENANTS_PER_TICK = ${int(scheduled.MAX_TENANTS_PER_TICK)} a tick (src/sync/scheduled.ts) in sendBatch calls of QUEUE_SEND_BATCH_MAX = ${queueLimits.QUEUE_SEND_BATCH_MAX} messages. The fan-out time is the cron invocation's own (its metering line). Locally the sync queue runs one consumer invocation at a time (max_batch_size = 1, one batch in flight), so the drain time is 10,000 syncs one after the other; on Cloudflare consumers run concurrently.

${table([row])}

Idle units of this tick (${UNITS_TEXT.charAt(0).toLowerCase()}${UNITS_TEXT.slice(1)})

${table([unitsRow(`${int(r.count)} × 1`, r.units)])}

Targets: every due tenant enqueued in one tick, in ⌈tenants ÷ ${queueLimits.QUEUE_SEND_BATCH_MAX}⌉ sendBatch calls; no invocation above 500 D1 queries or 500 subrequests; ≤ 2 D1 rows written per tenant per idle tick.`;
    return { body, data: { tenants: r.count, ticks: 1, units: r.units, fanOutMs: r.fanOutMs, drainSeconds: r.drainSeconds } };
  },
};
