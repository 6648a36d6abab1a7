/** The bench's sections, in the order they run and appear in BENCHMARKS.md, and the prose under them. */
import { backfillSection } from "./backfill.ts";
import { costSection } from "./cost.ts";
import { idleSection } from "./idle.ts";
import type { PluginInternals } from "./plugin-internals.ts";
import type { Section } from "./section.ts";
import { slowCynetSection } from "./slow-cynet.ts";
import { storageSection } from "./storage.ts";
import { tenants10kSection } from "./tenants-10k.ts";
import { verdictLoadSection } from "./verdict-load.ts";
import { verdictsSection } from "./verdicts.ts";

export { openVerdictStore } from "./verdicts.ts";

export const SECTIONS: Section[] = [backfillSection, slowCynetSection, verdictsSection, verdictLoadSection, idleSection, tenants10kSection, storageSection, costSection];

/** Sections that read the verdict store: it is seeded once and kept while one of them is still to run. */
export const VERDICT_STORE_USERS = new Set(["verdicts", "verdict-load"]);

/** "Reading the figures", with the plugin's bounds read from its modules, so the prose follows the code. */
export function footer(p: PluginInternals): string {
  return `## Reading the figures

- Locally everything shares two cores: the plugin's two workerd processes (its runtime, which
  runs the Worker and miniflare's D1 and queues, and wrangler's dev proxy), the dev host's two,
  the Node Cynet and the bench itself, besides whatever else the machine runs. Absolute figures
  move from run to run; compare the ratios a table gives within one run (floor, sizes, verdict
  ÷ /healthz).
- Cynet here is a plain Node HTTP server serving the simulator's world (the same generator, the
  same paging and refusals), so the backfill's figures are the plugin's: the workerd simulator
  and wrangler's dev proxy in front of it are gone. The Node-to-Node floor is one sequential loop
  (a page, then the next); the plugin asks up to PAGES_READ_AHEAD = ${p.run.PAGES_READ_AHEAD} pages ahead, so it is
  not bounded by that loop but by its own runtime process, where the Worker, D1 and the queues
  take turns, and by the dev host taking the events on the same two cores.
- Plugin CPU per alert, and CPU per idle tick or per verdict call, is the plugin's workerd
  processes': the Worker, local D1 and the queues, and wrangler's dev proxy for HTTP calls. On
  Cloudflare D1 and the queues run elsewhere and are billed in their own units, so these are
  upper bounds on the Worker's billed CPU.
- Cost is linear in alerts: D1 queries, rows written and host calls per alert, and the most any
  one invocation used, stay level from the smallest size to the largest; invocations grow with
  the backlog (MAX_PAGES_PER_INVOCATION = ${p.run.MAX_PAGES_PER_INVOCATION} pages an invocation, then a continuation message),
  and the run's position survives each of them. D1 queries per alert fall with size because a
  run's fixed queries are shared by more alerts.
- A page batch is PAGES_PER_BATCH = ${p.run.PAGES_PER_BATCH} pages stored in one D1 batch (outbox rows, detections,
  run totals, cursor or offset) while the next pages are read. Each page after a window's first
  is asked from the last alert already read, so that a page that does not start with it shows
  that alerts moved: a page of 100 brings 99 new alerts, 1% more reads.
- Peak RSS is the plugin's whole runtime process: the Worker's isolate, miniflare's D1 and queue
  objects, and whatever V8 has not collected yet. A peak that grows with the backlog is not by
  itself memory the plugin keeps; the bench does not tell the two apart.
- D1 rows written per alert stay under 3: a stored detection writes its row, its primary-key
  index and the verdict index (3 rows), and about 60% of the simulator's alerts are malicious files.
- Events travel on the dispatch queue with no batching wait; scan matching has its own correlate
  queue with a batching wait (wrangler.toml), so events never wait behind Cynet file lookups;
  "with matching" on a small backfill is mostly that wait. File lookups past
  MAX_FILE_LOOKUPS_PER_CORRELATION = ${p.correlate.MAX_FILE_LOOKUPS_PER_CORRELATION} are deferred to later ticks ("deferred lookup rows").
  Locally each queue runs one consumer batch at a time, where Cloudflare runs several: the
  10,000-tenant drain time is the local, sequential one.
- D1 rows come from the Worker's metering (src/observability/meter.ts), which reads D1's \`meta\`
  of \`run()\`, \`all()\` and \`batch()\` results. A statement read with \`raw()\` or \`first()\` has no
  \`meta\`, and Drizzle reads a lone SELECT or \`UPDATE … RETURNING\` with \`raw()\`. Their rows
  are not in the figures, so rows read are a lower bound; the writes made on every sync (the
  lease, the state, the page batches) go through \`batch()\` and are counted, and the few
  writes outside it are admin calls. D1 queries count every statement.
- Cron ticks are fired through wrangler dev's scheduled handler. The idle section's carry a
  scheduled time five minutes ahead, past the next 5-minute boundary where every synced tenant
  is due; the 10,000 seeded tenants are due already. The syncs themselves run on the real clock.
- Verdicts are one D1 statement over the covering (tenant, sha256, detected_at, host) index
  returning one JSON value. Between the Worker and raw SQLite is the D1 binding (an RPC to
  miniflare's D1 object) and the request's own handling. Under load, autocannon runs in the
  bench's own Node process on the same two cores, for /healthz as for verdicts.
- Storage is SQLite's page accounting: a page counts whole however full it is, so bytes per
  detection include the free space in the table's and the indexes' pages.
- Queue operations are counted per message as Cloudflare bills them (one write, one read, one
  delete under 64 KB); every message of these sections is far under 64 KB.`;
}
