/** What the pages and the control API do to a tenant: reach its Durable Object, seed it, assign bundles. */
import { validate } from "../shared/http";
import { withActor } from "./actor";
import { findBundle } from "./catalog";
import type { Env } from "./env";
import { callPlugin, enablementBody, loadManifest, type PluginAnswer } from "./plugin";
import { tenantIdSchema } from "./schemas";
import { DEFAULT_TENANT, seedScans } from "./seed";
import type { HostState } from "./state";

/** The Durable Object of a tenant (400 for a malformed id). */
export function tenantStub(env: Env, rawId: string): DurableObjectStub<HostState> {
  const tenantId = validate(tenantIdSchema, rawId, "tenantId");
  return env.HOST_STATE.get(env.HOST_STATE.idFromName(tenantId));
}

let scans: ReturnType<typeof seedScans> | null = null;

/** Seeds the default tenant if it has not been (idempotent); other tenants are left as they are. */
export async function ensureSeeded(env: Env, tenantId: string): Promise<{ seeded: boolean; scansAdded: number }> {
  if (tenantId !== DEFAULT_TENANT.tenantId) return { seeded: false, scansAdded: 0 };
  scans ??= seedScans(Date.now());
  return tenantStub(env, tenantId).seed(DEFAULT_TENANT.tenantId, DEFAULT_TENANT.displayName, await scans);
}

/** Where the plugin's enablement stands after a bundle change. */
export type EnablementOutcome =
  | { called: true; channelName: string; body: { enabled: boolean; bundles: string[] }; answer: PluginAnswer }
  | { called: false; reason: string };

/** Tells the plugin which of the tenant's assigned bundles include its channel (PUT /enablement). */
export async function sendEnablement(env: Env, tenantId: string, assigned: string[]): Promise<EnablementOutcome> {
  const manifest = await loadManifest(env);
  if (!manifest.ok) return { called: false, reason: manifest.reason };
  const body = enablementBody(manifest.manifest, assigned);
  const answer = await callPlugin(env, "PUT", `/v1/tenants/${encodeURIComponent(tenantId)}/enablement`, withActor(tenantId, body));
  return { called: true, channelName: manifest.manifest.channel.name, body, answer };
}

/** Assigns or unassigns a bundle, then tells the plugin. Unknown bundle: null. */
export async function setBundle(env: Env, tenantId: string, bundleId: string, assigned: boolean): Promise<{ assignedBundles: string[]; enablement: EnablementOutcome } | null> {
  if (findBundle(bundleId) === undefined) return null;
  const assignedBundles = await tenantStub(env, tenantId).setBundleAssigned(bundleId, assigned);
  return { assignedBundles, enablement: await sendEnablement(env, tenantId, assignedBundles) };
}
