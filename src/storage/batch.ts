/**
 * D1 batches read back by name. A batch is one transaction (what must land together goes in
 * one), and D1 answers it as one array in statement order; reading that array by position
 * breaks silently the day a statement is added. Here each part of a batch has a name, and its
 * results come back under that name.
 *
 * @example
 * const done = await namedBatch(db, { rows: [insertRows], state: [updateState] });
 * if (changesOf(done.state[0]) === 0) return "lease lost";
 */
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "./db";

/** Statements of a batch under their names; a part may be empty. */
export type BatchParts = Record<string, readonly BatchItem<"sqlite">[]>;

/** Each part's results, in its statements' order. A result is rows (for `.returning()` and selects) or D1's run result. */
export type BatchResults<P extends BatchParts> = { [K in keyof P]: unknown[] };

/** Runs every statement of `parts` as one D1 batch (atomic) and returns the results by part. */
export async function namedBatch<P extends BatchParts>(db: Database, parts: P): Promise<BatchResults<P>> {
  const names = Object.keys(parts) as Array<keyof P>;
  const statements = names.flatMap((name) => [...parts[name]!]);
  const out = Object.fromEntries(names.map((name) => [name, [] as unknown[]])) as BatchResults<P>;
  if (statements.length === 0) return out;
  const results = (await db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]])) as unknown[];
  let at = 0;
  for (const name of names) {
    const count = parts[name]!.length;
    out[name] = results.slice(at, at + count);
    at += count;
  }
  return out;
}

/** Rows a statement changed, from its D1 run result (0 when the result carries none). */
export function changesOf(result: unknown): number {
  return (result as D1Result | undefined)?.meta?.changes ?? 0;
}

/** Rows a `.returning()` statement gave back. */
export function rowsOf<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : [];
}
