/**
 * Per-invocation cost metering: D1 queries and rows written (as D1's `meta.rows_written`
 * counts them, indexes included) and subrequests, logged as one line when the invocation ends.
 * D1 reports rows for run(), all() and batch(), not for raw() (how Drizzle reads a lone SELECT
 * or UPDATE … RETURNING): the writes made on every tick go through a batch so they are counted,
 * and rows read is a lower bound.
 * Workers cap both per invocation (1000 D1 queries; subrequests by plan), so operators and
 * `npm run bench` read these lines to see how close each kind of invocation comes.
 */
import { logLine } from "./log";
import { AsyncLocalStorage } from "node:async_hooks";
import type { Env } from "../env";
import { D1Binding } from "../storage/db";
import { PRIMARY_BINDING, TenantDatabasesSetting } from "../storage/directory";

/** What one invocation cost. */
export interface Meter {
  kind: string;
  d1Queries: number;
  d1RowsWritten: number;
  d1RowsRead: number;
  subrequests: number;
  /** Of the subrequests, calls to Cynet and to the host API. */
  cynetCalls: number;
  hostCalls: number;
}

const current = new AsyncLocalStorage<Meter>();

/** Counts one subrequest (a fetch to Cynet or the host, a queue send) against the running invocation, if metered. */
export function countSubrequest(target: "cynet" | "host" | "queue"): void {
  const meter = current.getStore();
  if (!meter) return;
  meter.subrequests += 1;
  if (target === "cynet") meter.cynetCalls += 1;
  if (target === "host") meter.hostCalls += 1;
}

function record(meter: Meter, results: D1Result[] | D1Result): void {
  for (const r of Array.isArray(results) ? results : [results]) {
    meter.d1RowsWritten += r.meta?.rows_written ?? 0;
    meter.d1RowsRead += r.meta?.rows_read ?? 0;
  }
}

const unwrap = new WeakMap<object, D1PreparedStatement>();

function meteredStatement(inner: D1PreparedStatement, meter: Meter): D1PreparedStatement {
  const wrapped: D1PreparedStatement = {
    bind: (...values: unknown[]) => meteredStatement(inner.bind(...values), meter),
    first: ((column?: string) => {
      meter.d1Queries += 1;
      return column === undefined ? inner.first() : inner.first(column);
    }) as D1PreparedStatement["first"],
    run: (async () => {
      meter.d1Queries += 1;
      const result = await inner.run();
      record(meter, result);
      return result;
    }) as D1PreparedStatement["run"],
    all: (async () => {
      meter.d1Queries += 1;
      const result = await inner.all();
      record(meter, result);
      return result;
    }) as D1PreparedStatement["all"],
    raw: ((options?: { columnNames?: boolean }) => {
      meter.d1Queries += 1;
      return options?.columnNames ? inner.raw({ columnNames: true }) : inner.raw();
    }) as D1PreparedStatement["raw"],
  } as D1PreparedStatement;
  unwrap.set(wrapped, inner);
  return wrapped;
}

/** D1's `batch` of a binding or a session, counting into `meter`; statements prepared by the metered wrappers are handed over unwrapped. */
function meteredBatch(batch: D1Database["batch"], meter: Meter): D1Database["batch"] {
  return async <T = unknown>(statements: D1PreparedStatement[]) => {
    meter.d1Queries += statements.length;
    const results = await batch<T>(statements.map((s) => unwrap.get(s) ?? s));
    record(meter, results as D1Result[]);
    return results;
  };
}

/** A D1 session (read replication) that counts into `meter`, as its binding does. */
function meteredSession(session: D1DatabaseSession, meter: Meter): D1DatabaseSession {
  return {
    prepare: (query: string) => meteredStatement(session.prepare(query), meter),
    batch: meteredBatch(session.batch.bind(session), meter),
    getBookmark: () => session.getBookmark(),
  } as D1DatabaseSession;
}

/** A D1 binding that counts into `meter`, and so do the sessions it starts; statements it prepares can be batched as usual. */
export function meteredD1(db: D1Database, meter: Meter): D1Database {
  return {
    prepare: (query: string) => meteredStatement(db.prepare(query), meter),
    batch: meteredBatch(db.batch.bind(db), meter),
    exec: (query: string) => {
      meter.d1Queries += 1;
      return db.exec(query);
    },
    withSession: (constraintOrBookmark?: string) => meteredSession(db.withSession(constraintOrBookmark), meter),
    dump: db.dump.bind(db),
  } as D1Database;
}

/**
 * The env an invocation runs with: DB and every other database TENANT_DATABASES lists metered,
 * so no database's queries go uncounted. Bindings are found by the listed names (a duck test
 * over every binding would take RPC stubs for databases); a list the directory refuses leaves
 * DB metered, and the directory reports the list.
 */
function meteredEnv(env: Env, meter: Meter): Env {
  const listed = TenantDatabasesSetting.safeParse(env.TENANT_DATABASES);
  const bindings: Record<string, unknown> = { ...env };
  for (const name of listed.success ? listed.data : [PRIMARY_BINDING]) {
    const d1 = D1Binding.safeParse(bindings[name]);
    if (d1.success) bindings[name] = meteredD1(d1.data, meter);
  }
  // The same bindings as `env`, the databases wrapped with the same interface.
  return bindings as unknown as Env;
}

/** Runs one invocation with a metered env and logs what it cost. */
export async function metered<T>(kind: string, env: Env, run: (env: Env) => Promise<T>): Promise<T> {
  const meter: Meter = { kind, d1Queries: 0, d1RowsWritten: 0, d1RowsRead: 0, subrequests: 0, cynetCalls: 0, hostCalls: 0 };
  const started = Date.now();
  try {
    return await current.run(meter, () => run(meteredEnv(env, meter)));
  } finally {
    logLine("info", "invocation metrics", { ...meter, wallMs: Date.now() - started });
  }
}
