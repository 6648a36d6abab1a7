/**
 * The host's side of host contract §2, for scripts that call the plugin from a shell:
 * `X-Host-Signature: v1=<hex HMAC-SHA256(secret, "<ts>.<METHOD>.<path with query>.<raw body>")>`.
 */
import { createHmac } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";

/** Headers that sign one call. */
export function signedHeaders(secret: string, method: string, pathWithQuery: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(now / 1000));
  const mac = createHmac("sha256", secret).update(`${timestamp}.${method.toUpperCase()}.${pathWithQuery}.${body}`).digest("hex");
  return { "x-host-timestamp": timestamp, "x-host-signature": `v1=${mac}`, ...(body ? { "content-type": "application/json" } : {}) };
}

/** KEY=value pairs of a .dev.vars file. */
export function readDevVars(path: string): Record<string, string> {
  const vars: Record<string, string> = {};
  if (!existsSync(path)) return vars;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) vars[m[1]!] = m[2]!.replace(/^"(.*)"$/, "$1");
  }
  return vars;
}

/** Sends a signed call to the plugin and returns status and body text. */
export async function callPlugin(pluginUrl: string, secret: string, method: string, pathWithQuery: string, body?: unknown) {
  const raw = body === undefined ? "" : JSON.stringify(body);
  const response = await fetch(new URL(pathWithQuery, pluginUrl), { method, headers: signedHeaders(secret, method, pathWithQuery, raw), body: raw || undefined });
  return { status: response.status, text: await response.text() };
}
