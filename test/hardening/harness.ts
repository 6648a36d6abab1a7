/**
 * Shared equipment of the hardening suites: raw signed calls to the plugin (any method, path,
 * content type and body, bytes included), the plugin's own view of a body for signing, and the
 * detectors the suites count with (stack traces, error-body shape, secret occurrences).
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import worker from "../../src/index";
import type { Env } from "../../src/env";
import { hmacHex, signingInput } from "../../src/http/signature";

/** A request body: text, raw bytes (possibly not UTF-8), or none. */
export type Body = string | Uint8Array | undefined;

/** How a call is signed: correctly, or one of the ways the host contract refuses. */
export type SignMode = "valid" | "none" | "garbage" | "stale" | "future" | "wrong-secret" | "wrong-path";

export interface RawCall {
  method: string;
  /** Path with query, exactly as put on the wire (the URL parser may still normalize it). */
  path: string;
  body?: Body;
  /** null: no content-type header; undefined: application/json when there is a body. */
  contentType?: string | null;
  sign?: SignMode;
  /** Extra headers (invalid header values are dropped, not sent). */
  headers?: Record<string, string>;
}

export interface RawAnswer {
  status: number;
  text: string;
  contentType: string | null;
  /** The Worker threw instead of answering (counted as a 500 by the suites). */
  threw?: string;
  /** The request could not even be built by the runtime (e.g. a header value it refuses). */
  unsendable?: string;
}

const utf8 = new TextEncoder();

/**
 * The body text the plugin verifies the signature over: the bytes decoded as UTF-8 exactly as
 * src/http/signature.ts decodes them (fatal, BOM consumed). null when the bytes are not UTF-8:
 * the plugin refuses those (400) before it looks at the signature, so no signature can match.
 */
export function pluginView(body: Body): string | null {
  if (body === undefined) return "";
  const bytes = typeof body === "string" ? utf8.encode(body) : body;
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return null;
  }
}

/** The byte length of a body. */
export function byteLength(body: Body): number {
  if (body === undefined) return 0;
  return typeof body === "string" ? utf8.encode(body).byteLength : body.byteLength;
}

/** Builds the Request the host would send: signed over the path and body as the plugin will see them. */
export async function buildRequest(call: RawCall, secret = env.HOST_SIGNING_SECRET): Promise<Request> {
  const method = call.method.toUpperCase();
  const url = new URL(`https://plugin.test${call.path.startsWith("/") ? "" : "/"}${call.path}`);
  // GET and HEAD cannot carry a body; the fuzzers' bodies for them are dropped before signing.
  const body = method === "GET" || method === "HEAD" ? undefined : call.body;
  const headers = new Headers();
  const nowS = Math.floor(Date.now() / 1000);
  const mode = call.sign ?? "valid";
  const timestamp = String(mode === "stale" ? nowS - 301 : mode === "future" ? nowS + 301 : nowS);
  const seen = pluginView(body) ?? new TextDecoder().decode(typeof body === "string" ? utf8.encode(body) : body);
  const signedPath = mode === "wrong-path" ? `${url.pathname}x${url.search}` : url.pathname + url.search;
  const mac = await hmacHex(mode === "wrong-secret" ? `${secret}-not` : secret, signingInput(timestamp, method, signedPath, seen));
  if (mode !== "none") {
    headers.set("x-host-timestamp", timestamp);
    headers.set("x-host-signature", mode === "garbage" ? `v1=${"z".repeat(64)}` : `v1=${mac}`);
  }
  const contentType = call.contentType === undefined ? (body !== undefined && byteLength(body) > 0 ? "application/json" : null) : call.contentType;
  if (contentType !== null) {
    try {
      headers.set("content-type", contentType);
    } catch {
      // A value the Headers class refuses never reaches a server either.
    }
  }
  for (const [k, v] of Object.entries(call.headers ?? {})) {
    try {
      headers.set(k, v);
    } catch {
      // as above
    }
  }
  return new Request(url, { method, headers, body: body === undefined || byteLength(body) === 0 ? undefined : body });
}

/**
 * Sends a call to the plugin. With `testEnv`, through the Worker's own fetch handler
 * (src/index.ts: metering, the Hono app, its error handlers) with that env, so queue sends are
 * captured; without, through the runtime (`exports.default.fetch`), as the host would.
 */
export async function send(call: RawCall, testEnv?: Env): Promise<RawAnswer> {
  let request: Request;
  try {
    request = await buildRequest(call);
  } catch (err) {
    return { status: 0, text: "", contentType: null, unsendable: String(err) };
  }
  try {
    let response: Response;
    if (testEnv) {
      const ctx = createExecutionContext();
      response = await worker.fetch(request as Parameters<typeof worker.fetch>[0], testEnv, ctx);
      await waitOnExecutionContext(ctx);
    } else {
      response = await exports.default.fetch(request);
    }
    return { status: response.status, text: await response.text(), contentType: response.headers.get("content-type") };
  } catch (err) {
    return { status: 500, text: String(err instanceof Error ? err.stack : err), contentType: null, threw: String(err) };
  }
}

