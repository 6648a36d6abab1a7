/** Request and answer bodies of the enablement, activation and status routes (host contract §2). */
import { z } from "zod";
import { CHANNEL_STATES, RUN_OUTCOMES } from "../storage/schema";
import { MAX_ORG_URL_LENGTH, normalizeOrgUrl } from "./org-url";
import { WithActor } from "../audit/actor";

/** Most bundles one tenant can have assigned that include the channel; the manifest lists a handful. */
const MAX_BUNDLES = 50;
/** Longest Cynet username accepted; Cynet usernames are e-mail addresses (RFC 5321: 254). */
const MAX_USERNAME_LENGTH = 254;
/** Longest password accepted; long passphrases are fine, megabytes are not. */
const MAX_PASSWORD_LENGTH = 1024;
/** Largest Client ID: Cynet's ids fit a signed 64-bit integer. */
const MAX_CLIENT_ID = 9223372036854775807n;

/** PUT /v1/tenants/{tenantId}/enablement */
export const EnablementRequest = z
  .object({
    enabled: z.boolean(),
    bundles: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "a bundle id")).max(MAX_BUNDLES),
    ...WithActor.shape,
  })
  .strict()
  .meta({ id: "EnablementRequest" });

/** POST /v1/tenants/{tenantId}/activation: what the admin typed in the Cynet Activation dialog. */
export const ActivationRequest = z
  .object({
    orgUrl: z
      .string({ error: "Enter your organization's URL in Cynet" })
      .max(MAX_ORG_URL_LENGTH)
      .transform((value, ctx) => {
        const result = normalizeOrgUrl(value);
        if (result.ok) return result.url;
        ctx.addIssue({ code: "custom", message: result.reason });
        return z.NEVER;
      }),
    clientId: z
      .union([z.string(), z.number().int().nonnegative()], { error: "Enter the numeric Client ID" })
      .transform((v) => String(v).trim())
      .refine((v) => /^\d{1,19}$/.test(v) && BigInt(v) <= MAX_CLIENT_ID && BigInt(v) > 0n, "The Client ID is a number, e.g. 123456"),
    username: z
      .string({ error: "Enter the Cynet username" })
      .trim()
      .min(1, "Enter the Cynet username")
      .max(MAX_USERNAME_LENGTH, `The username is longer than ${MAX_USERNAME_LENGTH} characters`),
    password: z
      .string({ error: "Enter the password" })
      .min(1, "Enter the password")
      .max(MAX_PASSWORD_LENGTH, `The password is longer than ${MAX_PASSWORD_LENGTH} characters`),
    ...WithActor.shape,
  })
  .strict()
  .meta({ id: "ActivationRequest" });
export type ActivationRequest = z.output<typeof ActivationRequest>;

/** The stored, non-secret settings of a connected channel. */
export const ChannelSettings = z.object({
  orgUrl: z.string().describe("Normalized https://<label>.api.cynet.com"),
  clientId: z.string(),
  username: z.string(),
});

/** An error an admin can act on, with when it was recorded. */
export const ChannelError = z.object({ code: z.string(), message: z.string(), at: z.iso.datetime() });

/** Counts of deliveries to the host by state. */
export const DeliveryCounts = z.object({
  pending: z.number().int().describe("Due now: on its way to the host"),
  scheduled: z.number().int().describe("Waiting for a later attempt: a retry after a host failure, or deferred file lookups"),
  delivered: z.number().int(),
  failed: z.number().int().describe("Refused by the host for good (a 4xx other than 408/409/429); listed at /deliveries, retried by /deliveries/retry"),
});
export type DeliveryCounts = z.infer<typeof DeliveryCounts>;

/** The host failing deliveries (5xx, 429, no answer): since when, and its last reason. */
export const HostFailing = z.object({
  since: z.iso.datetime().describe("When the host first failed a delivery still pending"),
  lastError: z.string().nullable().describe("The host's last reason, truncated"),
  message: z.string().describe("A sentence an admin can act on"),
});
export type HostFailing = z.infer<typeof HostFailing>;

/** The sync's health, last run and next run. */
export const SyncStatus = z.object({
  health: z.enum(["never", "ok", "degraded", "stopped"]).describe("degraded: Cynet is failing and the sync backs off; stopped: an admin must connect again"),
  lastRun: z
    .object({
      id: z.number().int(),
      reason: z.string(),
      outcome: z.enum(RUN_OUTCOMES),
      startedAt: z.iso.datetime(),
      finishedAt: z.iso.datetime().nullable(),
      pages: z.number().int(),
      fetched: z.number().int(),
      newDetections: z.number().int(),
      duplicates: z.number().int(),
      skipped: z.record(z.string(), z.number().int()),
      eventsQueued: z.number().int(),
      error: z.object({ code: z.string(), message: z.string() }).nullable(),
    })
    .nullable(),
  lastSyncAt: z.iso.datetime().nullable().describe("When a sync last started, quiet ones included"),
  quietRunsSinceLastRun: z
    .number()
    .int()
    .describe("Syncs since lastRun that completed with nothing new: counted here rather than recorded as runs"),
  lastSuccessAt: z.iso.datetime().nullable(),
  consecutiveFailures: z.number().int(),
  backoffUntil: z.iso.datetime().nullable(),
  nextRunAt: z.iso.datetime().nullable(),
  cursor: z.iso.datetime().nullable().describe("The LastSeen the next run reads Cynet from"),
  lookbackDays: z.number().int(),
  inProgress: z.boolean(),
  changes: z
    .object({
      available: z.boolean().describe("false: Cynet answered 404 for changed alerts; statuses set in Cynet after a detection was stored are not applied"),
      cursor: z.iso.datetime().nullable().describe("The time changed alerts are read from next"),
      unavailableSince: z.iso.datetime().nullable(),
      nextCheckAt: z.iso.datetime().nullable().describe("When a Cynet that answered 404 is asked again"),
      message: z.string().nullable().describe("What an admin should know, in words"),
    })
    .describe("Cynet's later decisions (alerts set to Ignored or re-opened) read from alerts/bulkByDateChanged"),
});
export type SyncStatus = z.infer<typeof SyncStatus>;

/** GET /v1/tenants/{tenantId}/status (and the answer of enablement and activation). */
export const ChannelStatus = z
  .object({
    tenantId: z.string(),
    status: z.enum(["not_enabled", ...CHANNEL_STATES]),
    enabled: z.boolean(),
    bundles: z.array(z.string()),
    settings: ChannelSettings.nullable(),
    activatedAt: z.iso.datetime().nullable(),
    error: ChannelError.nullable(),
    sync: SyncStatus.nullable(),
    deliveries: z
      .object({
        events: DeliveryCounts.describe("Malicious File in Endpoint events"),
        scanSearches: DeliveryCounts.describe("Batches of new detections looked up in the host's scans"),
        notes: DeliveryCounts.describe("Notes on scans that included a malicious file"),
        irRequests: DeliveryCounts.describe("IR requests: one per (scan, file hash) matched"),
      })
      .describe("What the channel sends the host, by state; failed ones are listed at /deliveries and can be retried"),
    hostFailing: HostFailing.nullable().describe("Set while the host is failing deliveries; they are retried until it answers"),
  })
  .meta({ id: "ChannelStatus" });
export type ChannelStatus = z.infer<typeof ChannelStatus>;
