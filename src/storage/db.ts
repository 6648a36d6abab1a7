/** The Drizzle handle over the `DB` binding. */
import { drizzle } from "drizzle-orm/d1";
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
