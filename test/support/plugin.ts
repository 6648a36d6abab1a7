/** Calls the Worker under test as the host does: signed per host contract §2. */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import type { Env } from "../../src/env";
import { hmacHex, signingInput } from "../../src/http/signature";
import worker from "../../src/index";

export interface CallOptions {
  /** Override the timestamp (Unix seconds). */
  timestamp?: number;
  /** Replace the computed signature header value. */
  signature?: string | null;
  /** Sign this body but send `body` (a tampering test). */
  signedBody?: string;
  contentType?: string | null;
  secret?: string;
  /** More request headers, e.g. a D1 bookmark. */
  headers?: Record<string, string>;
  /** Call the Worker's handler with this env (captured queues, another TENANT_DATABASES) instead of the deployed one. */
  env?: Env;
  /** The origin the request is addressed to (default https://plugin.test). */
  origin?: string;
}

/** Sends a signed request to the plugin and returns the Response. */
export async function callPlugin(method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<Response> {
  const raw = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const signature =
    options.signature === undefined
      ? `v1=${await hmacHex(options.secret ?? env.HOST_SIGNING_SECRET, signingInput(timestamp, method, path, options.signedBody ?? raw))}`
      : options.signature;
  const headers = new Headers({ ...options.headers, "x-host-timestamp": timestamp });
  if (signature !== null) headers.set("x-host-signature", signature);
  const contentType = options.contentType === undefined ? (raw ? "application/json" : null) : options.contentType;
  if (contentType) headers.set("content-type", contentType);
  const request = new Request(`${options.origin ?? "https://plugin.test"}${path}`, { method, headers, body: raw === "" ? undefined : raw });
  if (!options.env) return exports.default.fetch(request);
  const ctx = createExecutionContext();
  const response = await worker.fetch(request as Parameters<typeof worker.fetch>[0], options.env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/** Sends a signed request and returns status and parsed JSON body. */
export async function callJson<T = Record<string, unknown>>(method: string, path: string, body?: unknown, options?: CallOptions) {
  const response = await callPlugin(method, path, body, options);
  const text = await response.text();
  let json: T;
  try {
    json = JSON.parse(text) as T;
  } catch {
    throw new Error(`plugin answered ${response.status} with non-JSON: ${text.slice(0, 200)}`);
  }
  return { status: response.status, body: json, text, headers: response.headers };
}

let counter = 0;
/** A tenant id no other test uses. */
export function uniqueTenant(prefix = "t"): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}-${crypto.randomUUID().slice(0, 6)}`;
}

/** Enables the channel for a tenant (a bundle including Cynet assigned). */
export async function enable(tenantId: string, bundles = ["endpoint-protection"]) {
  const r = await callJson("PUT", `/v1/tenants/${tenantId}/enablement`, { enabled: true, bundles });
  if (r.status !== 200) throw new Error(`enable failed: ${r.status} ${r.text}`);
  return r;
}
