/** Any message on the plugin's queues: tenant ids and row pointers only, never a payload or a secret. */
import type { DispatchMessage } from "./dispatch/messages";
import type { SyncMessage } from "./sync/messages";

/** Longest tenant id a message carries: the host's ids are 1 to 64 characters (http/routes.ts TenantId). */
export const MAX_TENANT_ID_LENGTH = 64;
/** Messages per sendBatch call: the Queues limit. */
export const QUEUE_SEND_BATCH_MAX = 100;

/** A message on any of the plugin's queues, as the queue handler receives it (each consumer parses its own). */
export type QueueMessage = SyncMessage | DispatchMessage;
