/**
 * The one way the plugin talks to Cynet: a fetch to a URL an admin supplied, so it is bounded
 * like any untrusted upstream. A timeout on every call, redirects never followed, the body
 * read under a size cap, and upstream error bodies kept out of anything a user sees.
 */

import { countSubrequest } from "../observability/meter";
import { readStreamCapped } from "../shared/bytes";
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

/** What went wrong talking to Cynet, in terms the callers map to admin messages. */
export type CynetFailure =
  | "unreachable" // DNS, TLS, connection refused
  | "timeout"
  | "redirect" // Cynet answered 3xx: a wrong base URL, never followed
  | "too_large"
  | "malformed" // 2xx whose body is not what cynet-api.md says
  | "http"; // any other non-2xx status

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

async function readCapped(response: Response): Promise<string> {
  const declared = response.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_CYNET_RESPONSE_BYTES) {
    await response.body?.cancel();
    throw new CynetError("too_large", response.status, `content-length ${declared}`);
  }
  if (response.body === null) return "";
  // A declared length of an uncompressed body is what arrives (the runtime holds the framing to
  // it), so the native read is safe. A compressed or chunked body is counted as it streams: its
  // size is only known by reading it.
  const encoding = response.headers.get("content-encoding");
  if (declared !== null && (encoding === null || encoding === "identity")) return response.text();
  const bytes = await readStreamCapped(response.body, MAX_CYNET_RESPONSE_BYTES);
  if (bytes === undefined) throw new CynetError("too_large", response.status, `more than ${MAX_CYNET_RESPONSE_BYTES} bytes`);
  return new TextDecoder().decode(bytes);
}

/** Calls Cynet and returns the parsed JSON of a 2xx answer; throws CynetError otherwise. */
export async function cynetRequest(
  target: CynetTarget,
  method: "GET" | "POST",
  pathAndQuery: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<unknown> {
  const { url, extraHeaders } = resolve(target, pathAndQuery);
  let response: Response;
  countSubrequest("cynet");
  try {
    response = await fetch(url, {
      method,
      headers: { accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers, ...extraHeaders },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: "manual",
      signal: AbortSignal.timeout(CYNET_TIMEOUT_MS),
    });
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    throw new CynetError(timedOut ? "timeout" : "unreachable", undefined, err instanceof Error ? err.name : "fetch failed");
  }
  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel();
    throw new CynetError("redirect", response.status, "redirect not followed");
  }
  let text: string;
  try {
    text = await readCapped(response);
  } catch (err) {
    if (err instanceof CynetError) throw err;
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    throw new CynetError(timedOut ? "timeout" : "unreachable", response.status, "body read failed");
  }
  if (response.status < 200 || response.status >= 300) {
    throw new CynetError("http", response.status, text.slice(0, MAX_LOGGED_DETAIL), parseRetryAfter(response.headers.get("retry-after"), MAX_RETRY_AFTER_SECONDS));
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CynetError("malformed", response.status, "body is not JSON");
  }
}
