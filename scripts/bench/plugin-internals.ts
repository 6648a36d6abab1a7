/**
 * The plugin's own constants and sealing, read from its modules at run time. These modules are
 * written for the Worker (they name D1 and Queue types, which tsconfig.node.json does not know),
 * so they are imported by a computed path that the Node type-check does not follow, and what
 * the bench uses of them is checked here instead. Loaded through ../lib/ts-hooks.ts.
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { root } from "../lib/stack.ts";

const load = async (path: string): Promise<unknown> => import(pathToFileURL(join(root, path)).href);
const fn = <T>() => z.custom<T>((v) => typeof v === "function", "expected a function");

/** What src/storage/secrets.ts seals with: a key ring from CREDENTIALS_KEY, and AES-GCM bound to tenant and purpose. */
export type Sealed = { keyVersion: number; iv: string; ciphertext: string };
type KeyRing = unknown;

const Internals = z.object({
  run: z.object({ PAGES_READ_AHEAD: z.number().int(), PAGES_PER_BATCH: z.number().int(), MAX_PAGES_PER_INVOCATION: z.number().int() }),
  correlate: z.object({ MAX_FILE_LOOKUPS_PER_CORRELATION: z.number().int() }),
  client: z.object({ ALERTS_PAGE_LIMIT: z.number().int() }),
  session: z.object({ PASSWORD_PURPOSE: z.string(), TOKEN_PURPOSE: z.string(), TOKEN_CACHE_MS: z.number() }),
  secrets: z.object({
    loadKeyRing: fn<(configured: string) => Promise<KeyRing>>(),
    seal: fn<(ring: KeyRing, tenantId: string, purpose: string, plaintext: string) => Promise<Sealed>>(),
  }),
  scheduled: z.object({ MAX_TENANTS_PER_TICK: z.number().int() }),
  queueLimits: z.object({ QUEUE_SEND_BATCH_MAX: z.number().int() }),
  retention: z.object({ DROPPED_DETAIL_COLUMNS: z.array(z.string()).min(1) }),
});
export type PluginInternals = z.infer<typeof Internals>;

let loaded: Promise<PluginInternals> | undefined;

/** The plugin's bounds and sealing functions (src/sync/run.ts, src/dispatch/correlate.ts, src/cynet/*.ts, src/storage/secrets.ts, …). */
export function pluginInternals(): Promise<PluginInternals> {
  loaded ??= (async () =>
    Internals.parse({
      run: await load("src/sync/run.ts"),
      correlate: await load("src/dispatch/correlate.ts"),
      client: await load("src/cynet/client.ts"),
      session: await load("src/cynet/session.ts"),
      secrets: await load("src/storage/secrets.ts"),
      scheduled: await load("src/sync/scheduled.ts"),
      queueLimits: await load("src/queue-limits.ts"),
      retention: await load("src/storage/retention.ts"),
    }))();
  return loaded;
}
