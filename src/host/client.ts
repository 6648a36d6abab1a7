/**
 * Calls to the host API (contract §4): bearer token, an Idempotency-Key on every POST, every
 * answer validated. Failures are sorted into "retry later" and "will not get better".
 */
import { countSubrequest } from "../observability/meter";
import { parseRetryAfter } from "../shared/http-time";
import { fetchBounded, UpstreamError, type UpstreamAnswer } from "../shared/upstream";
import type { z } from "zod";
import type { Env } from "../env";
import {
  EventsBatchRequest,
  EventsBatchResponse,
  type HostEvent,
  IrRequest,
  IrResponse,
  NoteRequest,
  NoteResponse,
  ScansSearchRequest,
  ScansSearchResponse,
} from "./schemas";

/** Longest the plugin waits for the host; a stuck host is retried later, not waited on. */
export const HOST_TIMEOUT_MS = 15_000;
/** Largest host answer read: a scans/search answer naming tens of thousands of scans (about 120 bytes each) fits; an events/batch answer is about 20 KB. */
export const MAX_HOST_RESPONSE_BYTES = 8 * 1024 * 1024;
/** How much of a host error body is kept in the failure record. */
const MAX_ERROR_DETAIL = 300;
/** Longest Retry-After honoured: a queue message can be delayed 12 hours at most. */
const MAX_RETRY_AFTER_SECONDS = 12 * 60 * 60;
/** Statuses that say "try again later" (contract §4); every other 4xx is permanent. */
const RETRYABLE_4XX = new Set([408, 409, 429]);

/** A failed host call. `retryable` says whether sending it again may succeed. */
export class HostError extends Error {
  override name = "HostError";
  constructor(
    readonly retryable: boolean,
    readonly status: number | undefined,
    readonly detail: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(`host call failed${status === undefined ? "" : `: HTTP ${status}`}: ${detail}`);
  }
}


/** Removes every occurrence of a secret from text bound for storage or logs. */
function redact(text: string, secret: string): string {
  return secret ? text.split(secret).join("[redacted]") : text;
}

async function post<T>(env: Env, path: string, body: unknown, idempotencyKey: string, answer: z.ZodType<T>): Promise<T> {
  const url = new URL(path, env.HOST_API_URL.endsWith("/") ? env.HOST_API_URL : `${env.HOST_API_URL}/`);
  countSubrequest("host");
  let reply: UpstreamAnswer;
  try {
    reply = await fetchBounded(
      url,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${env.HOST_API_TOKEN}`,
          "content-type": "application/json",
          accept: "application/json",
          "idempotency-key": idempotencyKey,
        },
        body: JSON.stringify(body),
      },
      { timeoutMs: HOST_TIMEOUT_MS, maxBytes: MAX_HOST_RESPONSE_BYTES },
    );
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err;
    // A redirect will not get better by asking again; a host that did not answer, or answered too much, may.
    if (err.failure === "redirect") throw new HostError(false, err.status, "the host answered with a redirect, which is never followed");
    const why = { timeout: "the host did not answer in time", unreachable: "the host could not be reached", too_large: "the host's answer was larger than the channel reads" }[err.failure];
    throw new HostError(true, err.status, why);
  }
  const { status, text } = reply;
  // The host's reason is kept for the admin; a proxy echoing our request must not leak the token.
  const reason = redact(text, env.HOST_API_TOKEN).slice(0, MAX_ERROR_DETAIL);
  if (status >= 500 || RETRYABLE_4XX.has(status)) {
    throw new HostError(true, status, reason, parseRetryAfter(reply.headers.get("retry-after"), MAX_RETRY_AFTER_SECONDS));
  }
  if (status < 200 || status >= 300) {
    throw new HostError(false, status, reason || `HTTP ${status}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new HostError(true, status, "the host's answer was not JSON");
  }
  const parsed = answer.safeParse(json);
  if (!parsed.success) throw new HostError(true, status, "the host's answer did not match the contract");
  return parsed.data;
}

const tenantPath = (tenantId: string, rest: string) => `v1/tenants/${encodeURIComponent(tenantId)}/${rest}`;

/** POST events/batch: up to 100 events, each with its own idempotency key. */
export function postEventsBatch(env: Env, tenantId: string, events: HostEvent[], idempotencyKey: string) {
  return post(env, tenantPath(tenantId, "events/batch"), EventsBatchRequest.parse({ events }), idempotencyKey, EventsBatchResponse);
}

/** POST scans/search: which of the tenant's scans included these hashes (≤ 100 in all). */
export function searchScans(env: Env, tenantId: string, hashes: z.input<typeof ScansSearchRequest>, idempotencyKey: string) {
  return post(env, tenantPath(tenantId, "scans/search"), ScansSearchRequest.parse(hashes), idempotencyKey, ScansSearchResponse);
}

/** POST scans/{scanId}/notes: a note on a scan's details. */
export function postScanNote(env: Env, tenantId: string, scanId: string, note: NoteRequest, idempotencyKey: string) {
  return post(env, tenantPath(tenantId, `scans/${encodeURIComponent(scanId)}/notes`), NoteRequest.parse(note), idempotencyKey, NoteResponse);
}

/** POST ir-requests: a request to the IR team. */
export function postIrRequest(env: Env, tenantId: string, request: IrRequest, idempotencyKey: string) {
  return post(env, tenantPath(tenantId, "ir-requests"), IrRequest.parse(request), idempotencyKey, IrResponse);
}
