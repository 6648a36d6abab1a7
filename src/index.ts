/** The Cynet channel Worker: HTTP for the host, a cron that fans out syncs, and queue consumers. */
import type { Env } from "./env";
import { createApp } from "./http/app";
import { handleQueue, type QueueMessage } from "./queues";
import { metered } from "./observability/meter";
import { handleScheduled } from "./sync/scheduled";

const app = createApp();

export default {
  fetch: (request, env, ctx) => metered("http", env, (e) => Promise.resolve(app.fetch(request, e, ctx))),
  scheduled: (controller, env, ctx) => metered("cron", env, (e) => handleScheduled(controller, e, ctx)),
  queue: (batch, env, ctx) => metered(`queue:${batch.queue}`, env, (e) => handleQueue(batch, e, ctx)),
} satisfies ExportedHandler<Env, QueueMessage>;
