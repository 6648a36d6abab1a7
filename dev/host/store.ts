import { z } from "zod";
import { faultEntrySchema, type FaultEntry } from "../shared/faults";
import { scanSchema, type HashType, type SeededScan } from "./schemas";

/** What the host records: one row each, keyed by id and by idempotency key. */
export type RecordKind = "event" | "note" | "ir-request";

// Test equipment: tables are created in place instead of through migrations.
const TABLES = [
  `CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
     id TEXT NOT NULL UNIQUE, idem_key TEXT NOT NULL, scan_id TEXT, json TEXT NOT NULL, UNIQUE (kind, idem_key))`,
  `CREATE TABLE IF NOT EXISTS replies (idem_key TEXT PRIMARY KEY, endpoint TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS scans (seq INTEGER PRIMARY KEY AUTOINCREMENT, scan_id TEXT NOT NULL UNIQUE,
     sha256 TEXT, md5 TEXT, sha1 TEXT, json TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS faults (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS profile (id INTEGER PRIMARY KEY CHECK (id = 1), tenant_id TEXT NOT NULL, display_name TEXT NOT NULL,
     seeded_at TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS bundle_assignments (bundle_id TEXT PRIMARY KEY, assigned_at TEXT NOT NULL)`,
];
const TABLE_NAMES = ["records", "replies", "scans", "counters", "faults", "profile", "bundle_assignments"] as const;

/** Who the tenant is, as the pages show it; present once the tenant was seeded. */
export interface TenantProfile {
  tenantId: string;
  displayName: string;
  seededAt: string;
}

/** A stored answer to an Idempotency-Key. */
export interface Reply {
  endpoint: string;
  status: number;
  body: unknown;
}

const parse = (rows: { json: string }[]): unknown[] => rows.map((r) => JSON.parse(r.json) as unknown);
const parseScans = (rows: { json: string }[]): SeededScan[] => z.array(scanSchema).parse(parse(rows));

/** One tenant's rows in the Durable Object's SQLite storage. */
export class HostStore {
  constructor(private readonly sql: SqlStorage) {
    for (const statement of TABLES) sql.exec(statement);
  }

  /** The answer first given to `key`, if any. */
  reply(key: string): Reply | null {
    const row = this.sql.exec<{ endpoint: string; status: number; body: string }>(
      "SELECT endpoint, status, body FROM replies WHERE idem_key = ?", key).toArray()[0];
    return row === undefined ? null : { endpoint: row.endpoint, status: row.status, body: JSON.parse(row.body) as unknown };
  }

  /** Remembers the answer given to `key`. */
  saveReply(key: string, reply: Reply): void {
    this.sql.exec("INSERT INTO replies (idem_key, endpoint, status, body) VALUES (?, ?, ?, ?)",
      key, reply.endpoint, reply.status, JSON.stringify(reply.body));
  }

  /** The id of the record of `kind` stored under `key`, if any. */
  recordId(kind: RecordKind, key: string): string | null {
    const row = this.sql.exec<{ id: string }>("SELECT id FROM records WHERE kind = ? AND idem_key = ?", kind, key).toArray()[0];
    return row?.id ?? null;
  }

  /** Stores a record. */
  insertRecord(kind: RecordKind, id: string, key: string, scanId: string | null, record: object): void {
    this.sql.exec("INSERT INTO records (kind, id, idem_key, scan_id, json) VALUES (?, ?, ?, ?, ?)",
      kind, id, key, scanId, JSON.stringify(record));
  }

