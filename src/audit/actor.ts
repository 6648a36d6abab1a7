/**
 * The person behind a state-changing call (host contract §2): the host names them in the signed
 * JSON body, so the signature covers who they are. Optional: a call the host makes on its own
 * names nobody, and the audit trail records it as the host's.
 */
import { z } from "zod";

/** Longest actor id kept: host user ids are UUIDs or emails, far shorter. */
export const MAX_ACTOR_ID_LENGTH = 256;
/** Longest display name kept. */
export const MAX_ACTOR_NAME_LENGTH = 256;

export const Actor = z
  .object({
    id: z.string().trim().min(1).max(MAX_ACTOR_ID_LENGTH),
    name: z.string().trim().max(MAX_ACTOR_NAME_LENGTH).optional(),
  })
  .strict();
export type Actor = z.infer<typeof Actor>;

/** The optional `actor` member every state-changing body may carry. */
export const WithActor = z.object({ actor: Actor.optional() });
