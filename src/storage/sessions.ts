/**
 * Reads through D1's Sessions API (read replication), and the bookmark rule. A read in a
 * session may be served by a read replica near the Worker instead of the primary; D1 keeps the
 * session sequentially consistent and hands back a bookmark, the database version it read.
 *
 * The rule: a read that may be a little behind (verdicts) starts "first-unconstrained", on any
 * replica. Replicas apply the primary's writes asynchronously, normally within a second or so,
 * so a detection the sync just stored changes verdicts within seconds, not at once. The answer
 * carries the session's bookmark in `x-d1-bookmark`; a caller that sends it back is answered
 * from a database at least that recent, so its verdicts never go back in time (a hash it saw
 * malicious does not read clean from a staler replica). Writes, and the reads a write depends
 * on (the sync, the dispatch, activation), stay on the primary: they use the binding itself.
 * A bookmark names a version of one database; each tenant's is its own database's
 * (storage/directory.ts).
 *
 * @example
 * const read = replicaRead(d1, request.headers()[BOOKMARK_HEADER]);
 * const rows = await read.db.all(sql`select 1`);
 * const bookmark = read.bookmark();   // after the reads: null if none ran
 */
import { z } from "zod";
import { sessionDatabase, type SessionDatabase } from "./db";

/** The header a D1 bookmark travels in, in a request and in its answer. */
export const BOOKMARK_HEADER = "x-d1-bookmark";

/**
 * A D1 bookmark as D1 writes one: four groups of hex digits, 8-8-8-32, ordered as the database's
 * versions are (e.g. 00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683).
 */
export const D1Bookmark = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/, `must be a D1 bookmark, as an earlier answer's ${BOOKMARK_HEADER} header gave it`)
  .describe(`A D1 bookmark from an earlier answer's ${BOOKMARK_HEADER}: this answer then reads a database at least that recent.`);

/** Reads in one D1 session: Drizzle over it, and the bookmark of what it read so far. */
export interface ReplicaRead {
  db: SessionDatabase;
  bookmark(): string | null;
}

/** A session on any replica, or on one at least as recent as `bookmark` when the caller sent one. */
export function replicaRead(d1: D1Database, bookmark: string | undefined): ReplicaRead {
  const session = d1.withSession(bookmark ?? "first-unconstrained");
  return { db: sessionDatabase(session), bookmark: () => session.getBookmark() };
}
