/**
 * The plugin's Cron Trigger, run locally: `wrangler dev` never fires a cron by itself, so
 * `npm start` (scripts/start.ts) fires the plugin's scheduled handler at each boundary of the
 * schedule wrangler.toml declares (`[triggers] crons`, the one source; plugin.manifest.json's
 * sync.schedule is held to it by test/manifest), as Cloudflare would: in UTC, on the clock's
 * marks ("*\/5 * * * *" is :00, :05, :10, …), with the boundary as the scheduled time.
 *
 * One tick at a time: the next boundary is taken after the previous tick has answered, so a
 * slow tick skips boundaries instead of piling up (Cloudflare does not catch up either). Time
 * comes from a TickerClock, so test/e2e/cron.test.ts drives it without waiting for the schedule.
 */
import { readFileSync } from "node:fs";

/** A scheduled-handler call that has not answered in this long is reported as failed; the ticker moves on. */
const FIRE_TIMEOUT_MS = 120_000;
/** Longest single timer (setTimeout's limit is 2^31-1 ms, about 24.8 days); a later boundary is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How far ahead a boundary is searched: five years, so even a "29 Feb" schedule is found. */
const MAX_SEARCH_MINUTES = 5 * 366 * 24 * 60;

const MINUTE_MS = 60_000;
const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/** The minutes, hours, days of month, months (1-12) and weekdays (0 = Sunday) a schedule fires on. */
export interface CronSchedule {
  expression: string;
  minutes: Set<number>;
  hours: Set<number>;
  daysOfMonth: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** Cron's rule: when both day fields are restricted, a day matching either fires. */
  dayOfMonthAny: boolean;
  weekdayAny: boolean;
}

/**
 * Parses a five-field cron expression: `*`, `N`, `N-M`, `*\/S`, `N-M/S` and lists of them;
 * months also as JAN-DEC, weekdays only as SUN-SAT (Cloudflare numbers weekdays differently
 * from Unix cron, so a number there is refused rather than guessed). Anything else (L, W, #, ?)
 * is refused with the expression named.
 */
export function parseCron(expression: string): CronSchedule {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) throw new Error(`cron "${expression}": expected 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`);
  const [minute, hour, dayOfMonth, month, weekday] = fields as [string, string, string, string, string];
  return {
    expression,
    minutes: parseField(expression, minute, 0, 59),
    hours: parseField(expression, hour, 0, 23),
    daysOfMonth: parseField(expression, dayOfMonth, 1, 31),
    months: parseField(expression, month, 1, 12, MONTHS, 1),
    weekdays: parseField(expression, weekday, 0, 6, DAYS, 0, true),
    dayOfMonthAny: dayOfMonth === "*",
    weekdayAny: weekday === "*",
  };
}

function parseField(expression: string, field: string, min: number, max: number, names: string[] = [], firstName = 0, namesOnly = false): Set<number> {
  const refuse = (part: string): never => {
    throw new Error(`cron "${expression}": "${part}" is not supported by npm start's scheduler (it fires *, N, N-M, */S, N-M/S and lists${namesOnly ? "; weekdays as SUN-SAT" : ""})`);
  };
  const value = (text: string): number => {
    const named = names.indexOf(text.toUpperCase());
    if (named >= 0) return named + firstName;
    if (namesOnly || !/^\d+$/.test(text)) return refuse(text);
    const n = Number(text);
    if (n < min || n > max) return refuse(text);
    return n;
  };
  const out = new Set<number>();
  for (const part of field.split(",")) {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(part);
    if (!m) refuse(part);
    const [, range, stepText] = m!;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) refuse(part);
    let from: number;
    let to: number;
    if (range === "*") [from, to] = [min, max];
    else if (range!.includes("-")) {
      const [a, b] = range!.split("-");
      [from, to] = [value(a!), value(b!)];
      if (from > to) refuse(part);
    } else {
      from = value(range!);
      to = stepText === undefined ? from : max;
    }
    for (let n = from; n <= to; n += step) out.add(n);
  }
  return out;
}

function fires(s: CronSchedule, at: Date): boolean {
  if (!s.minutes.has(at.getUTCMinutes()) || !s.hours.has(at.getUTCHours()) || !s.months.has(at.getUTCMonth() + 1)) return false;
  const dom = s.daysOfMonth.has(at.getUTCDate());
  const dow = s.weekdays.has(at.getUTCDay());
  if (s.dayOfMonthAny || s.weekdayAny) return dom && dow;
  return dom || dow;
}

