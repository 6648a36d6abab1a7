/** The Drizzle handle over a D1 binding, or over a D1 session of one (read replication). */
import { drizzle } from "drizzle-orm/d1";
import { z } from "zod";
import * as schema from "./schema";

/** One handle per binding: building Drizzle's relational config from the schema is not free, and an invocation asks often. */
const handles = new WeakMap<D1Database, ReturnType<typeof open>>();

function open(d1: D1Database) {
  return drizzle(d1, { schema });
}

/** A Drizzle database bound to the plugin's schema. */
export function database(d1: D1Database) {
  let db = handles.get(d1);
  if (!db) {
    db = open(d1);
    handles.set(d1, db);
  }
  return db;
}
export type Database = ReturnType<typeof database>;

/**
 * A value that can serve as a D1 binding: what Drizzle calls (`prepare`, `batch`). Checks
 * bindings found by name (storage/directory.ts, observability/meter.ts), which the Env type
 * cannot vouch for.
 */
export const D1Binding = z.custom<D1Database>(
  (value) => typeof value === "object" && value !== null && typeof (value as Partial<D1Database>).prepare === "function" && typeof (value as Partial<D1Database>).batch === "function",
  { error: "not a D1 database binding" },
);

/**
 * Drizzle over a D1 session (`binding.withSession(…)`). Drizzle 0.45's D1 driver only ever
 * calls `prepare` and `batch` (drizzle-orm/d1/session.js), which a session has; the rest of a
 * binding's surface is refused, as a session has none of it.
 *
 * @example
 * const session = d1.withSession("first-unconstrained");
 * const rows = await sessionDatabase(session).all(sql`select 1`);
 * const bookmark = session.getBookmark();
 */
export function sessionDatabase(session: D1DatabaseSession): SessionDatabase {
  const refused = (what: string) => new Error(`${what} is not available on a D1 session`);
  const asBinding: D1Database = {
    prepare: (query) => session.prepare(query),
    batch: <T = unknown>(statements: D1PreparedStatement[]) => session.batch<T>(statements),
    exec: () => Promise.reject(refused("exec")),
    withSession: () => {
      throw refused("withSession");
    },
    dump: () => Promise.reject(refused("dump")),
  };
  // No schema: a session lives for one request, and building the relational config from the
  // schema on every verdict call would cost more than the lookup's own handling; its reads are SQL.
  return drizzle(asBinding);
}
/** Drizzle over a D1 session: SQL reads (`all`, `get`), no relational queries. */
export type SessionDatabase = ReturnType<typeof drizzle>;
