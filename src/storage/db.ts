/** The Drizzle handle over the `DB` binding. */
import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

/** A Drizzle database bound to the plugin's schema. */
export function database(d1: D1Database) {
  return drizzle(d1, { schema });
}
export type Database = ReturnType<typeof database>;
