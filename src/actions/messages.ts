/** Messages on the actions queue: which action, and which step of its one chain; never its content or a secret. */
import { z } from "zod";
import { MAX_TENANT_ID_LENGTH } from "../queue-limits";

/** An action id as the plugin issues them (crypto.randomUUID). */
export const ActionId = z.uuid();

/** Run the next step of one response action (actions/consumer.ts). */
export const ActionMessage = z.object({
  kind: z.literal("action"),
  tenantId: z.string().min(1).max(MAX_TENANT_ID_LENGTH),
  actionId: ActionId,
  /** The action's step this message is for: a message of an earlier step is a duplicate and does nothing. */
  step: z.number().int().min(0),
});
export type ActionMessage = z.infer<typeof ActionMessage>;
