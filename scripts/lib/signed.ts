/**
 * The host's side of host contract §2 for every script that calls the plugin as the host
 * (sign, smoke, soak, bench): the one copy of the signing on this side of the fence.
 *   X-Host-Timestamp: <unix seconds>
 *   X-Host-Signature: v1=<hex HMAC-SHA256(secret, "<ts>.<METHOD>.<path with query>.<raw body>")>
 *
 * Why not import the plugin's src/http/signature.ts: Node runs these scripts with type
 * stripping, and that module is written for the Worker bundle (extensionless imports into the
 * plugin's error and log modules), so Node cannot load it; and autocannon's setupRequest (soak)
 * must sign synchronously, which Web Crypto cannot. The plugin verifies every call these scripts
 * make with src/http/signature.ts, so `npm run smoke` checks this copy against it end to end.
 * The dev host keeps a third, independent copy on purpose (dev/host/plugin.ts).
 */
import { createHmac } from "node:crypto";

/** Headers that sign one call (and say JSON when there is a body). */
export function signedHeaders(secret: string, method: string, pathWithQuery: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(now / 1000));
  const mac = createHmac("sha256", secret).update(`${timestamp}.${method.toUpperCase()}.${pathWithQuery}.${body}`).digest("hex");
  return { "x-host-timestamp": timestamp, "x-host-signature": `v1=${mac}`, ...(body ? { "content-type": "application/json" } : {}) };
}

/** A plugin answer: status, body text, and the body parsed as JSON ({} when it is not JSON). */
export interface PluginAnswer<T> {
  status: number;
  text: string;
  body: T;
}

/** Sends a signed call to the plugin at `pluginUrl`; `body` is sent as JSON. */
export async function callPlugin<T = Record<string, unknown>>(pluginUrl: string, secret: string, method: string, pathWithQuery: string, body?: unknown): Promise<PluginAnswer<T>> {
  const raw = body === undefined ? "" : JSON.stringify(body);
  const response = await fetch(new URL(pathWithQuery, pluginUrl), { method, headers: signedHeaders(secret, method, pathWithQuery, raw), body: raw || undefined });
  const text = await response.text();
  let json = {} as T;
  try {
    json = JSON.parse(text) as T;
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, text, body: json };
}
