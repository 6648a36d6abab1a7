/**
 * Per-invocation cost metering: D1 queries and rows written (as D1's `meta.rows_written`
 * counts them, indexes included) and subrequests, logged as one line when the invocation ends.
 * Workers cap both per invocation (1000 D1 queries; subrequests by plan), so operators and
 * `npm run bench` read these lines to see how close each kind of invocation comes.
 */
import { logLine } from "./log";
import { AsyncLocalStorage } from "node:async_hooks";
import type { Env } from "../env";

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

/** A D1 binding that counts into `meter`; statements it prepares can be batched as usual. */
export function meteredD1(db: D1Database, meter: Meter): D1Database {
  return {
    prepare: (query: string) => meteredStatement(db.prepare(query), meter),
    batch: async <T = unknown>(statements: D1PreparedStatement[]) => {
      meter.d1Queries += statements.length;
      const results = await db.batch<T>(statements.map((s) => unwrap.get(s) ?? s));
      record(meter, results as D1Result[]);
      return results;
    },
    exec: (query: string) => {
      meter.d1Queries += 1;
      return db.exec(query);
    },
    withSession: db.withSession.bind(db),
    dump: db.dump.bind(db),
  } as D1Database;
}

/** Runs one invocation with a metered env and logs what it cost. */
export async function metered<T>(kind: string, env: Env, run: (env: Env) => Promise<T>): Promise<T> {
  const meter: Meter = { kind, d1Queries: 0, d1RowsWritten: 0, d1RowsRead: 0, subrequests: 0, cynetCalls: 0, hostCalls: 0 };
  const started = Date.now();
  try {
    return await current.run(meter, () => run({ ...env, DB: meteredD1(env.DB, meter) }));
  } finally {
    logLine("info", "invocation metrics", { ...meter, wallMs: Date.now() - started });
  }
}
