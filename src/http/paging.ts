/**
 * Newest-first lists paged by id, `?limit=&before=`: the query every such list declares, so
 * each says the same about its bounds.
 *
 * @example
 * const RunsQuery = pagedListQuery("a run id", "Only runs with a smaller id than this");
 */
import { z } from "zod";

/** Largest page one list call returns: a screen of rows, and a bounded read. */
export const MAX_LIST_LIMIT = 200;
/** A page when the caller names no limit. */
export const DEFAULT_LIST_LIMIT = 50;

/**
 * The query of a newest-first list paged by id (a list with rows heavier than most names its own
 * `bounds`). Whatever is wrong with a parameter (not a number, not whole, out of range), the 400
 * says what both take.
 */
export function pagedListQuery(idName: string, before: string, bounds: { max: number; byDefault: number } = { max: MAX_LIST_LIMIT, byDefault: DEFAULT_LIST_LIMIT }) {
  const hint = { error: `limit is 1 to ${bounds.max}, before ${idName}` };
  return z.object({
    // A schema's own error message is also its checks' (zod 4): one sentence for every way it fails.
    limit: z.coerce.number(hint).int().min(1).max(bounds.max).default(bounds.byDefault).describe(`Most items in the page, 1 to ${bounds.max}`),
    before: z.coerce.number(hint).int().positive().optional().describe(before),
  });
}
