/**
 * Host → plugin authentication (host contract §2): every tenant route is signed with
 * HMAC-SHA256 over "<timestamp>.<METHOD>.<path with query>.<raw body>".
 *
 * The body is read here, once, under a size cap, before anything parses it; handlers take the
 * verified raw text from the context (`c.get("rawBody")`).
 */
import { readStreamCapped } from "../shared/bytes";
import type { MiddlewareHandler } from "hono";
import type { Env } from "../env";
import { ApiError } from "./errors";

/** Largest request body accepted; the biggest legitimate one, 1000 hashes for verdicts, is ~140 KB. */
export const MAX_BODY_BYTES = 256 * 1024;
/** How far the signed timestamp may be from our clock, either way (contract §2). */
export const SIGNATURE_WINDOW_SECONDS = 300;
/** The signature scheme version we accept. */
const SIGNATURE_PREFIX = "v1=";
/** Hex HMAC-SHA256 is 64 characters; anything else is refused before comparing. */
const SIGNATURE_HEX_LENGTH = 64;

export type SignedVariables = { rawBody: string };

const encoder = new TextEncoder();

/** The exact string the host signs. */
export function signingInput(timestamp: string, method: string, pathWithQuery: string, body: string): string {
  return `${timestamp}.${method.toUpperCase()}.${pathWithQuery}.${body}`;
}

/** HMAC keys an isolate keeps imported: the signing secret, and another while it is being rotated. */
const MAX_CACHED_SIGNING_KEYS = 4;
const signingKeys = new Map<string, Promise<CryptoKey>>();

/** The imported HMAC key of `secret`: imported once per isolate, not on every signed request (the verdict hot path). */
function signingKey(secret: string): Promise<CryptoKey> {
  let key = signingKeys.get(secret);
  if (!key) {
    if (signingKeys.size >= MAX_CACHED_SIGNING_KEYS) signingKeys.clear();
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    // A failed import is not kept: the next request tries again.
    key.catch(() => signingKeys.delete(secret));
    signingKeys.set(secret, key);
  }
  return key;
}

/**
 * Hex HMAC-SHA256 of `input` under `secret`; the host's side of the scheme too, used by the tests.
 * The dev host (dev/host/plugin.ts) and the scripts (scripts/lib/signed.ts) sign with their own copies.
 */
export async function hmacHex(secret: string, input: string): Promise<string> {
  const key = await signingKey(secret);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(input));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Constant-time comparison of two equal-length strings (lengths are public: both are 64 hex). */
function timingSafeEqual(a: string, b: string): boolean {
  const ab = encoder.encode(a);
  const bb = encoder.encode(b);
  if (ab.byteLength !== bb.byteLength) return false;
  return crypto.subtle.timingSafeEqual(ab, bb);
}

/** Reads a request body as text, refusing (413) more than `maxBytes` without buffering past the cap. */
export async function readBodyCapped(request: Request, maxBytes: number): Promise<string> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw bodyTooLarge(maxBytes);
  if (request.body === null) return "";
  const bytes = await readStreamCapped(request.body, maxBytes);
  if (bytes === undefined) throw bodyTooLarge(maxBytes);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ApiError(400, "invalid_encoding", "The request body is not valid UTF-8.");
  }
}

function bodyTooLarge(maxBytes: number): ApiError {
  return new ApiError(413, "body_too_large", `The request body is larger than ${maxBytes} bytes.`);
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, "invalid_signature", message);
}

/** Middleware: refuses unsigned, mis-signed, stale or future-dated calls with 401 JSON. */
export function requireHostSignature(now: () => number = Date.now): MiddlewareHandler<{ Bindings: Env; Variables: SignedVariables }> {
  return async (c, next) => {
    const body = await readBodyCapped(c.req.raw, MAX_BODY_BYTES);
    const timestamp = c.req.header("x-host-timestamp");
    const signature = c.req.header("x-host-signature");
    if (!timestamp || !signature) throw unauthorized("The call is not signed: X-Host-Timestamp and X-Host-Signature are required.");
    if (!/^\d{1,12}$/.test(timestamp)) throw unauthorized("X-Host-Timestamp must be Unix seconds.");
    const skew = Math.abs(now() / 1000 - Number(timestamp));
    if (skew > SIGNATURE_WINDOW_SECONDS) throw unauthorized(`X-Host-Timestamp is more than ${SIGNATURE_WINDOW_SECONDS} seconds from the plugin's clock.`);
    const given = signature.startsWith(SIGNATURE_PREFIX) ? signature.slice(SIGNATURE_PREFIX.length).toLowerCase() : "";
    if (given.length !== SIGNATURE_HEX_LENGTH) throw unauthorized("X-Host-Signature must be v1=<64 hex characters>.");
    if (!c.env.HOST_SIGNING_SECRET) throw new ApiError(503, "not_configured", "The plugin has no HOST_SIGNING_SECRET configured.");
    const url = new URL(c.req.url);
    const expected = await hmacHex(c.env.HOST_SIGNING_SECRET, signingInput(timestamp, c.req.method, url.pathname + url.search, body));
    if (!timingSafeEqual(given, expected)) throw unauthorized("X-Host-Signature does not match the request.");
    c.set("rawBody", body);
    await next();
  };
}
