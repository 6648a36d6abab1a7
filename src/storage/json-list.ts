/** The `IN` list every D1 read here uses. Free of Worker imports, so raw SQLite runs the same SQL in `npm run bench`. */
import { sql } from "drizzle-orm";

/**
 * A list as the right side of `IN`: it travels as one JSON parameter that json_each unpacks,
 * so any length stays under D1's 100 bound parameters a statement.
 */
export function jsonList(values: readonly unknown[]) {
  return sql`(select value from json_each(${JSON.stringify(values)}))`;
}
