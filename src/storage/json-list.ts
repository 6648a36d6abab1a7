/** The `IN` list every D1 read here uses. Free of Worker imports, so raw SQLite runs the same SQL in `npm run bench`. */
import { sql } from "drizzle-orm";

/**
 * A list as the right side of `IN`: it travels as one JSON parameter that json_each unpacks,
 * so any length stays under D1's 100 bound parameters a statement.
 */
export function jsonList(values: readonly unknown[]) {
  return sql`(select value from json_each(${JSON.stringify(values)}))`;
}

/**
 * Most UTF-8 bytes of JSON rows one statement carries: half of D1's 2 MB limit on a bound
 * value, whatever the rows' text is made of (a character outside ASCII takes up to three bytes,
 * an escaped control character six, both counted below).
 */
export const MAX_JSON_PARAMETER_BYTES = 1_000_000;

/**
 * Rows as JSON arrays of at most MAX_JSON_PARAMETER_BYTES each (the text of one parameter that
 * json_each unpacks): as few as fit, one for ordinary batches.
 *
 * @example
 * jsonArraysUnderLimit([{ a: 1 }, { a: 2 }]); // ['[{"a":1},{"a":2}]']
 */
export function jsonArraysUnderLimit(rows: readonly unknown[]): string[] {
  const chunks: string[][] = [];
  // Bytes in the last chunk, counting its brackets and commas; no chunk yet, so the first row starts one.
  let bytes = Infinity;
  for (const row of rows) {
    const json = JSON.stringify(row);
    // No UTF-16 unit takes more than 3 bytes in UTF-8 (JSON escapes are ASCII): a bound without encoding.
    const size = 3 * json.length + 1;
    if (bytes + size > MAX_JSON_PARAMETER_BYTES) {
      chunks.push([]);
      bytes = 2;
    }
    chunks.at(-1)!.push(json);
    bytes += size;
  }
  return chunks.map((chunk) => `[${chunk.join(",")}]`);
}
