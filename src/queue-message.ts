/** Any message on the plugin's queues: tenant ids and row pointers only, never a payload or a secret. */
import type { DispatchMessage } from "./dispatch/messages";
import type { FindingsMessage } from "./findings/messages";
import type { SyncMessage } from "./sync/messages";
import type { ActionMessage } from "./actions/messages";

/** A message on any of the plugin's queues, as the queue handler receives it (each consumer parses its own). */
export type QueueMessage = SyncMessage | DispatchMessage | FindingsMessage | ActionMessage;
