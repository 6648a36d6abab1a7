/**
 * The cost table: Cloudflare's published unit prices (./prices.ts) × the units the other
 * sections measured: a tenant-month idle (288 ticks a day × 30 days), 100,000 alerts
 * backfilled, a million verdict calls. Units of a section not run now come from its figures
 * stored in BENCHMARKS.md (the table says so).
 */
import { z } from "zod";
import { BackfillData } from "./backfill.ts";
import { IdleData } from "./idle.ts";
import { D1_STORAGE, PRICES, PRICES_READ_ON, WORKERS_PAID_MONTHLY_DOLLARS } from "./prices.ts";
import { int, table, type Section } from "./section.ts";
import { StorageData } from "./storage.ts";

/** Cron ticks a day at the manifest's schedule (every 5 minutes: wrangler.toml and plugin.manifest.json). */
const TICKS_PER_DAY = 288;
/** Days in the priced month. */
const DAYS_PER_MONTH = 30;
/** The backfill volume priced. */
const ALERTS_PRICED = 100_000;
/** The verdict volume priced. */
const VERDICT_CALLS_PRICED = 1_000_000;

const VerdictLoadData = z.object({ calls: z.number(), cpuSeconds: z.number(), d1RowsRead: z.number() });

interface Units {
  requests: number;
  cpuMs: number;
  d1RowsRead: number;
  d1RowsWritten: number;
  queueOperations: number;
}

const dollars = (u: Units) => (Object.keys(PRICES) as Array<keyof typeof PRICES>).reduce((n, k) => n + (u[k] * PRICES[k].dollarsPerMillion) / 1e6, 0);
const money = (d: number) => (d >= 1 ? `$${d.toFixed(2)}` : d >= 0.01 ? `$${d.toFixed(3)}` : `$${d.toPrecision(2)}`);
const amount = (n: number) => (n === 0 ? "0" : n >= 100 ? int(n) : n.toPrecision(3));

export const costSection: Section = {
  name: "cost",
  title: "Cost at Cloudflare's prices",
  env: [],
  async run(ctx) {
    const idle = IdleData.safeParse(ctx.results.get("idle"));
    const idle10k = IdleData.safeParse(ctx.results.get("tenants-10k"));
    const backfill = BackfillData.safeParse(ctx.results.get("backfill"));
    const verdicts = VerdictLoadData.safeParse(ctx.results.get("verdict-load"));
    const storage = StorageData.safeParse(ctx.results.get("storage"));
    const rows: Array<Record<string, string>> = [];
    const add = (what: string, from: string, u: Units, extra = "") =>
      rows.push({
        what,
        "measured in": from,
        "requests (invocations)": amount(u.requests),
        "CPU ms (upper bound)": amount(u.cpuMs),
        "D1 rows read": amount(u.d1RowsRead),
        "D1 rows written": amount(u.d1RowsWritten),
        "queue operations": amount(u.queueOperations),
        dollars: `${money(dollars(u))}${extra}`,
      });

    const idleSource = idle.success ? { d: idle.data, from: "idle" } : idle10k.success ? { d: idle10k.data, from: "tenants-10k" } : undefined;
    if (idleSource) {
      const t = TICKS_PER_DAY * DAYS_PER_MONTH;
      const u = idleSource.d.units;
      add(`a tenant-month idle (${TICKS_PER_DAY} ticks/day × ${DAYS_PER_MONTH} days)`, `${idleSource.from} (${int(idleSource.d.tenants)} tenants)`, {
        requests: u.invocations * t,
        cpuMs: u.cpuMs * t,
        d1RowsRead: u.d1RowsRead * t,
        d1RowsWritten: u.d1RowsWritten * t,
        queueOperations: u.queueOperations * t,
      });
    }
    if (backfill.success && backfill.data.sizes.length) {
      // The size nearest the volume priced, scaled to it (per-alert cost is flat: see the backfill table).
      const b = [...backfill.data.sizes].sort((x, y) => Math.abs(x.alerts - ALERTS_PRICED) - Math.abs(y.alerts - ALERTS_PRICED))[0]!;
      const k = ALERTS_PRICED / b.alerts;
      const bytesPerDetection = storage.success ? storage.data.bytesPerDetection : b.d1Bytes !== undefined && b.stored ? b.d1Bytes / b.stored : undefined;
      const storageMonth = bytesPerDetection === undefined ? "" : `, then ${money(((b.stored * k * bytesPerDetection) / 1e9) * D1_STORAGE.dollarsPerGbMonth)} a month to keep its ${int(b.stored * k)} detections`;
      add(`${int(ALERTS_PRICED)} alerts backfilled`, `backfill (${int(b.alerts)} alerts, scaled)`, {
        requests: b.invocations * k,
        cpuMs: b.pluginCpuSeconds * 1000 * k,
        d1RowsRead: b.d1RowsRead * k,
        d1RowsWritten: b.d1RowsWritten * k,
        queueOperations: b.queueOperations * k,
      }, storageMonth);
    }
    if (verdicts.success && verdicts.data.calls > 0) {
      const k = VERDICT_CALLS_PRICED / verdicts.data.calls;
      add(`${int(VERDICT_CALLS_PRICED)} verdict calls (1–5 hashes)`, "verdict-load", {
        requests: VERDICT_CALLS_PRICED,
        cpuMs: verdicts.data.cpuSeconds * 1000 * k,
        d1RowsRead: verdicts.data.d1RowsRead * k,
        d1RowsWritten: 0,
        queueOperations: 0,
      });
    }
    const missing = [!idleSource && "idle", !backfill.success && "backfill", !verdicts.success && "verdict-load"].filter(Boolean);
    const prices = [...Object.values(PRICES).map((p) => ({ unit: p.unit, price: `$${p.dollarsPerMillion} per million`, included: p.included, page: p.url })), { unit: D1_STORAGE.unit, price: `$${D1_STORAGE.dollarsPerGbMonth} per GB-month`, included: D1_STORAGE.included, page: D1_STORAGE.url }].map(
      (p) => ({ ...p, read: PRICES_READ_ON }),
    );
    const body = `Measured units × Cloudflare's published Workers Paid prices, at the marginal price past what the plan includes each month (the included amounts and the plan's $${WORKERS_PAID_MONTHLY_DOLLARS} monthly minimum are account-wide, so they are left out of a per-tenant figure). Cron and queue-consumer invocations are priced as Workers requests. CPU is the plugin's workerd processes', which locally include D1, the queues and wrangler's dev proxy: an upper bound on the Worker's billed CPU. D1 rows are the Worker's metering; a row read through a statement whose result carries no \`meta\` is not counted (see Reading the figures), so rows read are a lower bound.${missing.length ? ` Not priced (not measured yet): ${missing.join(", ")}.` : ""}

${rows.length ? table(rows) : "Nothing to price yet: run the other sections first."}

Prices, as published on the pages below, read ${PRICES_READ_ON} (scripts/bench/prices.ts):

${table(prices)}`;
    return { body, data: { rows } };
  },
};
