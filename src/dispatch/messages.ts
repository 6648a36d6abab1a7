/** Messages on the dispatch queue: pointers to outbox rows, never their payloads or any secret. */
import { z } from "zod";
import { MAX_TENANT_ID_LENGTH } from "../queue-limits";

/** Most outbox ids a message may carry: above the 10 sent now (OUTBOX_IDS_PER_MESSAGE), so messages an earlier version sent (90) are still read. */
export const MAX_OUTBOX_IDS_PER_MESSAGE = 100;

/** Deliver the pending outbox rows of one tenant (events, scan notes, IR requests). */
export const DispatchMessage = z.object({
  kind: z.literal("dispatch"),
  tenantId: z.string().min(1).max(MAX_TENANT_ID_LENGTH),
  /** Outbox row ids this message stands for. */
  outboxIds: z.array(z.number().int().positive()).min(1).max(MAX_OUTBOX_IDS_PER_MESSAGE),
});
export type DispatchMessage = z.infer<typeof DispatchMessage>;
