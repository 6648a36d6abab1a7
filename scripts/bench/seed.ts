/**
 * Rows the bench writes straight into a D1 file from Node (node:sqlite), shaped by the plugin's
 * own Drizzle schema (src/storage/schema.ts: column names from the table objects, never a second
 * list): detections for the verdict and storage sections, and connected, synced tenants for the
 * 10,000-tenant tick, their Cynet secrets sealed as the plugin seals them (src/storage/secrets.ts).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { getTableColumns, getTableName } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { generateAlerts } from "../../dev/cynet-sim/generate.ts";
import { detections, fileHashes, secrets, syncState, tenants } from "../../src/storage/schema.ts";
import { classifyAlert, type DetectionInput } from "../../src/sync/rule.ts";
import { root } from "../lib/stack.ts";
import { pluginInternals, type Sealed } from "./plugin-internals.ts";

/** Rows per multi-row INSERT: node:sqlite allows 32,766 parameters a statement; 17 columns × 500 stays far under. */
const ROWS_PER_INSERT = 500;
/** Generated alerts whose detections give the seeded rows their text columns: enough distinct names, paths and hosts that rows are as wide as real ones. */
const DETAIL_POOL_ALERTS = 5_000;
/** Share of stored SHA-256s whose MD5 and SHA-1 are known (file_hashes rows), as after correlation looked them up. */
const FILE_HASH_SHARE = 10;

/** Applies the plugin's migrations (migrations/*.sql, in order) to a database. */
export function applyMigrations(db: DatabaseSync): void {
  for (const file of readdirSync(join(root, "migrations")).filter((f) => f.endsWith(".sql")).sort()) {
    for (const statement of readFileSync(join(root, "migrations", file), "utf8").split("--> statement-breakpoint")) db.exec(statement);
  }
}

/** A value as D1 stores it for the plugin's column modes: timestamps in ms, booleans 0/1, JSON as text. */
function stored(value: unknown): SQLInputValue {
  if (value instanceof Date) return value.getTime();
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value !== null && typeof value === "object") return JSON.stringify(value);
  return value as SQLInputValue;
}

/**
 * Inserts rows keyed by the Drizzle table's property names (every row the same keys; a key left
 * out takes the column's default), `OR IGNORE` so a re-seed is harmless.
 */
export function insertRows<T extends SQLiteTable>(db: DatabaseSync, table: T, rows: Array<Partial<T["$inferInsert"]>>): void {
  if (rows.length === 0) return;
  const columns = getTableColumns(table) as Record<string, { name: string }>;
  const keys = Object.keys(rows[0]!);
  const names = keys.map((k) => {
    const column = columns[k];
    if (!column) throw new Error(`no column ${k} in the table`);
    return `"${column.name}"`;
  });
  const tableName = getTableName(table);
  const one = `(${keys.map(() => "?").join(",")})`;
  const statements = new Map<number, ReturnType<DatabaseSync["prepare"]>>();
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + ROWS_PER_INSERT);
    let insert = statements.get(chunk.length);
    if (!insert) {
      insert = db.prepare(`INSERT OR IGNORE INTO "${tableName}" (${names.join(",")}) VALUES ${Array.from({ length: chunk.length }, () => one).join(",")}`);
      statements.set(chunk.length, insert);
    }
    insert.run(...chunk.flatMap((row) => keys.map((k) => stored((row as Record<string, unknown>)[k]))));
  }
}

/** `len` hex characters, a pure function of (n, salt): the verdict section asks for exactly these. */
export function benchHash(n: number, len: number, salt: string): string {
  let s = "";
  for (let i = 0; s.length < len; i++) s += ((n * 2654435761 + i * 40503 + salt.charCodeAt(0)) >>> 0).toString(16).padStart(8, "0");
  return s.slice(0, len);
}

/** The hashes of the seeded detections, so a section can ask for found and unknown ones. */
export const seededHashes = {
  /** The SHA-256 of detection `n`: each is stored twice (n and n + rows/2). */
  sha256: (k: number) => benchHash(k, 64, "s"),
  md5: (k: number) => benchHash(k, 32, "m"),
  sha1: (k: number) => benchHash(k, 40, "h"),
};

/** Detections of generated alerts, as the plugin's rule (src/sync/rule.ts) makes them: the text columns of seeded rows. */
function detailPool(now: Date): DetectionInput[] {
  const { alerts } = generateAlerts(7, DETAIL_POOL_ALERTS, now.getTime());
  return alerts.flatMap((a) => {
    const c = classifyAlert(a, now);
    return c.kind === "detection" ? [c.detection] : [];
  });
}

