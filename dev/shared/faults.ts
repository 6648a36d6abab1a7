import { z } from "zod";

/** Marker in every simulated error body, so tests can assert it is never echoed. */
export const SIMULATED_DETAIL_MARKER = "SIMULATED-UPSTREAM-DETAIL";

/** Statuses a fault may answer with: the ones the real services are known to send. */
export const FAULT_STATUSES = [400, 401, 403, 404, 409, 429, 500, 502, 503] as const;

/** Longest delay a rule may add: long enough to trip any client timeout, short enough for a test. */
const MAX_DELAY_MS = 30_000;
/** Longest Retry-After a rule may announce: one day covers every back-off a client should honour. */
const MAX_RETRY_AFTER_SECONDS = 86_400;
/** Longest redirect target: the usual practical URL limit. */
const MAX_REDIRECT_LENGTH = 2_048;
/** Largest oversize answer a rule may ask for: past any client's cap, small enough to build in a test. */
const MAX_OVERSIZE_BYTES = 32 * 1024 * 1024;
/** Chunk an oversize answer is streamed in. */
const OVERSIZE_CHUNK_BYTES = 64 * 1024;
/** Wildcard endpoint name: the rule matches every endpoint. */
const ANY_ENDPOINT = "*";

const statusSchema = z.union(FAULT_STATUSES.map((s) => z.literal(s)));

/** Everything in a rule but its endpoint. */
const ruleFields = {
  status: statusSchema.optional(),
  retryAfterSeconds: z.number().int().min(0).max(MAX_RETRY_AFTER_SECONDS).optional(),
  delayMs: z.number().int().min(0).max(MAX_DELAY_MS).optional(),
  malformed: z.literal(true).optional(),
  redirectTo: z.string().min(1).max(MAX_REDIRECT_LENGTH).optional(),
  /** A 200 of this many bytes, with its Content-Length declared or streamed without one. */
  oversize: z.strictObject({ bytes: z.number().int().min(1).max(MAX_OVERSIZE_BYTES), declared: z.boolean() }).optional(),
  times: z.number().int().min(1).optional(),
  afterCalls: z.number().int().min(0).optional(),
};

/** A rule as stored: any endpoint name. */
const storedRuleSchema = z.strictObject({ endpoint: z.string(), ...ruleFields });

/** A fault rule. */
export type FaultRule = z.infer<typeof storedRuleSchema>;

/** A rule with its counters (`seen`: matching calls, `fired`: times it acted), as stored and listed. */
export const faultEntrySchema = z.strictObject({
  rule: storedRuleSchema,
  seen: z.number().int().min(0),
  fired: z.number().int().min(0),
});

/** A rule with its counters. */
export type FaultEntry = z.infer<typeof faultEntrySchema>;

function givesAnswer(rule: FaultRule): boolean {
  return rule.status !== undefined || rule.malformed === true || rule.redirectTo !== undefined || rule.oversize !== undefined;
}

/** Builds the schema of a fault rule for a service with the given endpoint names. */
export function faultRuleSchema(endpoints: readonly [string, ...string[]]) {
  return z
    .strictObject({ endpoint: z.enum([ANY_ENDPOINT, ...endpoints]), ...ruleFields })
    .superRefine((rule, ctx) => {
      const answers = [rule.status, rule.malformed, rule.redirectTo, rule.oversize].filter((v) => v !== undefined);
      if (answers.length > 1) {
        ctx.addIssue({ code: "custom", path: ["status"], message: "give at most one of status, malformed, redirectTo, oversize" });
      }
      if (answers.length === 0 && rule.delayMs === undefined) {
        ctx.addIssue({ code: "custom", path: ["status"], message: "give status, malformed, redirectTo, oversize or delayMs" });
      }
    });
}

function answer(rule: FaultRule): Response | null {
  if (rule.redirectTo !== undefined) {
    return new Response(null, { status: 302, headers: { location: rule.redirectTo } });
  }
  if (rule.oversize !== undefined) {
    const { bytes, declared } = rule.oversize;
    const chunk = new TextEncoder().encode(" ".repeat(OVERSIZE_CHUNK_BYTES));
    if (declared) return new Response(new Uint8Array(bytes).fill(32), { status: 200, headers: { "content-type": "application/json" } });
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= bytes) return controller.close();
        const part = chunk.subarray(0, Math.min(chunk.byteLength, bytes - sent));
        sent += part.byteLength;
        controller.enqueue(part);
      },
    });
    return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
  }
  if (rule.malformed === true) {
    // Starts like JSON and stops, so a client that trusts content-type still fails to parse it.
    const body = `{"${SIMULATED_DETAIL_MARKER}": [ <html>`;
    return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
  }
  if (rule.status === undefined) return null;
  const headers = new Headers({ "content-type": "application/json" });
  if (rule.retryAfterSeconds !== undefined) headers.set("retry-after", String(rule.retryAfterSeconds));
  const body = { error: "simulated_fault", message: `simulated ${rule.status}`, detail: SIMULATED_DETAIL_MARKER };
  return new Response(JSON.stringify(body), { status: rule.status, headers });
}

/** Ordered fault rules for one service instance, applied to each API call. */
export class FaultBook {
  #entries: FaultEntry[];

  constructor(entries: FaultEntry[] = []) {
    this.#entries = entries.map((e) => ({ rule: { ...e.rule }, seen: e.seen, fired: e.fired }));
  }

  /** Appends a rule (rules act in the order they were added). */
  add(rule: FaultRule): void {
    this.#entries.push({ rule, seen: 0, fired: 0 });
  }

  /** Removes every rule; returns how many there were. */
  clear(): number {
    const count = this.#entries.length;
    this.#entries = [];
    return count;
  }

  /** A copy of the rules and their counters. */
  entries(): FaultEntry[] {
    return this.#entries.map((e) => ({ rule: { ...e.rule }, seen: e.seen, fired: e.fired }));
  }

  /**
   * Counts a call to `endpoint` against every matching rule, waits for the delays of the
   * eligible rules up to the first one that answers, and returns that answer (null: serve normally).
   */
  async apply(endpoint: string): Promise<Response | null> {
    let delayMs = 0;
    let chosen: FaultRule | null = null;
    for (const entry of this.#entries) {
      const { rule } = entry;
      if (rule.endpoint !== ANY_ENDPOINT && rule.endpoint !== endpoint) continue;
      entry.seen += 1;
      if (chosen !== null) continue;
      const past = entry.seen > (rule.afterCalls ?? 0);
      const left = rule.times === undefined || entry.fired < rule.times;
      if (!past || !left) continue;
      entry.fired += 1;
      delayMs += rule.delayMs ?? 0;
      if (givesAnswer(rule)) chosen = rule;
    }
    if (delayMs > 0) await scheduler.wait(delayMs);
    return chosen === null ? null : answer(chosen);
  }
}
