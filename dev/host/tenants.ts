/** What the pages and the control API do to a tenant: reach its Durable Object, seed it, assign bundles. */
import { validate } from "../shared/http";
import { withActor } from "./actor";
import { findBundle } from "./catalog";
import type { Env } from "./env";
import { callPlugin, enablementBody, loadManifest, type PluginAnswer } from "./plugin";
import { tenantIdSchema, type SeededScan } from "./schemas";
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

/** What a conviction did: the scan, and the plugin's answer to the findings call (or why none was made). */
export type ConvictionOutcome =
  | { found: false }
  | { found: true; scan: SeededScan; called: false; reason: string }
  | { found: true; scan: SeededScan; called: true; body: unknown; answer: PluginAnswer };

/**
 * The dev host's scanner convicts the file of a scan: the scan is marked, and the plugin is told
 * through its findings call (host-contract.md §2), signed like every other call, so it looks
 * for the file on the endpoints. Convicting again sends the finding again (the plugin answers
 * that it is not new).
 */
export async function convictScan(env: Env, tenantId: string, scanId: string): Promise<ConvictionOutcome> {
  const scan = await tenantStub(env, tenantId).convict(scanId, new Date().toISOString());
  if (scan === null) return { found: false };
  if (scan.sha256 === undefined) return { found: true, scan, called: false, reason: "The scan has no SHA-256, and a finding names its file by SHA-256." };
  const body = {
    findings: [{ sha256: scan.sha256, scanId: scan.scanId, fileName: scan.fileName, ...(scan.recipients ? { recipients: scan.recipients } : {}), foundAt: scan.convictedAt ?? new Date().toISOString() }],
    actor: SCANNER_ACTOR,
  };
  const answer = await callPlugin(env, "POST", `/v1/tenants/${encodeURIComponent(tenantId)}/findings`, JSON.stringify(body));
  return { found: true, scan, called: true, body, answer };
}

/** Who the findings call names: the dev host's scanner, not a person. */
const SCANNER_ACTOR = { id: "dev-host-scanner", name: "Dev host attachment scanner" } as const;

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
