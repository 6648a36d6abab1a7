/**
 * The dev host's side of host-contract.md §2: it reads the plugin's manifest (unsigned) and
 * signs every tenant call with HOST_SIGNING_SECRET:
 *   X-Host-Timestamp: <unix seconds>
 *   X-Host-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<METHOD>.<path with query>.<raw body>")>
 * The secret stays in this Worker; pages call the dev host, which signs and forwards.
 *
 * The signing below is the dev host's own copy of the scheme, on purpose: it does not import
 * the plugin's src/http/signature.ts (nor scripts/lib/signed.ts). The dev host is test
 * equipment that checks the plugin against its own reading of host-contract.md §2, so a
 * mistake in the plugin's signing code cannot hide by being shared with the side that checks it.
 * Keep it independent; change it only when the contract changes.
 */
import { z } from "zod";

/** What the dev host needs to reach the plugin (vars from scripts/start.ts). */
export interface PluginEnv {
  PLUGIN_URL?: string;
  HOST_SIGNING_SECRET?: string;
}

/** Activation can wait on Cynet (token call and a probe), so allow it some time. */
const CALL_TIMEOUT_MS = 20_000;
const MANIFEST_TIMEOUT_MS = 5_000;
/** How long a fetched manifest is reused before it is read again. */
const MANIFEST_TTL_MS = 15_000;

const encoder = new TextEncoder();

/** Hex HMAC-SHA256 of `input` under `secret` (the dev host's own, see above). */
async function hmacHex(secret: string, input: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(input));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The two signature headers for one call. */
export async function signatureHeaders(secret: string, method: string, pathWithQuery: string, body: string, nowMs = Date.now()): Promise<Record<string, string>> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const signature = await hmacHex(secret, `${timestamp}.${method.toUpperCase()}.${pathWithQuery}.${body}`);
  return { "x-host-timestamp": timestamp, "x-host-signature": `v1=${signature}` };
}

/** A plugin answer: status and body as the plugin sent them. */
export interface PluginAnswer {
  status: number;
  contentType: string;
  text: string;
  /** The body parsed as JSON, when it is JSON. */
  json: unknown;
}

function localError(status: number, error: string, message: string): PluginAnswer {
  const body = { error, message };
  return { status, contentType: "application/json", text: JSON.stringify(body), json: body };
}

function pluginBase(env: PluginEnv): string | null {
  const url = env.PLUGIN_URL?.trim();
  return url ? url.replace(/\/+$/, "") : null;
}

