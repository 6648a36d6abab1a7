/**
 * The one way the plugin calls an upstream (Cynet, whose URL an admin typed, and the host):
 * a timeout on every call, redirects never followed, the answer read under a size cap. The
 * callers turn an UpstreamError into their own error (CynetError, HostError) and parse the
 * text with zod; no upstream body reaches a client.
 *
 * @example
 * const answer = await fetchBounded(url, { method: "GET" }, { timeoutMs: 15_000, maxBytes: 1 << 20 });
 * if (answer.status === 200) JSON.parse(answer.text);
 */
import { readStreamCapped } from "./bytes";

/** How an upstream call failed before it gave an answer to read. */
export type UpstreamFailure =
  | "unreachable" // DNS, TLS, connection refused, the body cut off
  | "timeout"
  | "redirect" // a 3xx: never followed
  | "too_large"; // past the caller's cap, declared or counted as it streamed

/** An upstream call that gave no readable answer. `status` is the answer's, when there was one. */
export class UpstreamError extends Error {
  override name = "UpstreamError";
  constructor(
    readonly failure: UpstreamFailure,
    readonly status: number | undefined,
    readonly detail: string,
  ) {
    super(`upstream call failed: ${failure}${status === undefined ? "" : ` ${status}`}`);
  }
}

/** An answer read whole: any status but a redirect. */
export interface UpstreamAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** The bounds of one call. */
export interface UpstreamBounds {
  timeoutMs: number;
  maxBytes: number;
}

const isTimeout = (err: unknown) => err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");

/** Reads the body under `maxBytes`: refused on its declared length, or counted as it streams. */
async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const declared = response.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    await response.body?.cancel();
    throw new UpstreamError("too_large", response.status, `content-length ${declared}`);
  }
  if (response.body === null) return "";
  // A declared length of an uncompressed body is what arrives (the runtime holds the framing to
  // it), so the native read is safe. A compressed or chunked body is counted as it streams: its
  // size is only known by reading it.
  const encoding = response.headers.get("content-encoding");
  if (declared !== null && (encoding === null || encoding === "identity")) return response.text();
  const bytes = await readStreamCapped(response.body, maxBytes);
  if (bytes === undefined) throw new UpstreamError("too_large", response.status, `more than ${maxBytes} bytes`);
  return new TextDecoder().decode(bytes);
}

/** Calls `url` within `bounds` and returns the whole answer; throws UpstreamError when there is none to read. */
export async function fetchBounded(url: string | URL, init: Omit<RequestInit, "redirect" | "signal">, bounds: UpstreamBounds): Promise<UpstreamAnswer> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(bounds.timeoutMs) });
  } catch (err) {
    throw new UpstreamError(isTimeout(err) ? "timeout" : "unreachable", undefined, err instanceof Error ? err.name : "fetch failed");
  }
  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel();
    throw new UpstreamError("redirect", response.status, "redirect not followed");
  }
  try {
    return { status: response.status, headers: response.headers, text: await readCapped(response, bounds.maxBytes) };
  } catch (err) {
    if (err instanceof UpstreamError) throw err;
    throw new UpstreamError(isTimeout(err) ? "timeout" : "unreachable", response.status, "body read failed");
  }
}
