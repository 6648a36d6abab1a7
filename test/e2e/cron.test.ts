/**
 * npm start's cron (scripts/lib/cron.ts): the schedule read from wrangler.toml, its boundaries
 * on the clock's marks in UTC, and a ticker that fires the scheduled handler at each of them
 * with the boundary as the scheduled time, one tick at a time, and stops. Time is an injected
 * clock, so five minutes of schedule cost nothing; the firing goes to a real HTTP server that
 * stands in for wrangler dev's /cdn-cgi/handler/scheduled.
 *
 * Run: npm run test:e2e (node:test, Node 22)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fireScheduled, nextBoundary, parseCron, readCrons, startCronTicker, type TickerClock } from "../../scripts/lib/cron.ts";

const root = resolve(import.meta.dirname, "../..");
const at = (iso: string) => Date.parse(iso);
const next = (cron: string, after: string) => nextBoundary(parseCron(cron), at(after)).toISOString();

/** A clock that runs its timers when told to, in order of due time. */
class FakeClock implements TickerClock {
  private timers = new Map<number, { due: number; fn: () => void }>();
  private ids = 0;
  readonly waits: number[] = [];
  t: number;
  constructor(t: number) {
    this.t = t;
  }
  now = () => this.t;
  setTimer = (fn: () => void, ms: number) => {
    this.waits.push(ms);
    this.timers.set(++this.ids, { due: this.t + ms, fn });
    return this.ids;
  };
  clearTimer = (id: unknown) => void this.timers.delete(id as number);
  pending = () => this.timers.size;
  /** Moves to the earliest timer's due time, runs it, and lets the tick's promises settle. */
  async runNext(): Promise<void> {
    const [id, timer] = [...this.timers.entries()].sort((a, b) => a[1].due - b[1].due)[0] ?? [];
    assert.ok(timer, "a timer is armed");
    this.timers.delete(id!);
    this.t = Math.max(this.t, timer.due);
    timer.fn();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }
}

test("the schedule is the one wrangler.toml declares", () => {
  const crons = readCrons(join(root, "wrangler.toml"));
  assert.equal(crons.length, 1);
  assert.doesNotThrow(() => parseCron(crons[0]!));
  const dir = mkdtempSync(join(tmpdir(), "cynet-cron-test-"));
  const file = join(dir, "wrangler.toml");
  writeFileSync(file, 'name = "x"\n[triggers]\n# two\ncrons = [\n  "0 3 * * *", # nightly\n  "*/15 * * * *"\n]\n[[queues.producers]]\nqueue = "q"\n');
  assert.deepEqual(readCrons(file), ["0 3 * * *", "*/15 * * * *"]);
  writeFileSync(file, 'name = "x"\n[vars]\nA = "1"\n');
  assert.throws(() => readCrons(file), /declares no \[triggers\] crons/);
});

test("boundaries fall on the clock's marks, in UTC, strictly after now", () => {
  assert.equal(next("*/5 * * * *", "2026-12-01T14:22:13Z"), "2026-12-01T14:25:00.000Z");
  assert.equal(next("*/5 * * * *", "2026-12-01T14:25:00Z"), "2026-12-01T14:30:00.000Z");
  assert.equal(next("*/5 * * * *", "2026-12-01T23:58:00Z"), "2026-12-02T00:00:00.000Z");
  assert.equal(next("0 3 * * *", "2026-12-01T03:00:30Z"), "2026-12-02T03:00:00.000Z");
  assert.equal(next("15,45 9-17/4 * * *", "2026-12-01T13:50:00Z"), "2026-12-01T17:15:00.000Z");
  assert.equal(next("0 0 1 JAN *", "2026-12-01T00:00:00Z"), "2027-01-01T00:00:00.000Z");
  assert.equal(next("0 12 * * MON-FRI", "2026-12-05T00:00:00Z"), "2026-12-07T12:00:00.000Z"); // Sat → Mon
  assert.equal(next("0 0 29 FEB *", "2027-03-01T00:00:00Z"), "2028-02-29T00:00:00.000Z");
  for (const bad of ["*/5 * * *", "61 * * * *", "0 0 L * *", "0 0 * * 1", "*/0 * * * *"]) assert.throws(() => parseCron(bad), new RegExp(`cron "${bad.replace(/[*/]/g, "\\$&")}"`), bad);
});

