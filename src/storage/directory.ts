/**
 * Which D1 database holds a tenant's rows: the one place that answers it. Tenants are spread
 * over the D1 bindings TENANT_DATABASES lists (a database has a size cap and one writer); the
 * directory, table `tenant_databases` in the primary database `DB`, records where each tenant
 * was placed on first sight. A placement is written once and never changes, so an isolate
 * remembers it. A tenant the directory does not name is in `DB`: the tenants of a deployment
 * from before the directory are there, and so is a tenant never enabled (whose reads find nothing).
 *
 * @example
 * const { db } = await tenantDatabase(env, tenantId);     // a tenant-scoped route, consumer or sync
 * const { db } = await placeTenant(env, tenantId, now);   // the host's enablement call
 * for (const { db } of tenantDatabases(env)) { … }        // the cron's work across tenants
 */
import { count, eq, notExists, sql } from "drizzle-orm";
import { z } from "zod";
import type { Env } from "../env";
import { logLine } from "../observability/log";
import { namedBatch, rowsOf } from "./batch";
import { D1Binding, database, type Database } from "./db";
import { tenantDatabases as directory, tenants } from "./schema";

/** The binding that holds the directory, and every tenant placed before there was one. */
export const PRIMARY_BINDING = "DB";
/**
 * Databases TENANT_DATABASES may list: 10,000 tenants of 100,000 detections need about 50 (docs/scaling.md),
 * and the cron visits each every tick (fan-out, sweep, the findings' due checks, retention: at most 14 D1
 * queries each), so 64 keep it under 900 of the 1000 D1 queries an invocation may make.
 */
export const MAX_TENANT_DATABASES = 64;
/** Placements an isolate remembers: about 100 bytes each, so 10,000 tenants fit in 1 MB of its 128 MB; past it the oldest is read again. */
export const MAX_CACHED_PLACEMENTS = 10_000;

/** A database that holds tenants: its binding's name, the binding, and Drizzle over it. */
export interface TenantDatabase {
  binding: string;
  d1: D1Database;
  db: Database;
}

/** The Worker's D1 configuration is wrong (TENANT_DATABASES, a binding, or a placement no listed binding holds): an operator must fix it. */
export class DatabaseConfigError extends Error {
  override readonly name = "DatabaseConfigError";
}

const BindingName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a binding name is letters, digits and '_', not starting with a digit");

/** TENANT_DATABASES as the Worker reads it: unset or blank is just DB. */
export const TenantDatabasesSetting = z
  .string()
  .optional()
  .transform((value) => (value?.trim() ? value : PRIMARY_BINDING).split(",").map((name) => name.trim()))
  .pipe(
    z
      .array(BindingName)
      .max(MAX_TENANT_DATABASES, `at most ${MAX_TENANT_DATABASES} databases`)
      .refine((names) => names.includes(PRIMARY_BINDING), `it must list ${PRIMARY_BINDING}, which holds the directory and the tenants placed before it`)
      .refine((names) => new Set(names).size === names.length, "it lists a binding twice"),
  );

/** The databases of one env, read once per env object (an invocation's). */
const configuredByEnv = new WeakMap<Env, TenantDatabase[]>();

/**
 * Every database that holds tenants, DB first, for the work that spans tenants (the cron's
 * fan-out, the outbox sweeper). Throws DatabaseConfigError, naming what is wrong, when
 * TENANT_DATABASES is malformed or lists a name that is not a D1 binding.
 */
export function tenantDatabases(env: Env): TenantDatabase[] {
  const known = configuredByEnv.get(env);
  if (known) return known;
  const names = TenantDatabasesSetting.safeParse(env.TENANT_DATABASES);
  if (!names.success) throw new DatabaseConfigError(`TENANT_DATABASES (${JSON.stringify(env.TENANT_DATABASES)}) is invalid: ${names.error.issues.map((i) => i.message).join("; ")}.`);
  // Bindings are looked up by the names an operator listed; D1Binding checks what is found.
  const bound = env as unknown as Record<string, unknown>;
  const configured: TenantDatabase[] = [];
  const missing: string[] = [];
  for (const binding of names.data) {
    const d1 = D1Binding.safeParse(bound[binding]);
    if (d1.success) configured.push({ binding, d1: d1.data, db: database(d1.data) });
    else missing.push(binding);
  }
  if (missing.length) {
    throw new DatabaseConfigError(`TENANT_DATABASES lists ${missing.join(", ")}, which the Worker has no D1 binding for: declare each as a [[d1_databases]] binding in wrangler.toml.`);
  }
  configuredByEnv.set(env, configured);
  return configured;
}

/**
 * Runs the cron's work of one kind (`what`: "outbox sweep", "retention") in every database, one
 * after another: one that fails is logged with its binding and the others still run; then the
 * first failure is thrown, so the tick still reports it. Returns each database's result.
 */
