/**
 * A slow Cynet: the Node Cynet adds SLOW_LATENCY_MS to every alerts call. The plugin's pace is
 * set beside a sequential peer's (one page of 100 alerts per round trip), and the most requests
 * ever open at once to that one tenant's Cynet, counted by the server, is held to the plugin's
 * own bound on pages in flight (PAGES_READ_AHEAD + 1, src/sync/run.ts).
 */
import { envNumber, int, table, times, type Section } from "./section.ts";
import { log } from "./harness.ts";
import { runBackfill } from "./backfill.ts";
import { pluginInternals } from "./plugin-internals.ts";

/** Latency added to every alerts call: a Cynet a continent away, or a busy one. */
const SLOW_LATENCY_MS = 150;
/** Alerts of the slow backfill: 200 pages, enough for the pace to settle (about 15 s at 150 ms with two pages in flight). */
const DEFAULT_SLOW_ALERTS = 20_000;

export const slowCynetSection: Section = {
  name: "slow-cynet",
  title: "Slow Cynet: 150 ms per alerts call",
  env: ["BENCH_SLOW_ALERTS"],
  async run(ctx) {
    const size = envNumber("BENCH_SLOW_ALERTS", DEFAULT_SLOW_ALERTS);
    const { run: bounds, client } = await pluginInternals();
    const bound = bounds.PAGES_READ_AHEAD + 1;
    const plugin = await ctx.startPlugin("slow-cynet");
    let r;
    try {
      r = await runBackfill(ctx, plugin, { size, label: "slowcynet", tenant: "slow-cynet", latencyMs: SLOW_LATENCY_MS, scans: false, baselines: false });
    } finally {
      await plugin.dispose();
    }
    const sequential = (client.ALERTS_PAGE_LIMIT * 1000) / SLOW_LATENCY_MS;
    const pace = r.size / r.syncedSeconds;
    const maxAlerts = r.cynetStats.maxInFlight.alerts;
    log(`slow Cynet: ${Math.round(pace)} alerts/s, at most ${maxAlerts} alerts calls in flight (bound ${bound})`);
    const row = {
      alerts: int(r.size),
      "added to each alerts call": `${SLOW_LATENCY_MS} ms`,
      "synced: seconds, alerts/s": `${r.syncedSeconds.toFixed(1)} s, ${int(pace)}`,
      "a sequential peer's pace (100 alerts per call)": `${int(sequential)} alerts/s`,
      "plugin ÷ sequential peer": times(pace / sequential),
      "alerts calls": int(r.cynetStats.calls.alerts),
      "most alerts calls in flight at once": maxAlerts,
      "the plugin's bound": `PAGES_READ_AHEAD + 1 = ${bound}`,
      "most calls of any kind in flight (file lookups too)": r.cynetStats.maxInFlight.all,
      within: maxAlerts <= bound ? "yes" : "**no**",
    };
    const body = `The backfill of the section above, for a fresh tenant of ${int(size)} alerts and no scans, with the Node Cynet holding every \`alerts/bulk\` call ${SLOW_LATENCY_MS} ms before answering. A sequential peer reads one page of ${client.ALERTS_PAGE_LIMIT} alerts per call: ${client.ALERTS_PAGE_LIMIT} alerts per ${SLOW_LATENCY_MS} ms. The server counts the requests open at once to this tenant's Cynet (from arrival to the end of its answer), per endpoint and in all; the plugin's bound on them is PAGES_READ_AHEAD + 1 (src/sync/run.ts: the pages it asks for ahead, and the one it waits on). File lookups (\`full/file\`, by scan correlation) have a bound of their own and run beside the pages, so they are shown apart.

${table([row])}

Targets: faster than a sequential peer (above 1.00×); never more alerts calls in flight to one tenant than PAGES_READ_AHEAD + 1 = ${bound}.`;
    return { body, data: { size, pace, sequential, maxAlertsInFlight: maxAlerts, bound, maxInFlight: r.cynetStats.maxInFlight.all } };
  },
};