test("the ticker fires at each boundary with the boundary as the scheduled time, one line a tick, and stops", async () => {
  const clock = new FakeClock(at("2026-12-01T14:22:13.500Z"));
  const fired: Array<{ cron: string; time: string; firedAt: number }> = [];
  const lines: string[] = [];
  let fail = false;
  const ticker = startCronTicker({
    crons: ["*/5 * * * *"],
    clock,
    timeZone: "UTC",
    report: (l) => lines.push(l),
    fire: async (cron, time) => {
      fired.push({ cron, time: time.toISOString(), firedAt: clock.now() });
      clock.t += 250; // the handler takes a quarter of a second
      if (fail) throw new Error("HTTP 500 exception");
      return "ok";
    },
  });
  assert.equal(ticker.next()?.toISOString(), "2026-12-01T14:25:00.000Z");
  assert.deepEqual(clock.waits, [at("2026-12-01T14:25:00Z") - at("2026-12-01T14:22:13.500Z")], "it waits for the boundary, not a fixed interval");
  await clock.runNext();
  await clock.runNext();
  fail = true;
  await clock.runNext();
  assert.deepEqual(
    fired.map((f) => [f.cron, f.time, new Date(f.firedAt).toISOString()]),
    [
      ["*/5 * * * *", "2026-12-01T14:25:00.000Z", "2026-12-01T14:25:00.000Z"],
      ["*/5 * * * *", "2026-12-01T14:30:00.000Z", "2026-12-01T14:30:00.000Z"],
      ["*/5 * * * *", "2026-12-01T14:35:00.000Z", "2026-12-01T14:35:00.000Z"],
    ],
  );
  assert.deepEqual(lines, [
    'cron 14:25 UTC "*/5 * * * *": scheduled handler ok in 250 ms',
    'cron 14:30 UTC "*/5 * * * *": scheduled handler ok in 250 ms',
    'cron 14:35 UTC "*/5 * * * *": scheduled handler FAILED (HTTP 500 exception) in 250 ms',
  ]);
  assert.equal(ticker.next()?.toISOString(), "2026-12-01T14:40:00.000Z", "a failed tick does not stop the schedule");
  ticker.stop();
  assert.equal(clock.pending(), 0, "stop leaves no timer");
  assert.equal(ticker.next(), undefined);
});

test("a tick slower than the schedule skips the boundaries it overran instead of piling up", async () => {
  const clock = new FakeClock(at("2026-12-01T14:24:00Z"));
  const times: string[] = [];
  const ticker = startCronTicker({
    crons: ["*/5 * * * *"],
    clock,
    report: () => undefined,
    fire: async (_cron, time) => {
      times.push(time.toISOString());
      clock.t += 11 * 60_000; // longer than two intervals
      return "ok";
    },
  });
  await clock.runNext();
  assert.equal(ticker.next()?.toISOString(), "2026-12-01T14:40:00.000Z");
  await clock.runNext();
  assert.deepEqual(times, ["2026-12-01T14:25:00.000Z", "2026-12-01T14:40:00.000Z"]);
  ticker.stop();
});

test("fireScheduled calls wrangler dev's scheduled handler with the cron and the time in ms", async () => {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? "");
    const ok = !req.url?.includes("fail");
    res.writeHead(ok ? 200 : 500).end(ok ? "ok" : "exception");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  try {
    const time = new Date("2026-12-01T14:25:00Z");
    assert.equal(await fireScheduled(`http://127.0.0.1:${port}`, "*/5 * * * *", time), "ok");
    assert.deepEqual(seen, [`/cdn-cgi/handler/scheduled?cron=*%2F5%20*%20*%20*%20*&time=${time.getTime()}`]);
    await assert.rejects(fireScheduled(`http://127.0.0.1:${port}`, "fail", time), /HTTP 500 exception/);
  } finally {
    server.close();
  }
});