  /** How many records of `kind` there are. */
  countRecords(kind: RecordKind): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM records WHERE kind = ?", kind).toArray()[0]?.n ?? 0;
  }

  /** Every record of `kind` (of one scan, if given), oldest first. */
  records(kind: RecordKind, scanId?: string): unknown[] {
    const rows = scanId === undefined
      ? this.sql.exec<{ json: string }>("SELECT json FROM records WHERE kind = ? ORDER BY seq", kind)
      : this.sql.exec<{ json: string }>("SELECT json FROM records WHERE kind = ? AND scan_id = ? ORDER BY seq", kind, scanId);
    return parse(rows.toArray());
  }

  /** Adds `n` to a counter. */
  bump(name: string, n = 1): void {
    this.sql.exec("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value", name, n);
  }

  /** A counter's value. */
  count(name: string): number {
    return this.sql.exec<{ value: number }>("SELECT value FROM counters WHERE name = ?", name).toArray()[0]?.value ?? 0;
  }

  /** Stores a scan (replacing one with the same id), hashes lower-cased. */
  upsertScan(scan: SeededScan): void {
    const stored = { ...scan, sha256: scan.sha256?.toLowerCase(), md5: scan.md5?.toLowerCase(), sha1: scan.sha1?.toLowerCase() };
    this.sql.exec(
      `INSERT INTO scans (scan_id, sha256, md5, sha1, json) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (scan_id) DO UPDATE SET sha256 = excluded.sha256, md5 = excluded.md5, sha1 = excluded.sha1, json = excluded.json`,
      scan.scanId, stored.sha256 ?? null, stored.md5 ?? null, stored.sha1 ?? null, JSON.stringify(stored));
  }

  /** Whether a scan with this id exists. */
  hasScan(scanId: string): boolean {
    return this.sql.exec("SELECT 1 FROM scans WHERE scan_id = ?", scanId).toArray().length > 0;
  }

  /** Every scan, in seeding order. */
  scans(): SeededScan[] {
    return parseScans(this.sql.exec<{ json: string }>("SELECT json FROM scans ORDER BY seq").toArray());
  }

  /** Scans whose `type` hash is one of `hashes` (already lower-cased). */
  scansWith(type: HashType, hashes: string[]): SeededScan[] {
    if (hashes.length === 0) return [];
    // One JSON parameter instead of one per hash keeps clear of the bound-parameter limit.
    const rows = this.sql.exec<{ json: string }>(
      `SELECT json FROM scans WHERE ${type} IN (SELECT value FROM json_each(?)) ORDER BY seq`, JSON.stringify(hashes));
    return parseScans(rows.toArray());
  }

  /** The stored fault rules and counters. */
  loadFaults(): FaultEntry[] {
    const row = this.sql.exec<{ json: string }>("SELECT json FROM faults WHERE id = 1").toArray()[0];
    return row === undefined ? [] : z.array(faultEntrySchema).parse(JSON.parse(row.json));
  }

  /** Stores the fault rules and counters. */
  saveFaults(entries: FaultEntry[]): void {
    this.sql.exec("INSERT INTO faults (id, json) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET json = excluded.json", JSON.stringify(entries));
  }

  /** The tenant's profile, if it was seeded. */
  profile(): TenantProfile | null {
    const row = this.sql.exec<{ tenant_id: string; display_name: string; seeded_at: string }>(
      "SELECT tenant_id, display_name, seeded_at FROM profile WHERE id = 1").toArray()[0];
    return row === undefined ? null : { tenantId: row.tenant_id, displayName: row.display_name, seededAt: row.seeded_at };
  }

  /** Stores the tenant's profile (replacing it). */
  saveProfile(profile: TenantProfile): void {
    this.sql.exec(
      `INSERT INTO profile (id, tenant_id, display_name, seeded_at) VALUES (1, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, display_name = excluded.display_name, seeded_at = excluded.seeded_at`,
      profile.tenantId, profile.displayName, profile.seededAt);
  }

  /** Stores a scan unless one with its id exists; returns whether it was added. */
  insertScanIfMissing(scan: SeededScan): boolean {
    if (this.hasScan(scan.scanId)) return false;
    this.upsertScan(scan);
    return true;
  }

  /** Ids of the bundles assigned to the tenant, in the order they were assigned. */
  assignedBundles(): string[] {
    return this.sql.exec<{ bundle_id: string }>("SELECT bundle_id FROM bundle_assignments ORDER BY assigned_at, bundle_id")
      .toArray().map((r) => r.bundle_id);
  }

  /** Assigns or unassigns a bundle (both idempotent). */
  setBundleAssigned(bundleId: string, assigned: boolean, at: string): void {
    if (assigned) this.sql.exec("INSERT INTO bundle_assignments (bundle_id, assigned_at) VALUES (?, ?) ON CONFLICT (bundle_id) DO NOTHING", bundleId, at);
    else this.sql.exec("DELETE FROM bundle_assignments WHERE bundle_id = ?", bundleId);
  }

  /** Deletes every row of the tenant. */
  wipe(): void {
    for (const table of TABLE_NAMES) this.sql.exec(`DELETE FROM ${table}`);
  }
}