export async function inEveryTenantDatabase<T>(env: Env, what: string, work: (database: TenantDatabase) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let failure: unknown;
  for (const database of tenantDatabases(env)) {
    try {
      results.push(await work(database));
    } catch (err) {
      logLine("error", `${what} failed in one database; the others went on`, { binding: database.binding, error: err });
      failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
  return results;
}

/** The tenant's binding by tenant id, for placements this isolate has read or written (a placement never changes). */
const placements = new Map<string, string>();

function remember(tenantId: string, binding: string): void {
  if (placements.size >= MAX_CACHED_PLACEMENTS && !placements.has(tenantId)) {
    const oldest = placements.keys().next();
    if (!oldest.done) placements.delete(oldest.value);
  }
  placements.set(tenantId, binding);
}

function byBinding(env: Env, tenantId: string, binding: string): TenantDatabase {
  const all = tenantDatabases(env);
  const found = all.find((d) => d.binding === binding);
  if (!found) {
    // Served anyway, its tenants would be skipped by the cron; refused, the operator sees why.
    throw new DatabaseConfigError(`Tenant ${tenantId} is placed in ${binding}, which TENANT_DATABASES (${all.map((d) => d.binding).join(",")}) does not list.`);
  }
  return found;
}

function primaryOf(env: Env): TenantDatabase {
  return tenantDatabases(env).find((d) => d.binding === PRIMARY_BINDING)!;
}

/**
 * The binding the tenant's rows are in, by the directory; else DB when DB has the tenant's row
 * (placed before the directory); else undefined (never seen). One statement on DB.
 */
async function lookUp(primary: Database, tenantId: string): Promise<string | undefined> {
  const [row] = await primary.all<{ binding: string | null }>(sql`select coalesce(
      (select ${directory.binding} from ${directory} where ${directory.tenantId} = ${tenantId}),
      (select ${PRIMARY_BINDING} from ${tenants} where ${tenants.id} = ${tenantId})) as binding`);
  return row?.binding ?? undefined;
}

/**
 * The database that holds the tenant's rows. A placement read from the directory is
 * remembered by the isolate; a tenant not placed (never enabled) is answered with DB and
 * looked up again next time, as its enablement may place it anywhere.
 *
 * @example
 * const { db } = await tenantDatabase(env, tenantId);
 * const row = await findTenant(db, tenantId);
 */
export async function tenantDatabase(env: Env, tenantId: string): Promise<TenantDatabase> {
  const cached = placements.get(tenantId);
  if (cached) return byBinding(env, tenantId, cached);
  const binding = await lookUp(primaryOf(env).db, tenantId);
  if (binding === undefined) return primaryOf(env);
  remember(tenantId, binding);
  return byBinding(env, tenantId, binding);
}

/**
 * The database that holds the tenant's rows, placing a tenant seen for the first time in the
 * listed database with the fewest tenants (ties to the first listed). The placement is written
 * with ON CONFLICT DO NOTHING and read back in the same batch, so of two racing first calls
 * the first placement stands and both answer with it.
 *
 * @example
 * const { db } = await placeTenant(env, tenantId, now);
 * await namedBatch(db, { enablement: saveEnablementStatements(db, tenantId, true, bundles, now) });
 */
export async function placeTenant(env: Env, tenantId: string, now: Date): Promise<TenantDatabase> {
  const known = placements.get(tenantId) ?? (await lookUp(primaryOf(env).db, tenantId));
  if (known !== undefined) {
    remember(tenantId, known);
    return byBinding(env, tenantId, known);
  }
  const chosen = await emptiest(env);
  const db = primaryOf(env).db;
  const settled = await namedBatch(db, {
    place: [db.insert(directory).values({ tenantId, binding: chosen.binding, assignedAt: now }).onConflictDoNothing()],
    placed: [db.select({ binding: directory.binding }).from(directory).where(eq(directory.tenantId, tenantId))],
  });
  const [placed] = rowsOf<{ binding: string }>(settled.placed[0]);
  if (!placed) throw new Error(`the placement of tenant ${tenantId} was not read back`);
  if (placed.binding !== chosen.binding) logLine("info", "tenant placed by a concurrent call", { tenantId, binding: placed.binding });
  remember(tenantId, placed.binding);
  return byBinding(env, tenantId, placed.binding);
}

/**
 * The listed database with the fewest tenants: placements counted per binding (from the
 * binding index), and DB's tenants from before the directory counted as DB's.
 */
async function emptiest(env: Env): Promise<TenantDatabase> {
  const all = tenantDatabases(env);
  if (all.length === 1) return all[0]!;
  const db = primaryOf(env).db;
  const placedInDirectory = db.select({ one: sql`1` }).from(directory).where(eq(directory.tenantId, tenants.id));
  const loads = await namedBatch(db, {
    placed: [db.select({ binding: directory.binding, tenants: count() }).from(directory).groupBy(directory.binding)],
    unplaced: [db.select({ tenants: count() }).from(tenants).where(notExists(placedInDirectory))],
  });
  const load = new Map(rowsOf<{ binding: string; tenants: number }>(loads.placed[0]).map((r) => [r.binding, r.tenants]));
  const [unplaced] = rowsOf<{ tenants: number }>(loads.unplaced[0]);
  load.set(PRIMARY_BINDING, (load.get(PRIMARY_BINDING) ?? 0) + (unplaced?.tenants ?? 0));
  let best = all[0]!;
  for (const candidate of all) if ((load.get(candidate.binding) ?? 0) < (load.get(best.binding) ?? 0)) best = candidate;
  return best;
}
