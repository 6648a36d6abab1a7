/** Messages on the dispatch queue: pointers to outbox rows, never their payloads or any secret. */
import { z } from "zod";

/** Deliver the pending outbox rows of one tenant (events, scan notes, IR requests). */
export const DispatchMessage = z.object({
  kind: z.literal("dispatch"),
  tenantId: z.string().min(1).max(64),
  /** Outbox row ids this message stands for. */
  outboxIds: z.array(z.number().int().positive()).min(1).max(100),
});
export type DispatchMessage = z.infer<typeof DispatchMessage>;