/** Makes a signed call to the plugin; a dev host misconfiguration or an unreachable plugin becomes a JSON error answer. */
export async function callPlugin(env: PluginEnv, method: "GET" | "PUT" | "POST" | "DELETE", path: string, body?: string, extraHeaders: Record<string, string> = {}): Promise<PluginAnswer> {
  const base = pluginBase(env);
  if (base === null) return localError(503, "dev_host_not_configured", "The dev host has no PLUGIN_URL, so it cannot call the plugin. Start everything with `npm start`.");
  if (!env.HOST_SIGNING_SECRET) return localError(503, "dev_host_not_configured", "The dev host has no HOST_SIGNING_SECRET, so it cannot sign calls to the plugin. Start everything with `npm start`.");
  const url = new URL(base + path);
  const raw = body ?? "";
  const headers: Record<string, string> = { ...extraHeaders, ...(await signatureHeaders(env.HOST_SIGNING_SECRET, method, url.pathname + url.search, raw)) };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : raw, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  } catch (err) {
    return localError(502, "plugin_unreachable", `The dev host could not reach the plugin at ${base}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const text = await response.text();
  let json: unknown = null;
  try {
    json = text === "" ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, contentType: response.headers.get("content-type") ?? "application/json", text, json };
}

/** The plugin's answer as a Response, status and body unchanged. */
export function relay(answer: PluginAnswer): Response {
  return new Response(answer.text, { status: answer.status, headers: { "content-type": answer.contentType, "cache-control": "no-store" } });
}

/** The words of a plugin answer for an admin: its message when it has one. */
export function answerMessage(answer: PluginAnswer): string {
  const parsed = z.object({ message: z.string() }).safeParse(answer.json);
  if (parsed.success) return parsed.data.message;
  return answer.text.slice(0, 300) || `HTTP ${answer.status}`;
}

const fieldSchema = z.looseObject({
  name: z.string(),
  label: z.string(),
  type: z.string().default("text"),
  required: z.boolean().default(false),
  secret: z.boolean().default(false),
  placeholder: z.string().default(""),
  help: z.string().default(""),
});

/** The parts of plugin.manifest.json the dev host renders (host-contract.md §1). */
export const manifestSchema = z.looseObject({
  channel: z.looseObject({ id: z.string(), name: z.string(), description: z.string().default(""), version: z.string().default("") }),
  bundles: z.array(z.looseObject({ id: z.string(), name: z.string().optional() })),
  activation: z.looseObject({ title: z.string(), submitLabel: z.string(), fields: z.array(fieldSchema).min(1) }),
  events: z.array(z.looseObject({ type: z.string(), severity: z.string() })).default([]),
  sync: z.looseObject({ schedule: z.string().optional() }).optional(),
  /** The response actions the channel offers (host contract §2): rendered as the IR request's and scan's action buttons. */
  actions: z.array(z.looseObject({ id: z.string(), label: z.string(), targets: z.enum(["file", "host"]), confirmation: z.boolean().default(true), description: z.string().default("") })).default([]),
});

/** The plugin's manifest, as the dev host uses it. */
export type PluginManifest = z.infer<typeof manifestSchema>;
/** One response action the channel offers. */
export type ManifestAction = PluginManifest["actions"][number];
/** One field of the activation form. */
export type ActivationField = PluginManifest["activation"]["fields"][number];

/** The manifest, or why it could not be read. */
export type ManifestResult = { ok: true; manifest: PluginManifest } | { ok: false; reason: string };

let cached: { at: number; base: string; manifest: PluginManifest } | null = null;

/** Reads `${PLUGIN_URL}/v1/manifest` (unsigned), reusing a recent copy. */
export async function loadManifest(env: PluginEnv): Promise<ManifestResult> {
  const base = pluginBase(env);
  if (base === null) return { ok: false, reason: "The dev host has no PLUGIN_URL. Start everything with `npm start`." };
  if (cached !== null && cached.base === base && Date.now() - cached.at < MANIFEST_TTL_MS) return { ok: true, manifest: cached.manifest };
  try {
    const response = await fetch(`${base}/v1/manifest`, { signal: AbortSignal.timeout(MANIFEST_TIMEOUT_MS) });
    if (!response.ok) return { ok: false, reason: `${base}/v1/manifest answered HTTP ${response.status}.` };
    const parsed = manifestSchema.safeParse(await response.json());
    if (!parsed.success) return { ok: false, reason: `${base}/v1/manifest is not a manifest the dev host understands: ${parsed.error.issues[0]?.message ?? "invalid"}.` };
    cached = { at: Date.now(), base, manifest: parsed.data };
    return { ok: true, manifest: parsed.data };
  } catch (err) {
    return { ok: false, reason: `The plugin's manifest could not be read from ${base}/v1/manifest: ${(err instanceof Error ? err.message : String(err)).replace(/\.$/, "")}.` };
  }
}

/** The ids of the bundles that include the plugin's channel. */
export function channelBundleIds(manifest: PluginManifest): Set<string> {
  return new Set(manifest.bundles.map((b) => b.id));
}

/** The enablement body for a tenant with these bundles assigned (host-contract.md §2). */
export function enablementBody(manifest: PluginManifest, assigned: readonly string[]): { enabled: boolean; bundles: string[] } {
  const including = channelBundleIds(manifest);
  const bundles = assigned.filter((id) => including.has(id));
  return { enabled: bundles.length > 0, bundles };
}
