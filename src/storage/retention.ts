/**
 * Retention: what the channel keeps once a detection is old. A detection's alert detail (file
 * name, path, user, incident, Cynet's first and last sighting) is dropped after
 * DETECTION_RETENTION_DAYS; the facts verdicts and deduplication need stay for good: the row's
 * key (tenant, alert id, so an alert Cynet shows again is never a new event), its SHA-256, when
 * it was detected and on which endpoint. Delivered events and match rows, and finished sync
 * runs, are deleted after the same period; notes and IR requests are kept (they are few, and a
 * later scan match reads them to name only endpoints not named before).
 *
 * Each table is walked by rowid from where the last walk stopped (retention_cursors), a bounded
 * window a tick: rows are written in time order, so the old rows are a prefix of what is left,
 * and a tick with nothing to prune reads one window's keys, never the whole table.
 */
import { and, eq, inArray, ne, sql, type SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { z } from "zod";
import type { Env } from "../env";
import { DAY_MS } from "../shared/http-time";
import { namedBatch } from "./batch";
import type { Database } from "./db";
import { inEveryTenantDatabase } from "./directory";
import { detections, outbox, retentionCursors, syncRuns } from "./schema";

/** Days a detection's alert detail is kept when DETECTION_RETENTION_DAYS is not set: half a year, what SOC teams commonly keep hot. */
export const DEFAULT_RETENTION_DAYS = 180;
/** The shortest retention allowed: past the longest look-back (manifest MAX_LOOKBACK_DAYS) and any host outage the outbox rides out. */
export const MIN_RETENTION_DAYS = 30;
/** The longest: ten years, beyond any compliance schedule that would keep alert text in this database. */
export const MAX_RETENTION_DAYS = 3650;
/**
 * Rows one walk looks at per table per tick: a 5,000-row UPDATE or DELETE is well inside D1's
 * statement time, and at 288 ticks a day a database keeps pace with 1.4 million new rows a day.
 */
export const RETENTION_WINDOW_ROWS = 5_000;

/** DETECTION_RETENTION_DAYS as the Worker reads it: unset is the default. */
export const RetentionSetting = z.coerce
  .number({ error: "DETECTION_RETENTION_DAYS must be a whole number of days" })
  .int("DETECTION_RETENTION_DAYS must be a whole number of days")
  .min(MIN_RETENTION_DAYS, `DETECTION_RETENTION_DAYS must be at least ${MIN_RETENTION_DAYS}`)
  .max(MAX_RETENTION_DAYS, `DETECTION_RETENTION_DAYS must be at most ${MAX_RETENTION_DAYS}`)
  .default(DEFAULT_RETENTION_DAYS);

/** The configured retention in days; throws naming the setting when it is malformed (nothing is pruned then). */
export function retentionDays(env: Pick<Env, "DETECTION_RETENTION_DAYS">): number {
  const parsed = RetentionSetting.safeParse(env.DETECTION_RETENTION_DAYS?.trim() || undefined);
  if (!parsed.success) throw new Error(`${parsed.error.issues[0]!.message} (it is ${JSON.stringify(env.DETECTION_RETENTION_DAYS)}); nothing is pruned until it is fixed.`);
  return parsed.data;
}

/** The detail columns retention drops; the rest of a detection row is what verdicts and deduplication read. */
const DROPPED_DETAIL = { fileName: null, path: null, userName: null, incidentName: null, hostId: null, firstSeenAt: null, lastSeenAt: null } as const;
/** Their SQL names, for `npm run bench` (which prunes a database file of its own the same way). */
export const DROPPED_DETAIL_COLUMNS = Object.keys(DROPPED_DETAIL).map((key) => detections[key as keyof typeof DROPPED_DETAIL].name);

const WALKS = [
  {
    name: "detections.detail",
    table: detections,
    rowid: sql`rowid`,
    time: sql`${detections.storedAt}`,
    held: sql`0`,
    prune: (db: Database, inRange: SQL) => db.update(detections).set(DROPPED_DETAIL).where(inRange),
  },
  {
    name: "outbox.delivered",
    table: outbox,
    rowid: sql`${outbox.id}`,
    time: sql`${outbox.createdAt}`,
    // A pending row holds the walk until it is delivered; failed rows (an admin's to retry), notes and IR requests are kept.
    held: sql`${outbox.state} = 'pending'`,
    prune: (db: Database, inRange: SQL) => db.delete(outbox).where(and(inRange, eq(outbox.state, "delivered"), inArray(outbox.kind, ["events", "match"]))),
  },
  {
    name: "sync_runs.finished",
    table: syncRuns,
    rowid: sql`${syncRuns.id}`,
    time: sql`${syncRuns.startedAt}`,
    // A run still going holds the walk until it finishes.
    held: sql`${syncRuns.outcome} = 'running'`,
    prune: (db: Database, inRange: SQL) => db.delete(syncRuns).where(and(inRange, ne(syncRuns.outcome, "running"))),
  },
] as const satisfies ReadonlyArray<{ name: string; table: typeof detections | typeof outbox | typeof syncRuns; rowid: SQL; time: SQL; held: SQL; prune: (db: Database, inRange: SQL) => BatchItem<"sqlite"> }>;

/** What one retention pass did in one database: rows pruned per walk. */
export type RetentionResult = Record<(typeof WALKS)[number]["name"], number>;

/**
 * Prunes what is older than `days` in one database: for each walk, the rows past its cursor
 * (at most `windowRows`) that are older than the cutoff and come before the first newer one;
 * the cursor moves past them in the same batch.
 */
export async function pruneDatabase(db: Database, days: number, now: Date, windowRows = RETENTION_WINDOW_ROWS): Promise<RetentionResult> {
  const cutoff = now.getTime() - days * DAY_MS;
  const result = {} as RetentionResult;
  for (const walk of WALKS) {
    const from = sql`coalesce((select ${retentionCursors.lastRowId} from ${retentionCursors} where ${retentionCursors.tableName} = ${walk.name}), 0)`;
    // The window past the cursor, and in it the old prefix: every row before the first one not
    // yet old or still held (a delivery pending, a run going on), so the cursor never passes a row
    // that will be old and prunable later.
    const window = sql`(select ${walk.rowid} as id, ${walk.time} as at, ${walk.held} as held from ${walk.table} where ${walk.rowid} > ${from} order by ${walk.rowid} limit ${windowRows})`;
    const [edge] = await db.all<{ from: number; upTo: number | null }>(
      sql`select ${from} as "from", max(w.id) as "upTo" from ${window} as w
        where w.id < coalesce((select min(n.id) from ${window} as n where n.at >= ${cutoff} or n.held), 9223372036854775807)`,
    );
    if (!edge || edge.upTo === null) {
      result[walk.name] = 0;
      continue;
    }
    const done = await namedBatch(db, {
      prune: [walk.prune(db, sql`${walk.rowid} > ${edge.from} and ${walk.rowid} <= ${edge.upTo}`)],
      // In the same batch as the rows it covers: a cursor moves only over rows already pruned.
      cursor: [
        db
          .insert(retentionCursors)
          .values({ tableName: walk.name, lastRowId: edge.upTo, updatedAt: now })
          .onConflictDoUpdate({ target: retentionCursors.tableName, set: { lastRowId: edge.upTo, updatedAt: now } }),
      ],
    });
    result[walk.name] = (done.prune[0] as D1Result | undefined)?.meta?.changes ?? 0;
  }
  return result;
}

/**
 * The cron's retention step: one pass over every tenant database, each on its own (one that
 * fails is logged and the others still pruned). Returns the rows pruned in all of them.
 */
export async function pruneTenantDatabases(env: Env, now: Date): Promise<number> {
  const days = retentionDays(env);
  const results = await inEveryTenantDatabase(env, "retention", ({ db }) => pruneDatabase(db, days, now));
  return results.flatMap((result) => Object.values(result)).reduce((a, b) => a + b, 0);
}