/** The first boundary of `schedule` strictly after `afterMs` (UTC, whole minutes). */
export function nextBoundary(schedule: CronSchedule, afterMs: number): Date {
  let t = Math.floor(afterMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  for (let i = 0; i < MAX_SEARCH_MINUTES; i++, t += MINUTE_MS) {
    const at = new Date(t);
    if (fires(schedule, at)) return at;
  }
  throw new Error(`cron "${schedule.expression}" never fires in the next five years`);
}

/**
 * The cron expressions of a wrangler.toml's `[triggers] crons` (the top-level section; the
 * plugin declares no environments). Throws when there is none, so a missing schedule is said, not skipped.
 */
export function readCrons(wranglerToml: string): string[] {
  const text = readFileSync(wranglerToml, "utf8");
  const section = /^\[triggers\][^\n]*\n([\s\S]*?)(?=^\s*\[|(?![\s\S]))/m.exec(text)?.[1] ?? "";
  const list = /^\s*crons\s*=\s*\[([\s\S]*?)\]/m.exec(section)?.[1];
  const crons = list === undefined ? [] : [...list.replace(/#[^\n]*/g, "").matchAll(/"([^"]*)"|'([^']*)'/g)].map((m) => m[1] ?? m[2]!);
  if (crons.length === 0) throw new Error(`${wranglerToml} declares no [triggers] crons`);
  return crons;
}

/**
 * Fires the scheduled handler of the Worker `wrangler dev` serves at `pluginUrl`, as the cron
 * `cron` at `scheduledTime`: wrangler's /cdn-cgi/handler/scheduled (`time` in ms). Resolves to
 * wrangler's outcome ("ok" when the handler returned), rejects when it failed or did not answer.
 */
export async function fireScheduled(pluginUrl: string, cron: string, scheduledTime: Date): Promise<string> {
  const url = `${pluginUrl}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent(cron)}&time=${scheduledTime.getTime()}`;
  const r = await fetch(url, { signal: AbortSignal.timeout(FIRE_TIMEOUT_MS) });
  const outcome = (await r.text()).trim().slice(0, 200);
  if (!r.ok) throw new Error(`HTTP ${r.status} ${outcome}`);
  return outcome;
}

/** Time as the ticker sees it; tests inject one that moves on without waiting. */
export interface TickerClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemTickerClock: TickerClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A boundary as a newcomer compares it with the dev host's "Next sync" (local time, zone named). */
export function clockTime(at: Date, timeZone?: string): string {
  return at.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", timeZone, timeZoneName: "short" });
}

export interface CronTicker {
  /** The boundary the ticker waits for (undefined once stopped). */
  next(): Date | undefined;
  /** Stops it: no timer left, no further tick; a tick in flight finishes unreported. */
  stop(): void;
}

export interface TickerOptions {
  crons: string[];
  fire: (cron: string, scheduledTime: Date) => Promise<string>;
  /** One short line per tick. */
  report: (line: string) => void;
  clock?: TickerClock;
  timeZone?: string;
}

/** Fires every cron of `crons` at each of its boundaries, one tick at a time, until stop(). */
export function startCronTicker({ crons, fire, report, clock = systemTickerClock, timeZone }: TickerOptions): CronTicker {
  const schedules = crons.map(parseCron);
  let stopped = false;
  let timer: unknown;
  let waitingFor: Date | undefined;

  const arm = (afterMs: number) => {
    if (stopped) return;
    const due = schedules.map((s) => ({ s, at: nextBoundary(s, afterMs) }));
    const at = Math.min(...due.map((d) => d.at.getTime()));
    waitingFor = new Date(at);
    const wake = () => {
      if (stopped) return;
      if (clock.now() < at) {
        timer = clock.setTimer(wake, Math.min(at - clock.now(), MAX_TIMER_MS));
        return;
      }
      void tick(due.filter((d) => d.at.getTime() === at).map((d) => d.s.expression), new Date(at));
    };
    timer = clock.setTimer(wake, Math.min(Math.max(at - clock.now(), 0), MAX_TIMER_MS));
  };

  const tick = async (expressions: string[], at: Date) => {
    for (const cron of expressions) {
      const started = clock.now();
      let outcome: string;
      try {
        outcome = await fire(cron, at);
      } catch (err) {
        outcome = `FAILED (${err instanceof Error ? err.message : String(err)})`;
      }
      if (stopped) return;
      report(`cron ${clockTime(at, timeZone)} "${cron}": scheduled handler ${outcome} in ${clock.now() - started} ms`);
    }
    // The next boundary after now, not after `at`: a tick slower than the schedule skips boundaries.
    arm(Math.max(clock.now(), at.getTime()));
  };

  arm(clock.now());
  return {
    next: () => (stopped ? undefined : waitingFor),
    stop: () => {
      stopped = true;
      waitingFor = undefined;
      if (timer !== undefined) clock.clearTimer(timer);
    },
  };
}
