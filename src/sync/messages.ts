/** Messages on the sync queue. Tenant ids and run bookkeeping only: never a secret. */
import { z } from "zod";
import { MAX_TENANT_ID_LENGTH } from "../queue-limits";

/** Why a sync was asked for. */
export const SYNC_REASONS = ["cron", "manual", "activation", "backfill", "continuation"] as const;

/** One unit of sync work for one tenant. */
export const SyncMessage = z.object({
  kind: z.literal("sync"),
  tenantId: z.string().min(1).max(MAX_TENANT_ID_LENGTH),
  reason: z.enum(SYNC_REASONS),
  /** The run a continuation belongs to; absent for a fresh run. */
  runId: z.number().int().positive().optional(),
  requestedAt: z.iso.datetime(),
});
export type SyncMessage = z.infer<typeof SyncMessage>;
