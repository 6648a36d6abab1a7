/** The Cynet channel Worker: HTTP for the host, a cron that fans out syncs, and queue consumers. */
import type { Env } from "./env";
import { createApp } from "./http/app";
import { handleQueue, type QueueMessage } from "./queues";
import { handleScheduled } from "./sync/scheduled";

const app = createApp();

export default {
  fetch: app.fetch,
  scheduled: (controller, env, ctx) => handleScheduled(controller, env, ctx),
  queue: (batch, env, ctx) => handleQueue(batch, env, ctx),
} satisfies ExportedHandler<Env, QueueMessage>;
