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
    id: z.string().trim().min(1).max(MAX_ACTOR_ID_LENGTH).describe("The host's id of the person (a user id or e-mail)"),
    name: z.string().trim().max(MAX_ACTOR_NAME_LENGTH).optional().describe("Their display name"),
  })
  .strict()
  .meta({ id: "Actor" });
export type Actor = z.infer<typeof Actor>;

/** The optional `actor` member every state-changing body may carry. */
export const WithActor = z.object({ actor: Actor.optional().describe("Who asked for the change; absent when the host acts on its own") });

/**
 * The body of a state-changing call that takes nothing else (sync now, deactivation): empty, or
 * `{"actor": …}` alone.
 */
export const ActorOnlyRequest = z.object(WithActor.shape).strict().meta({ id: "ActorOnlyRequest" });

/**
 * The actor of a signed body read on its own, for a refusal recorded before the handler reads
 * the body (a 409 comes before a 400 for the form): undefined when the body is not JSON or
 * names no valid actor, so a refusal is recorded as the host's rather than not at all.
 *
 * @example
 * actorInRawBody('{"actor":{"id":"ana@acme.test"},"orgUrl":"…"}'); // { id: "ana@acme.test" }
 */
export function actorInRawBody(raw: string): Actor | undefined {
  if (raw === "") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const parsed = z.object({ actor: Actor }).safeParse(json);
  return parsed.success ? parsed.data.actor : undefined;
}
