/**
 * The one way the plugin talks to Cynet: a fetch to a URL an admin supplied, so it goes through
 * the bounded upstream fetch (src/shared/upstream.ts: timeout, no redirects, size cap), and
 * upstream error bodies are kept out of anything a user sees.
 */

import { countSubrequest } from "../observability/meter";
import { fetchBounded, UpstreamError, type UpstreamAnswer, type UpstreamFailure } from "../shared/upstream";
import { parseRetryAfter } from "../shared/http-time";
import type { Env } from "../env";

/** Longest the plugin waits for one Cynet call; a page of 100 alerts answers in well under it. */
export const CYNET_TIMEOUT_MS = 15_000;
/** Largest Cynet answer read; a page of 100 alerts is a few hundred KB. */
export const MAX_CYNET_RESPONSE_BYTES = 8 * 1024 * 1024;
/** Longest Retry-After honoured; the sync's own backoff cap bounds the wait anyway. */
const MAX_RETRY_AFTER_SECONDS = 2 * 60 * 60;
/** How much of an upstream error body is kept for the operator's log. */
const MAX_LOGGED_DETAIL = 200;

/** What went wrong talking to Cynet, in terms the callers map to admin messages: the upstream's failures, or an answer that is not what cynet-api.md says (malformed) or not a 2xx (http). */
export type CynetFailure = UpstreamFailure | "malformed" | "http";

/** A failed Cynet call. `detail` is for logs only (truncated, secret-free); never send it to a client. */
export class CynetError extends Error {
  override name = "CynetError";
  constructor(
    readonly failure: CynetFailure,
    readonly status: number | undefined,
    readonly detail: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(`Cynet call failed: ${failure}${status === undefined ? "" : ` ${status}`}`);
  }
}

/** Where a tenant's Cynet lives, and (in development) where its calls really go. */
export interface CynetTarget {
  /** The normalized `https://<label>.api.cynet.com` stored for the tenant. */
  baseUrl: string;
  /** CYNET_ORIGIN_OVERRIDE, when set: the origin every call goes to instead. */
  originOverride?: string | undefined;
}

/** The Cynet target for a tenant's normalized base URL, honouring the development override. */
export function cynetTarget(env: Pick<Env, "CYNET_ORIGIN_OVERRIDE">, baseUrl: string): CynetTarget {
  return { baseUrl, originOverride: env.CYNET_ORIGIN_OVERRIDE || undefined };
}

/** Builds the request URL and headers for a Cynet path, applying the development override. */
function resolve(target: CynetTarget, pathAndQuery: string): { url: string; extraHeaders: Record<string, string> } {
  const base = new URL(target.baseUrl);
  if (!target.originOverride) return { url: new URL(pathAndQuery, base).toString(), extraHeaders: {} };
  // The simulator serves many Cynet tenants; it tells them apart by the host we would have called.
  return { url: new URL(pathAndQuery, target.originOverride).toString(), extraHeaders: { "x-forwarded-host": base.host } };
}

/**
 * Calls Cynet and returns the parsed JSON of a 2xx answer; throws CynetError otherwise. A body is
 * sent as JSON, or as form data when it is URLSearchParams (host remediation takes `host=`).
 */
export async function cynetRequest(
  target: CynetTarget,
  method: "GET" | "POST",
  pathAndQuery: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<unknown> {
  const { url, extraHeaders } = resolve(target, pathAndQuery);
  const form = body instanceof URLSearchParams;
  const contentType: Record<string, string> = body === undefined ? {} : { "content-type": form ? "application/x-www-form-urlencoded" : "application/json" };
  countSubrequest("cynet");
  let answer: UpstreamAnswer;
  try {
    answer = await fetchBounded(
      url,
      {
        method,
        headers: { accept: "application/json", ...contentType, ...headers, ...extraHeaders },
        body: body === undefined ? undefined : form ? body.toString() : JSON.stringify(body),
      },
      { timeoutMs: CYNET_TIMEOUT_MS, maxBytes: MAX_CYNET_RESPONSE_BYTES },
    );
  } catch (err) {
    if (err instanceof UpstreamError) throw new CynetError(err.failure, err.status, err.detail);
    throw err;
  }
  const text = answer.text;
  if (answer.status < 200 || answer.status >= 300) {
    throw new CynetError("http", answer.status, text.slice(0, MAX_LOGGED_DETAIL), parseRetryAfter(answer.headers.get("retry-after"), MAX_RETRY_AFTER_SECONDS));
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CynetError("malformed", answer.status, "body is not JSON");
  }
}