/** A signed JSON call through the Worker's handler with `testEnv`; status, text and parsed body. */
export async function callApp<T = Record<string, unknown>>(testEnv: Env, method: string, path: string, body?: unknown) {
  const r = await send({ method, path, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) }, testEnv);
  let json: T;
  try {
    json = JSON.parse(r.text) as T;
  } catch {
    throw new Error(`plugin answered ${r.status} with non-JSON: ${r.text.slice(0, 300)}`);
  }
  return { status: r.status, body: json, text: r.text };
}

/**
 * Marks of a stack trace or an internal detail in a body: V8 frames ("    at fn (file:1:2)"),
 * "SomethingError:" prefixes, source file positions, module paths.
 */
const STACK_MARKS: RegExp[] = [
  /\n[ \t]+at\s+\S/g,
  /\bat\s+\S+\s+\(\S*:\d+:\d+\)/g,
  /\bat\s+(?:async\s+)?\S+:\d+:\d+/g,
  /\b[A-Z][A-Za-z]*Error:/g,
  /\.(?:ts|js|mjs|cjs):\d+/g,
  /node_modules\//g,
  /file:\/\/\//g,
  /\bsrc\/[\w/-]+\.ts\b/g,
];

/** Every key and string value of a JSON text (walked without recursion: bodies may be deep); none when it is not JSON. */
export function stringsIn(text: string): string[] {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    return [];
  }
  const out: string[] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0 && out.length < 100_000) {
    const v = stack.pop();
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) stack.push(...v.slice(0, 5_000));
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v).slice(0, 5_000)) {
        out.push(k);
        stack.push(x);
      }
    }
  }
  return out;
}

/** stringsIn(text), one per line. */
export function stringsOf(text: string): string {
  return stringsIn(text).join("\n");
}

/**
 * The stack-trace marks in an answer body (raw, and its JSON strings unescaped) that the
 * request did not put there itself: a 404 echoes the path, a 400 may name an unknown key.
 */
export function stackTraceMarks(body: string, requestText = ""): string[] {
  const found: string[] = [];
  for (const text of [body, ...stringsIn(body)]) {
    for (const re of STACK_MARKS) {
      for (const m of text.matchAll(re)) if (!requestText.includes(m[0])) found.push(m[0]);
    }
  }
  return found;
}

/** Whether `body` shows a stack trace or internal file detail the request did not carry. */
export function hasStackTrace(body: string, requestText = ""): boolean {
  return stackTraceMarks(body, requestText).length > 0;
}

/** Whether an error answer has the contract's shape: JSON {"error": string, "message": string}. */
export function isContractError(text: string): boolean {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    return typeof body === "object" && body !== null && typeof body.error === "string" && typeof body.message === "string";
  } catch {
    return false;
  }
}

/** Encodings a secret might travel in: as is, JSON-escaped, URL-encoded, base64, hex. */
export function secretForms(secret: string): string[] {
  const bytes = utf8.encode(secret);
  const b64 = btoa(String.fromCharCode(...bytes));
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return [...new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret), b64, b64.replace(/=+$/, ""), hex])].filter((f) => f.length >= 6);
}

/** Occurrences of `needle` in `haystack`. */
export function occurrences(haystack: string, needle: string): number {
  if (!needle) return 0;
  let n = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + 1)) n += 1;
  return n;
}

/** Every row of every table in the plugin's D1 (migrations bookkeeping included). */
export async function dumpD1(db: D1Database = env.DB): Promise<Record<string, Record<string, unknown>[]>> {
  const tables = (await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all<{ name: string }>()).results;
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const { name } of tables) {
    try {
      out[name] = (await db.prepare(`SELECT * FROM "${name.replaceAll('"', '""')}"`).all<Record<string, unknown>>()).results;
    } catch {
      // internal tables the local D1 does not let a statement read
    }
  }
  return out;
}

/** Wraps a captured queue so every message ever sent is kept, also after the suites take() them. */
export function recordQueue<T>(queue: { send(body: T): Promise<void> }, into: unknown[]): void {
  const original = queue.send.bind(queue);
  queue.send = async (body: T) => {
    into.push(structuredClone(body));
    return original(body);
  };
}

/** Tenant-keyed tables and the column naming the tenant. */
export const TENANT_TABLES: Record<string, string> = {
  tenants: "id",
  secrets: "tenant_id",
  activation_history: "tenant_id",
  sync_state: "tenant_id",
  sync_runs: "tenant_id",
  detections: "tenant_id",
  outbox: "tenant_id",
  file_hashes: "tenant_id",
  audit_log: "tenant_id",
  detection_status_changes: "tenant_id",
  verdict_changes: "tenant_id",
  findings: "tenant_id",
  finding_endpoints: "tenant_id",
  actions: "tenant_id",
  action_hosts: "tenant_id",
  remediation_items: "tenant_id",
};

/** Every D1 row of one tenant, table by table, in a stable order. */
export async function tenantSnapshot(tenantId: string): Promise<Record<string, Record<string, unknown>[]>> {
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const [table, column] of Object.entries(TENANT_TABLES)) {
    out[table] = (await env.DB.prepare(`SELECT * FROM ${table} WHERE ${column} = ? ORDER BY 1, 2`).bind(tenantId).all<Record<string, unknown>>()).results;
  }
  return out;
}
