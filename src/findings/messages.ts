/** Messages on the findings queue: which findings of one tenant to check at Cynet, never their content or any secret. */
import { z } from "zod";
import { MAX_TENANT_ID_LENGTH } from "../queue-limits";

/** Findings one check message names: one invocation's worth of file checks (see MAX_FILE_CHECKS_PER_INVOCATION). */
export const FINDING_IDS_PER_MESSAGE = 50;

/** Check these findings of one tenant (those still due when the message is read). */
export const FindingsMessage = z.object({
  kind: z.literal("finding_checks"),
  tenantId: z.string().min(1).max(MAX_TENANT_ID_LENGTH),
  findingIds: z.array(z.number().int().positive()).min(1).max(FINDING_IDS_PER_MESSAGE),
});
export type FindingsMessage = z.infer<typeof FindingsMessage>;