/**
 * Stores `count` detections of one tenant in one transaction: row i has the SHA-256
 * seededHashes.sha256(i mod count/2) (so each hash is stored twice), and the file name, path,
 * endpoint, user, severity, status and incident of a real detection (cycled from detailPool),
 * so rows are as wide as the plugin's. The first count/10 hashes get file_hashes rows (MD5 and
 * SHA-1 known). Returns the seconds it took.
 */
export function seedDetections(db: DatabaseSync, tenantId: string, count: number, now = new Date()): number {
  const t0 = performance.now();
  const pool = detailPool(now);
  const distinct = Math.max(1, Math.floor(count / 2));
  db.exec("BEGIN");
  const rows: Array<typeof detections.$inferInsert> = [];
  const files: Array<typeof fileHashes.$inferInsert> = [];
  const flush = () => {
    insertRows(db, detections, rows.splice(0));
    insertRows(db, fileHashes, files.splice(0));
  };
  for (let i = 0; i < count; i++) {
    const detail = pool[i % pool.length]!;
    const k = i % distinct;
    rows.push({ ...detail, tenantId, alertId: i + 1, sha256: seededHashes.sha256(k), detectedAt: new Date(now.getTime() - i * 1000), runId: 1, storedAt: now });
    if (i < count / FILE_HASH_SHARE) files.push({ tenantId, sha256: seededHashes.sha256(k), md5: seededHashes.md5(i), sha1: seededHashes.sha1(i), state: "known", attempts: 1, lookedUpAt: now });
    if (rows.length >= ROWS_PER_INSERT * 20) flush();
  }
  flush();
  db.exec("COMMIT");
  return (performance.now() - t0) / 1000;
}

/** Tenants seeded as connected and fully synced (the 10,000-tenant tick). */
export interface SeededTenants {
  ids: string[];
  orgUrl: string;
  clientId: string;
  username: string;
  password: string;
  /** A token the Node Cynet issued for their org, cached for each tenant as a sync would have left it. */
  accessToken: string;
  credentialsKey: string;
  /** The cursor each starts from (as a finished sync leaves it) and when each is next due. */
  cursor: Date;
  nextRunAt: Date;
  lookbackDays: number;
}

/**
 * Writes the tenants, their sync state (both cursors, nothing in progress, due at nextRunAt) and
 * their sealed password and cached token, as Connect and a finished sync leave them.
 */
export async function seedTenants(db: DatabaseSync, t: SeededTenants, now = new Date()): Promise<void> {
  const { secrets: crypto, session } = await pluginInternals();
  const ring = await crypto.loadKeyRing(t.credentialsKey);
  const sealedSecrets: Array<typeof secrets.$inferInsert> = [];
  const row = (tenantId: string, kind: "password" | "token", sealed: Sealed, expiresAt: Date | null) => ({ tenantId, kind, keyVersion: sealed.keyVersion, iv: sealed.iv, ciphertext: sealed.ciphertext, expiresAt, updatedAt: now });
  for (const id of t.ids) {
    sealedSecrets.push(row(id, "password", await crypto.seal(ring, id, session.PASSWORD_PURPOSE, t.password), null));
    sealedSecrets.push(row(id, "token", await crypto.seal(ring, id, session.TOKEN_PURPOSE, t.accessToken), new Date(now.getTime() + session.TOKEN_CACHE_MS)));
  }
  db.exec("BEGIN");
  insertRows(
    db,
    tenants,
    t.ids.map((id) => ({ id, enabled: true, bundles: ["endpoint-protection"], state: "active" as const, orgUrl: t.orgUrl, clientId: t.clientId, username: t.username, activatedAt: now, createdAt: now, updatedAt: now })),
  );
  insertRows(
    db,
    syncState,
    // Both cursors where a finished sync leaves them: the change read starts there too (a tenant seeded
    // without a change cursor would read its look-back's changes once, as one upgraded from before them does).
    t.ids.map((tenantId) => ({ tenantId, cursor: t.cursor, changeCursor: t.cursor, lookbackDays: t.lookbackDays, nextRunAt: t.nextRunAt, lastRunAt: now, lastSuccessAt: now })),
  );
  insertRows(db, secrets, sealedSecrets);
  db.exec("COMMIT");
}
