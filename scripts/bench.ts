/**
 * `npm run bench`: the channel's scale and cost, measured locally (the plugin in workerd via
 * wrangler, D1 and Queues from miniflare, the dev host, a Node Cynet), written to BENCHMARKS.md.
 * This file is the driver; each section is a module under scripts/bench/ (see ./bench/sections.ts):
 *
 *   backfill      10k → 100k → 1M alerts against a Node Cynet, beside the Node-to-Node floor
 *   slow-cynet    150 ms per alerts call: pace against a sequential peer, requests in flight
 *   verdicts      1000 hashes over 1M stored detections, the Worker beside raw SQLite
 *   verdict-load  autocannon: 1–5-hash verdicts and /healthz at 50 connections
 *   idle          one idle cron tick per tenant, in the units Cloudflare bills
 *   tenants-10k   10,000 seeded tenants, one cron tick: fan-out and drain
 *   storage       bytes per stored detection (dbstat), detections per 10 GB
 *   cost          Cloudflare's published prices × the units measured above
 *
 * `BENCH_ONLY=<section>[,<section>…] npm run bench` runs only those; the other tables in
 * BENCHMARKS.md are kept as they were. Other knobs: BENCH_SIZES (backfill), BENCH_VERDICT_ROWS,
 * BENCH_VERBOSE=1 (the Worker's output too), and each section's own (see its module).
 */
// First: lets the section modules (imported below, after it) load dev/ and src/ TypeScript.
import "./lib/ts-hooks.ts";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root } from "./lib/stack.ts";
import { startFastCynet } from "./bench/fast-cynet.ts";
import { disposeRunningPlugin, log, printReport, startDevHost, startPlugin, VERBOSE, type Plugin } from "./bench/harness.ts";
import { assemble, blockData, makeBlock, readBlocks } from "./bench/report.ts";
import type { BenchContext, VerdictStore } from "./bench/section.ts";

const { SECTIONS, VERDICT_STORE_USERS, openVerdictStore, footer } = await import("./bench/sections.ts");
const { pluginInternals } = await import("./bench/plugin-internals.ts");

const reportPath = join(root, "BENCHMARKS.md");
const only = process.env.BENCH_ONLY?.split(",").map((s) => s.trim()).filter(Boolean);
const unknown = only?.filter((name) => !SECTIONS.some((s) => s.name === name)) ?? [];
if (unknown.length) {
  console.log(`bench: no section ${unknown.join(", ")}; the sections are ${SECTIONS.map((s) => s.name).join(", ")}`);
  process.exit(2);
}
const selected = SECTIONS.filter((s) => !only || only.includes(s.name));

const state = mkdtempSync(join(tmpdir(), "cynet-bench-"));
const cynet = await startFastCynet(VERBOSE);
const host = await startDevHost(state);
const blocks = readBlocks(reportPath);
let store: VerdictStore | undefined;
const ctx: BenchContext = {
  host,
  cynet,
  state,
  startPlugin: (name) => startPlugin(name, host, cynet.url),
  verdictStore: async () => (store ??= await openVerdictStore((name: string): Promise<Plugin> => startPlugin(name, host, cynet.url))),
  releaseVerdictStore: async () => {
    await store?.plugin.dispose();
    store = undefined;
  },
  // Figures of sections not run now, from BENCHMARKS.md, so the cost table can still be priced.
  results: new Map([...blocks].map(([name, block]) => [name, blockData(block)])),
};

const duration = (ms: number) => (ms < 90_000 ? `${Math.round(ms / 1000)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`);
const today = new Date().toISOString().slice(0, 10);
const failures: string[] = [];
try {
  for (const [i, section] of selected.entries()) {
    log(`${section.name}: starting`);
    const t0 = performance.now();
    try {
      const { body, data } = await section.run(ctx);
      ctx.results.set(section.name, data);
      const knobs = section.env.filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]} `).join("");
      const took = duration(performance.now() - t0);
      const markdown = `## ${section.title}\n\nReproduce: \`npm run bench\` (or \`BENCH_ONLY=${section.name} ${knobs}npm run bench\`). Measured ${today}; the section took ${took}.\n\n${body}`;
      blocks.set(section.name, makeBlock(section.name, markdown, data));
      log(`${section.name}: done in ${took}`);
    } catch (err) {
      // The other sections still run and their tables are still written; the run exits non-zero.
      failures.push(section.name);
      printReport(`bench: ${section.name} FAILED ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      await disposeRunningPlugin();
    }
    if (!selected.slice(i + 1).some((s) => VERDICT_STORE_USERS.has(s.name))) await ctx.releaseVerdictStore();
  }
  const cpuInfo = readFileSync("/proc/cpuinfo", "utf8");
  const header = `# Benchmarks

Every table here is written by \`npm run bench\` (scripts/bench.ts, a driver over one module per section in scripts/bench/). \`BENCH_ONLY=<section>[,<section>…] npm run bench\` measures only those sections and keeps the other tables as they were; each table says when it was measured. Sections: ${SECTIONS.map((s) => `\`${s.name}\``).join(", ")}. Last run ${today} on ${cpuInfo.match(/model name\s*:\s*(.+)/)?.[1] ?? "an unknown CPU"}, ${(cpuInfo.match(/^processor/gm) ?? []).length} cores, Node ${process.version}; everything local: the plugin and the dev host in workerd via wrangler, D1 and Queues from miniflare in the plugin's workerd, Cynet a Node HTTP server. Figures are compared as ratios measured in one run.`;
  const report = assemble(header, SECTIONS, blocks, footer(await pluginInternals()));
  writeFileSync(reportPath, report);
  printReport(`\n${report}`);
  if (failures.length) printReport(`bench: FAILED sections: ${failures.join(", ")} (their tables were left as they were)\n`);
} finally {
  await ctx.releaseVerdictStore().catch(() => undefined);
  await disposeRunningPlugin();
  await host.dispose().catch(() => undefined);
  cynet.stop();
  rmSync(state, { recursive: true, force: true });
}
// stdout may be a pipe: let the report leave before the process does.
await new Promise<void>((done) => printReport("", () => done()));
process.exit(failures.length ? 1 : 0);
