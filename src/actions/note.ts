/** The note an ended action leaves on its scan, built when it is sent from the action's rows (so no copy is stored twice). */
import { HostError } from "../host/client";
import type { NoteRequest } from "../host/schemas";
import type { Database } from "../storage/db";
import { findAction, partsOf } from "./store";
import { actionNote, actionView } from "./view";

/** The note for the tenant's action `actionId`; a refusal for good when the action is gone or not ended (nothing to say). */
export async function actionNoteOf(db: Database, tenantId: string, actionId: string): Promise<NoteRequest> {
  const action = await findAction(db, tenantId, actionId);
  if (!action?.finishedAt) throw new HostError(false, undefined, "action note row whose action is missing or not ended");
  const parts = await partsOf(db, tenantId, [actionId]);
  return actionNote(actionView(action, parts.hosts, parts.items), action.finishedAt);
}
