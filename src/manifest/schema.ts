/**
 * The shape of plugin.manifest.json (host contract §1). The host reads the manifest at install
 * time; the same schema is exported as JSON Schema in docs/plugin.manifest.schema.json.
 */
import { z } from "zod";
import { HostSeverity } from "../host/schemas.ts";
import { ACTION_KINDS } from "../storage/schema.ts";

/** Longest channel description: "a short description" (contract §1), a line or two on the channel's card. */
const MAX_CHANNEL_DESCRIPTION_LENGTH = 500;
/**
 * Furthest back a lookback or backfill may reach, in days; Cynet's retention is undocumented,
 * a year is generous. Here, beside the manifest's initialLookbackDays, so the sync routes can
 * share it without the manifest importing them.
 */
export const MAX_LOOKBACK_DAYS = 365;

const Id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, "lower-case letters, digits and hyphens");

/** One input of the activation dialog, as the host renders it. */
export const ActivationField = z.object({
  name: z.enum(["orgUrl", "clientId", "username", "password"]),
  label: z.string().min(1),
  type: z.enum(["url", "text", "password"]),
  required: z.boolean(),
  secret: z.boolean(),
  placeholder: z.string(),
  help: z.string().min(1),
});
export type ActivationField = z.infer<typeof ActivationField>;

/** A five-field cron expression as Cloudflare Cron Triggers take it. */
const Cron = z.string().regex(/^(\S+\s+){4}\S+$/, "five cron fields");

/** plugin.manifest.json. */
export const PluginManifest = z
  .object({
    $schema: z.string().optional(),
    manifestVersion: z.literal(1),
    channel: z.object({
      id: z.literal("cynet"),
      name: z.literal("Cynet"),
      description: z.string().min(1).max(MAX_CHANNEL_DESCRIPTION_LENGTH),
      version: z.string().regex(/^\d+\.\d+\.\d+$/),
      vendor: z.string().min(1),
    }),
    bundles: z.array(z.object({ id: Id, name: z.string().min(1) })).min(1),
    activation: z.object({
      title: z.literal("Cynet Activation"),
      submitLabel: z.literal("Connect"),
      fields: z.array(ActivationField).length(4),
    }),
    events: z.array(z.object({ type: z.string().min(1), severity: HostSeverity, description: z.string() })).min(1),
    /** The response actions the channel offers (POST …/actions), for the host to render as buttons. */
    actions: z
      .array(
        z.object({
          id: z.enum(ACTION_KINDS).describe("The `action` of POST /v1/tenants/{tenantId}/actions"),
          label: z.string().min(1),
          targets: z.enum(["file", "host"]).describe("file: a file (sha256) on named hosts; host: the named hosts themselves"),
          confirmation: z.boolean().describe("Whether the host asks the person to confirm, naming the hosts, before it calls"),
          description: z.string().min(1),
        }),
      )
      .min(1),
    sync: z.object({ schedule: Cron, initialLookbackDays: z.number().int().min(1).max(MAX_LOOKBACK_DAYS) }),
    hostApis: z.array(z.string().regex(/^(GET|POST|PUT|DELETE) \/v1\//)).min(1),
    routes: z.record(z.string(), z.string()),
  })
  .meta({ id: "PluginManifest", title: "Cynet channel plugin manifest" });
export type PluginManifest = z.infer<typeof PluginManifest>;
