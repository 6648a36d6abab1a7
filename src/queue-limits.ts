/** Bounds every queue message and send shares: imported by the message schemas, so it imports nothing of theirs. */

/** Longest tenant id a message carries: the host's ids are 1 to 64 characters (http/routes.ts TenantId). */
export const MAX_TENANT_ID_LENGTH = 64;
/** Messages per sendBatch call: the Queues limit. */
export const QUEUE_SEND_BATCH_MAX = 100;
