/**
 * Storage: bytes per stored detection, the table and each of its indexes, measured with SQLite's
 * dbstat virtual table over a database of the plugin's schema holding the verdict section's
 * detections (the same rows, from the same seed: scripts/bench/seed.ts), and from it how many
 * detections one D1 database holds, before and after retention's detail pruning.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { z } from "zod";
import { BackfillData } from "./backfill.ts";
import { log } from "./harness.ts";
import { pluginInternals } from "./plugin-internals.ts";
import { int, table, type Section } from "./section.ts";
import { applyMigrations, seedDetections } from "./seed.ts";
import { verdictRows } from "./verdicts.ts";

/** D1's largest database on Workers Paid (d1/platform/limits): 10 GB, taken as 10^10 bytes. */
const D1_MAX_DATABASE_BYTES = 10 * 1e9;
const TENANT = "bench-storage";

/** Bytes, pages and cells of each table and index (dbstat: one row per page, summed by name). */
function measure(db: DatabaseSync): Map<string, { bytes: number; pages: number }> {
  const rows = db.prepare("SELECT name, sum(pgsize) AS bytes, count(*) AS pages FROM dbstat GROUP BY name").all() as Array<{ name: string; bytes: number; pages: number }>;
  return new Map(rows.map((r) => [r.name, { bytes: r.bytes, pages: r.pages }]));
}

/** The detections table and its indexes, by dbstat name. */
function detectionObjects(db: DatabaseSync): string[] {
  const indexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'detections' ORDER BY name").all() as Array<{ name: string }>;
  return ["detections", ...indexes.map((i) => i.name)];
}

/**
 * Retention's detail pruning (src/storage/retention.ts drops these columns of an old detection),
 * run over every row; then the same database compacted (VACUUM INTO a copy), since SQLite reuses
 * the bytes freed inside a page only as its b-tree rebalances, and D1 offers no VACUUM.
 */
function pruneDetails(db: DatabaseSync, columns: string[], compactTo: string): void {
  db.exec(`UPDATE detections SET ${columns.map((c) => `"${c}" = NULL`).join(", ")}`);
  db.exec(`VACUUM INTO '${compactTo.replaceAll("'", "''")}'`);
}

export const StorageData = z.object({ rows: z.number(), bytesPerDetection: z.number(), detectionsPer10GB: z.number() });

export const storageSection: Section = {
  name: "storage",
  title: "Storage: bytes per stored detection",
  env: ["BENCH_VERDICT_ROWS"],
  async run(ctx) {
    const rows = verdictRows();
    const dir = mkdtempSync(join(tmpdir(), "cynet-storage-"));
    let measured;
    try {
      const db = new DatabaseSync(join(dir, "storage.sqlite"));
      applyMigrations(db);
      const seconds = seedDetections(db, TENANT, rows);
      log(`storage: ${int(rows)} detections in ${seconds.toFixed(1)} s`);
      const objects = detectionObjects(db);
      const unpruned = measure(db);
      const { retention } = await pluginInternals();
      const compactFile = join(dir, "compacted.sqlite");
      pruneDetails(db, retention.DROPPED_DETAIL_COLUMNS, compactFile);
      const pruned = measure(db);
      const compactDb = new DatabaseSync(compactFile);
      const compacted = measure(compactDb);
      compactDb.close();
      const pruning = `retention drops ${retention.DROPPED_DETAIL_COLUMNS.join(", ")} of a detection past DETECTION_RETENTION_DAYS, in place`;
      measured = { objects, unpruned, pruned, compacted, pruning, pageSize: (db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size };
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const { objects, unpruned, pruned, compacted, pruning, pageSize } = measured;
    const perDetection = (m: typeof unpruned, name: string) => (m.get(name)?.bytes ?? 0) / rows;
    const total = (m: typeof unpruned) => objects.reduce((n, name) => n + perDetection(m, name), 0);
    const rowFor = (label: string, m: typeof unpruned) => ({
      database: label,
      ...Object.fromEntries(objects.map((name) => [`${name === "detections" ? "table detections" : `index ${name}`} bytes / detection`, perDetection(m, name).toFixed(1)])),
      "detections, all: bytes / detection": total(m).toFixed(1),
      "detections per 10 GB D1 database": `${(D1_MAX_DATABASE_BYTES / total(m) / 1e6).toFixed(1)} million`,
    });
    const tableRows = [
      rowFor(`${int(rows)} detections, unpruned`, unpruned),
      rowFor(`${int(rows)} detections, details pruned in place`, pruned),
      rowFor(`${int(rows)} detections, details pruned, then compacted (VACUUM INTO)`, compacted),
    ];
    const fileHashBytes = [...unpruned].filter(([name]) => name.startsWith("file_hashes") || name.startsWith("sqlite_autoindex_file_hashes")).reduce((n, [, v]) => n + v.bytes, 0);
    const backfill = BackfillData.safeParse(ctx.results.get("backfill"));
    const largest = backfill.success ? backfill.data.sizes.at(-1) : undefined;
    const afterBackfill =
      largest && largest.d1Bytes !== undefined && largest.stored > 0
        ? ` For comparison, the backfill section's largest run (${int(largest.alerts)} alerts, ${int(largest.stored)} detections) grew the plugin's D1 file by ${(largest.d1Bytes / largest.stored).toFixed(0)} bytes per detection with everything a backfill writes beside the detections (events and match rows in the outbox, file hashes, runs): ${(D1_MAX_DATABASE_BYTES / (largest.d1Bytes / largest.stored) / 1e6).toFixed(1)} million detections per 10 GB at that rate.`
        : "";
    const body = `A fresh SQLite database with the plugin's migrations, holding ${int(rows)} detections of one tenant seeded exactly as the verdict section seeds them (scripts/bench/seed.ts: text columns from detections of generated alerts, so rows are as wide as the plugin's; each SHA-256 stored twice; ${int(rows / 10)} file_hashes rows beside them). Bytes are SQLite's own page accounting: \`select name, sum(pgsize) from dbstat group by name\` (page size ${pageSize} bytes, so a partly filled page counts whole), divided by the detections. A detection costs its table row, its primary-key index (sqlite_autoindex_detections_1) and the covering verdict index; the file_hashes rows add ${(fileHashBytes / rows).toFixed(1)} bytes per detection here. A 10 GB D1 database (Workers Paid's largest; 10^10 bytes) holds the number shown.${afterBackfill} Detail pruning: ${pruning}; the second row is the same database after it, the third that database compacted. SQLite reuses the bytes a shorter row frees inside its page only when the page is rebalanced, so in place the pages of old detections stay about as many as before; D1 has no VACUUM.

${table(tableRows)}`;
    return { body, data: { rows, bytesPerDetection: total(unpruned), detectionsPer10GB: D1_MAX_DATABASE_BYTES / total(unpruned) } satisfies z.infer<typeof StorageData> };
  },
};
